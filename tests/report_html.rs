//! report.html: its content (verdict, steps, checks, failures, escaping of hostile output) and
//! that it renders in a real browser — headless Chromium, with no console errors (the page's
//! Content-Security-Policy turns any attempt to load something into one) — with screenshots of
//! a passing and a failing drill in the test output folder.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use chrono::{DateTime, Duration, TimeZone, Utc};
use dr_harness::engine::record::{
    CheckRecord, Outcome, PhaseTiming, RunRecord, StepRecord, StepStatus,
};
use dr_harness::report::{render_html, write_reports};

/// Hook output a hostile or merely careless tool could print.
const HOSTILE: &str = "<script>alert('xss')</script></pre><img src=x onerror=alert(1)>";

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 2, 10, 0, 0)
        .single()
        .expect("time")
}

fn step(name: &str, kind: &str, status: StepStatus, start: f64, seconds: f64) -> StepRecord {
    StepRecord {
        name: name.into(),
        kind: kind.into(),
        status,
        started_at: (status != StepStatus::Skipped)
            .then(|| t0() + Duration::milliseconds((start * 1000.0) as i64)),
        seconds,
        checks: vec![],
        message: None,
        diagnostics: vec![],
        output: None,
        infrastructure: false,
        usage: false,
    }
}

/// A full-rebuild drill that passed: destroy at +40 s, data verified 612.5 s later.
fn passing() -> RunRecord {
    let mut r = RunRecord::new("run-pass-1".into(), "full-rebuild", "sandbox", "dev");
    r.started_at = t0();
    r.finished_at = Some(t0() + Duration::seconds(700));
    r.steps = vec![
        step("preflight", "preflight", StepStatus::Passed, 0.0, 2.0),
        step(
            "deploy-sentinel",
            "deploy-sentinel",
            StepStatus::Passed,
            2.0,
            8.0,
        ),
        step("backup", "backup", StepStatus::Passed, 10.0, 30.0),
        step("destroy", "destroy", StepStatus::Passed, 40.0, 100.0),
        step("rebuild", "rebuild", StepStatus::Passed, 140.0, 400.0),
        step(
            "verify-sentinel",
            "verify-sentinel",
            StepStatus::Passed,
            540.0,
            112.5,
        ),
        step("cleanup", "cleanup", StepStatus::Passed, 652.5, 5.0),
    ];
    r.steps[2].checks.push(CheckRecord {
        name: "s3-backup-cfg-present".into(),
        passed: true,
        expected: Some("backup cfg in S3".into()),
        found: Some("present".into()),
        seconds: 0.25,
    });
    r.steps[3].output = Some(format!(
        "Destroy complete! Resources: 11 destroyed.\n{HOSTILE}"
    ));
    r.outcome = Outcome::Passed;
    r.rto_seconds = Some(612.5);
    r.rto_target_seconds = Some(1800.0);
    r.rpo_seconds = Some(3.0);
    r.rpo_target_seconds = Some(600.0);
    r.phases = vec![
        PhaseTiming {
            phase: "destroy".into(),
            seconds: 100.0,
        },
        PhaseTiming {
            phase: "rebuild".into(),
            seconds: 400.0,
        },
        PhaseTiming {
            phase: "data-verified".into(),
            seconds: 112.5,
        },
    ];
    let disaster = t0() + Duration::seconds(40);
    r.facts.disaster_at = Some(disaster);
    let ms = |s: i64| (t0() + Duration::seconds(s)).timestamp_millis();
    r.facts.first_tick_ms = Some(ms(5));
    r.facts.snapshot_at_ms = Some(ms(12));
    r.facts.last_tick_written_ms = Some(ms(39));
    r.verified_bytes = 8_389_632;
    r
}

/// A drill whose restored data differs; the failure message and diagnostics carry markup.
fn failing() -> RunRecord {
    let mut r = passing();
    r.run_id = "run-fail-1".into();
    r.outcome = Outcome::Failed;
    r.rto_seconds = None;
    r.rpo_seconds = None;
    let v = &mut r.steps[5];
    v.status = StepStatus::Failed;
    v.message = Some(format!("sentinel-1.bin differs after restore: {HOSTILE}"));
    v.checks.push(CheckRecord {
        name: "sha256-sentinel-1".into(),
        passed: false,
        expected: Some("sha256 9f86d0".into()),
        found: Some("sha256 e3b0c4 <b>bold</b>".into()),
        seconds: 0.5,
    });
    v.diagnostics = vec![
        "Volume pvc-1: restoreRequired=true, robustness=degraded".into(),
        format!("Job log: {HOSTILE}"),
    ];
    r.steps[6] = step("cleanup", "cleanup", StepStatus::Skipped, 0.0, 0.0);
    r
}

