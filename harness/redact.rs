//! Secret redaction: values that must never leave the process (tokens, S3 keys, hook secrets).
//!
//! Hooks print what their tools print, and tools print secrets (a `TF_VAR_hcloud_token` echoed
//! by a failing provider, an access key in a debug line). Every line that goes to the console,
//! a report or run.json passes through one shared [`Redactor`] first. [`Secret`] keeps values
//! out of `Debug`/`Display` so a stray `{:?}` in a log cannot leak them either.

use std::borrow::Cow;
use std::fmt;
use std::io::Write;
use std::sync::{Arc, OnceLock, RwLock};

use base64::Engine as _;
use regex::Regex;
use serde::Deserialize;

/// What a redacted secret is replaced with.
pub const MASK: &str = "***";

/// Secrets shorter than this are ignored: masking `"a"` or `"on"` would shred every line while
/// protecting nothing worth protecting.
pub const MIN_SECRET_LEN: usize = 4;

/// One registered secret and the pattern matching it in every encoding a tool may print.
struct Entry {
    raw: String,
    pattern: Regex,
}

/// A shared, growing set of secret values and the function that masks them in text.
///
/// A secret is matched in every form tools print it in, each character independently (a tool
/// may escape only some of them): raw; JSON string-escaped (`\"`, `\\`, `\/`, `\uXXXX`,
/// also escaped again inside another JSON string); URL-encoded (`%XX` in either case, space as
/// `%20` or `+`); XML/HTML entities (`&quot;`, `&#39;` …); and base64 of the whole value
/// (standard and URL-safe alphabet, padded or not).
///
/// Cloning is cheap (an `Arc`); all clones see secrets added through any of them, so the
/// engine can register a secret late (a kubeconfig token fetched at rebuild) and every reporter
/// holding a clone masks it from then on. Every secret added to any redactor is also added to
/// the process-wide [`global`] one, which the log writer ([`RedactingMakeWriter`]) masks with.
#[derive(Clone, Default)]
pub struct Redactor {
    secrets: Arc<RwLock<Vec<Entry>>>,
}

static GLOBAL: OnceLock<Redactor> = OnceLock::new();

/// The process-wide redactor: the union of every secret registered anywhere in the process.
/// The log writer masks with it, so a log line at any verbosity (kube's and hyper's debug
/// lines with tokens in URLs and headers) never carries a registered secret.
pub fn global() -> &'static Redactor {
    GLOBAL.get_or_init(Redactor::default)
}

impl fmt::Debug for Redactor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Never print the values themselves; the count is enough to debug "is it registered".
        f.debug_struct("Redactor")
            .field("secrets", &self.len())
            .finish()
    }
}

impl Redactor {
    /// An empty redactor.
    pub fn new() -> Self {
        Self::default()
    }

    /// Registers a secret value, here and in [`global`]. Empty values and values shorter than
    /// [`MIN_SECRET_LEN`] characters are ignored; duplicates are stored once.
    pub fn add(&self, secret: &str) {
        self.add_here(secret);
        let global = global();
        if !Arc::ptr_eq(&self.secrets, &global.secrets) {
            global.add_here(secret);
        }
    }

    fn add_here(&self, secret: &str) {
        if secret.chars().count() < MIN_SECRET_LEN {
            return;
        }
        if self.read().iter().any(|e| e.raw == secret) {
            return;
        }
        let Ok(pattern) = Regex::new(&pattern_for(secret)) else {
            // Cannot happen (every piece is escaped), but never lose a secret: fall back to
            // the raw value alone.
            let pattern = Regex::new(&regex::escape(secret)).expect("an escaped literal");
            return self.push(secret, pattern);
        };
        self.push(secret, pattern);
    }

    fn push(&self, secret: &str, pattern: Regex) {
        let mut secrets = match self.secrets.write() {
            Ok(guard) => guard,
            // A panic while holding the lock cannot leave the Vec half-written in a way that
            // matters here (push is all-or-nothing), so keep redacting rather than leak.
            Err(poisoned) => poisoned.into_inner(),
        };
        if !secrets.iter().any(|e| e.raw == secret) {
            secrets.push(Entry {
                raw: secret.to_string(),
                pattern,
            });
        }
    }

    /// Number of registered secrets.
    pub fn len(&self) -> usize {
        self.read().len()
    }

