//! One case per step kind: the smallest valid step (defaults checked), a step with every option
//! set (values checked, and every option the kind's struct has is set), and one bad value (its
//! message, hint and position). A kind added to the kind table without a case here fails
//! [`every_kind_has_a_case`].

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::time::Duration;

use super::super::*;
use super::{doc, line_of, position_of, rejected, step};
use crate::config::values::DURATION_HINT;

/// One kind's test case.
struct Case {
    kind: &'static str,
    /// The kind's documented default timeout, in seconds.
    default_timeout_secs: u64,
    /// Option lines of the smallest valid step ("" when the kind needs none).
    minimal: &'static str,
    /// What `minimal` parses to, every default spelt out.
    minimal_is: fn() -> StepSpec,
    /// Option lines setting every option the kind has (= `minimal` for kinds with none).
    full: &'static str,
    /// What `full` parses to.
    full_is: fn() -> StepSpec,
    /// Option lines with one mistake.
    bad: &'static str,
    /// The error points at the first occurrence of this text (`[[steps]]` for rules about the
    /// whole step, `{ name` for a gate).
    bad_at: &'static str,
    /// The message, exactly.
    message: &'static str,
    /// The hint, exactly.
    hint: &'static str,
}

/// A kind without options: minimal = full = `{}`; the mistake is a key that belongs elsewhere.
macro_rules! no_options {
    ($kind:literal, $secs:expr, $variant:ident($ty:ident), $bad_key:literal = $bad_value:literal) => {
        Case {
            kind: $kind,
            default_timeout_secs: $secs,
            minimal: "",
            minimal_is: || StepSpec::$variant($ty {}),
            full: "",
            full_is: || StepSpec::$variant($ty {}),
            bad: concat!($bad_key, " = ", $bad_value, "\n"),
            bad_at: $bad_key,
            message: concat!("unknown key `", $bad_key, "` in [[steps]] #1 (", $kind, ")"),
            hint: "this table takes no keys",
        }
    };
}

fn strings(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| s.to_string()).collect()
}

