//! `dr-harness init`: writes a commented profile for the user's cluster from flags (no
//! prompts, so it works in CI and scripts), validated by the same strict parser as every
//! profile before anything is written.
//!
//! Every key the flags do not set is written as a comment with its default, so the file
//! documents itself; `fixtures/profiles/README.md` has the full reference.

use std::io::Write;
use std::path::Path;

use super::args::{HooksChoice, InitArgs};
use super::{EXIT_PASSED, EXIT_USAGE};
use crate::config::Profile;

/// A TOML string literal (quoted and escaped) for `s`.
fn q(s: &str) -> String {
    toml::Value::String(s.to_string()).to_string()
}

/// A TOML array of strings.
fn q_list(items: &[String]) -> String {
    let inner: Vec<String> = items.iter().map(|s| q(s)).collect();
    format!("[{}]", inner.join(", "))
}

/// `key = value` when set, else `# key = example` (the commented default).
fn line(key: &str, value: Option<String>, example: &str) -> String {
    match value {
        Some(v) => format!("{key} = {v}\n"),
        None => format!("# {key} = {example}\n"),
    }
}

/// Renders the profile text for `a`.
///
/// # Errors
/// A usage message when `--kubeconfig-command` cannot be split into words (unbalanced quotes)
/// or a hook flag is missing what its preset needs.
pub fn render(a: &InitArgs) -> Result<String, String> {
    let mut t = String::new();
    t.push_str(
        "# dr-harness cluster profile, written by `dr-harness init`.\n\
         # Check it (changes nothing on the cluster):  dr-harness check health --profile THIS_FILE\n\
         # Every key: fixtures/profiles/README.md in the dr-harness repository.\n\n",
    );
    t.push_str("# Cluster label in metrics and reports: keep it stable (it is a metric label).\n");
    t.push_str(&format!("name = {}\n", q(&a.name)));
    if let Some(d) = &a.description {
        t.push_str(&format!("description = {}\n", q(d)));
    }

    t.push_str(
        "\n# How to reach the cluster: exactly one of `path` and `command`.\n[kubeconfig]\n",
    );
    match &a.kubeconfig_command {
        Some(cmd) => {
            let argv = shlex::split(cmd)
                .filter(|v| !v.is_empty())
                .ok_or_else(|| format!("--kubeconfig-command `{cmd}`: unbalanced quotes or empty; write it as a shell would, e.g. \"tofu output -raw kubeconfig\""))?;
            t.push_str("# A command (no shell) printing the kubeconfig; re-run after a rebuild, when the\n# cluster has new certificates.\n");
            t.push_str(&format!("command = {}\n", q_list(&argv)));
            t.push_str("# path = \"~/.kube/config\"\n");
        }
        None => {
            let path = a
                .kubeconfig
                .as_ref()
                .map(|p| p.display().to_string())
                .unwrap_or_else(|| "~/.kube/config".to_string());
            t.push_str("# A kubeconfig file (a leading ~/ is expanded). For a cluster whose credentials\n# change on rebuild, use `command` instead, e.g. [\"tofu\", \"output\", \"-raw\", \"kubeconfig\"].\n");
            t.push_str(&format!("path = {}\n", q(&path)));
        }
    }
    t.push_str(&line(
        "context",
        a.context.as_deref().map(q),
        "\"my-context\"   # default: the kubeconfig's current-context",
    ));

    t.push_str("\n# Longhorn's backup target (the same URL as Longhorn's backup-target setting).\n[backup_target]\n");
    t.push_str(&format!("url = {}\n", q(&a.backup_target)));
    t.push_str(&line(
        "endpoint",
        a.endpoint.as_deref().map(q),
        "\"https://minio.example.internal:9000\"   # MinIO, Hetzner, …; default AWS",
    ));
    t.push_str(&format!(
        "# `env`: AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY only; `chain`: the AWS SDK default chain.\ncredentials = {}\n",
        q(&a.credentials)
    ));
    t.push_str("# path_style = true   # default: true when `endpoint` is set\n");

    t.push_str("\n# Destructive scenarios (full-rebuild, system-restore) also need --allow-destroy and the\n# marker ConfigMap kube-system/dr-harness-drill-target on the cluster.\n[safety]\n");
    t.push_str(&format!("allow_destroy = {}\n", a.allow_destroy));

    let hook = |verb: &str, cmd: Option<&String>| -> Result<String, String> {
        let mut h = format!("\n[hooks.{verb}]\n");
        match a.hooks {
            HooksChoice::None => unreachable!("no hook sections without hooks"),
            HooksChoice::Command => {
                let cmd = cmd.ok_or_else(|| {
                    format!("--hooks command needs --{verb}-command \"…\" (the command that {verb}s the cluster)")
                })?;
                let argv = shlex::split(cmd).filter(|v| !v.is_empty()).ok_or_else(|| {
                    format!("--{verb}-command `{cmd}`: unbalanced quotes or empty")
                })?;
                h.push_str("preset = \"command\"\n");
                h.push_str(&format!("argv = {}\n", q_list(&argv)));
                h.push_str(&line(
                    "working_dir",
                    a.working_dir.as_ref().map(|p| q(&p.display().to_string())),
                    "\"infrastructure/\"",
                ));
            }
            preset => {
                let dir = a.working_dir.as_ref().ok_or_else(|| {
                    format!(
                        "--hooks {} needs --working-dir (the stack directory)",
                        preset.as_str()
                    )
                })?;
                h.push_str(&format!("preset = {}\n", q(preset.as_str())));
                h.push_str(&format!(
                    "working_dir = {}\n",
                    q(&dir.display().to_string())
                ));
                h.push_str("# extra_args = []\n");
            }
        }
        h.push_str(&format!(
            "timeout = {}   # wall-clock limit, then SIGTERM to the process group\n",
            q(if verb == "destroy" { "30m" } else { "60m" })
        ));
        h.push_str("# grace = \"30s\"   # SIGTERM → SIGKILL\n# env = { TF_IN_AUTOMATION = \"1\" }\n# secret_env = []   # names whose values are redacted everywhere\n");
        Ok(h)
    };
    match a.hooks {
        HooksChoice::None => t.push_str(
            "\n# Infrastructure hooks, only for destructive scenarios, e.g.:\n# [hooks.destroy]\n# preset = \"tofu\"            # terragrunt | tofu | terraform | command\n# working_dir = \"infrastructure/stacks/dev\"\n# [hooks.rebuild]\n# preset = \"tofu\"\n# working_dir = \"infrastructure/stacks/dev\"\n",
        ),
        _ => {
            t.push_str(&hook("destroy", a.destroy_command.as_ref())?);
            t.push_str(&hook("rebuild", a.rebuild_command.as_ref())?);
        }
    }

    t.push_str("\n# What a ready cluster looks like (after a rebuild, and for the health scenario).\n[expect]\n");
    t.push_str(&line(
        "nodes",
        a.nodes.map(|n| n.to_string()),
        "3   # Ready nodes; unchecked when absent",
    ));
    t.push_str("system_pods = [\"coredns\"]   # name prefixes of Running pods in kube-system\n");
    t.push_str(&line(
        "orchestrator_job",
        a.orchestrator_job.as_deref().map(q),
        "\"longhorn-system/longhorn-restore-orchestrator\"",
    ));
    t.push_str("# kustomizations = [\"longhorn\"]   # Flux Kustomizations that must be Ready\n# health_urls = [\"https://grafana.example.internal/api/health\"]\n# longhorn_namespace = \"longhorn-system\"\n");
    Ok(t)
}