    /// Whether no secret is registered.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, Vec<Entry>> {
        match self.secrets.read() {
            Ok(guard) => guard,
            Err(poisoned) => poisoned.into_inner(),
        }
    }

    /// Replaces every occurrence of every registered secret, in any of the encodings listed
    /// on [`Redactor`], in `text` with [`MASK`].
    ///
    /// Overlapping or adjacent occurrences (of one secret or of several) are merged into a
    /// single mask, so no fragment of either secret survives between two masks. Borrows when
    /// nothing matched.
    pub fn redact<'a>(&self, text: &'a str) -> Cow<'a, str> {
        let secrets = self.read();
        let mut ranges: Vec<(usize, usize)> = Vec::new();
        for entry in secrets.iter() {
            let mut from = 0;
            while from <= text.len() {
                let Some(m) = entry.pattern.find_at(text, from) else {
                    break;
                };
                if m.end() > m.start() {
                    ranges.push((m.start(), m.end()));
                }
                // Step one character, not one match length: "aaaa" inside "aaaaa" matches
                // twice, and both matches must be covered.
                let step = text[m.start()..].chars().next().map_or(1, char::len_utf8);
                from = m.start() + step;
            }
        }
        if ranges.is_empty() {
            return Cow::Borrowed(text);
        }
        ranges.sort_unstable();
        let mut out = String::with_capacity(text.len());
        let mut cursor = 0;
        let mut i = 0;
        while i < ranges.len() {
            let (start, mut end) = ranges[i];
            i += 1;
            while i < ranges.len() && ranges[i].0 <= end {
                end = end.max(ranges[i].1);
                i += 1;
            }
            out.push_str(&text[cursor..start]);
            out.push_str(MASK);
            cursor = end;
        }
        out.push_str(&text[cursor..]);
        Cow::Owned(out)
    }

    /// Redacts every string (and object key) inside a JSON value. Works on the parsed value,
    /// so escaping in the serialized text cannot hide a secret, and the result is always
    /// valid JSON.
    pub fn redact_json(&self, value: &mut serde_json::Value) {
        use serde_json::Value;
        match value {
            Value::String(s) => {
                if let Cow::Owned(r) = self.redact(s) {
                    *s = r;
                }
            }
            Value::Array(items) => items.iter_mut().for_each(|v| self.redact_json(v)),
            Value::Object(map) => {
                let old = std::mem::take(map);
                for (k, mut v) in old {
                    self.redact_json(&mut v);
                    map.insert(self.redact(&k).into_owned(), v);
                }
            }
            Value::Null | Value::Bool(_) | Value::Number(_) => {}
        }
    }
}

/// The regex source matching `secret` in every per-character encoding, or its base64 forms.
fn pattern_for(secret: &str) -> String {
    let mut chars = String::new();
    for c in secret.chars() {
        let forms = char_forms(c);
        if forms.len() == 1 {
            chars.push_str(&forms[0]);
        } else {
            chars.push_str("(?:");
            chars.push_str(&forms.join("|"));
            chars.push(')');
        }
    }
    let mut alternatives = vec![chars];
    let engines = [
        &base64::engine::general_purpose::STANDARD,
        &base64::engine::general_purpose::STANDARD_NO_PAD,
        &base64::engine::general_purpose::URL_SAFE,
        &base64::engine::general_purpose::URL_SAFE_NO_PAD,
    ];
    for engine in engines {
        let encoded = regex::escape(&engine.encode(secret.as_bytes()));
        if !alternatives.contains(&encoded) {
            alternatives.push(encoded);
        }
    }
    // Longest first: a padded base64 form must win over its unpadded prefix.
    alternatives.sort_by_key(|a| std::cmp::Reverse(a.len()));
    alternatives.join("|")
}

/// Regex pieces matching one character of a secret as tools print it.
fn char_forms(c: char) -> Vec<String> {
    let mut forms = vec![regex::escape(c.encode_utf8(&mut [0; 4]))];
    if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '~') {
        // Unreserved in URLs and plain in JSON and XML: tools print these as they are.
        return forms;
    }
    // URL: every UTF-8 byte as %XX, hex in either case; form encoding turns space into `+`.
    let mut utf8 = [0u8; 4];
    let pct: String = c
        .encode_utf8(&mut utf8)
        .bytes()
        .map(|b| format!("%(?i:{b:02X})"))
        .collect();
    forms.push(pct);
    if c == ' ' {
        forms.push(r"\+".to_string());
    }
    // JSON: an escaped `"` or `\` may be escaped again (JSON inside JSON): any run of
    // backslashes before it.
    match c {
        '"' => forms.push(r#"\\+""#.to_string()),
        '\\' => forms.push(r"\\+".to_string()),
        '/' => forms.push(r"\\+/".to_string()),
        '\n' => forms.push(r"\\+n".to_string()),
        '\r' => forms.push(r"\\+r".to_string()),
        '\t' => forms.push(r"\\+t".to_string()),
        _ => {}
    }
    let mut units = [0u16; 2];
    let escaped: String = c
        .encode_utf16(&mut units)
        .iter()
        .map(|u| format!(r"\\+u(?i:{u:04X})"))
        .collect();
    forms.push(escaped);
    // XML and HTML: the named entities and numeric character references.
    let code = c as u32;
    forms.push(format!("&#0*{code};"));
    forms.push(format!("&#(?i:x)0*(?i:{code:X});"));
    match c {
        '&' => forms.push("&amp;".into()),
        '"' => forms.push("&quot;".into()),
        '\'' => forms.push("&apos;".into()),
        '<' => forms.push("&lt;".into()),
        '>' => forms.push("&gt;".into()),
        _ => {}
    }
    forms
}