fn map(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

const MINUTE: u64 = 60;
const HOUR: u64 = 3600;

fn cases() -> Vec<Case> {
    vec![
        no_options!("preflight", 120, Preflight(PreflightStep), "timeout_secs" = "60"),
        Case {
            kind: "deploy-sentinel",
            default_timeout_secs: 300,
            minimal: "",
            minimal_is: || StepSpec::DeploySentinel(DeploySentinelStep { adopt: false }),
            full: "adopt = true\n",
            full_is: || StepSpec::DeploySentinel(DeploySentinelStep { adopt: true }),
            bad: "adopt = \"yes\"\n",
            bad_at: "adopt",
            message: "wrong type for key `adopt` in [[steps]] #1 (deploy-sentinel): found string \"yes\"",
            hint: "expected a boolean",
        },
        no_options!("write-sentinel", 300, WriteSentinel(WriteSentinelStep), "file_sizes" = "[\"1MiB\"]"),
        Case {
            kind: "backup",
            default_timeout_secs: 1800,
            minimal: "",
            minimal_is: || {
                StepSpec::Backup(BackupStep {
                    compression: None,
                    wait_timeout: None,
                    labels: BTreeMap::new(),
                })
            },
            full: "compression = \"gzip\"\nwait_timeout = \"20m\"\nlabels = { team = \"storage\", drill = \"nightly\" }\n",
            full_is: || {
                StepSpec::Backup(BackupStep {
                    compression: Some(Compression::Gzip),
                    wait_timeout: Some(Duration::from_secs(20 * MINUTE)),
                    labels: map(&[("team", "storage"), ("drill", "nightly")]),
                })
            },
            bad: "compression = \"zstd\"\n",
            bad_at: "compression",
            message: "unknown value `zstd` for key `compression` in [[steps]] #1 (backup)",
            hint: "expected one of none, gzip, lz4",
        },
        no_options!("start-ticks", 60, StartTicks(StartTicksStep), "interval" = "\"1s\""),
        no_options!("destroy", 3600, Destroy(DestroyStep), "argv" = "[\"make\", \"teardown\"]"),
        no_options!("rebuild", 3600, Rebuild(RebuildStep), "preset" = "\"tofu\""),
        no_options!("wait-ready", 1800, WaitReady(WaitReadyStep), "nodes" = "3"),
        no_options!("verify-restore", 1800, VerifyRestore(VerifyRestoreStep), "backup" = "\"latest\""),
        no_options!("verify-sentinel", 600, VerifySentinel(VerifySentinelStep), "deep" = "true"),
        no_options!("cleanup", 300, Cleanup(CleanupStep), "teardown" = "true"),
        Case {
            kind: "verify-backup",
            default_timeout_secs: 3600,
            minimal: "",
            minimal_is: || {
                StepSpec::VerifyBackup(VerifyBackupStep {
                    volumes: vec![],
                    all_volumes: false,
                    backup: None,
                    deep: false,
                    manifest: None,
                    paths: BTreeMap::new(),
                    incremental: false,
                    scrub_fraction: None,
                    scrub_seed: None,
                    full_every: None,
                    ledger: None,
                    ledger_key_env: None,
                    shard: None,
                    parallel_volumes: None,
                })
            },
            full: concat!(
                "volumes = [\"pvc-a\", \"pvc-b\"]\n",
                "all_volumes = true\n",
                "backup = \"latest\"\n",
                "deep = true\n",
                "manifest = \"/app/MANIFEST.sha256\"\n",
                "paths = { \"/etc/hostname\" = \"e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855\" }\n",
                "incremental = true\n",
                "scrub_fraction = 0.05\n",
                "scrub_seed = 42\n",
                "full_every = \"3d\"\n",
                "ledger = \"/var/lib/dr-harness/ledgers\"\n",
                "ledger_key_env = \"LEDGER_KEY\"\n",
                "shard = \"1/4\"\n",
                "parallel_volumes = 8\n",
            ),
            full_is: || {
                StepSpec::VerifyBackup(VerifyBackupStep {
                    volumes: strings(&["pvc-a", "pvc-b"]),
                    all_volumes: true,
                    backup: Some("latest".into()),
                    deep: true,
                    manifest: Some("/app/MANIFEST.sha256".into()),
                    paths: map(&[(
                        "/etc/hostname",
                        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
                    )]),
                    incremental: true,
                    scrub_fraction: Some(0.05),
                    scrub_seed: Some(42),
                    full_every: Some(Duration::from_secs(3 * 24 * HOUR)),
                    ledger: Some(PathBuf::from("/var/lib/dr-harness/ledgers")),
                    ledger_key_env: Some("LEDGER_KEY".into()),
                    shard: Some("1/4".into()),
                    parallel_volumes: Some(8),
                })
            },
            bad: "deep = true\nfull_every = \"1 week\"\n",
            bad_at: "full_every",
            message: "invalid duration `1 week` for key `full_every` in [[steps]] #1 (verify-backup)",
            hint: DURATION_HINT,
        },
        Case {
            kind: "health",
            default_timeout_secs: 300,
            minimal: "",
            minimal_is: || {
                StepSpec::Health(HealthStep {
                    nodes: None,
                    system_pods: None,
                    optional_system_pods: strings(&["kube-proxy"]),
                    urls: None,
                    url_timeout: Duration::from_secs(10),
                    longhorn_volumes: true,
                    wait: None,
                    settle: Duration::from_secs(3),
                })
            },
            full: concat!(
                "nodes = 3\n",
                "system_pods = [\"coredns\", \"cilium\"]\n",
                "optional_system_pods = []\n",
                "urls = [\"https://grafana.example/healthz\"]\n",
                "url_timeout = \"5s\"\n",
                "longhorn_volumes = false\n",
                "wait = \"10m\"\n",
                "settle = \"0s\"\n",
            ),
            full_is: || {
                StepSpec::Health(HealthStep {
                    nodes: Some(3),
                    system_pods: Some(strings(&["coredns", "cilium"])),
                    optional_system_pods: vec![],
                    urls: Some(strings(&["https://grafana.example/healthz"])),
                    url_timeout: Duration::from_secs(5),
                    longhorn_volumes: false,
                    wait: Some(Duration::from_secs(10 * MINUTE)),
                    settle: Duration::ZERO,
                })
            },
            bad: "url_timeout = 10\n",
            bad_at: "url_timeout",
            message: "wrong type for key `url_timeout` in [[steps]] #1 (health): found integer `10`",
            hint: "expected a duration string such as \"45m\"",
        },
        Case {
            kind: "backup-freshness",
            default_timeout_secs: 300,
            minimal: "max_age = \"26h\"\n",
            minimal_is: || {
                StepSpec::BackupFreshness(BackupFreshnessStep {
                    max_age: Duration::from_secs(26 * HOUR),
                    volumes: vec![],
                    volume_selector: None,
                    require_recurring_job: true,
                    stuck_after: Duration::from_secs(HOUR),
                    etcd_max_age: None,
                })
            },
            full: concat!(
                "max_age = \"1d 2h\"\n",
                "volumes = [\"pvc-db\"]\n",
                "volume_selector = \"app=db,tier!=cache\"\n",
                "require_recurring_job = false\n",
                "stuck_after = \"90m\"\n",
                "etcd_max_age = \"12h\"\n",
            ),
            full_is: || {
                StepSpec::BackupFreshness(BackupFreshnessStep {
                    max_age: Duration::from_secs(26 * HOUR),
                    volumes: strings(&["pvc-db"]),
                    volume_selector: Some("app=db,tier!=cache".into()),
                    require_recurring_job: false,
                    stuck_after: Duration::from_secs(90 * MINUTE),
                    etcd_max_age: Some(Duration::from_secs(12 * HOUR)),
                })
            },
            bad: "max_age = \"24 hours\"\n",
            bad_at: "max_age",
            message: "invalid duration `24 hours` for key `max_age` in [[steps]] #1 (backup-freshness)",
            hint: DURATION_HINT,
        },
        Case {
            kind: "check",
            default_timeout_secs: 300,
            minimal: "namespace = \"db\"\ndeployment = \"postgres\"\ncommand = [\"psql\", \"-tAc\", \"SELECT 1\"]\nequals = 1\n",
            minimal_is: || {
                StepSpec::Check(CheckStep {
                    namespace: "db".into(),
                    target: PodTarget::Deployment("postgres".into()),
                    container: None,
                    command: strings(&["psql", "-tAc", "SELECT 1"]),
                    expect: Expectation::Equals("1".into()),
                })
            },
            // `deployment`/`equals` are the alternatives of `pod_selector`/`compare`
            // (checks.rs covers them and `regex`); this sets every key one step can hold.
            full: concat!(
                "namespace = \"db\"\n",
                "pod_selector = \"app=postgres,role=primary\"\n",
                "container = \"postgres\"\n",
                "command = [\"sh\", \"-c\", \"psql -tAc 'SELECT COUNT(*) FROM t'\"]\n",
                "compare = { op = \">=\", value = 1000 }\n",
            ),
            full_is: || {
                StepSpec::Check(CheckStep {
                    namespace: "db".into(),
                    target: PodTarget::Selector("app=postgres,role=primary".into()),
                    container: Some("postgres".into()),
                    command: strings(&["sh", "-c", "psql -tAc 'SELECT COUNT(*) FROM t'"]),
                    expect: Expectation::Compare(Comparison {
                        op: CompareOp::Ge,
                        value: 1000.0,
                    }),
                })
            },
            bad: "namespace = \"db\"\ndeployment = \"postgres\"\ncommand = [\"true\"]\nequals = 1\nregex = \"^1$\"\n",
            bad_at: "[[steps]]",
            message: "set exactly one of `equals`, `regex` and `compare` in the check step",
            hint: "e.g. compare = { op = \">=\", value = 1000 }",
        },
        Case {
            kind: "gates",
            default_timeout_secs: 1800,
            minimal: "gates = [{ name = \"api\", kind = \"http\", url = \"http://api/healthz\" }]\n",
            minimal_is: || {
                StepSpec::Gates(GatesStep {
                    gates: vec![ReadinessGate {
                        name: "api".into(),
                        timeout: None,
                        probe: GateProbe::Http {
                            url: "http://api/healthz".into(),
                            expect_status: None,
                            expect_body_contains: None,
                        },
                    }],
                    poll_interval: Duration::from_millis(250),
                })
            },
            full: concat!(
                "poll_interval = \"1s\"\n",
                "gates = [\n",
                "  { name = \"db\", kind = \"condition\", timeout = \"10m\", object = { apiVersion = \"apps/v1\", kind = \"Deployment\", namespace = \"db\", name = \"postgres\" }, type = \"Available\" },\n",
                "]\n",
            ),
            full_is: || {
                StepSpec::Gates(GatesStep {
                    gates: vec![ReadinessGate {
                        name: "db".into(),
                        timeout: Some(Duration::from_secs(10 * MINUTE)),
                        probe: GateProbe::Condition {
                            object: ObjectRef {
                                api_version: "apps/v1".into(),
                                kind: "Deployment".into(),
                                namespace: Some("db".into()),
                                name: "postgres".into(),
                            },
                            check: GateCheck::ConditionType("Available".into()),
                        },
                    }],
                    poll_interval: Duration::from_secs(1),
                })
            },
            bad: "gates = [{ name = \"api\", kind = \"tcp\" }]\n",
            bad_at: "{ name",
            message: "unknown gate kind `tcp` in gate `api` for key `gates` in [[steps]] #1 (gates)",
            hint: "expected one of condition, http, command",
        },
        Case {
            kind: "system-backup",
            default_timeout_secs: 1800,
            minimal: "",
            minimal_is: || {
                StepSpec::SystemBackup(SystemBackupStep {
                    volume_backup_policy: VolumeBackupPolicy::IfNotPresent,
                })
            },
            full: "volume_backup_policy = \"always\"\n",
            full_is: || {
                StepSpec::SystemBackup(SystemBackupStep {
                    volume_backup_policy: VolumeBackupPolicy::Always,
                })
            },
            bad: "volume_backup_policy = \"sometimes\"\n",
            bad_at: "volume_backup_policy",
            message: "unknown value `sometimes` for key `volume_backup_policy` in [[steps]] #1 (system-backup)",
            hint: "expected one of if-not-present, always, disabled",
        },
        no_options!("system-restore", 3600, SystemRestore(SystemRestoreStep), "backup" = "\"system-backup-1\""),
        Case {
            kind: "delete-sentinel",
            default_timeout_secs: 600,
            minimal: "",
            minimal_is: || StepSpec::DeleteSentinel(DeleteSentinelStep { teardown: false }),
            full: "teardown = true\n",
            full_is: || StepSpec::DeleteSentinel(DeleteSentinelStep { teardown: true }),
            bad: "teardown = 1\n",
            bad_at: "teardown",
            message: "wrong type for key `teardown` in [[steps]] #1 (delete-sentinel): found integer `1`",
            hint: "expected a boolean",
        },
        Case {
            kind: "restore-volume",
            default_timeout_secs: 1800,
            minimal: "",
            minimal_is: || StepSpec::RestoreVolume(RestoreVolumeStep { replicas: None }),
            full: "replicas = 2\n",
            full_is: || StepSpec::RestoreVolume(RestoreVolumeStep { replicas: Some(2) }),
            bad: "replicas = \"3\"\n",
            bad_at: "replicas",
            message: "wrong type for key `replicas` in [[steps]] #1 (restore-volume): found string \"3\"",
            hint: "expected i64",
        },
        no_options!("snapshot", 600, Snapshot(SnapshotStep), "labels" = "{ a = \"b\" }"),
        Case {
            kind: "write-generation",
            default_timeout_secs: 300,
            minimal: "generation = \"b\"\n",
            minimal_is: || {
                StepSpec::WriteGeneration(WriteGenerationStep {
                    generation: "b".into(),
                })
            },
            full: "generation = \"c2\"\n",
            full_is: || {
                StepSpec::WriteGeneration(WriteGenerationStep {
                    generation: "c2".into(),
                })
            },
            bad: "generation = 2\n",
            bad_at: "generation =",
            message: "wrong type for key `generation` in [[steps]] #1 (write-generation): found integer `2`",
            hint: "expected a string",
        },
        Case {
            kind: "scale",
            default_timeout_secs: 600,
            minimal: "replicas = 0\n",
            minimal_is: || StepSpec::Scale(ScaleStep { replicas: 0 }),
            full: "replicas = 3\n",
            full_is: || StepSpec::Scale(ScaleStep { replicas: 3 }),
            bad: "replicas = 1.5\n",
            bad_at: "replicas",
            message: "wrong type for key `replicas` in [[steps]] #1 (scale): found floating point `1.5`",
            hint: "expected i32",
        },
        no_options!("revert", 600, Revert(RevertStep), "snapshot" = "\"snap-1\""),
        Case {
            kind: "verify-revert",
            default_timeout_secs: 600,
            minimal: "generation = \"b\"\n",
            minimal_is: || {
                StepSpec::VerifyRevert(VerifyRevertStep {
                    generation: "b".into(),
                })
            },
            full: "generation = \"b\"\n",
            full_is: || {
                StepSpec::VerifyRevert(VerifyRevertStep {
                    generation: "b".into(),
                })
            },
            bad: "generation = [\"b\"]\n",
            bad_at: "generation =",
            message: "wrong type for key `generation` in [[steps]] #1 (verify-revert): found sequence",
            hint: "expected a string",
        },
    ]
}

/// The top-level keys of a TOML table text.
fn keys_of(body: &str) -> BTreeSet<String> {
    let table: toml::Table = toml::from_str(body).unwrap_or_else(|e| panic!("{e}\n{body}"));
    table.keys().cloned().collect()
}

/// The keys `spec` serializes to, without `kind`: every field of the options struct that is
/// set (fields skipped when empty are left out, so `full` must set them).
fn serialized_keys(spec: &StepSpec) -> BTreeSet<String> {
    let value = toml::Value::try_from(spec).unwrap_or_else(|e| panic!("serialize {spec:?}: {e}"));
    let mut keys: BTreeSet<String> = value
        .as_table()
        .map(|t| t.keys().cloned().collect())
        .unwrap_or_default();
    keys.remove("kind");
    keys
}

#[test]
fn every_kind_has_a_case() {
    let cases = cases();
    let covered: BTreeSet<&str> = cases.iter().map(|c| c.kind).collect();
    let known: BTreeSet<&str> = StepSpec::KINDS.iter().copied().collect();
    let missing: Vec<_> = known.difference(&covered).collect();
    assert!(
        missing.is_empty(),
        "step kinds without a test case in config/scenario/tests/kinds.rs: {missing:?}"
    );
    let unknown: Vec<_> = covered.difference(&known).collect();
    assert!(
        unknown.is_empty(),
        "cases for kinds that do not exist: {unknown:?}"
    );
    assert_eq!(cases.len(), known.len(), "one case per kind");
}

#[test]
fn minimal_steps_get_the_documented_defaults() {
    for c in cases() {
        let entry = step(c.kind, c.minimal).unwrap_or_else(|e| panic!("{}: {e}", c.kind));
        assert_eq!(entry.spec, (c.minimal_is)(), "{}", c.kind);
        assert_eq!(entry.spec.kind(), c.kind);
        assert_eq!(
            entry.name, c.kind,
            "{}: the name defaults to the kind",
            c.kind
        );
        assert_eq!(entry.timeout, None, "{}", c.kind);
        assert_eq!(
            entry.effective_timeout(),
            Duration::from_secs(c.default_timeout_secs),
            "{}: default timeout",
            c.kind
        );
    }
}

#[test]
fn full_steps_keep_every_value() {
    for c in cases() {
        let body = format!("name = \"my-{}\"\ntimeout = \"90s\"\n{}", c.kind, c.full);
        let entry = step(c.kind, &body).unwrap_or_else(|e| panic!("{}: {e}", c.kind));
        assert_eq!(entry.spec, (c.full_is)(), "{}", c.kind);
        assert_eq!(entry.name, format!("my-{}", c.kind));
        assert_eq!(entry.timeout, Some(Duration::from_secs(90)));
        assert_eq!(entry.effective_timeout(), Duration::from_secs(90));
    }
}

/// Fails when a kind gains an option its `full` case does not set: every field the parsed
/// options serialize (all of them, once set) must appear in `full`.
#[test]
fn full_cases_set_every_option() {
    for c in cases() {
        let spec = (c.full_is)();
        assert_eq!(
            keys_of(c.full),
            serialized_keys(&spec),
            "{}: `full` must set every option of the kind",
            c.kind
        );
    }
}

/// What a step serializes to loads back equal (written as a whole scenario, so nested tables
/// such as `labels` land under their `[[steps]]`).
#[test]
fn options_round_trip_through_toml() {
    for c in cases() {
        for spec in [(c.minimal_is)(), (c.full_is)()] {
            let step = toml::Value::try_from(&spec).unwrap_or_else(|e| panic!("{}: {e}", c.kind));
            let mut scenario = toml::Table::new();
            scenario.insert("name".into(), "t".into());
            scenario.insert("steps".into(), toml::Value::Array(vec![step]));
            let text = toml::to_string(&scenario).unwrap_or_else(|e| panic!("{}: {e}", c.kind));
            let back = Scenario::from_str(&text, super::ORIGIN)
                .unwrap_or_else(|e| panic!("{}: {e}\n{text}", c.kind));
            assert_eq!(back.steps()[0].spec, spec, "{}", c.kind);
        }
    }
}

#[test]
fn one_bad_value_per_kind_is_located_and_explained() {
    for c in cases() {
        let text = doc(c.kind, c.bad);
        let got = rejected(&text);
        assert_eq!(got.message, c.message, "{}", c.kind);
        assert_eq!(got.hint.as_deref(), Some(c.hint), "{}", c.kind);
        assert_eq!(
            (got.line, got.column),
            position_of(&text, c.bad_at),
            "{}: the error points at `{}`",
            c.kind,
            c.bad_at
        );
    }
}

/// Kinds with required options name the missing key and point at the step's header.
#[test]
fn missing_required_options_are_named() {
    let required = [
        ("backup-freshness", "max_age"),
        ("check", "namespace"),
        ("check", "command"),
        ("gates", "gates"),
        ("write-generation", "generation"),
        ("scale", "replicas"),
        ("verify-revert", "generation"),
    ];
    for (kind, key) in required {
        let case = cases()
            .into_iter()
            .find(|c| c.kind == kind)
            .unwrap_or_else(|| panic!("no case for {kind}"));
        let body: String = case
            .minimal
            .lines()
            .filter(|l| !l.starts_with(&format!("{key} =")))
            .map(|l| format!("{l}\n"))
            .collect();
        let text = doc(kind, &body);
        let got = rejected(&text);
        let table = format!("[[steps]] #1 ({kind})");
        assert_eq!(got.message, format!("missing key `{key}` in {table}"));
        assert_eq!(got.hint, Some(format!("add `{key} = …` to {table}")));
        assert_eq!((got.line, got.column), (line_of(&text, "[[steps]]"), 1));
    }
    // Every kind whose minimal case sets keys is listed above.
    for c in cases().iter().filter(|c| !c.minimal.is_empty()) {
        for key in keys_of(c.minimal) {
            let listed = required.iter().any(|(k, r)| *k == c.kind && *r == key);
            let alternative = c.kind == "check" && ["deployment", "equals"].contains(&key.as_str());
            assert!(
                listed || alternative,
                "{}: `{key}` is in the minimal case but not in `required`",
                c.kind
            );
        }
    }
}
