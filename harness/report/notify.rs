//! Notifications: one chat message per drill to Slack-compatible or Discord incoming webhooks.
//!
//! Flavours, by URL: an explicit `slack+https://…` or `discord+https://…` prefix wins; otherwise
//! a URL on `discord.com` / `discordapp.com` (or their subdomains) whose path starts with
//! `/api/webhooks/` is Discord, and anything else is Slack-compatible (Slack, Mattermost,
//! Rocket.Chat and Teams' Slack-compatible connectors take `{"text": …}`). Discord takes
//! `{"content": …}` of at most 2000 characters.
//!
//! A webhook URL is itself a credential (the token is in its path): it is registered with the
//! drill's redactor, kept out of `Debug`, and only its host appears in warnings. The message
//! text passes through the redactor before it leaves the process. Sending has a timeout and
//! bounded, jittered retries on connection errors, 429 and 5xx; a notification that still
//! fails is reported to the caller, who warns — it never changes a drill's verdict.

use std::time::Duration;

use backon::{ExponentialBuilder, Retryable};

use crate::engine::record::{Outcome, RunRecord};
use crate::redact::{Redactor, Secret};

use super::html::human_seconds;

/// Longest Discord message (`content`), characters.
pub const DISCORD_MAX_CHARS: usize = 2000;
/// Longest message sent to Slack-compatible webhooks, characters (Slack truncates `text` far
/// later; a drill summary is short, so this only bounds hostile failure messages).
pub const SLACK_MAX_CHARS: usize = 3500;

/// Errors of notifications.
#[derive(Debug, thiserror::Error)]
pub enum NotifyError {
    /// `--notify` was given something that is not an http(s) webhook URL.
    #[error("--notify {shown}: {why}; give an http(s) webhook URL, optionally prefixed `slack+` or `discord+`")]
    BadUrl {
        /// The argument cut to its scheme and host: the rest of a webhook URL is a secret.
        shown: String,
        /// What is wrong with it.
        why: String,
    },
    /// Sending failed after the retries (connection, timeout or a non-2xx answer).
    #[error("notification to the {flavour} webhook on {host} failed: {message}")]
    Send {
        /// `slack` or `discord` ([`Flavour::as_str`]).
        flavour: &'static str,
        /// Host (and port) of the webhook; the rest of the URL is a secret.
        host: String,
        /// The last error (connection, timeout, or the HTTP status and body), without the URL.
        message: String,
    },
}

/// Which JSON shape a webhook takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flavour {
    /// `{"text": "…"}`.
    Slack,
    /// `{"content": "…"}`.
    Discord,
}

impl Flavour {
    /// `slack` or `discord`: the `--notify` prefix and the name used in messages.
    pub fn as_str(self) -> &'static str {
        match self {
            Flavour::Slack => "slack",
            Flavour::Discord => "discord",
        }
    }
}

/// One `--notify` destination.
#[derive(Debug, Clone)]
pub struct NotifyTarget {
    /// The JSON shape to send.
    pub flavour: Flavour,
    /// The URL to POST to (prefix removed); secret, so `Debug` shows `***`.
    url: Secret<String>,
    /// Host (and port) of the URL, safe to show.
    pub host: String,
}

impl NotifyTarget {
    /// Reads a `--notify` value (see the module docs for the flavour rules).
    ///
    /// # Errors
    /// [`NotifyError::BadUrl`] for an unparsable URL or a scheme other than http/https; the
    /// error shows the scheme and host only, never the token-bearing path.
    pub fn parse(raw: &str) -> Result<NotifyTarget, NotifyError> {
        let raw = raw.trim();
        let (explicit, rest) = if let Some(r) = raw.strip_prefix("slack+") {
            (Some(Flavour::Slack), r)
        } else if let Some(r) = raw.strip_prefix("discord+") {
            (Some(Flavour::Discord), r)
        } else {
            (None, raw)
        };
        let url = reqwest::Url::parse(rest).map_err(|e| NotifyError::BadUrl {
            shown: rest.split('/').take(3).collect::<Vec<_>>().join("/"),
            why: e.to_string(),
        })?;
        let host = url.host_str().unwrap_or_default().to_string();
        let shown = format!("{}://{host}", url.scheme());
        if !matches!(url.scheme(), "http" | "https") || host.is_empty() {
            return Err(NotifyError::BadUrl {
                shown,
                why: "not an http(s) URL with a host".into(),
            });
        }
        let is_discord_host = ["discord.com", "discordapp.com"]
            .iter()
            .any(|d| host == *d || host.ends_with(&format!(".{d}")));
        let flavour = explicit.unwrap_or(
            if is_discord_host && url.path().starts_with("/api/webhooks/") {
                Flavour::Discord
            } else {
                Flavour::Slack
            },
        );
        let host = match url.port() {
            Some(p) => format!("{host}:{p}"),
            None => host,
        };
        Ok(NotifyTarget {
            flavour,
            url: Secret::new(url.to_string()),
            host,
        })
    }

