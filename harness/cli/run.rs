//! `dr-harness run`, `check` and `list`.

use std::path::PathBuf;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use super::args::{CheckArgs, ListArgs, RunArgs, TargetArgs, VerifyBackupArgs};
#[cfg(feature = "sandbox")]
use super::sandbox::EmbeddedSandbox;
use super::scenarios;
use super::{EXIT_FAILED, EXIT_INTERRUPTED, EXIT_PASSED, EXIT_UNREACHABLE, EXIT_USAGE};
use crate::config::{Profile, Scenario};
use crate::drill::{run_drill, state_path, DrillRequest};
use crate::engine::persist::StateError;
use crate::engine::record::{Outcome, RunRecord};
use crate::redact::Redactor;
use crate::report;
use crate::target::StaticKeys;

/// The cluster a command runs against: a profile, or the embedded sandbox it started.
struct Target {
    profile: Profile,
    keys: Option<StaticKeys>,
    #[cfg(feature = "sandbox")]
    _sandbox: Option<EmbeddedSandbox>,
}

/// What `run`, `check` and `verify-backup` say without `--profile` in a build without the
/// `sandbox` feature (exit 2): there is no built-in cluster to fall back to.
#[cfg_attr(feature = "sandbox", allow(dead_code))]
fn no_builtin_sandbox_message() -> String {
    "this build of dr-harness has no built-in sandbox (built without the `sandbox` feature): pass --profile FILE for your cluster (`dr-harness init` writes one), or use a build with the default features to drill against the sandbox".to_string()
}

async fn target(args: &TargetArgs, redactor: &Redactor) -> Result<Target, i32> {
    #[cfg(not(feature = "sandbox"))]
    let _ = redactor;
    match &args.profile {
        Some(path) => match Profile::load(path) {
            #[cfg(feature = "sandbox")]
            Ok(profile) if args.longhorn_version.is_some() => {
                // a real cluster's version is read from the cluster, never assumed
                eprintln!("error: --longhorn-version is for the built-in sandbox only; drop it or --profile");
                drop(profile);
                Err(EXIT_USAGE)
            }
            Ok(profile) => Ok(Target {
                profile,
                keys: None,
                #[cfg(feature = "sandbox")]
                _sandbox: None,
            }),
            Err(e) => {
                eprintln!("error: {e}");
                Err(EXIT_USAGE)
            }
        },
        #[cfg(not(feature = "sandbox"))]
        None => {
            eprintln!("error: {}", no_builtin_sandbox_message());
            Err(EXIT_USAGE)
        }
        #[cfg(feature = "sandbox")]
        None => {
            // A missing local tool is a setup error (exit 2), not an unreachable cluster.
            if let Err(msg) = super::sandbox::busybox_present() {
                eprintln!("error: {msg}");
                return Err(EXIT_USAGE);
            }
            let sandbox = EmbeddedSandbox::start(
                args.sandbox_state.clone(),
                &args.timing,
                args.longhorn_version.unwrap_or_default(),
                args.longhorn_crds.clone(),
            )
            .await
            .map_err(|e| {
                match e {
                    super::sandbox::StartError::InUse(msg) => {
                        eprintln!("error: {msg}");
                        EXIT_USAGE
                    }
                    // this machine's set-up, not an unreachable cluster
                    super::sandbox::StartError::ToolMissing(msg) => {
                        eprintln!("error: could not start the built-in sandbox: {msg}");
                        EXIT_USAGE
                    }
                    super::sandbox::StartError::Other(msg) => {
                        eprintln!("error: could not start the built-in sandbox: {msg}");
                        EXIT_UNREACHABLE
                    }
                }
            })?;
            let keys = sandbox.keys();
            redactor.add(&keys.secret_key);
            Ok(Target {
                profile: Profile::builtin_sandbox(sandbox.state_dir()),
                keys: Some(keys),
                _sandbox: Some(sandbox),
            })
        }
    }
}

