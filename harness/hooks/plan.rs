//! From a profile's hook spec to the exact command line a hook runs.
//!
//! Presets (facts checked against the tools' docs):
//! - **terragrunt**: the CLI redesign (v0.73+, frozen in 1.0) replaced `run-all` and the
//!   `--terragrunt-*` flags. Its `run` docs show `terragrunt run --all [flags] -- <tofu args>`
//!   (e.g. `terragrunt run --all --filter-affected -- plan`, `terragrunt run -- output -json`):
//!   terragrunt's own flags go before `--`, everything after it is passed to tofu/terraform.
//!   `--report-file x.json` (v0.81.2 CSV, v0.81.3 JSON; chosen by the file extension) writes
//!   one row per unit, read afterwards to catch a partial destroy. So:
//!   `terragrunt run --all --non-interactive --working-dir DIR --report-file R -- destroy -auto-approve`.
//! - **tofu / terraform**: `-chdir=DIR` goes before the subcommand; `-input=false` so a missing
//!   variable fails instead of waiting on a closed stdin. A destroy is complete only when it
//!   exits 0 and `state list` prints nothing afterwards (the post-check).
//! - **colour**: tools colour their output for a terminal, and the escape codes (ESC, 0x1b)
//!   would reach the reports. tofu/terraform take `-no-color` on every subcommand run here
//!   (`apply`, `destroy`, `init`; Terraform CLI docs, "-no-color … disables terminal formatting
//!   sequences"); terragrunt's own log colours go with `--no-color` (added as
//!   `--terragrunt-no-color` in v0.48.7; the CLI redesign dropped the `terragrunt-` prefix of
//!   every flag: terragrunt docs, docs/migrate/cli-redesign). The report layer still strips
//!   control characters from what a `command` hook prints.
//! - **init** (`init = true`): `init -input=false -no-color` runs first, so a fresh checkout
//!   without `.terraform` works; terragrunt runs it through `run --all -- init …`.
//! - **command**: argv as given, no shell.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::config::{HookPreset, HookSpec};

use super::HookError;

/// Which way a hook moves the cluster.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HookAction {
    /// Tear the cluster down (`tofu destroy`, `terragrunt run --all destroy`, …).
    Destroy,
    /// Build it again (`tofu apply`, …).
    Rebuild,
}

impl HookAction {
    /// `destroy` / `rebuild`.
    pub fn as_str(self) -> &'static str {
        match self {
            HookAction::Destroy => "destroy",
            HookAction::Rebuild => "rebuild",
        }
    }

    /// The tofu/terraform subcommand: `destroy` or `apply`.
    fn tf_subcommand(self) -> &'static str {
        match self {
            HookAction::Destroy => "destroy",
            HookAction::Rebuild => "apply",
        }
    }
}

/// A hook ready to run: everything [`super::run_hook`] needs, nothing left to decide.
#[derive(Debug, Clone, PartialEq)]
pub struct HookPlan {
    /// Destroy or rebuild.
    pub action: HookAction,
    /// The tool family (`tofu`, `terragrunt`, `command`…) that decides the argv built and how
    /// the outcome is read (e.g. a terragrunt run report).
    pub preset: HookPreset,
    /// Program and arguments; `argv[0]` is a name looked up on `PATH` or a path.
    pub argv: Vec<String>,
    /// Directory the process starts in; `None` = the harness's own.
    pub working_dir: Option<PathBuf>,
    /// Added to the inherited environment.
    pub env: BTreeMap<String, String>,
    /// Names of variables whose values are redacted from all output.
    pub secret_env: Vec<String>,
    /// Wall-clock limit for the main command.
    pub timeout: Duration,
    /// SIGTERM → SIGKILL grace.
    pub grace: Duration,
    /// Terragrunt report file to read after the run.
    pub report_file: Option<PathBuf>,
    /// Command that must print nothing after a successful destroy (`tofu -chdir=DIR state list`).
    pub post_check: Option<Vec<String>>,
    /// Command run before `argv` (`init -input=false -no-color`, profile `init = true`); the
    /// hook fails without running `argv` when it fails.
    pub init: Option<Vec<String>>,
}

