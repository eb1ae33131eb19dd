//! Every scenario under `scenarios/` as a libtest-mimic trial against a fresh sandbox:
//! `cargo test --test scenarios -- --list` lists them and filters work as usual. Destructive
//! scenarios are marked ignored, so they are selected like ignored tests
//! (`-- --include-ignored`, or `-- --ignored`); `make test` runs them all.
//!
//! The version matrix: the scenarios in [`MATRIX`] also run once per other supported Longhorn
//! release, as `scenario::<name>@<version>` (the plain trial uses the default, newest release).

mod common;

use dr_sandbox::LonghornVersion;
use libtest_mimic::{Arguments, Failed, Trial};

/// Scenarios run against every `--longhorn-version` (issue 13, version matrix).
const MATRIX: &[&str] = &["full-rebuild", "volume-restore"];

fn main() {
    let args = Arguments::from_args();
    let dir = common::repo().join("scenarios");
    let mut trials = Vec::new();
    for (path, parsed) in dr_harness::config::scenarios_in(&dir) {
        let label = path
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        match parsed {
            Err(e) => trials.push(Trial::test(format!("scenario::{label}"), move || {
                Err(Failed::from(format!("does not load: {e}")))
            })),
            Ok(scenario) => {
                let destructive = scenario.destructive;
                if MATRIX.contains(&scenario.name.as_str()) {
                    for version in LonghornVersion::ALL {
                        if version == LonghornVersion::default() {
                            continue;
                        }
                        let s = scenario.clone();
                        let trial =
                            Trial::test(format!("scenario::{}@{version}", s.name), move || {
                                run_scenario(s, version)
                            });
                        trials.push(trial.with_ignored_flag(destructive));
                    }
                }
                let trial = Trial::test(format!("scenario::{}", scenario.name), move || {
                    run_scenario(scenario, LonghornVersion::default())
                });
                trials.push(trial.with_ignored_flag(destructive));
            }
        }
    }
    libtest_mimic::run(&args, trials).exit();
}

fn run_scenario(
    scenario: dr_harness::config::Scenario,
    version: LonghornVersion,
) -> Result<(), Failed> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| Failed::from(e.to_string()))?;
    rt.block_on(async move {
        let sb = common::TestSandbox::start_version(version).await;
        let out = tempfile::tempdir().map_err(|e| Failed::from(e.to_string()))?;
        let name = scenario.name.clone();
        let record = common::drill(&sb, scenario, out.path()).await;
        sb.sandbox.shutdown().await;
        if record.outcome == dr_harness::engine::record::Outcome::Passed {
            Ok(())
        } else {
            let f = record.failing_step().cloned();
            Err(Failed::from(format!(
                "scenario {name} on Longhorn {version} did not pass: {:?} at {:?}: {:?}\n{:#?}",
                record.outcome,
                f.as_ref().map(|s| s.name.clone()),
                f.as_ref().and_then(|s| s.message.clone()),
                f.map(|s| s.diagnostics)
            )))
        }
    })
}