/// `dr-harness init`: renders, validates and writes the profile. Exit 0, or 2 on bad flags,
/// an existing file without `--force`, or a write error.
pub fn run(a: InitArgs) -> i32 {
    let text = match render(&a) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("error: {e}");
            return EXIT_USAGE;
        }
    };
    let origin = a.out.display().to_string();
    // The same strict parser as `--profile`: a flag value it rejects is reported now.
    if let Err(e) = Profile::from_str(&text, &origin) {
        eprintln!("error: the profile these flags describe is invalid: {e}");
        return EXIT_USAGE;
    }
    if a.out == Path::new("-") {
        print!("{text}");
        return EXIT_PASSED;
    }
    let mut open = std::fs::OpenOptions::new();
    open.write(true);
    if a.force {
        open.create(true).truncate(true);
    } else {
        open.create_new(true);
    }
    let written = open
        .open(&a.out)
        .and_then(|mut f| f.write_all(text.as_bytes()));
    match written {
        Ok(()) => {
            eprintln!(
                "wrote {origin}\nnext: dr-harness check health --profile {origin}   (changes nothing)"
            );
            EXIT_PASSED
        }
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            eprintln!("error: {origin} exists; pass --force to overwrite it or --out another file");
            EXIT_USAGE
        }
        Err(e) => {
            eprintln!("error: cannot write {origin}: {e}");
            EXIT_USAGE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{HookPreset, KubeconfigSource};
    use clap::Parser;

    fn args(flags: &[&str]) -> InitArgs {
        let cli = super::super::Cli::try_parse_from(
            ["dr-harness", "init"].iter().chain(flags.iter()).copied(),
        )
        .expect("flags parse");
        match cli.command {
            super::super::args::Command::Init(a) => a,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn command_flags_become_argv_split_as_a_shell_would() {
        let a = args(&[
            "--kubeconfig-command",
            "aws ssm get-parameter --name '/dev/kube config' --query Parameter.Value",
            "--hooks",
            "command",
            "--destroy-command",
            "make k3s-teardown",
            "--rebuild-command",
            "make k3s",
            "--allow-destroy",
        ]);
        let text = render(&a).expect("renders");
        let p = Profile::from_str(&text, "init").expect("valid profile");
        match p.kubeconfig.source() {
            Some(KubeconfigSource::Command(argv)) => assert_eq!(
                argv,
                [
                    "aws",
                    "ssm",
                    "get-parameter",
                    "--name",
                    "/dev/kube config",
                    "--query",
                    "Parameter.Value"
                ]
            ),
            other => panic!("{other:?}"),
        }
        let destroy = p.hooks.destroy.expect("destroy hook");
        assert_eq!(destroy.preset, HookPreset::Command);
        assert_eq!(
            destroy.argv.as_deref(),
            Some(&["make".to_string(), "k3s-teardown".to_string()][..])
        );
        assert!(p.safety.allow_destroy);
    }

    #[test]
    fn preset_hooks_need_a_working_dir_and_command_hooks_their_commands() {
        let err = render(&args(&["--hooks", "terragrunt"])).unwrap_err();
        assert!(err.contains("--working-dir"), "{err}");
        let err = render(&args(&["--hooks", "command"])).unwrap_err();
        assert!(err.contains("--destroy-command"), "{err}");
        let text =
            render(&args(&["--hooks", "tofu", "--working-dir", "infra/dev"])).expect("renders");
        let p = Profile::from_str(&text, "init").expect("valid profile");
        assert_eq!(p.hooks.rebuild.expect("rebuild").preset, HookPreset::Tofu);
    }

    #[test]
    fn unbalanced_quotes_are_a_usage_error() {
        let err = render(&args(&["--kubeconfig-command", "tofu output 'kubeconfig"])).unwrap_err();
        assert!(err.contains("unbalanced quotes"), "{err}");
    }
}