impl HookPlan {
    /// Builds the plan for `spec` doing `action`; `scratch_dir` holds files the hook writes for
    /// us (the terragrunt report). Presets get `TF_IN_AUTOMATION=1` unless the profile sets it.
    pub fn from_spec(spec: &HookSpec, action: HookAction, scratch_dir: &Path) -> HookPlan {
        let dir = spec.working_dir.clone();
        let dir_str = dir
            .as_ref()
            .map(|d| d.display().to_string())
            .unwrap_or_else(|| ".".into());
        let mut env = spec.env.clone();
        let mut report_file = None;
        let mut post_check = None;
        let mut working_dir = None;
        let mut init = None;
        let strings = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<String>>();
        let argv: Vec<String> = match spec.preset {
            HookPreset::Terragrunt => {
                let report =
                    scratch_dir.join(format!("terragrunt-{}-report.json", action.as_str()));
                let report = report.display().to_string();
                let mut argv = strings(&[
                    "terragrunt",
                    "run",
                    "--all",
                    "--non-interactive",
                    "--no-color",
                    "--working-dir",
                    &dir_str,
                    "--report-file",
                    &report,
                    "--",
                    action.tf_subcommand(),
                    "-auto-approve",
                    "-no-color",
                ]);
                argv.extend(spec.extra_args.iter().cloned());
                if spec.init {
                    init = Some(strings(&[
                        "terragrunt",
                        "run",
                        "--all",
                        "--non-interactive",
                        "--no-color",
                        "--working-dir",
                        &dir_str,
                        "--",
                        "init",
                        "-input=false",
                        "-no-color",
                    ]));
                }
                report_file = Some(PathBuf::from(report));
                env.entry("TF_IN_AUTOMATION".into())
                    .or_insert_with(|| "1".into());
                argv
            }
            HookPreset::Tofu | HookPreset::Terraform => {
                let tool = spec.preset.as_str();
                let chdir = format!("-chdir={dir_str}");
                let mut argv = strings(&[
                    tool,
                    &chdir,
                    action.tf_subcommand(),
                    "-auto-approve",
                    "-input=false",
                    "-no-color",
                ]);
                argv.extend(spec.extra_args.iter().cloned());
                if spec.init {
                    init = Some(strings(&[
                        tool,
                        &chdir,
                        "init",
                        "-input=false",
                        "-no-color",
                    ]));
                }
                if action == HookAction::Destroy {
                    post_check = Some(vec![tool.to_string(), chdir, "state".into(), "list".into()]);
                }
                env.entry("TF_IN_AUTOMATION".into())
                    .or_insert_with(|| "1".into());
                argv
            }
            HookPreset::Command => {
                working_dir = dir;
                let mut argv = spec.argv.clone().unwrap_or_default();
                argv.extend(spec.extra_args.iter().cloned());
                argv
            }
        };
        HookPlan {
            action,
            preset: spec.preset,
            argv,
            working_dir,
            env,
            secret_env: spec.secret_env.clone(),
            timeout: spec.timeout,
            grace: spec.grace,
            report_file,
            post_check,
            init,
        }
    }

    /// Values of the `secret_env` variables (from the plan's env, else inherited).
    pub fn secret_values(&self) -> Vec<String> {
        self.secret_env
            .iter()
            .filter_map(|n| self.env.get(n).cloned().or_else(|| std::env::var(n).ok()))
            .collect()
    }

    /// The program (`argv[0]`), or `""` for an empty plan.
    pub fn program(&self) -> &str {
        self.argv.first().map_or("", String::as_str)
    }

    /// The command line as one string, for logs and reports (not for a shell).
    pub fn display(&self) -> String {
        self.argv.join(" ")
    }
}

