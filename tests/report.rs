//! Reports read back: JUnit parsed with quick-xml, metrics with prometheus-parse, the report
//! folder layout, the console summary, and a Pushgateway push against a local server.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use chrono::{TimeZone, Utc};
use dr_harness::engine::record::{
    CheckRecord, Outcome, PhaseTiming, RunRecord, StepRecord, StepStatus,
};
use dr_harness::report::{
    push_to_gateway, read_last_success, read_run_json, render_junit, render_junit_suite,
    render_metrics, summary_table, write_reports, write_run_json, ReportError,
};
use quick_xml::events::Event;

const STEPS: [(&str, &str); 4] = [
    ("preflight", "preflight"),
    ("backup", "backup"),
    ("destroy", "destroy"),
    ("verify-sentinel", "verify-sentinel"),
];

fn step(name: &str, kind: &str, status: StepStatus, seconds: f64) -> StepRecord {
    StepRecord {
        name: name.into(),
        kind: kind.into(),
        status,
        started_at: None,
        seconds,
        checks: vec![],
        message: None,
        diagnostics: vec![],
        output: None,
        infrastructure: false,
        usage: false,
    }
}

fn base(run_id: &str) -> RunRecord {
    let mut r = RunRecord::new(run_id.into(), "full-rebuild", "sandbox", "dev");
    r.started_at = Utc
        .with_ymd_and_hms(2026, 3, 2, 10, 0, 0)
        .single()
        .expect("time");
    r.finished_at = Some(
        Utc.with_ymd_and_hms(2026, 3, 2, 10, 20, 0)
            .single()
            .expect("time"),
    );
    r.rto_target_seconds = Some(1800.0);
    r
}

fn passed() -> RunRecord {
    let mut r = base("run-passed");
    for (i, (n, k)) in STEPS.iter().enumerate() {
        r.steps.push(step(n, k, StepStatus::Passed, 1.5 + i as f64));
    }
    r.steps[1].checks.push(CheckRecord {
        name: "s3-backup-cfg-present".into(),
        passed: true,
        expected: Some("backup cfg in S3".into()),
        found: Some("present".into()),
        seconds: 0.25,
    });
    r.steps[2].output = Some("Destroy complete! Resources: 11 destroyed.".into());
    r.outcome = Outcome::Passed;
    r.rto_seconds = Some(612.5);
    r.rpo_seconds = Some(3.0);
    r.phases = vec![
        PhaseTiming {
            phase: "destroy".into(),
            seconds: 100.0,
        },
        PhaseTiming {
            phase: "rebuild".into(),
            seconds: 400.0,
        },
    ];
    r.backup_url = Some("s3://b@us-east-1/?backup=backup-0123456789abcdef&volume=pvc-1".into());
    r.verified_bytes = 8_389_632;
    r.retries = BTreeMap::from([("api-503".to_string(), 2)]);
    r
}

fn failed() -> RunRecord {
    let mut r = base("run-failed");
    r.steps
        .push(step("preflight", "preflight", StepStatus::Passed, 1.0));
    r.steps
        .push(step("backup", "backup", StepStatus::Passed, 2.0));
    r.steps
        .push(step("destroy", "destroy", StepStatus::Passed, 3.0));
    let mut v = step(
        "verify-sentinel",
        "verify-sentinel",
        StepStatus::Failed,
        4.25,
    );
    v.message = Some("sentinel-1.bin differs after restore".into());
    v.checks.push(CheckRecord {
        name: "sha256-sentinel-1".into(),
        passed: false,
        expected: Some("sha256 9f86d0".into()),
        found: Some("sha256 e3b0c4".into()),
        seconds: 0.5,
    });
    v.diagnostics = vec!["Volume pvc-1: restoreRequired=true, robustness=degraded".into()];
    r.steps.push(v);
    r.steps
        .push(step("cleanup", "cleanup", StepStatus::Skipped, 0.0));
    r.outcome = Outcome::Failed;
    r
}