fn load_scenarios(names: &[String]) -> Result<Vec<Scenario>, i32> {
    let names = if names.is_empty() {
        vec![scenarios::DEFAULT.to_string()]
    } else {
        names.to_vec()
    };
    let mut out = Vec::new();
    let mut bad = false;
    for n in &names {
        match scenarios::resolve(n) {
            Ok(s) => out.push(s),
            Err(e) => {
                eprintln!("error: {e}");
                bad = true;
            }
        }
    }
    if bad {
        Err(EXIT_USAGE)
    } else {
        Ok(out)
    }
}

/// First Ctrl-C/SIGTERM cancels (the drill stops its step, stops hooks, writes reports); a
/// second exits at once.
fn install_signal_handler(cancel: CancellationToken) {
    tokio::spawn(async move {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(s) => s,
                Err(_) => return,
            };
        for round in 0..2 {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
            if round == 0 {
                eprintln!("\ninterrupted: stopping the current step and writing the reports (press Ctrl-C again to exit at once)");
                cancel.cancel();
            } else {
                std::process::exit(EXIT_INTERRUPTED);
            }
        }
    });
}

pub async fn run(a: RunArgs) -> i32 {
    if let Err(code) = check_pushgateway(a.pushgateway.as_deref()) {
        return code;
    }
    let scenarios = match load_scenarios(&a.scenarios) {
        Ok(s) => s,
        Err(code) => return code,
    };
    if let Some(id) = a
        .resume
        .as_deref()
        .filter(|id| !crate::drill::is_run_id(id))
    {
        eprintln!("error: --resume {id:?} is not a run id: run ids are UUIDs such as 3f6c2a1e-8d7b-4c1e-9a0f-2b5d7e9c4a10, printed by `dr-harness run` and naming its reports folder");
        return EXIT_USAGE;
    }
    if a.resume.is_some() && scenarios.len() != 1 {
        eprintln!("error: --resume continues one drill; name at most one scenario");
        return EXIT_USAGE;
    }
    let redactor = Redactor::new();
    let notify = match notify_targets(&a.notify, &redactor) {
        Ok(t) => t,
        Err(code) => return code,
    };
    let target = match target(&a.target, &redactor).await {
        Ok(t) => t,
        Err(code) => return code,
    };
    let cancel = CancellationToken::new();
    install_signal_handler(cancel.clone());
    if a.repeat > 1 && a.resume.is_some() {
        eprintln!("error: --repeat and --resume do not go together");
        return EXIT_USAGE;
    }
    let mut worst = EXIT_PASSED;
    let (mut runs, mut passed) = (0u32, 0u32);
    let rounds: Vec<Scenario> = (0..a.repeat)
        .flat_map(|_| scenarios.iter().cloned())
        .collect();
    for scenario in rounds {
        let resume = match &a.resume {
            None => None,
            Some(id) => match load_resume_state(&a.out, id, &target, &redactor).await {
                Ok(r) => {
                    // Before any step: a resumed run must be on the cluster it started on.
                    use crate::drill::ResumeRefused;
                    match crate::drill::check_resume_identity(&target.profile, &r, &redactor).await
                    {
                        Ok(()) => Some(r),
                        Err(e) => {
                            eprintln!("error: {e}");
                            return match e {
                                ResumeRefused::Unreachable { usage: false, .. } => EXIT_UNREACHABLE,
                                _ => EXIT_USAGE,
                            };
                        }
                    }
                }
                Err(e) => {
                    eprintln!("error: {e}");
                    return EXIT_USAGE;
                }
            },
        };
        let req = DrillRequest {
            profile: target.profile.clone(),
            scenario,
            allow_destroy: a.allow_destroy,
            out_dir: a.out.clone(),
            s3_keys: target.keys.clone(),
            resume,
            redactor: redactor.clone(),
            cancel: cancel.clone(),
        };
        let mut console = report::console::ConsoleReporter::new();
        let record = run_drill(req, &mut console).await;
        let code = finish(
            &a.out,
            &record,
            a.pushgateway.as_deref(),
            &target,
            &redactor,
        )
        .await;
        if !notify.is_empty() {
            send_notifications(&notify, &a.out, &record, a.report_url.as_deref(), &redactor).await;
        }
        runs += 1;
        if code == EXIT_PASSED {
            passed += 1;
        }
        worst = worse(worst, code);
        if a.repeat > 1 {
            eprintln!(
                "soak: {passed}/{runs} drills passed so far ({} planned)",
                a.repeat as usize * a.scenarios.len().max(1)
            );
        }
        if cancel.is_cancelled() {
            break;
        }
    }
    if a.repeat > 1 {
        println!("soak: {passed} of {runs} drills passed");
    }
    worst
}