/// Checks that the plan's program exists before anything runs: an existing path when
/// `argv[0]` contains `/`, else a file on `PATH` (the plan's `PATH` if it sets one).
///
/// # Errors
/// [`HookError::EmptyArgv`] for a plan without a program; [`HookError::ToolMissing`] naming
/// the tool and how to get it.
pub fn check_tools(plan: &HookPlan) -> Result<(), HookError> {
    let program = plan.argv.first().ok_or_else(|| HookError::EmptyArgv {
        action: plan.action.as_str().to_string(),
    })?;
    let path_var = plan
        .env
        .get("PATH")
        .cloned()
        .or_else(|| std::env::var("PATH").ok())
        .unwrap_or_default();
    if find_program(program, &path_var, plan.working_dir.as_deref()).is_some() {
        return Ok(());
    }
    let hint = match plan.preset {
        HookPreset::Terragrunt => {
            "install terragrunt v0.73 or newer (the `run --all` CLI) and put it on PATH".to_string()
        }
        HookPreset::Tofu => "install OpenTofu (`tofu`) and put it on PATH".to_string(),
        HookPreset::Terraform => "install Terraform and put it on PATH".to_string(),
        HookPreset::Command => format!(
            "check the first element of `argv` in [hooks.{}]: it must be on PATH or an existing path",
            match plan.action {
                HookAction::Destroy => "destroy",
                HookAction::Rebuild => "rebuild",
            }
        ),
    };
    Err(HookError::ToolMissing {
        tool: program.clone(),
        hint,
    })
}

/// Resolves `program` like `execvp` would: as a path if it contains `/` (relative to `cwd`
/// when given), else the first executable file in `path_var`.
fn find_program(program: &str, path_var: &str, cwd: Option<&Path>) -> Option<PathBuf> {
    if program.contains('/') {
        let p = match cwd {
            Some(dir) if Path::new(program).is_relative() => dir.join(program),
            _ => PathBuf::from(program),
        };
        return is_executable(&p).then_some(p);
    }
    std::env::split_paths(path_var)
        .map(|dir| dir.join(program))
        .find(|p| is_executable(p))
}

fn is_executable(p: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(preset: HookPreset) -> HookSpec {
        let mut s = HookSpec::command(vec![]);
        s.preset = preset;
        s.argv = None;
        s.working_dir = Some("infrastructure/stacks/dev".into());
        s
    }

    #[test]
    fn terragrunt_destroy_uses_run_all_with_report() {
        let plan = HookPlan::from_spec(
            &spec(HookPreset::Terragrunt),
            HookAction::Destroy,
            Path::new("/tmp/x"),
        );
        assert_eq!(
            plan.display(),
            "terragrunt run --all --non-interactive --no-color --working-dir infrastructure/stacks/dev \
             --report-file /tmp/x/terragrunt-destroy-report.json -- destroy -auto-approve -no-color"
        );
        assert!(plan.post_check.is_none());
        assert!(plan.init.is_none());
    }

    #[test]
    fn tofu_destroy_has_state_list_post_check() {
        let mut s = spec(HookPreset::Tofu);
        s.extra_args = vec!["-lock-timeout=5m".into()];
        let plan = HookPlan::from_spec(&s, HookAction::Destroy, Path::new("/tmp"));
        assert_eq!(
            plan.argv,
            [
                "tofu",
                "-chdir=infrastructure/stacks/dev",
                "destroy",
                "-auto-approve",
                "-input=false",
                "-no-color",
                "-lock-timeout=5m"
            ]
        );
        assert_eq!(
            plan.post_check,
            Some(vec![
                "tofu".into(),
                "-chdir=infrastructure/stacks/dev".into(),
                "state".into(),
                "list".into()
            ])
        );
        let rebuild = HookPlan::from_spec(&s, HookAction::Rebuild, Path::new("/tmp"));
        assert_eq!(rebuild.argv[2], "apply");
        assert!(rebuild.post_check.is_none());
    }

    #[test]
    fn init_runs_first_without_input_or_colour() {
        let mut s = spec(HookPreset::Terraform);
        s.init = true;
        let plan = HookPlan::from_spec(&s, HookAction::Rebuild, Path::new("/tmp"));
        assert_eq!(
            plan.init.as_deref().map(|a| a.join(" ")).as_deref(),
            Some("terraform -chdir=infrastructure/stacks/dev init -input=false -no-color")
        );
        let mut s = spec(HookPreset::Terragrunt);
        s.init = true;
        let plan = HookPlan::from_spec(&s, HookAction::Destroy, Path::new("/tmp"));
        assert_eq!(
            plan.init.as_deref().map(|a| a.join(" ")).as_deref(),
            Some("terragrunt run --all --non-interactive --no-color --working-dir infrastructure/stacks/dev -- init -input=false -no-color")
        );
    }
}