fn interrupted() -> RunRecord {
    let mut r = base("run-interrupted");
    r.steps
        .push(step("preflight", "preflight", StepStatus::Passed, 1.0));
    let mut d = step("destroy", "destroy", StepStatus::Interrupted, 9.0);
    d.output = Some("tofu: Destroying... [id=42]".into());
    r.steps.push(d);
    r.outcome = Outcome::Interrupted;
    r
}

/// What we read back from a JUnit document.
#[derive(Debug, Default)]
struct Suite {
    attrs: HashMap<String, String>,
    properties: HashMap<String, String>,
    cases: Vec<Case>,
}

#[derive(Debug, Default)]
struct Case {
    name: String,
    classname: String,
    time: f64,
    result: Option<(String, HashMap<String, String>)>,
    text: String,
}

fn attrs(e: &quick_xml::events::BytesStart<'_>) -> HashMap<String, String> {
    e.attributes()
        .filter_map(Result::ok)
        .map(|a| {
            (
                String::from_utf8_lossy(a.key.as_ref()).into_owned(),
                a.unescape_value()
                    .map(|v| v.into_owned())
                    .unwrap_or_default(),
            )
        })
        .collect()
}

fn parse_junit(xml: &str) -> Vec<Suite> {
    let mut reader = quick_xml::Reader::from_str(xml);
    let mut suites: Vec<Suite> = Vec::new();
    let mut in_case = false;
    loop {
        match reader.read_event().expect("well-formed XML") {
            Event::Start(e) | Event::Empty(e) if e.name().as_ref() == b"testsuite" => {
                suites.push(Suite {
                    attrs: attrs(&e),
                    ..Suite::default()
                });
            }
            Event::Start(e) | Event::Empty(e) if e.name().as_ref() == b"property" => {
                let a = attrs(&e);
                let s = suites.last_mut().expect("property inside a suite");
                s.properties.insert(a["name"].clone(), a["value"].clone());
            }
            Event::Start(e) if e.name().as_ref() == b"testcase" => {
                push_case(&mut suites, &e);
                in_case = true;
            }
            Event::Empty(e) if e.name().as_ref() == b"testcase" => push_case(&mut suites, &e),
            Event::Start(e) | Event::Empty(e)
                if in_case && matches!(e.name().as_ref(), b"failure" | b"error" | b"skipped") =>
            {
                let case = suites
                    .last_mut()
                    .and_then(|s| s.cases.last_mut())
                    .expect("case");
                case.result = Some((
                    String::from_utf8_lossy(e.name().as_ref()).into_owned(),
                    attrs(&e),
                ));
            }
            Event::CData(t) if in_case => {
                let case = suites
                    .last_mut()
                    .and_then(|s| s.cases.last_mut())
                    .expect("case");
                case.text.push_str(&String::from_utf8_lossy(&t));
            }
            Event::End(e) if e.name().as_ref() == b"testcase" => in_case = false,
            Event::Eof => break,
            _ => {}
        }
    }
    suites
}

fn push_case(suites: &mut [Suite], e: &quick_xml::events::BytesStart<'_>) {
    let a = attrs(e);
    let case = Case {
        name: a["name"].clone(),
        classname: a.get("classname").cloned().unwrap_or_default(),
        time: a["time"].parse().expect("numeric time"),
        ..Case::default()
    };
    suites
        .last_mut()
        .expect("case inside a suite")
        .cases
        .push(case);
}

#[test]
fn junit_of_a_passed_drill() {
    let suites = parse_junit(&render_junit(&passed()));
    assert_eq!(suites.len(), 1);
    let s = &suites[0];
    assert_eq!(s.attrs["name"], "full-rebuild");
    assert_eq!(s.attrs["failures"], "0");
    assert!(
        s.attrs["timestamp"].starts_with("2026-03-02T10:00:00"),
        "{:?}",
        s.attrs
    );
    // 4 steps + 1 check.
    assert_eq!(s.cases.len(), 5);
    assert_eq!(s.cases[1].name, "backup");
    assert_eq!(s.cases[2].name, "backup/s3-backup-cfg-present");
    assert!(s
        .cases
        .iter()
        .all(|c| c.classname == "dr-harness.full-rebuild"));
    assert_eq!(s.cases[0].time, 1.5);
    assert_eq!(s.cases[2].time, 0.25);
    assert!(s.cases.iter().all(|c| c.result.is_none()));
    assert!(
        s.cases[3].text.contains("Destroy complete"),
        "hook output in system-out"
    );
    assert_eq!(s.properties["run_id"], "run-passed");
    assert_eq!(s.properties["cluster"], "dev");
    assert_eq!(s.properties["profile"], "sandbox");
    assert_eq!(s.properties["rto_seconds"], "612.5");
    assert_eq!(s.properties["rpo_seconds"], "3");
    assert_eq!(s.properties["outcome"], "passed");
    assert!(s.properties["backup_url"].contains("backup=backup-0123456789abcdef&volume=pvc-1"));
    assert_eq!(s.properties["harness_version"], env!("CARGO_PKG_VERSION"));
}