/// The `--notify` targets, their URLs registered as secrets; exit 2 naming a bad one.
fn notify_targets(
    urls: &[String],
    redactor: &Redactor,
) -> Result<Vec<report::notify::NotifyTarget>, i32> {
    let mut out = Vec::new();
    for u in urls.iter().filter(|u| !u.trim().is_empty()) {
        match report::notify::NotifyTarget::parse(u) {
            Ok(t) => {
                t.register_secret(redactor);
                out.push(t);
            }
            Err(e) => {
                eprintln!("error: {e}");
                return Err(EXIT_USAGE);
            }
        }
    }
    Ok(out)
}

/// Posts the drill's message to every target; failures are warnings only (the drill's verdict
/// and exit code stand).
async fn send_notifications(
    targets: &[report::notify::NotifyTarget],
    out: &std::path::Path,
    record: &RunRecord,
    report_url: Option<&str>,
    redactor: &Redactor,
) {
    let link = match report_url {
        Some(u) => u.replace("{run_id}", &record.run_id),
        None => {
            let path = out.join(&record.run_id).join("report.html");
            std::path::absolute(&path)
                .unwrap_or(path)
                .display()
                .to_string()
        }
    };
    let failures = report::notify::notify_all(
        targets,
        record,
        &link,
        redactor,
        &report::notify::SendOptions::default(),
    )
    .await;
    for e in failures {
        eprintln!("warning: {}", redactor.redact(&e.to_string()));
    }
}

fn worse(a: i32, b: i32) -> i32 {
    let rank = |c: i32| match c {
        EXIT_PASSED => 0,
        EXIT_FAILED => 1,
        EXIT_UNREACHABLE => 2,
        EXIT_USAGE => 3,
        _ => 4,
    };
    if rank(b) > rank(a) {
        b
    } else {
        a
    }
}

/// `--pushgateway URL`: an empty value (an unset CI variable) or a URL that is not http(s) is a
/// usage error, caught before anything runs.
fn check_pushgateway(url: Option<&str>) -> Result<(), i32> {
    let Some(url) = url else { return Ok(()) };
    if url.trim().is_empty() {
        eprintln!("error: --pushgateway is empty (an unset CI variable?); give the Pushgateway URL, e.g. http://pushgateway:9091, or drop the flag");
        return Err(EXIT_USAGE);
    }
    match reqwest::Url::parse(url) {
        Ok(u) if matches!(u.scheme(), "http" | "https") && u.host().is_some() => Ok(()),
        _ => {
            eprintln!("error: --pushgateway `{url}` is not an http(s) URL; give e.g. http://pushgateway:9091");
            Err(EXIT_USAGE)
        }
    }
}

/// How many run states in S3 are read, newest first, to find the last success.
const S3_HISTORY_RUNS: usize = 50;

/// The last success of `record`'s (cluster, scenario) from the run states beside the backups.
async fn s3_history(
    target: &Target,
    record: &RunRecord,
    redactor: &Redactor,
) -> Result<report::prometheus::History, String> {
    let cfg = target
        .profile
        .backup_target
        .resolve()
        .map_err(|e| e.to_string())?;
    let read = async {
        let bt = crate::target::BackupTarget::connect(&cfg, target.keys.clone(), redactor)
            .await
            .map_err(|e| e.to_string())?;
        bt.last_success(&record.cluster, &record.scenario, S3_HISTORY_RUNS)
            .await
            .map_err(|e| e.to_string())
    };
    let last = tokio::time::timeout(Duration::from_secs(60), read)
        .await
        .map_err(|_| "reading the run states timed out after 60s".to_string())??;
    Ok(report::prometheus::History {
        last_success: last,
        ..Default::default()
    })
}