/// A [`tracing_subscriber`] writer factory that masks every registered secret ([`global`])
/// in each log event before it reaches the inner writer (stderr, a progress bar's writer…).
///
/// The fmt layer formats one event into one buffer and writes it through one writer, so each
/// event is redacted whole: a secret cannot be split across two writes.
#[derive(Clone)]
pub struct RedactingMakeWriter<M> {
    inner: M,
}

impl<M> RedactingMakeWriter<M> {
    /// Wraps `inner` (e.g. `std::io::stderr`).
    pub fn new(inner: M) -> Self {
        RedactingMakeWriter { inner }
    }
}

impl<'a, M> tracing_subscriber::fmt::MakeWriter<'a> for RedactingMakeWriter<M>
where
    M: tracing_subscriber::fmt::MakeWriter<'a>,
{
    type Writer = RedactingWriter<M::Writer>;

    fn make_writer(&'a self) -> Self::Writer {
        RedactingWriter {
            inner: self.inner.make_writer(),
            buf: Vec::new(),
        }
    }
}

/// One event's writer: buffers the event, redacts it and writes it on flush or drop.
pub struct RedactingWriter<W: Write> {
    inner: W,
    buf: Vec<u8>,
}

impl<W: Write> RedactingWriter<W> {
    fn emit(&mut self) -> std::io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let text = String::from_utf8_lossy(&self.buf).into_owned();
        self.buf.clear();
        let masked = global().redact(&text);
        self.inner.write_all(masked.as_bytes())?;
        self.inner.flush()
    }
}

impl<W: Write> Write for RedactingWriter<W> {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        self.buf.extend_from_slice(data);
        Ok(data.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.emit()
    }
}

impl<W: Write> Drop for RedactingWriter<W> {
    fn drop(&mut self) {
        let _ = self.emit();
    }
}

/// A value that prints as `***` in `Debug` and `Display`; [`Secret::expose`] gives the value.
///
/// Deserializes transparently (a profile's secret string is a plain TOML string) and has no
/// `Serialize`, so it cannot be written into run.json by accident.
#[derive(Clone, PartialEq, Eq, Deserialize)]
#[serde(transparent)]
pub struct Secret<T>(T);

impl<T> Secret<T> {
    /// Wraps a value.
    pub fn new(value: T) -> Self {
        Secret(value)
    }

    /// The secret value itself; call only where the value is handed to its consumer.
    pub fn expose(&self) -> &T {
        &self.0
    }

    /// Unwraps the value.
    pub fn into_inner(self) -> T {
        self.0
    }
}

impl<T> From<T> for Secret<T> {
    fn from(value: T) -> Self {
        Secret(value)
    }
}

impl<T> fmt::Debug for Secret<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(MASK)
    }
}