#[test]
fn junit_of_a_failed_drill_says_expected_found_and_diagnostics() {
    let suites = parse_junit(&render_junit(&failed()));
    let s = &suites[0];
    assert_eq!(s.attrs["failures"], "2", "the step and its check");
    assert_eq!(s.attrs["tests"], "6");
    let step = s
        .cases
        .iter()
        .find(|c| c.name == "verify-sentinel")
        .expect("step case");
    let (kind, a) = step.result.as_ref().expect("failure");
    assert_eq!(kind, "failure");
    assert_eq!(a["message"], "sentinel-1.bin differs after restore");
    assert_eq!(a["type"], "failed");
    assert!(
        step.text.contains("expected: sha256 9f86d0"),
        "{}",
        step.text
    );
    assert!(
        step.text.contains("found:    sha256 e3b0c4"),
        "{}",
        step.text
    );
    assert!(step.text.contains("restoreRequired=true"), "{}", step.text);
    assert_eq!(step.time, 4.25);
    let check = s
        .cases
        .iter()
        .find(|c| c.name == "verify-sentinel/sha256-sentinel-1")
        .expect("check case");
    assert_eq!(
        check.result.as_ref().map(|(_, a)| a["message"].as_str()),
        Some("expected sha256 9f86d0, found sha256 e3b0c4")
    );
    let cleanup = s
        .cases
        .iter()
        .find(|c| c.name == "cleanup")
        .expect("cleanup");
    assert_eq!(
        cleanup.result.as_ref().map(|(k, _)| k.as_str()),
        Some("skipped")
    );
    assert_eq!(s.properties["outcome"], "failed");
    assert_eq!(s.properties["rto_seconds"], "");
}

#[test]
fn junit_suite_has_one_testsuite_per_drill_and_marks_interruptions() {
    let suites = parse_junit(&render_junit_suite(&[passed(), interrupted()]));
    assert_eq!(suites.len(), 2);
    assert_eq!(suites[0].properties["run_id"], "run-passed");
    assert_eq!(suites[1].properties["run_id"], "run-interrupted");
    assert_eq!(suites[1].properties["outcome"], "interrupted");
    let d = &suites[1].cases[1];
    assert_eq!(
        d.result
            .as_ref()
            .map(|(k, a)| (k.as_str(), a["type"].as_str())),
        Some(("error", "interrupted"))
    );
    assert!(d.text.contains("Destroying"), "{}", d.text);
}

fn samples(text: &str) -> (Vec<prometheus_parse::Sample>, prometheus_parse::Scrape) {
    let lines = text.lines().map(|l| Ok(l.to_string()));
    let scrape = prometheus_parse::Scrape::parse(lines).expect("valid exposition format");
    (scrape.samples.clone(), scrape)
}

fn value(
    samples: &[prometheus_parse::Sample],
    name: &str,
    label: Option<(&str, &str)>,
) -> Option<f64> {
    samples
        .iter()
        .find(|s| s.metric == name && label.is_none_or(|(k, v)| s.labels.get(k) == Some(v)))
        .map(|s| match s.value {
            prometheus_parse::Value::Gauge(v)
            | prometheus_parse::Value::Untyped(v)
            | prometheus_parse::Value::Counter(v) => v,
            _ => f64::NAN,
        })
}