/// Writes the reports, pushes metrics, prints the summary; returns the exit code of the drill.
///
/// The history the metrics carry over (last success, per-volume last verification) is the
/// newest of three sources: the Pushgateway's own group (read before the PUT replaces it), the
/// run states in S3, and this out folder's textfile of the same (cluster, scenario). When the
/// gateway's group cannot be read, nothing is pushed: a PUT without it could erase the last
/// success.
async fn finish(
    out: &std::path::Path,
    record: &RunRecord,
    pushgateway: Option<&str>,
    target: &Target,
    redactor: &Redactor,
) -> i32 {
    if withheld(record) {
        eprintln!("{}", report::console::summary_table(record));
        eprintln!("error: no report was written: the run record could not be redacted");
        return EXIT_FAILED;
    }
    let mut history = report::local_history(out, record);
    match s3_history(target, record, redactor).await {
        Ok(h) => history = history.merge(h),
        Err(e) => {
            eprintln!("warning: could not read the last success from the run states in S3: {e}")
        }
    }
    let mut may_push = true;
    if let Some(url) = pushgateway {
        match report::prometheus::read_gateway_history(
            url,
            &record.cluster,
            &record.scenario,
            record.shard.as_deref(),
            Duration::from_secs(15),
        )
        .await
        {
            Ok(h) => history = history.merge(h),
            Err(e) => {
                may_push = false;
                eprintln!("warning: {e}; metrics NOT pushed (a push without the group's history could erase its last success)");
            }
        }
    }
    match report::write_reports_with(out, record, &history) {
        Ok(_) => {}
        Err(e) => eprintln!("warning: could not write the reports: {e}"),
    }
    eprintln!("{}", report::console::summary_table(record));
    eprintln!("reports: {}", out.join(&record.run_id).display());
    if let Some(url) = pushgateway.filter(|_| may_push) {
        let metrics_path = out.join(&record.run_id).join("metrics.prom");
        match std::fs::read_to_string(&metrics_path) {
            Ok(text) => {
                if let Err(e) = report::prometheus::push_to_gateway(
                    url,
                    &record.cluster,
                    &record.scenario,
                    record.shard.as_deref(),
                    &text,
                    Duration::from_secs(15),
                )
                .await
                {
                    eprintln!("warning: {e}");
                }
            }
            Err(e) => eprintln!(
                "warning: no metrics to push ({}): {e}",
                metrics_path.display()
            ),
        }
    }
    exit_code(record)
}

/// Whether `record` stands in for one that could not be redacted (nothing may be written).
fn withheld(record: &RunRecord) -> bool {
    record.report_withheld
}

/// The exit code a finished drill maps to.
pub fn exit_code(record: &RunRecord) -> i32 {
    match record.outcome {
        Outcome::Passed => EXIT_PASSED,
        Outcome::Interrupted => EXIT_INTERRUPTED,
        Outcome::Failed | Outcome::Unknown => {
            // A usage error found while running (a guard, a missing tool or kubeconfig file)
            // outranks an unreachable one: the user has to fix the command or the profile.
            if record.steps.iter().any(|s| s.usage) {
                EXIT_USAGE
            } else if record.steps.iter().any(|s| s.infrastructure) {
                EXIT_UNREACHABLE
            } else {
                EXIT_FAILED
            }
        }
    }
}