impl<T> fmt::Display for Secret<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(MASK)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overlapping_secrets_leave_no_fragment() {
        let r = Redactor::new();
        r.add("abcdef");
        r.add("defghi");
        assert_eq!(r.redact("x abcdefghi y"), "x *** y");
    }

    #[test]
    fn self_overlapping_occurrences_are_covered() {
        let r = Redactor::new();
        r.add("aaaa");
        assert_eq!(r.redact("baaaaab"), "b***b");
    }

    #[test]
    fn every_occurrence_in_multiline_output_is_masked() {
        let r = Redactor::new();
        r.add("s3cr3t-token");
        let text = "line1 s3cr3t-token\nline2\nline3 token=s3cr3t-token end\n";
        let out = r.redact(text);
        assert!(!out.contains("s3cr3t-token"));
        assert_eq!(out, "line1 ***\nline2\nline3 token=*** end\n");
    }

    #[test]
    fn short_and_empty_secrets_are_ignored() {
        let r = Redactor::new();
        r.add("");
        r.add("abc");
        assert!(r.is_empty());
        assert!(matches!(r.redact("abc"), Cow::Borrowed("abc")));
    }

    #[test]
    fn clones_share_secrets() {
        let r = Redactor::new();
        let c = r.clone();
        r.add("hunter22");
        assert_eq!(c.redact("pw=hunter22"), "pw=***");
    }

    #[test]
    fn non_ascii_text_around_secrets() {
        let r = Redactor::new();
        r.add("pässwörd");
        assert_eq!(r.redact("→pässwörd←"), "→***←");
    }

    /// A secret with every character that encoders treat specially.
    const NASTY: &str = "ab\"c\\d%2&x'y ü→z";

    fn encodings(secret: &str) -> Vec<(&'static str, String)> {
        use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
        let json = serde_json::to_string(secret).unwrap();
        let json = json[1..json.len() - 1].to_string();
        let pct: String = secret
            .bytes()
            .map(|b| {
                if b.is_ascii_alphanumeric() {
                    (b as char).to_string()
                } else {
                    format!("%{b:02X}")
                }
            })
            .collect();
        vec![
            ("raw", secret.to_string()),
            ("json", json.clone()),
            ("json twice", {
                let j = serde_json::to_string(&json).unwrap();
                j[1..j.len() - 1].to_string()
            }),
            ("json \\u", {
                secret
                    .chars()
                    .map(|c| {
                        if c.is_ascii_alphanumeric() {
                            c.to_string()
                        } else {
                            c.encode_utf16(&mut [0; 2])
                                .iter()
                                .map(|u| format!("\\u{u:04x}"))
                                .collect()
                        }
                    })
                    .collect()
            }),
            ("url %20", pct.clone()),
            ("url lower-case hex", pct.to_lowercase()),
            ("form +", pct.replace("%20", "+")),
            ("xml", {
                secret
                    .replace('&', "&amp;")
                    .replace('"', "&quot;")
                    .replace('\'', "&apos;")
            }),
            ("base64", STANDARD.encode(secret)),
            ("base64 url", URL_SAFE_NO_PAD.encode(secret)),
        ]
    }

    #[test]
    fn every_encoding_of_a_nasty_secret_is_masked() {
        let r = Redactor::new();
        r.add(NASTY);
        for (name, form) in encodings(NASTY) {
            let line = format!("before {form} after");
            assert_eq!(r.redact(&line), "before *** after", "{name}: {form}");
        }
    }

    #[test]
    fn a_partly_escaped_secret_is_masked() {
        // A URL encoder that leaves `'` alone but escapes the space and `"`.
        let r = Redactor::new();
        r.add("it's a \"key\"");
        assert_eq!(r.redact("q=it's%20a%20%22key%22&x"), "q=***&x");
    }

    #[test]
    fn json_values_are_redacted_string_by_string() {
        let r = Redactor::new();
        r.add(NASTY);
        let mut v = serde_json::json!({"a": [format!("x{NASTY}y"), 1], NASTY: {"b": NASTY}});
        r.redact_json(&mut v);
        let text = v.to_string();
        assert_eq!(text, r#"{"***":{"b":"***"},"a":["x***y",1]}"#);
    }

    #[test]
    fn secrets_reach_the_global_redactor_and_the_log_writer() {
        use std::io::Write as _;
        use tracing_subscriber::fmt::MakeWriter as _;
        let secret = "log-token-\"quoted\"-7f3a";
        Redactor::new().add(secret);
        assert_eq!(global().redact(secret), MASK);
        let sink = std::sync::Arc::new(std::sync::Mutex::new(Vec::<u8>::new()));
        let writer_sink = sink.clone();
        let make = RedactingMakeWriter::new(move || SharedBuf(writer_sink.clone()));
        {
            let mut w = make.make_writer();
            w.write_all(
                b"GET /api?token=log-token-%22quoted%22-7f3a HTTP/1.1
",
            )
            .unwrap();
        }
        let written = String::from_utf8(sink.lock().unwrap().clone()).unwrap();
        assert_eq!(written, "GET /api?token=*** HTTP/1.1\n");
    }

    struct SharedBuf(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

    impl std::io::Write for SharedBuf {
        fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(data);
            Ok(data.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn debug_of_struct_holding_secret_hides_value() {
        #[derive(Debug)]
        #[allow(dead_code)]
        struct Creds {
            access_key: String,
            secret_key: Secret<String>,
        }
        let c = Creds {
            access_key: "AKIA".into(),
            secret_key: Secret::new("wJalrXUtnFEMI".into()),
        };
        let dbg = format!("{c:?}");
        assert!(!dbg.contains("wJalrXUtnFEMI"), "{dbg}");
        assert!(dbg.contains("secret_key: ***"), "{dbg}");
        assert_eq!(c.secret_key.expose(), "wJalrXUtnFEMI");
        assert_eq!(format!("{}", c.secret_key), "***");
    }
}
