//! Running commands in the sentinel pod over the exec subresource, with stdin streamed in and
//! stdout streamed out, so no file is ever held whole in memory.
//!
//! Stdin EOF needs the v5 exec protocol (Kubernetes 1.30+; shared/sandbox-notes.md): commands
//! that read stdin to the end (`cat > file`) rely on it. Every exec races its stdin writer against
//! the remote exit status and carries a timeout, so a process that dies early never hangs us.

use std::time::Duration;

use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, AttachParams};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::ClusterError;

/// Where and how to run a command.
#[derive(Debug, Clone)]
pub struct ExecTarget {
    /// The pod's namespace.
    pub namespace: String,
    /// The pod's name.
    pub pod: String,
    /// The container in the pod to run the command in.
    pub container: String,
    /// Time allowed for the whole exec (start, stdin, output, exit status).
    pub timeout: Duration,
}

/// What a finished command produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExecOutput {
    /// The command's exit status (0 = success), from the exec status channel.
    pub exit_code: i32,
    /// Stdout, unless it was streamed to a callback (then empty).
    pub stdout: Vec<u8>,
    /// Stderr, lossily decoded and capped at 64 KiB.
    pub stderr: String,
}

const STDERR_CAP: usize = 64 * 1024;

/// A consumer of stdout chunks, for commands whose output is streamed rather than collected.
pub type StdoutSink<'a> = &'a mut (dyn FnMut(&[u8]) + Send);

/// Runs `argv` in the target container. `stdin` chunks are written in order and then closed;
/// stdout goes to `on_stdout` chunk by chunk when given, else it is collected.
///
/// # Errors
/// [`ClusterError::Exec`] when the exec cannot start, the stream breaks, or the timeout passes.
pub async fn exec<I>(
    pods: &Api<Pod>,
    target: &ExecTarget,
    argv: &[&str],
    stdin: Option<I>,
    mut on_stdout: Option<StdoutSink<'_>>,
) -> Result<ExecOutput, ClusterError>
where
    I: Iterator<Item = Vec<u8>> + Send,
{
    let err = |message: String| ClusterError::Exec {
        namespace: target.namespace.clone(),
        pod: target.pod.clone(),
        message,
    };
    let params = AttachParams::default()
        .container(target.container.clone())
        .stdin(stdin.is_some())
        .stdout(true)
        .stderr(true)
        // kube-client 5 gives each stream a 1 KiB in-memory pipe unless told otherwise
        // (kube-client-5.0.0 src/api/remote_command.rs `MAX_BUF_SIZE`): stdout read back
        // (`cat` of a file) then moves 1 KiB per wake-up. Its stdin frames stay 4 KiB whatever
        // this says (the `ReaderStream` there uses its default capacity): a limit of the client
        // library, measured by benches/sentinel_throughput.rs.
        .max_stdin_buf_size(1024 * 1024)
        .max_stdout_buf_size(1024 * 1024);
    let work = async {
        let mut proc = pods
            .exec(
                &target.pod,
                argv.iter().map(|s| s.to_string()).collect::<Vec<_>>(),
                &params,
            )
            .await
            .map_err(|e| err(format!("could not start `{}`: {e}", argv.join(" "))))?;
        let status = proc
            .take_status()
            .ok_or_else(|| err("no status channel".into()))?;
        let mut stdout = proc
            .stdout()
            .ok_or_else(|| err("no stdout stream".into()))?;
        let mut stderr = proc
            .stderr()
            .ok_or_else(|| err("no stderr stream".into()))?;
        let stdin_writer = proc.stdin();

        let write_stdin = async move {
            if let (Some(mut w), Some(chunks)) = (stdin_writer, stdin) {
                for chunk in chunks {
                    w.write_all(&chunk).await?;
                }
                w.shutdown().await?;
            }
            Ok::<(), std::io::Error>(())
        };
        let read_stdout = async {
            let mut collected = Vec::new();
            let mut buf = vec![0u8; 64 * 1024];
            loop {
                let n = stdout.read(&mut buf).await?;
                if n == 0 {
                    break;
                }
                match on_stdout.as_mut() {
                    Some(cb) => cb(&buf[..n]),
                    None => collected.extend_from_slice(&buf[..n]),
                }
            }
            Ok::<Vec<u8>, std::io::Error>(collected)
        };
        let read_stderr = async {
            let mut collected = Vec::new();
            let mut buf = vec![0u8; 16 * 1024];
            loop {
                let n = stderr.read(&mut buf).await?;
                if n == 0 {
                    break;
                }
                if collected.len() < STDERR_CAP {
                    collected.extend_from_slice(&buf[..n.min(STDERR_CAP - collected.len())]);
                }
            }
            Ok::<Vec<u8>, std::io::Error>(collected)
        };
        // The writer may fail with a broken pipe when the process exits early; the exit status
        // then tells the real story, so a stdin error alone is not fatal.
        let (stdin_res, out, errout) = tokio::join!(write_stdin, read_stdout, read_stderr);
        let status = status.await;
        let out = out.map_err(|e| err(format!("reading stdout: {e}")))?;
        let errout =
            String::from_utf8_lossy(&errout.map_err(|e| err(format!("reading stderr: {e}")))?)
                .into_owned();
        let exit_code = exit_code_of(status.as_ref()).ok_or_else(|| {
            err(format!(
                "`{}` ended without an exit status{}",
                argv.join(" "),
                stdin_res
                    .err()
                    .map(|e| format!(" (stdin: {e})"))
                    .unwrap_or_default()
            ))
        })?;
        let _ = proc.join().await;
        Ok(ExecOutput {
            exit_code,
            stdout: out,
            stderr: errout,
        })
    };
    tokio::time::timeout(target.timeout, work)
        .await
        .map_err(|_| {
            err(format!(
                "`{}` did not finish within {}s",
                argv.join(" "),
                target.timeout.as_secs()
            ))
        })?
}

/// Exit code from the exec protocol's final Status: `Success` → 0; `NonZeroExitCode` → the
/// `ExitCode` cause's message.
pub(crate) fn exit_code_of(
    status: Option<&k8s_openapi::apimachinery::pkg::apis::meta::v1::Status>,
) -> Option<i32> {
    let status = status?;
    if status.status.as_deref() == Some("Success") {
        return Some(0);
    }
    if status.reason.as_deref() == Some("NonZeroExitCode") {
        return status
            .details
            .as_ref()?
            .causes
            .as_ref()?
            .iter()
            .find(|c| c.reason.as_deref() == Some("ExitCode"))
            .and_then(|c| c.message.as_deref())
            .and_then(|m| m.parse().ok());
    }
    None
}

/// Runs a command with no stdin and collects its output.
///
/// # Errors
/// As [`exec`].
pub async fn run(
    pods: &Api<Pod>,
    target: &ExecTarget,
    argv: &[&str],
) -> Result<ExecOutput, ClusterError> {
    exec::<std::iter::Empty<Vec<u8>>>(pods, target, argv, None, None).await
}