#[test]
fn metrics_of_a_passed_drill() {
    let text = render_metrics(&passed(), None);
    let (s, scrape) = samples(&text);
    assert_eq!(value(&s, "dr_harness_success", None), Some(1.0));
    assert_eq!(value(&s, "dr_harness_rto_seconds", None), Some(612.5));
    assert_eq!(value(&s, "dr_harness_rpo_seconds", None), Some(3.0));
    assert_eq!(
        value(
            &s,
            "dr_harness_phase_duration_seconds",
            Some(("phase", "rebuild"))
        ),
        Some(400.0)
    );
    let finished = 1_772_446_800.0; // 2026-03-02T10:20:00Z
    assert_eq!(
        value(&s, "dr_harness_last_run_timestamp_seconds", None),
        Some(finished)
    );
    assert_eq!(
        value(&s, "dr_harness_last_success_timestamp_seconds", None),
        Some(finished)
    );
    assert_eq!(
        value(&s, "dr_harness_verified_bytes", None),
        Some(8_389_632.0)
    );
    assert_eq!(
        value(&s, "dr_harness_step_success", Some(("step", "backup"))),
        Some(1.0)
    );
    assert_eq!(
        value(&s, "dr_harness_retries", Some(("kind", "api-503"))),
        Some(2.0)
    );
    for sample in &s {
        assert_eq!(
            sample.labels.get("cluster"),
            Some("dev"),
            "{}",
            sample.metric
        );
        assert_eq!(
            sample.labels.get("scenario"),
            Some("full-rebuild"),
            "{}",
            sample.metric
        );
        assert!(sample.labels.get("run_id").is_none());
    }
    for name in [
        "dr_harness_success",
        "dr_harness_rto_seconds",
        "dr_harness_step_success",
    ] {
        assert!(
            scrape.docs.get(name).is_some_and(|h| !h.is_empty()),
            "HELP for {name}"
        );
        assert!(
            text.contains(&format!("# TYPE {name} gauge")),
            "TYPE for {name}"
        );
    }
}

#[test]
fn backup_ages_become_one_series_per_volume() {
    let mut r = base("run-freshness");
    r.scenario = "backup-freshness".into();
    r.steps.push(step(
        "backup-freshness",
        "backup-freshness",
        StepStatus::Passed,
        0.4,
    ));
    r.outcome = Outcome::Passed;
    r.backup_ages.insert("pvc-db".into(), 3600.5);
    r.backup_ages.insert("dr-exercise-data".into(), 12.0);
    let text = render_metrics(&r, None);
    let (s, scrape) = samples(&text);
    let ages: Vec<_> = s
        .iter()
        .filter(|x| x.metric == "dr_harness_backup_age_seconds")
        .collect();
    assert_eq!(ages.len(), 2, "{text}");
    assert_eq!(
        value(
            &s,
            "dr_harness_backup_age_seconds",
            Some(("volume", "pvc-db"))
        ),
        Some(3600.5)
    );
    assert_eq!(
        value(
            &s,
            "dr_harness_backup_age_seconds",
            Some(("volume", "dr-exercise-data"))
        ),
        Some(12.0)
    );
    for a in ages {
        assert_eq!(a.labels.get("cluster"), Some("dev"));
        assert_eq!(a.labels.get("scenario"), Some("backup-freshness"));
    }
    assert!(scrape
        .docs
        .get("dr_harness_backup_age_seconds")
        .is_some_and(|h| !h.is_empty()));
    // A drill that judged no volume renders no such series.
    let none = render_metrics(&passed(), None);
    assert!(!none.contains("dr_harness_backup_age_seconds"), "{none}");
}