    /// Registers the URL (and its path, which holds the token) with `redactor`, so that no log
    /// line or report can show it.
    pub fn register_secret(&self, redactor: &Redactor) {
        redactor.add(self.url.expose());
        if let Ok(u) = reqwest::Url::parse(self.url.expose()) {
            redactor.add(u.path());
        }
    }

    /// The JSON body for `text` in this target's flavour, `text` cut to the flavour's limit.
    pub fn payload(&self, text: &str) -> serde_json::Value {
        match self.flavour {
            Flavour::Slack => serde_json::json!({ "text": cut(text, SLACK_MAX_CHARS) }),
            Flavour::Discord => serde_json::json!({ "content": cut(text, DISCORD_MAX_CHARS) }),
        }
    }
}

/// `text` shortened to at most `max` characters, ending in `…` when cut.
fn cut(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_string();
    }
    let mut s: String = text.chars().take(max.saturating_sub(1)).collect();
    s.push('…');
    s
}

/// The message for a finished drill: verdict, RTO/RPO against their targets, the first
/// failure, and where the report is (`report` is a URL or a path). Redacted through
/// `redactor`; not yet cut to a flavour's length.
pub fn message(record: &RunRecord, report: &str, redactor: &Redactor) -> String {
    let (icon, word) = match record.outcome {
        Outcome::Passed => ("✅", "PASSED"),
        Outcome::Failed => ("❌", "FAILED"),
        Outcome::Interrupted => ("⚠️", "INTERRUPTED"),
        Outcome::Unknown => ("❔", "UNKNOWN"),
    };
    let secs = |v: Option<f64>| v.map_or_else(|| "n/a".to_string(), human_seconds);
    let mut text = format!(
        "{icon} dr-harness drill {} on cluster {}: {word}\nRTO {} (target {}) · RPO {} (target {})\n",
        record.scenario,
        record.cluster,
        secs(record.rto_seconds),
        secs(record.rto_target_seconds),
        secs(record.rpo_seconds),
        secs(record.rpo_target_seconds),
    );
    if let Some(f) = record.failing_step() {
        // The whole first line of the message: diagnostics stay in the report.
        let why = f
            .message
            .as_deref()
            .and_then(|m| m.lines().next())
            .unwrap_or("no message");
        text.push_str(&format!("first failure: {}: {}\n", f.name, cut(why, 600)));
    }
    text.push_str(&format!("report: {report}\nrun {}", record.run_id));
    redactor.redact(&text).into_owned()
}

/// Timeout and retries of one notification.
#[derive(Debug, Clone)]
pub struct SendOptions {
    /// Per attempt.
    pub timeout: Duration,
    /// Retries after the first attempt.
    pub retries: usize,
    /// First backoff delay (doubling, jittered, at most 10 s).
    pub min_delay: Duration,
}

impl Default for SendOptions {
    fn default() -> Self {
        SendOptions {
            timeout: Duration::from_secs(10),
            retries: 3,
            min_delay: Duration::from_millis(500),
        }
    }
}

/// Why one attempt failed, and whether another may help.
struct Attempt {
    message: String,
    transient: bool,
}

