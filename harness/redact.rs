//! Secret redaction: values that must never leave the process (tokens, S3 keys, hook secrets).
//!
//! Hooks print what their tools print, and tools print secrets (a `TF_VAR_hcloud_token` echoed
//! by a failing provider, an access key in a debug line). Every line that goes to the console,
//! a report or run.json passes through one shared [`Redactor`] first. [`Secret`] keeps values
//! out of `Debug`/`Display` so a stray `{:?}` in a log cannot leak them either.

use std::borrow::Cow;
use std::fmt;
use std::sync::{Arc, RwLock};

use serde::Deserialize;

/// What a redacted secret is replaced with.
pub const MASK: &str = "***";

/// Secrets shorter than this are ignored: masking `"a"` or `"on"` would shred every line while
/// protecting nothing worth protecting.
pub const MIN_SECRET_LEN: usize = 4;

/// A shared, growing set of secret values and the function that masks them in text.
///
/// Cloning is cheap (an `Arc`); all clones see secrets added through any of them, so the
/// engine can register a secret late (a kubeconfig token fetched at rebuild) and every reporter
/// holding a clone masks it from then on.
#[derive(Clone, Default)]
pub struct Redactor {
    secrets: Arc<RwLock<Vec<String>>>,
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

    /// Registers a secret value. Empty values and values shorter than [`MIN_SECRET_LEN`]
    /// characters are ignored; duplicates are stored once.
    pub fn add(&self, secret: &str) {
        if secret.chars().count() < MIN_SECRET_LEN {
            return;
        }
        let mut secrets = match self.secrets.write() {
            Ok(guard) => guard,
            // A panic while holding the lock cannot leave the Vec half-written in a way that
            // matters here (push is all-or-nothing), so keep redacting rather than leak.
            Err(poisoned) => poisoned.into_inner(),
        };
        if !secrets.iter().any(|s| s == secret) {
            secrets.push(secret.to_string());
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

    fn read(&self) -> std::sync::RwLockReadGuard<'_, Vec<String>> {
        match self.secrets.read() {
            Ok(guard) => guard,
            Err(poisoned) => poisoned.into_inner(),
        }
    }

    /// Replaces every occurrence of every registered secret in `text` with [`MASK`].
    ///
    /// Overlapping or adjacent occurrences (of one secret or of several) are merged into a
    /// single mask, so no fragment of either secret survives between two masks. Borrows when
    /// nothing matched.
    pub fn redact<'a>(&self, text: &'a str) -> Cow<'a, str> {
        let secrets = self.read();
        let mut ranges: Vec<(usize, usize)> = Vec::new();
        for secret in secrets.iter() {
            let mut from = 0;
            while let Some(pos) = text[from..].find(secret.as_str()) {
                let start = from + pos;
                ranges.push((start, start + secret.len()));
                // Step one character, not one secret length: "aaaa" inside "aaaaa" matches
                // twice, and both matches must be covered.
                let step = text[start..].chars().next().map_or(1, char::len_utf8);
                from = start + step;
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