#[test]
fn failed_drill_keeps_the_previous_last_success() {
    let dir = tempfile::tempdir().expect("tempdir");
    let prev = dir.path().join("metrics.prom");
    std::fs::write(&prev, render_metrics(&passed(), None)).expect("write");
    let last = read_last_success(&prev);
    assert_eq!(last, Some(1_772_446_800.0));
    let text = render_metrics(&failed(), last);
    let (s, _) = samples(&text);
    assert_eq!(value(&s, "dr_harness_success", None), Some(0.0));
    assert_eq!(
        value(&s, "dr_harness_last_success_timestamp_seconds", None),
        last
    );
    assert_eq!(
        value(
            &s,
            "dr_harness_step_success",
            Some(("step", "verify-sentinel"))
        ),
        Some(0.0)
    );
    assert_eq!(
        value(&s, "dr_harness_step_success", Some(("step", "cleanup"))),
        Some(0.0)
    );
    assert_eq!(
        value(&s, "dr_harness_rto_seconds", None),
        None,
        "unmeasured RTO is absent, not 0"
    );
    // Never passed and no history: no last-success series at all.
    let (s, _) = samples(&render_metrics(&failed(), None));
    assert_eq!(
        value(&s, "dr_harness_last_success_timestamp_seconds", None),
        None
    );
}

#[test]
fn write_reports_lays_out_the_run_and_moves_latest() {
    let out = tempfile::tempdir().expect("tempdir");
    let first = write_reports(out.path(), &passed(), None).expect("first");
    for p in [
        &first.junit,
        &first.metrics,
        &first.run_json,
        &first.summary,
    ] {
        assert!(
            p.starts_with(out.path().join("run-passed")),
            "{}",
            p.display()
        );
        assert!(p.is_file(), "{}", p.display());
    }
    let latest = out.path().join("latest");
    assert_eq!(std::fs::read_link(&latest).ok(), Some("run-passed".into()));
    assert_eq!(
        read_run_json(&latest.join("run.json")).expect("run.json"),
        passed()
    );

    let second = write_reports(out.path(), &failed(), None).expect("second");
    assert_eq!(std::fs::read_link(&latest).ok(), Some("run-failed".into()));
    // Last success carried over from the previous latest/metrics.prom.
    assert_eq!(read_last_success(&second.metrics), Some(1_772_446_800.0));
    let summary = std::fs::read_to_string(&second.summary).expect("summary");
    assert!(summary.contains("verify-sentinel"));
    assert!(
        out.path().join("run-passed/junit.xml").is_file(),
        "older runs are kept"
    );
}

#[test]
fn run_json_round_trips_and_refuses_other_schemas() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("run.json");
    write_run_json(&path, &failed()).expect("write");
    assert_eq!(read_run_json(&path).expect("read"), failed());
    let mut v: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&path).expect("read")).expect("json");
    v["schema_version"] = serde_json::json!(99);
    std::fs::write(&path, v.to_string()).expect("write");
    let err = read_run_json(&path).expect_err("schema 99");
    assert!(matches!(err, ReportError::Schema { .. }), "{err}");
    assert!(err.to_string().contains("schema 99"), "{err}");
}

#[test]
fn console_summary_lists_every_step_and_rto_rpo() {
    let table = summary_table(&failed());
    for s in &failed().steps {
        assert!(table.contains(&s.name), "{} missing:\n{table}", s.name);
    }
    assert!(table.contains("✘ failed"));
    assert!(table.contains("↷ skipped"));
    assert!(table.contains("first failure: verify-sentinel: sentinel-1.bin differs after restore"));
    let ok = summary_table(&passed());
    assert!(
        ok.contains("RTO: 612.5s (target 1800.0s) ✔ within target"),
        "{ok}"
    );
    assert!(ok.contains("RPO: 3.0s"), "{ok}");
}

#[test]
fn console_lines_for_events() {
    use dr_harness::engine::events::{DrillEvent, EventKind, EventSink};
    use dr_harness::report::ConsoleReporter;
    use std::sync::{Arc, Mutex};

    #[derive(Clone, Default)]
    struct Buf(Arc<Mutex<Vec<u8>>>);
    impl std::io::Write for Buf {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            self.0
                .lock()
                .map_err(|_| std::io::Error::other("poisoned"))?
                .extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let buf = Buf::default();
    let mut console = ConsoleReporter::with_writer(Box::new(buf.clone()));
    let ev = |secs: f64, kind| DrillEvent {
        at: Utc::now(),
        elapsed: Duration::from_secs_f64(secs),
        kind,
    };
    console.on_event(&ev(
        12.3,
        EventKind::StepStarted {
            step: "backup".into(),
            kind: "backup".into(),
        },
    ));
    console.on_event(&ev(
        13.0,
        EventKind::Progress {
            step: "backup".into(),
            line: "Backup InProgress 40%".into(),
        },
    ));
    console.on_event(&ev(
        16.4,
        EventKind::StepFinished {
            record: step("backup", "backup", StepStatus::Passed, 4.1),
        },
    ));
    console.on_event(&ev(
        20.0,
        EventKind::StepFinished {
            record: failed().steps[3].clone(),
        },
    ));
    let text = String::from_utf8(buf.0.lock().expect("lock").clone()).expect("utf8");
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines[0], "[ 12.3s] ▶ backup");
    assert_eq!(lines[1], "[ 13.0s]     Backup InProgress 40%");
    assert_eq!(lines[2], "[ 16.4s] ✔ backup (4.1s)");
    assert_eq!(
        lines[3],
        "[ 20.0s] ✘ verify-sentinel: sentinel-1.bin differs after restore"
    );
}