/// POSTs `text` to `target` (as [`NotifyTarget::payload`]), retrying connection errors,
/// timeouts, 429 and 5xx answers.
///
/// # Errors
/// [`NotifyError::Send`] naming the flavour and host (never the URL) and the last failure.
pub async fn send(
    target: &NotifyTarget,
    text: &str,
    opts: &SendOptions,
) -> Result<(), NotifyError> {
    let err = |message: String| NotifyError::Send {
        flavour: target.flavour.as_str(),
        host: target.host.clone(),
        message,
    };
    // reqwest is built without a TLS provider of its own: use the process-wide one.
    crate::cluster::connect::install_crypto_provider();
    let client = reqwest::Client::builder()
        .timeout(opts.timeout)
        .build()
        .map_err(|e| err(e.without_url().to_string()))?;
    let body = serde_json::to_vec(&target.payload(text)).map_err(|e| err(e.to_string()))?;
    let attempt = || async {
        let resp = client
            .post(target.url.expose())
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(body.clone())
            .send()
            .await
            .map_err(|e| Attempt {
                message: error_chain(e),
                transient: true,
            })?;
        let status = resp.status();
        if status.is_success() {
            return Ok(());
        }
        let detail: String = resp
            .text()
            .await
            .unwrap_or_default()
            .chars()
            .take(200)
            .collect();
        Err(Attempt {
            message: format!("answered {status}: {}", detail.trim()),
            transient: status.as_u16() == 429 || status.is_server_error(),
        })
    };
    attempt
        .retry(
            ExponentialBuilder::default()
                .with_min_delay(opts.min_delay)
                .with_max_delay(Duration::from_secs(10))
                .with_max_times(opts.retries)
                .with_jitter(),
        )
        .when(|a: &Attempt| a.transient)
        .await
        .map_err(|a| {
            err(if a.transient {
                format!("{} (gave up after {} retries)", a.message, opts.retries)
            } else {
                a.message
            })
        })
}

/// A reqwest error and its causes on one line, without the URL (the token is in it).
fn error_chain(e: reqwest::Error) -> String {
    let e = e.without_url();
    let mut out = e.to_string();
    let mut source = std::error::Error::source(&e);
    while let Some(s) = source {
        let text = s.to_string();
        if !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        source = s.source();
    }
    out
}

/// Sends the drill's [`message`] to every target; returns the failures (the caller warns).
pub async fn notify_all(
    targets: &[NotifyTarget],
    record: &RunRecord,
    report: &str,
    redactor: &Redactor,
    opts: &SendOptions,
) -> Vec<NotifyError> {
    let text = message(record, report, redactor);
    let sends = targets.iter().map(|t| send(t, &text, opts));
    futures::future::join_all(sends)
        .await
        .into_iter()
        .filter_map(Result::err)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flavour_by_prefix_then_by_discord_host_and_path() {
        let f = |u: &str| NotifyTarget::parse(u).map(|t| t.flavour);
        assert_eq!(
            f("https://hooks.slack.com/services/T0/B0/x").unwrap(),
            Flavour::Slack
        );
        assert_eq!(
            f("https://discord.com/api/webhooks/1/tok").unwrap(),
            Flavour::Discord
        );
        assert_eq!(
            f("https://ptb.discordapp.com/api/webhooks/1/tok").unwrap(),
            Flavour::Discord
        );
        // Discord host but not its webhook path, and a look-alike host: Slack-compatible.
        assert_eq!(f("https://discord.com/other").unwrap(), Flavour::Slack);
        assert_eq!(
            f("https://notdiscord.com/api/webhooks/1").unwrap(),
            Flavour::Slack
        );
        assert_eq!(
            f("discord+http://127.0.0.1:9/hook").unwrap(),
            Flavour::Discord
        );
        assert_eq!(
            f("slack+https://discord.com/api/webhooks/1/t").unwrap(),
            Flavour::Slack
        );
    }

    #[test]
    fn bad_urls_are_refused_without_showing_the_path() {
        let e = NotifyTarget::parse("ftp://host/secret-token")
            .unwrap_err()
            .to_string();
        assert!(e.contains("ftp://host"), "{e}");
        assert!(!e.contains("secret-token"), "{e}");
        assert!(NotifyTarget::parse("not a url").is_err());
    }

    #[test]
    fn debug_hides_the_url() {
        let t = NotifyTarget::parse("https://hooks.example/services/T/B/tok3n").unwrap();
        let d = format!("{t:?}");
        assert!(!d.contains("tok3n"), "{d}");
        assert_eq!(t.host, "hooks.example");
    }

    #[test]
    fn discord_payload_is_cut_to_its_limit() {
        let t = NotifyTarget::parse("discord+https://x.example/h").unwrap();
        let long = "é".repeat(5000);
        let v = t.payload(&long);
        let content = v["content"].as_str().unwrap();
        assert_eq!(content.chars().count(), DISCORD_MAX_CHARS);
        assert!(content.ends_with('…'));
    }
}