async fn load_resume_state(
    out: &std::path::Path,
    run_id: &str,
    target: &Target,
    redactor: &Redactor,
) -> Result<RunRecord, String> {
    let local = state_path(out, run_id);
    let cannot = |e: String| format!("cannot resume {run_id}: {e}");
    // An old record is refused, not misread: its message says what to do instead.
    let checked = |r: Result<RunRecord, StateError>| match r {
        Err(e @ StateError::Schema { .. }) => Err(e.to_string()),
        r => r.map_err(|e| cannot(e.to_string())),
    };
    if local.is_file() {
        return checked(crate::engine::persist::read_run_state(&local));
    }
    // The runner may have been lost with the cluster: the state is beside the backups too.
    let cfg = target
        .profile
        .backup_target
        .resolve()
        .map_err(|e| cannot(e.to_string()))?;
    let bt = crate::target::BackupTarget::connect(&cfg, target.keys.clone(), redactor)
        .await
        .map_err(|e| cannot(e.to_string()))?;
    let key = format!("s3://{}/{}", bt.bucket, bt.run_key(run_id, "run.json"));
    let bytes = bt
        .get_run_file(run_id, "run.json")
        .await
        .map_err(|e| cannot(e.to_string()))?
        .ok_or_else(|| cannot(format!("no state at {} nor at {key}", local.display())))?;
    checked(crate::engine::persist::parse_run_state(&bytes, &key))
}

pub async fn check(a: CheckArgs) -> i32 {
    let scenario = match load_scenarios(std::slice::from_ref(&a.scenario)) {
        Ok(mut s) => s.remove(0),
        Err(code) => return code,
    };
    let redactor = Redactor::new();
    let target = match target(&a.target, &redactor).await {
        Ok(t) => t,
        Err(code) => return code,
    };
    // A preflight-only copy of the scenario: the same guards, no other step.
    let scenario = scenario.preflight_only();
    // The run state a preflight writes is of no use after it: keep it in a folder that goes
    // when the check ends.
    let out = match tempfile::Builder::new()
        .prefix("dr-harness-check-")
        .tempdir()
    {
        Ok(d) => d,
        Err(e) => {
            eprintln!("error: cannot create a temporary folder for the check: {e}");
            return EXIT_USAGE;
        }
    };
    let req = DrillRequest {
        profile: target.profile.clone(),
        scenario,
        allow_destroy: a.allow_destroy,
        out_dir: out.path().to_path_buf(),
        s3_keys: target.keys.clone(),
        resume: None,
        redactor,
        cancel: CancellationToken::new(),
    };
    let mut console = report::console::ConsoleReporter::new();
    let record = run_drill(req, &mut console).await;
    eprintln!("{}", report::console::summary_table(&record));
    exit_code(&record)
}

pub fn list(a: ListArgs) -> i32 {
    let mut bad = false;
    println!("scenarios:");
    for (name, text) in scenarios::BUILTIN {
        let desc = Scenario::from_str(text, name)
            .ok()
            .and_then(|s| s.description)
            .unwrap_or_default();
        println!("  {name:<20} (built in) {desc}");
    }
    let dir = PathBuf::from("scenarios");
    if dir.is_dir() {
        for (path, res) in crate::config::scenarios_in(&dir) {
            match res {
                Ok(s) => {
                    if !scenarios::BUILTIN.iter().any(|(n, _)| *n == s.name) {
                        println!("  {:<20} {}", s.name, path.display());
                    }
                }
                Err(e) => {
                    bad = true;
                    println!("  {}: INVALID: {e}", path.display());
                }
            }
        }
    }
    println!("profiles:");
    println!(
        "  {:<20} (built in) local stand-in cluster, the default",
        "sandbox"
    );
    let pdir = PathBuf::from("fixtures/profiles");
    if let Ok(entries) = std::fs::read_dir(&pdir) {
        let mut paths: Vec<_> = entries
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|x| x == "toml"))
            .collect();
        paths.sort();
        for p in paths {
            match Profile::load(&p) {
                Ok(prof) => println!("  {:<20} {}", prof.name, p.display()),
                Err(e) => {
                    bad = true;
                    println!("  {}: INVALID: {e}", p.display());
                }
            }
        }
    }
    if bad && a.validate {
        EXIT_USAGE
    } else {
        EXIT_PASSED
    }
}

