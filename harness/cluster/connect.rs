//! Building a Kubernetes client from a profile's kubeconfig source.
//!
//! The kubeconfig is either a file (path + optional context) or the stdout of a command (e.g.
//! `aws ssm get-parameter …` or `tofu output -raw kubeconfig`). The command is re-run after a
//! rebuild, because a rebuilt cluster usually hands out a new endpoint and new credentials.

use std::path::PathBuf;
use std::time::Duration;

use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::{Client, Config};

use super::ClusterError;

/// Where the kubeconfig comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KubeconfigSource {
    /// A kubeconfig file, read anew on every connect.
    File {
        /// Path of the kubeconfig file.
        path: PathBuf,
        /// Context to use; `None` = the file's `current-context`.
        context: Option<String>,
    },
    /// A command whose stdout is a kubeconfig (argv, no shell).
    Command {
        /// Program and arguments, run without a shell; stdout must be a kubeconfig.
        argv: Vec<String>,
        /// Context to use; `None` = the printed kubeconfig's `current-context`.
        context: Option<String>,
    },
}

/// A connected client and where it points.
#[derive(Clone)]
pub struct Connection {
    /// The `kube` client, with kube's own retries off (see [`connect`]).
    pub client: Client,
    /// API server URL, as the kubeconfig names it.
    pub api_server: String,
    /// Credentials found in the kubeconfig (tokens, passwords, client keys), for the redactor.
    pub secrets: Vec<String>,
}

impl std::fmt::Debug for Connection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connection")
            .field("api_server", &self.api_server)
            .finish()
    }
}

/// Reads the kubeconfig and builds a client. kube's silent retry of 429/503/504 is turned off:
/// the harness retries itself so that every retry is counted in the report.
///
/// # Errors
/// [`ClusterError::Kubeconfig`] when the file or command fails or the kubeconfig is invalid.
pub async fn connect(
    source: &KubeconfigSource,
    timeout: Duration,
) -> Result<Connection, ClusterError> {
    connect_at(source, timeout, None).await
}

/// As [`connect`], but talking to `cluster_url` instead of the kubeconfig's server, with the
/// kubeconfig's credentials and CA: how the destroy step asks the *old* API address whether it
/// still answers as the old cluster, whatever the kubeconfig names now.
///
/// # Errors
/// As [`connect`]; [`ClusterError::Kubeconfig`] when `cluster_url` is not a URL.
pub async fn connect_at(
    source: &KubeconfigSource,
    timeout: Duration,
    cluster_url: Option<&str>,
) -> Result<Connection, ClusterError> {
    install_crypto_provider();
    let (kubeconfig, context, origin) = match source {
        KubeconfigSource::File { path, context } => {
            if !path.exists() {
                return Err(ClusterError::KubeconfigMissing {
                    path: path.display().to_string(),
                });
            }
            let kc = Kubeconfig::read_from(path).map_err(|e| ClusterError::Kubeconfig {
                origin: path.display().to_string(),
                message: e.to_string(),
            })?;
            (kc, context.clone(), path.display().to_string())
        }
        KubeconfigSource::Command { argv, context } => {
            let text = run_kubeconfig_command(argv, timeout).await?;
            let kc = Kubeconfig::from_yaml(&text).map_err(|e| ClusterError::Kubeconfig {
                origin: argv.join(" "),
                message: format!("its output is not a kubeconfig: {e}"),
            })?;
            (kc, context.clone(), argv.join(" "))
        }
    };
    let secrets = kubeconfig_secrets(&kubeconfig);
    // Registered before anything is built from the kubeconfig: kube's and hyper's debug logs
    // (at -vv) may print a token from here on, and the log writer masks through the global set.
    for s in &secrets {
        crate::redact::global().add(s);
    }
    let options = KubeConfigOptions {
        context,
        ..Default::default()
    };
    let mut config = Config::from_custom_kubeconfig(kubeconfig, &options)
        .await
        .map_err(|e| ClusterError::Kubeconfig {
            origin: origin.clone(),
            message: e.to_string(),
        })?;
    if let Some(url) = cluster_url {
        config.cluster_url = url.parse().map_err(|e| ClusterError::Kubeconfig {
            origin: origin.clone(),
            message: format!("API server URL {url:?} does not parse: {e}"),
        })?;
    }
    config.default_retry = false;
    config.connect_timeout = Some(Duration::from_secs(10));
    config.read_timeout = Some(Duration::from_secs(60));
    let api_server = config
        .cluster_url
        .to_string()
        .trim_end_matches('/')
        .to_string();
    let client = Client::try_from(config).map_err(|e| ClusterError::Kubeconfig {
        origin,
        message: e.to_string(),
    })?;
    Ok(Connection {
        client,
        api_server,
        secrets,
    })
}

/// Every credential a kubeconfig carries, so none of them is ever printed.
fn kubeconfig_secrets(kc: &Kubeconfig) -> Vec<String> {
    use secrecy::ExposeSecret;
    let mut out = Vec::new();
    for named in &kc.auth_infos {
        if let Some(a) = &named.auth_info {
            if let Some(t) = &a.token {
                out.push(t.expose_secret().to_string());
            }
            if let Some(p) = &a.password {
                out.push(p.expose_secret().to_string());
            }
            if let Some(k) = &a.client_key_data {
                out.push(k.expose_secret().to_string());
            }
        }
    }
    out
}

async fn run_kubeconfig_command(
    argv: &[String],
    timeout: Duration,
) -> Result<String, ClusterError> {
    let Some((program, args)) = argv.split_first() else {
        return Err(ClusterError::Kubeconfig {
            origin: "kubeconfig command".into(),
            message: "the command is empty".into(),
        });
    };
    let mut cmd = tokio::process::Command::new(program);
    cmd.args(args)
        .stdin(std::process::Stdio::null())
        .kill_on_drop(true);
    let output = tokio::time::timeout(timeout, cmd.output())
        .await
        .map_err(|_| ClusterError::Kubeconfig {
            origin: program.clone(),
            message: format!("did not finish within {}s", timeout.as_secs()),
        })?
        .map_err(|e| ClusterError::Kubeconfig {
            origin: program.clone(),
            message: format!("could not run it: {e}"),
        })?;
    if !output.status.success() {
        // stderr may echo the kubeconfig's secrets on some tools; report only its last line.
        let stderr = String::from_utf8_lossy(&output.stderr);
        let last = stderr
            .lines()
            .last()
            .unwrap_or("")
            .chars()
            .take(200)
            .collect::<String>();
        return Err(ClusterError::Kubeconfig {
            origin: program.clone(),
            message: format!("exited with {}: {last}", output.status),
        });
    }
    String::from_utf8(output.stdout).map_err(|_| ClusterError::Kubeconfig {
        origin: program.clone(),
        message: "its output is not UTF-8".into(),
    })
}

/// Selects rustls' process-wide crypto provider. Two are linked (ring via reqwest, aws-lc-rs via
/// the AWS SDK), and rustls refuses to guess; the first call wins, later calls do nothing.
pub fn install_crypto_provider() {
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
}
