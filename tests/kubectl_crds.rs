//! `dr-harness sandbox up --longhorn-crds FILE`: the flag reaches the sandbox, `sandbox up`
//! says which rules apply, `kubectl get crd` lists Longhorn's CRDs, and a real kubectl gets
//! the API server's refusal; without the flag the sandbox says it uses its built-in rules; an
//! unusable file is a clear error. Reads `../shared/longhorn-crds/crds-v1.9.1.yaml`; without
//! it or kubectl the tests say so loudly and pass, unless `CI=true`.

mod common;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

fn missing(what: &str) {
    common::missing(&format!("{what}: CLI CRD tests NOT run"));
}

fn crds_file() -> Option<PathBuf> {
    common::longhorn_crds(dr_sandbox::LonghornVersion::V1_9_1)
}

fn kubectl_available() -> bool {
    let ok = Command::new("kubectl")
        .args(["version", "--client"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok {
        missing("no kubectl on PATH");
    }
    ok
}

/// A foreground `sandbox up`, stopped with `sandbox down` on drop.
struct Up {
    child: Child,
    state: PathBuf,
    banner: Vec<String>,
}

impl Up {
    fn start(state: &Path, extra: &[&str]) -> Up {
        let mut child = Command::new(env!("CARGO_BIN_EXE_dr-harness"))
            .args(["sandbox", "up", "--state"])
            .arg(state)
            .args(extra)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("dr-harness starts");
        let out = child.stdout.take().expect("stdout");
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    return;
                }
            }
        });
        let deadline = Instant::now() + Duration::from_secs(120);
        let mut banner = Vec::new();
        while Instant::now() < deadline {
            match rx.recv_timeout(Duration::from_secs(1)) {
                Ok(l) => {
                    let done = l.starts_with("stop with");
                    banner.push(l);
                    if done {
                        break;
                    }
                }
                Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {}
                Err(_) => break,
            }
        }
        Up {
            child,
            state: state.to_path_buf(),
            banner,
        }
    }

    fn kubectl(&self, args: &[&str], stdin: Option<&str>) -> (bool, String, String) {
        use std::io::Write;
        let mut child = Command::new("kubectl")
            .arg("--kubeconfig")
            .arg(self.state.join("kubeconfig"))
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("kubectl runs");
        let mut pipe = child.stdin.take().expect("stdin");
        if let Some(s) = stdin {
            pipe.write_all(s.as_bytes()).expect("stdin written");
        }
        drop(pipe);
        let out = child.wait_with_output().expect("kubectl output");
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }
}

impl Drop for Up {
    fn drop(&mut self) {
        let _ = Command::new(env!("CARGO_BIN_EXE_dr-harness"))
            .args(["sandbox", "down", "--state"])
            .arg(&self.state)
            .output();
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if matches!(self.child.try_wait(), Ok(Some(_))) {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn sandbox_up_with_longhorn_crds_serves_and_enforces_them() {
    let Some(file) = crds_file() else { return };
    if !kubectl_available() {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let file_arg = file.display().to_string();
    let up = Up::start(&dir.path().join("s"), &["--longhorn-crds", &file_arg]);
    assert!(
        up.banner
            .iter()
            .any(|l| l.contains("Longhorn CRDs from") && l.contains("crds-v1.9.1.yaml")),
        "{:?}",
        up.banner
    );
    let (ok, out, err) = up.kubectl(&["get", "crd"], None);
    assert!(ok, "{err}");
    assert!(
        out.lines().any(|l| l.starts_with("volumes.longhorn.io ")),
        "{out}"
    );
    let vol = "apiVersion: longhorn.io/v1beta2\nkind: Volume\nmetadata: {name: num, namespace: longhorn-system}\nspec: {size: 1024, numberOfReplicas: 3, accessMode: rwo}\n";
    let (ok, _, err) = up.kubectl(&["apply", "-f", "-"], Some(vol));
    assert!(!ok);
    assert!(
        err.contains(r#"spec.size in body must be of type string: "integer""#),
        "{err}"
    );
}

#[test]
fn sandbox_up_without_crds_says_it_uses_built_in_rules() {
    if !kubectl_available() {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let up = Up::start(&dir.path().join("s"), &[]);
    assert!(
        up.banner
            .iter()
            .any(|l| l.contains("no --longhorn-crds given") && l.contains("built-in rules")),
        "{:?}",
        up.banner
    );
    // The served longhorn.io kinds are still listed, as built-in CRDs whose schemas claim
    // nothing (sandbox/src/api/crd/builtin.rs), so `kubectl get crd` shows what is served.
    let (ok, out, err) = up.kubectl(&["get", "crd", "-o", "name"], None);
    assert!(ok, "{err}");
    assert!(
        out.contains("customresourcedefinition.apiextensions.k8s.io/volumes.longhorn.io"),
        "{out}"
    );
}

#[test]
fn an_unusable_crd_file_is_a_clear_error() {
    let dir = tempfile::tempdir().expect("tempdir");
    let bad = dir.path().join("not-longhorn.yaml");
    std::fs::write(
        &bad,
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\n",
    )
    .expect("write");
    let out = Command::new(env!("CARGO_BIN_EXE_dr-harness"))
        .args(["sandbox", "up", "--state"])
        .arg(dir.path().join("s"))
        .arg("--longhorn-crds")
        .arg(&bad)
        .output()
        .expect("dr-harness runs");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("holds no CustomResourceDefinition of group longhorn.io")
            && err.contains("not-longhorn.yaml"),
        "{err}"
    );
}