/// The `verify-backup` scenario for the given arguments, written as TOML so it goes through the
/// same strict parser as every scenario file.
fn verify_backup_scenario(a: &VerifyBackupArgs) -> Result<Scenario, String> {
    let quote = |s: &str| serde_json::to_string(s).unwrap_or_default();
    let mut step = String::from("[[steps]]\nkind = \"verify-backup\"\n");
    if a.all_volumes {
        step.push_str("all_volumes = true\n");
    } else {
        step.push_str(&format!(
            "volumes = [{}]\n",
            a.volumes
                .iter()
                .map(|v| quote(v))
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    step.push_str(&format!(
        "backup = {}\ndeep = {}\n",
        quote(&a.backup),
        a.deep
    ));
    if let Some(m) = &a.manifest {
        step.push_str(&format!("manifest = {}\n", quote(m)));
    }
    if a.incremental {
        step.push_str(&format!(
            "incremental = true\nscrub_fraction = {:?}\nfull_every = {}\nledger_key_env = {}\n",
            a.scrub_fraction,
            quote(&a.full_every),
            quote(&a.ledger_key_env)
        ));
        if let Some(seed) = a.scrub_seed {
            step.push_str(&format!("scrub_seed = {seed}\n"));
        }
        if let Some(dir) = &a.ledger {
            step.push_str(&format!("ledger = {}\n", quote(&dir.to_string_lossy())));
        }
    }
    if let Some(shard) = &a.shard {
        // Checked here so a bad value is a usage error (exit 2) before anything is read.
        let parsed = crate::steps::shard::Shard::parse(shard)?;
        step.push_str(&format!("shard = {}\n", quote(&parsed.to_string())));
    }
    step.push_str(&format!(
        "parallel_volumes = {}\n",
        a.parallel_volumes.max(1)
    ));
    if !a.paths.is_empty() {
        step.push_str("[steps.paths]\n");
        for p in &a.paths {
            let (path, sha) = p
                .split_once('=')
                .ok_or_else(|| format!("--path takes PATH=SHA256, got `{p}`"))?;
            step.push_str(&format!("{} = {}\n", quote(path), quote(sha)));
        }
    }
    let text = format!("name = \"verify-backup\"\ndescription = \"prove backups restorable from the backup target alone\"\n{step}");
    Scenario::from_str(&text, "(verify-backup arguments)").map_err(|e| e.to_string())
}

pub async fn verify_backup(a: VerifyBackupArgs) -> i32 {
    if let Err(code) = check_pushgateway(a.pushgateway.as_deref()) {
        return code;
    }
    let scenario = match verify_backup_scenario(&a) {
        Ok(s) if a.read_only => s.read_only(),
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: {e}");
            return EXIT_USAGE;
        }
    };
    if a.incremental {
        // A missing or weak ledger key is a configuration error, found before anything is read.
        let key = std::env::var(&a.ledger_key_env).unwrap_or_default();
        if let Err(e) = dr_backupstore::ledger::check_key(key.as_bytes()) {
            eprintln!(
                "error: --incremental signs its ledger with the key in ${}: {}",
                a.ledger_key_env,
                if key.is_empty() {
                    "it is not set (put at least 16 random bytes there, the same on every run)"
                        .to_string()
                } else {
                    e.to_string()
                }
            );
            return EXIT_USAGE;
        }
    }
    let redactor = Redactor::new();
    let target = match target(&a.target, &redactor).await {
        Ok(t) => t,
        Err(code) => return code,
    };
    let cancel = CancellationToken::new();
    install_signal_handler(cancel.clone());
    let req = DrillRequest {
        profile: target.profile.clone(),
        scenario,
        allow_destroy: false,
        out_dir: a.out.clone(),
        s3_keys: target.keys.clone(),
        resume: None,
        redactor: redactor.clone(),
        cancel,
    };
    let mut console = report::console::ConsoleReporter::new();
    let record = run_drill(req, &mut console).await;
    finish(
        &a.out,
        &record,
        a.pushgateway.as_deref(),
        &target,
        &redactor,
    )
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A build without the sandbox must tell a user without --profile what is missing and
    /// what to pass instead (the CI's `--no-default-features` build step runs this path).
    #[test]
    fn no_builtin_sandbox_message_names_the_build_and_the_fix() {
        let m = no_builtin_sandbox_message();
        assert!(m.contains("no built-in sandbox"), "{m}");
        assert!(m.contains("--profile"), "{m}");
        assert!(m.contains("`sandbox` feature"), "{m}");
    }
}