#[tokio::test]
async fn push_to_gateway_puts_the_group() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let server = tokio::spawn(async move {
        let (mut sock, _) = listener.accept().await.expect("accept");
        let mut buf = Vec::new();
        let mut chunk = [0u8; 4096];
        // Read headers, then exactly Content-Length bytes of body.
        let (head, body_start) = loop {
            let n = sock.read(&mut chunk).await.expect("read");
            assert!(n > 0, "client closed early");
            buf.extend_from_slice(&chunk[..n]);
            if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break (String::from_utf8_lossy(&buf[..i]).into_owned(), i + 4);
            }
        };
        let len: usize = head
            .lines()
            .find_map(|l| {
                l.to_ascii_lowercase()
                    .strip_prefix("content-length:")
                    .map(|v| v.trim().parse().unwrap_or(0))
            })
            .unwrap_or(0);
        while buf.len() < body_start + len {
            let n = sock.read(&mut chunk).await.expect("read body");
            assert!(n > 0, "client closed early");
            buf.extend_from_slice(&chunk[..n]);
        }
        sock.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\nconnection: close\r\n\r\n")
            .await
            .expect("answer");
        (
            head,
            String::from_utf8_lossy(&buf[body_start..body_start + len]).into_owned(),
        )
    });
    let text = render_metrics(&passed(), None);
    push_to_gateway(
        &format!("http://{addr}/"),
        "dev",
        "ci/nightly",
        None,
        &text,
        Duration::from_secs(10),
    )
    .await
    .expect("push");
    let (head, body) = server.await.expect("server");
    let request_line = head.lines().next().unwrap_or_default();
    assert_eq!(
        request_line,
        "PUT /metrics/job/dr_harness/cluster/dev/scenario@base64/Y2kvbmlnaHRseQ== HTTP/1.1"
    );
    assert!(
        head.to_ascii_lowercase()
            .contains("content-type: text/plain; version=0.0.4"),
        "{head}"
    );
    assert_eq!(body, text);
}

#[tokio::test]
async fn push_errors_name_the_url() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    drop(listener);
    let err = push_to_gateway(
        &format!("http://{addr}"),
        "dev",
        "s",
        None,
        "x 1\n",
        Duration::from_secs(5),
    )
    .await
    .expect_err("nothing listens");
    assert!(
        err.to_string().contains(&format!(
            "http://{addr}/metrics/job/dr_harness/cluster/dev/scenario/s"
        )),
        "{err}"
    );
}

/// Every character XML 1.0 allows (Char production): what a strict CI parser accepts.
fn xml_char(c: char) -> bool {
    matches!(c, '\t' | '\n' | '\r')
        || ('\u{20}'..='\u{d7ff}').contains(&c)
        || ('\u{e000}'..='\u{fffd}').contains(&c)
        || c >= '\u{10000}'
}