#[test]
fn passing_report_shows_verdict_steps_rto_window_and_rpo_ticks() {
    let html = render_html(&passing());
    assert!(html.starts_with("<!DOCTYPE html>"), "{}", &html[..40]);
    assert!(html.contains(r#"data-verdict="PASSED""#));
    assert!(html.contains("<title>dr-harness full-rebuild: PASSED</title>"));
    for s in &passing().steps {
        assert!(html.contains(&s.name), "step {} missing", s.name);
    }
    assert!(html.contains("s3-backup-cfg-present"), "checks listed");
    assert!(html.contains(r#"id="rto-window""#), "RTO window drawn");
    assert!(html.contains("RTO 10m 13s"), "RTO window labelled");
    assert!(html.contains(r#"id="rto-target""#), "RTO target line drawn");
    assert!(html.contains("newest surviving tick"), "RPO ticks drawn");
    assert!(html.contains("within target"));
    assert!(
        !html.contains(r#"id="first-failure""#),
        "no failure section"
    );
}

#[test]
fn failing_report_leads_with_the_first_failure_and_its_diagnostics() {
    let html = render_html(&failing());
    assert!(html.contains(r#"data-verdict="FAILED""#));
    let failure = &html[html.find(r#"id="first-failure""#).expect("failure section")..];
    let failure = &failure[..failure.find("</section>").expect("end")];
    assert!(failure.contains("verify-sentinel"), "{failure}");
    assert!(failure.contains("sentinel-1.bin differs after restore"));
    assert!(failure.contains("sha256-sentinel-1"));
    assert!(failure.contains("robustness=degraded"));
    // The failed step is open, the skipped one is marked skipped.
    assert!(html.contains(r#"<details class="step fail" open>"#));
    assert!(html.contains(r#"<span class="st skip">skipped</span>"#));
}

#[test]
fn hostile_output_is_escaped_everywhere() {
    for record in [passing(), failing()] {
        let html = render_html(&record);
        assert!(!html.contains("<script"), "a script element got through");
        assert!(!html.contains("<img"), "an img element got through");
        assert!(!html.contains("<b>bold</b>"));
        assert!(html.contains("&lt;script&gt;alert('xss')&lt;/script&gt;"));
        // Self-contained: nothing is loaded from anywhere (the only URL is the SVG namespace).
        for attr in ["src=\"", "href=\"", "url(", "@import"] {
            assert!(!html.contains(attr), "{attr} in the page");
        }
        let urls: Vec<&str> = html.matches("http://").collect();
        assert_eq!(
            urls.len(),
            html.matches(r#"xmlns="http://www.w3.org/2000/svg""#)
                .count()
        );
    }
}

#[test]
fn write_reports_puts_report_html_beside_junit() {
    let out = tempfile::tempdir().expect("tempdir");
    let paths = write_reports(out.path(), &failing(), None).expect("reports");
    assert_eq!(paths.html.parent(), paths.junit.parent());
    assert_eq!(paths.html.file_name().unwrap(), "report.html");
    let html = std::fs::read_to_string(&paths.html).expect("report.html");
    assert_eq!(html, render_html(&failing()));
    assert!(out.path().join("latest/report.html").is_file());
}

/// Where screenshots go: `<target>/tmp/report-html/`.
fn output_dir() -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("report-html");
    std::fs::create_dir_all(&dir).expect("output dir");
    dir
}

fn chromium() -> Option<PathBuf> {
    ["chromium", "chromium-browser", "google-chrome"]
        .into_iter()
        .find_map(which)
}

fn which(name: &str) -> Option<PathBuf> {
    std::env::var_os("PATH").and_then(|p| {
        std::env::split_paths(&p)
            .map(|d| d.join(name))
            .find(|c| c.is_file())
    })
}

/// What headless Chromium made of a page.
struct Rendered {
    dom: String,
    /// Console messages Chromium logged (`CONSOLE(...)` lines on stderr).
    console: Vec<String>,
}

/// Longest a Chromium run may take before the test gives up on it (two cores, shared).
const CHROMIUM_LIMIT: std::time::Duration = std::time::Duration::from_secs(120);

fn headless(bin: &Path, page: &Path, extra: &[String]) -> Rendered {
    use std::io::Read;
    use std::process::Stdio;
    let profile = tempfile::tempdir().expect("profile dir");
    let mut child = Command::new(bin)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            "--hide-scrollbars",
            "--enable-logging=stderr",
            "--v=0",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .args(extra)
        .arg(format!("file://{}", page.display()))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run chromium");
    // Read both pipes while waiting, so a large DOM cannot block the browser on a full pipe.
    let drain = |mut r: Box<dyn Read + Send>| {
        std::thread::spawn(move || {
            let mut s = String::new();
            let _ = r.read_to_string(&mut s);
            s
        })
    };
    let stdout = drain(Box::new(child.stdout.take().expect("stdout")));
    let stderr = drain(Box::new(child.stderr.take().expect("stderr")));
    let started = std::time::Instant::now();
    let status = loop {
        if let Some(st) = child.try_wait().expect("wait for chromium") {
            break st;
        }
        if started.elapsed() > CHROMIUM_LIMIT {
            let _ = child.kill();
            let _ = child.wait();
            panic!("chromium did not finish within {CHROMIUM_LIMIT:?}");
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    };
    let dom = stdout.join().expect("stdout reader");
    let stderr = stderr.join().expect("stderr reader");
    assert!(status.success(), "chromium failed ({status}): {stderr}");
    Rendered {
        dom,
        console: stderr
            .lines()
            .filter(|l| l.contains("CONSOLE"))
            .map(str::to_string)
            .collect(),
    }
}

#[test]
fn reports_render_in_headless_chromium_without_console_errors() {
    let Some(bin) = chromium() else {
        common::missing(
            "chromium not found (apt-get install chromium): report.html NOT rendered in a browser",
        );
        return;
    };
    let dir = output_dir();

    // The check itself works: a page that tries to load something logs a console error.
    let control = dir.join("control.html");
    std::fs::write(
        &control,
        r#"<!DOCTYPE html><html><head><meta http-equiv="Content-Security-Policy" content="default-src 'none'"></head><body><img src="http://127.0.0.1:9/x.png"></body></html>"#,
    )
    .expect("control page");
    let r = headless(&bin, &control, &["--dump-dom".into()]);
    assert!(
        !r.console.is_empty(),
        "a blocked load must show as a console message, or this test proves nothing"
    );

    for (name, record) in [("passing", passing()), ("failing", failing())] {
        let page = dir.join(format!("{name}.html"));
        std::fs::write(&page, render_html(&record)).expect("page");
        let r = headless(&bin, &page, &["--dump-dom".into()]);
        assert!(
            r.console.is_empty(),
            "{name}: console messages: {:#?}",
            r.console
        );
        // The browser built the document we meant: verdict, every step, the charts.
        let verdict = if name == "passing" {
            "PASSED"
        } else {
            "FAILED"
        };
        assert!(
            r.dom.contains(&format!(r#"data-verdict="{verdict}""#)),
            "{name}: {}",
            r.dom
        );
        for s in &record.steps {
            assert!(
                r.dom
                    .contains(&format!(r#"<b class="name">{}</b>"#, s.name)),
                "{name}: step {}",
                s.name
            );
        }
        assert!(r.dom.contains(r#"aria-label="drill timeline""#));
        assert!(
            !r.dom.contains("<script"),
            "{name}: a script element was parsed"
        );
        assert!(!r.dom.contains("<img"), "{name}: an img element was parsed");

        let shot = dir.join(format!("{name}.png"));
        let _ = std::fs::remove_file(&shot);
        let r = headless(
            &bin,
            &page,
            &[
                format!("--screenshot={}", shot.display()),
                "--window-size=1280,1800".into(),
            ],
        );
        assert!(r.console.is_empty(), "{name}: {:#?}", r.console);
        let png = std::fs::read(&shot).expect("screenshot written");
        assert!(png.starts_with(b"\x89PNG\r\n\x1a\n"), "{name}: not a PNG");
        assert!(png.len() > 20_000, "{name}: screenshot suspiciously small");
        eprintln!("screenshot: {}", shot.display());
    }
}
