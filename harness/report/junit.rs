//! JUnit XML for CI systems: one testsuite per drill, one testcase per step and per check.
//!
//! Rendered with `junit-report`, which has no `<properties>`; they are inserted afterwards as
//! the first child of each `<testsuite>` (where the JUnit schema puts them) so CI tools can show
//! run id, cluster, RTO and RPO next to the verdicts.

use junit_report::{Duration as JDuration, OffsetDateTime, Report, TestCase, TestSuite};

use crate::engine::record::{CheckRecord, RunRecord, StepRecord, StepStatus};

/// Renders one drill as a JUnit document with one testsuite.
pub fn render_junit(record: &RunRecord) -> String {
    render_junit_suite(std::slice::from_ref(record))
}

/// Renders several drills (a suite run) as one JUnit document, one testsuite per drill in
/// order. Each testsuite is named after its scenario and carries the properties `run_id`,
/// `cluster`, `profile`, `rto_seconds`, `rpo_seconds`, `backup_url`, `harness_version`,
/// `outcome` (absent values are written as empty strings).
pub fn render_junit_suite(records: &[RunRecord]) -> String {
    let records: Vec<RunRecord> = records.iter().map(xml_safe_record).collect();
    let records = records.as_slice();
    let mut report = Report::new();
    for record in records {
        report.add_testsuite(suite(record));
    }
    let mut buf = Vec::new();
    // Writing into a Vec cannot fail for I/O reasons; a serializer error would be a bug in
    // junit-report, and an empty document is then the honest output.
    if report.write_xml(&mut buf).is_err() {
        buf.clear();
    }
    let xml = String::from_utf8_lossy(&buf).into_owned();
    // The records are clean already; this pass only guards against a string that escaped
    // the walk (markup itself never holds a control character).
    xml_safe(&insert_properties(&xml, records))
}

/// Text that XML 1.0 can carry: terminal escape sequences (colours, cursor moves) removed,
/// every other character XML forbids (C0 controls but tab, newline and carriage return;
/// U+FFFE, U+FFFF) written as a visible `\u{..}` so the report still shows something was there.
pub(crate) fn xml_safe(text: &str) -> String {
    let legal = |c: char| {
        matches!(c, '\t' | '\n' | '\r')
            || (c >= ' ' && c != '\u{7f}' && c != '\u{fffe}' && c != '\u{ffff}')
    };
    let needs_work = |s: &str| s.chars().any(|c| !legal(c));
    if !needs_work(text) {
        return text.to_string();
    }
    let stripped = if text.contains('\u{1b}') || text.contains('\u{9b}') {
        // strip_str also drops tabs: keep them by stripping between them.
        text.split('\t')
            .map(strip_ansi_escapes::strip_str)
            .collect::<Vec<_>>()
            .join("\t")
    } else {
        text.to_string()
    };
    stripped
        .chars()
        .map(|c| {
            if legal(c) {
                c.to_string()
            } else {
                format!("\\u{{{:x}}}", c as u32)
            }
        })
        .collect()
}

/// A copy of `record` with every string made [`xml_safe`].
fn xml_safe_record(record: &RunRecord) -> RunRecord {
    fn walk(v: &mut serde_json::Value) {
        match v {
            serde_json::Value::String(s) => *s = xml_safe(s),
            serde_json::Value::Array(items) => items.iter_mut().for_each(walk),
            serde_json::Value::Object(map) => map.values_mut().for_each(walk),
            _ => {}
        }
    }
    let Ok(mut value) = serde_json::to_value(record) else {
        return record.clone();
    };
    walk(&mut value);
    serde_json::from_value(value).unwrap_or_else(|_| record.clone())
}

fn seconds(s: f64) -> JDuration {
    JDuration::seconds_f64(if s.is_finite() && s >= 0.0 { s } else { 0.0 })
}

fn suite(record: &RunRecord) -> TestSuite {
    let mut ts = TestSuite::new(&record.scenario);
    let nanos = record.started_at.timestamp_nanos_opt().unwrap_or(0);
    if let Ok(t) = OffsetDateTime::from_unix_timestamp_nanos(i128::from(nanos)) {
        ts.set_timestamp(t);
    }
    let classname = format!("dr-harness.{}", record.scenario);
    for step in &record.steps {
        let mut tc = step_case(step);
        tc.set_classname(&classname);
        ts.add_testcase(tc);
        for check in &step.checks {
            let mut tc = check_case(step, check);
            tc.set_classname(&classname);
            ts.add_testcase(tc);
        }
    }
    ts.set_system_out(&suite_summary(record));
    ts
}

fn step_case(step: &StepRecord) -> TestCase {
    let time = seconds(step.seconds);
    let mut tc = match step.status {
        StepStatus::Passed | StepStatus::Resumed => TestCase::success(&step.name, time),
        StepStatus::Skipped => TestCase::skipped(&step.name),
        StepStatus::Failed => TestCase::failure(
            &step.name,
            time,
            "failed",
            &step_message(step, "step failed"),
        ),
        StepStatus::TimedOut => TestCase::failure(
            &step.name,
            time,
            "timeout",
            &step_message(step, "step timed out"),
        ),
        StepStatus::Interrupted => TestCase::error(
            &step.name,
            time,
            "interrupted",
            &step_message(step, "interrupted by a signal"),
        ),
    };
    let body = step_body(step);
    if !body.is_empty() {
        tc.set_system_out(&body);
    }
    tc
}

