//! No planted secret, in any encoding, reaches any output at any verbosity: a hook's secret
//! (inherited from the environment, containing `"`, `\`, `%`, `&`, `'`, a space and non-ASCII)
//! printed raw, JSON-escaped (as `tofu -json` does), URL-encoded (`%20` and `+` forms) and
//! base64-encoded, and written literally into the hook's argv; the kubeconfig token and the S3
//! keys at `-vv` (debug logs of kube, hyper and the AWS SDK). Every output is searched: stdout,
//! stderr, every report file, and the run state kept in S3.

mod common;

use std::process::Command;

use base64::Engine as _;
use common::{all_files, harness_bin, write_profile, TestSandbox};

/// The planted secret: every character some encoder treats specially.
const SECRET: &str = "tok\"en\\pa%25ss&amp'x ü→ 9f3e";

fn json_escaped(s: &str) -> String {
    let j = serde_json::to_string(s).unwrap();
    j[1..j.len() - 1].to_string()
}

fn percent_encoded(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// Every form of `s` a tool may print, named.
fn forms(s: &str) -> Vec<(String, String)> {
    let std = base64::engine::general_purpose::STANDARD;
    vec![
        ("raw".into(), s.to_string()),
        ("json".into(), json_escaped(s)),
        ("url %20".into(), percent_encoded(s)),
        ("url +".into(), percent_encoded(s).replace("%20", "+")),
        ("base64".into(), std.encode(s)),
    ]
}

fn shell_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

fn kubeconfig_token(sb: &TestSandbox) -> String {
    let text = std::fs::read_to_string(sb.dir.path().join("kubeconfig")).unwrap();
    text.lines()
        .find_map(|l| l.trim().strip_prefix("token:"))
        .map(|t| t.trim().to_string())
        .expect("token in kubeconfig")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn no_planted_secret_in_any_encoding_reaches_any_output_at_vv() {
    let sb = TestSandbox::start().await;
    let work = tempfile::tempdir().unwrap();
    let base = std::fs::read_to_string(write_profile(&sb, work.path(), &[])).unwrap();
    // Both hooks print the secret in every form, and carry it literally in their argv (a
    // `-var token=…` would): the argv is printed ("destroy hook: …") before the hook runs.
    let encoded = forms(SECRET);
    let printing = format!(
        "printf '%s\\n' \"raw=$HOOK_TOKEN\" \"json={{\\\"token\\\":\\\"$HOOK_TOKEN_JSON\\\"}}\" \"url=$HOOK_TOKEN_URL\" \"form=$HOOK_TOKEN_FORM\" \"b64=$HOOK_TOKEN_B64\" >&2; : -var token={}; ",
        shell_quote(SECRET)
    );
    let script_start = "argv = [\"sh\", \"-c\", \"";
    assert!(base.contains(script_start));
    let toml_inner = {
        let j = serde_json::to_string(&printing).unwrap();
        j[1..j.len() - 1].to_string()
    };
    let profile_text = base
        .replace(script_start, &format!("{script_start}{toml_inner}"))
        .replace("secret_env = []", "secret_env = [\"HOOK_TOKEN\"]");
    let profile = work.path().join("planted.toml");
    std::fs::write(&profile, profile_text).unwrap();

    let keys = sb.keys();
    let out = work.path().join("reports");
    let res = tokio::task::block_in_place(|| {
        Command::new(harness_bin())
            .args(["run", "full-rebuild", "--allow-destroy", "-vv", "--profile"])
            .arg(&profile)
            .arg("--out")
            .arg(&out)
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .env("AWS_ACCESS_KEY_ID", &keys.access_key)
            .env("AWS_SECRET_ACCESS_KEY", &keys.secret_key)
            // The "env" channel: the hook's secret is inherited, not in the profile.
            .env("HOOK_TOKEN", SECRET)
            .env("HOOK_TOKEN_JSON", &encoded[1].1)
            .env("HOOK_TOKEN_URL", &encoded[2].1)
            .env("HOOK_TOKEN_FORM", &encoded[3].1)
            .env("HOOK_TOKEN_B64", &encoded[4].1)
            .env_remove("DR_HARNESS_LOG")
            .output()
            .expect("dr-harness runs")
    });
    let stdout = String::from_utf8_lossy(&res.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&res.stderr).into_owned();
    let tail: String = stderr
        .chars()
        .rev()
        .take(3000)
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .collect();
    assert_eq!(res.status.code(), Some(0), "{tail}");
    // The hook did print every form (masked), and -vv did log debug lines.
    for tag in [
        "raw=***",
        "json={\"token\":\"***\"}",
        "url=***",
        "form=***",
        "b64=***",
    ] {
        assert!(
            stderr.contains(tag),
            "hook line {tag} missing (not printed or not masked)"
        );
    }
    assert!(stderr.contains("DEBUG"), "-vv logs at debug");

    let mut secrets: Vec<(String, String)> = encoded
        .iter()
        .map(|(n, v)| (format!("hook secret {n}"), v.clone()))
        .collect();
    for (what, value) in [
        ("kubeconfig token", kubeconfig_token(&sb)),
        ("S3 secret key", keys.secret_key.clone()),
    ] {
        for (n, v) in forms(&value) {
            secrets.push((format!("{what} {n}"), v));
        }
    }
    let mut texts = vec![
        ("stdout".to_string(), stdout),
        ("stderr".to_string(), stderr),
    ];
    let mut files = Vec::new();
    all_files(&out, &mut files);
    assert!(files.iter().any(|f| f.ends_with("junit.xml")));
    for f in files {
        let text = String::from_utf8_lossy(&std::fs::read(&f).unwrap()).into_owned();
        texts.push((f.display().to_string(), text));
    }
    let objects = sb.run_state_texts().await;
    assert!(!objects.is_empty(), "run state kept in S3");
    texts.extend(objects);
    // junit.xml escapes `&` `"` `'`: decode the entities too before searching.
    let decoded: Vec<(String, String)> = texts
        .iter()
        .filter(|(o, _)| o.ends_with(".xml"))
        .map(|(o, t)| {
            let d = t
                .replace("&quot;", "\"")
                .replace("&apos;", "'")
                .replace("&lt;", "<")
                .replace("&gt;", ">")
                .replace("&amp;", "&");
            (format!("{o} (entities decoded)"), d)
        })
        .collect();
    texts.extend(decoded);
    for (origin, text) in &texts {
        for (what, value) in &secrets {
            assert!(
                !text.contains(value.as_str()),
                "{what} leaked into {origin}"
            );
        }
    }
    sb.sandbox.shutdown().await;
}