/// Parses `xml` with quick-xml, decoding every text, CDATA and attribute value, and returns
/// the decoded texts; panics on a syntax error or on a character XML forbids (raw or as a
/// character reference such as `&#27;`).
fn strict_xml_texts(xml: &str) -> Vec<String> {
    let mut reader = quick_xml::Reader::from_str(xml);
    let mut texts = Vec::new();
    loop {
        let text = match reader.read_event().expect("well-formed XML") {
            Event::Eof => break,
            Event::Text(t) => t.unescape().expect("text unescapes").into_owned(),
            Event::CData(t) => String::from_utf8_lossy(&t).into_owned(),
            Event::Start(e) | Event::Empty(e) => {
                attrs(&e).into_values().collect::<Vec<_>>().join(" ")
            }
            _ => continue,
        };
        if let Some(bad) = text.chars().find(|c| !xml_char(*c)) {
            panic!(
                "character U+{:04X} is not allowed in XML: {text:?}",
                bad as u32
            );
        }
        texts.push(text);
    }
    texts
}

#[tokio::test]
async fn junit_stays_valid_xml_with_real_ansi_hook_output() {
    use dr_harness::config::HookSpec;
    use dr_harness::hooks::{run_hook, HookAction, HookPlan};
    // What a failing `tofu apply` prints on a terminal: colours, bold, a bell.
    let script = r"printf '\033[31m\033[1mError:\033[0m provider failed\a\n'; printf '\033[33mWarning\033[0m: x\n' >&2; exit 1";
    let spec = HookSpec::command(vec!["sh".into(), "-c".into(), script.into()]);
    let plan = HookPlan::from_spec(&spec, HookAction::Rebuild, std::path::Path::new("/tmp"));
    let outcome = run_hook(
        &plan,
        &dr_harness::redact::Redactor::new(),
        tokio_util::sync::CancellationToken::new(),
        |_, _| {},
    )
    .await
    .expect("hook runs");
    assert_eq!(outcome.exit_code, Some(1));
    let tail = outcome.tail.join("\n");
    assert!(
        tail.contains('\u{1b}'),
        "the hook really printed ESC: {tail:?}"
    );

    let mut r = failed();
    let s = r
        .steps
        .iter_mut()
        .find(|s| s.status == StepStatus::Failed)
        .unwrap();
    s.output = Some(tail.clone());
    s.message = Some(format!(
        "rebuild hook exited with code 1; its last lines: {tail}"
    ));
    let xml = render_junit(&r);
    let texts = strict_xml_texts(&xml).join("\n");
    assert!(texts.contains("Error: provider failed"), "{texts}");
    assert!(texts.contains("Warning: x"), "{texts}");
    // The CI view reads the same through the test's own JUnit model.
    let suites = parse_junit(&xml);
    assert!(suites[0]
        .cases
        .iter()
        .any(|c| c.text.contains("Error: provider failed")));
}

#[test]
fn each_scenario_keeps_its_own_textfile_and_last_success() {
    let out = tempfile::tempdir().expect("tempdir");
    // full-rebuild passed at 10:20 …
    write_reports(out.path(), &passed(), None).expect("full-rebuild");
    // … then health passed later (another scenario, same cluster) …
    let mut health = passed();
    health.run_id = "run-health".into();
    health.scenario = "health".into();
    health.finished_at = Some(Utc.with_ymd_and_hms(2026, 3, 9, 8, 0, 0).single().unwrap());
    write_reports(out.path(), &health, None).expect("health");
    // … then full-rebuild failed: its last success is its own 10:20, not health's.
    let failed_paths = write_reports(out.path(), &failed(), None).expect("failed");
    let full_rebuild_passed_at = passed().finished_at.unwrap().timestamp() as f64;
    assert_eq!(
        read_last_success(&failed_paths.metrics),
        Some(full_rebuild_passed_at)
    );
    let metrics_dir = out.path().join("metrics");
    let mut files: Vec<String> = std::fs::read_dir(&metrics_dir)
        .expect("metrics dir")
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    files.sort();
    assert_eq!(files, ["dev--full-rebuild.prom", "dev--health.prom"]);
    let health_text = std::fs::read_to_string(metrics_dir.join("dev--health.prom")).unwrap();
    let (s, _) = samples(&health_text);
    assert_eq!(value(&s, "dr_harness_success", None), Some(1.0));
    assert_eq!(
        value(&s, "dr_harness_last_success_timestamp_seconds", None),
        Some(health.finished_at.unwrap().timestamp() as f64)
    );
}