fn step_message(step: &StepRecord, fallback: &str) -> String {
    step.message.clone().unwrap_or_else(|| fallback.to_string())
}

/// The text inside `<failure>` (or `<system-out>` on success): failed checks with expected
/// and found, diagnostics, hook output.
fn step_body(step: &StepRecord) -> String {
    let mut out = String::new();
    if step.status == StepStatus::Resumed {
        out.push_str("completed in an earlier attempt (resumed)\n");
    }
    if !step.status.is_success() {
        if let Some(m) = &step.message {
            out.push_str(&format!("{m}\n"));
        }
        for c in step.checks.iter().filter(|c| !c.passed) {
            out.push_str(&format!("check {}:\n", c.name));
            out.push_str(&format!(
                "  expected: {}\n",
                c.expected.as_deref().unwrap_or("(not recorded)")
            ));
            out.push_str(&format!(
                "  found:    {}\n",
                c.found.as_deref().unwrap_or("(not recorded)")
            ));
        }
        if !step.diagnostics.is_empty() {
            out.push_str("diagnostics:\n");
            for d in &step.diagnostics {
                out.push_str(&format!("  {d}\n"));
            }
        }
    }
    if let Some(o) = &step.output {
        out.push_str("output:\n");
        out.push_str(o);
        if !o.ends_with('\n') {
            out.push('\n');
        }
    }
    out
}

fn check_case(step: &StepRecord, check: &CheckRecord) -> TestCase {
    let name = format!("{}/{}", step.name, check.name);
    let time = seconds(check.seconds);
    if check.passed {
        let mut tc = TestCase::success(&name, time);
        if let Some(found) = &check.found {
            tc.set_system_out(found);
        }
        return tc;
    }
    let message = format!(
        "expected {}, found {}",
        check.expected.as_deref().unwrap_or("(not recorded)"),
        check.found.as_deref().unwrap_or("(not recorded)")
    );
    TestCase::failure(&name, time, "check", &message)
}

fn suite_summary(r: &RunRecord) -> String {
    let fmt = |v: Option<f64>| v.map_or("n/a".to_string(), |s| format!("{s:.1}s"));
    format!(
        "drill {} of scenario {} on cluster {} (profile {}): {:?}\nRTO {} (target {})\nRPO {} (target {})\nverified bytes {}\n",
        r.run_id,
        r.scenario,
        r.cluster,
        r.profile,
        r.outcome,
        fmt(r.rto_seconds),
        fmt(r.rto_target_seconds),
        fmt(r.rpo_seconds),
        fmt(r.rpo_target_seconds),
        r.verified_bytes
    )
}

fn escape_attr(v: &str) -> String {
    let mut out = String::with_capacity(v.len());
    for c in v.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            _ => out.push(c),
        }
    }
    out
}

fn properties(r: &RunRecord) -> String {
    let outcome = serde_json::to_value(r.outcome)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default();
    let opt = |v: Option<f64>| v.map(|s| s.to_string()).unwrap_or_default();
    let mut props: Vec<(&str, String)> = vec![
        ("run_id", r.run_id.clone()),
        ("cluster", r.cluster.clone()),
        ("profile", r.profile.clone()),
        ("rto_seconds", opt(r.rto_seconds)),
        ("rpo_seconds", opt(r.rpo_seconds)),
        ("backup_url", r.backup_url.clone().unwrap_or_default()),
        ("harness_version", r.harness_version.clone()),
        ("outcome", outcome),
    ];
    if let Some(shard) = &r.shard {
        // Each shard of a sharded verify-backup writes its own JUnit; CI shows which is which.
        props.push(("shard", shard.clone()));
    }
    let mut s = String::from("<properties>");
    for (k, v) in props {
        s.push_str(&format!(
            "<property name=\"{k}\" value=\"{}\"/>",
            escape_attr(&v)
        ));
    }
    s.push_str("</properties>");
    s
}

/// Inserts each record's `<properties>` right after the opening tag of its `<testsuite>`
/// (the n-th testsuite belongs to the n-th record).
fn insert_properties(xml: &str, records: &[RunRecord]) -> String {
    let mut out = String::with_capacity(xml.len() + records.len() * 512);
    let mut rest = xml;
    for record in records {
        let Some(start) = rest.find("<testsuite ") else {
            break;
        };
        // Attribute values are escaped, so the first `>` after the start ends the tag.
        let Some(close) = rest[start..].find('>') else {
            break;
        };
        let end = start + close;
        let self_closing = rest[..end].ends_with('/');
        if self_closing {
            out.push_str(&rest[..end - 1]);
            out.push('>');
            out.push_str(&properties(record));
            out.push_str("</testsuite>");
        } else {
            out.push_str(&rest[..=end]);
            out.push_str(&properties(record));
        }
        rest = &rest[end + 1..];
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::xml_safe;

    #[test]
    fn colours_are_dropped_and_other_controls_made_visible() {
        assert_eq!(
            xml_safe("\u{1b}[31mError:\u{1b}[0m bad\tthing\r\n"),
            "Error: bad\tthing\n"
        );
        assert_eq!(xml_safe("a\u{7}bell\u{0}"), "a\\u{7}bell\\u{0}");
        assert_eq!(xml_safe("plain → ü"), "plain → ü");
    }
}
