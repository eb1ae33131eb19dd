//! How a step fails: a message that says what was expected, what was found and what to look at,
//! plus the evidence gathered.

use crate::cluster::ClusterError;

/// A failed step.
#[derive(Debug, Clone, PartialEq)]
pub struct StepFailure {
    /// What was expected, what was found and what to look at (redacted by the runner).
    pub message: String,
    /// Object status, recent events, Job logs … (redacted by the runner).
    pub diagnostics: Vec<String>,
    /// Not a failure of the checked system but of the harness reaching it (exit code 3).
    pub infrastructure: bool,
    /// A usage or configuration error found while running (a guard the user must satisfy, a
    /// missing local tool, a kubeconfig file that does not exist): exit code 2.
    pub usage: bool,
}

impl StepFailure {
    /// A failed check of the system (exit code 1), with no diagnostics yet.
    pub fn new(message: impl Into<String>) -> Self {
        StepFailure {
            message: message.into(),
            diagnostics: Vec::new(),
            infrastructure: false,
            usage: false,
        }
    }

    /// A usage or configuration error (exit code 2): the drill cannot run as configured, and
    /// nothing was changed.
    pub fn usage(message: impl Into<String>) -> Self {
        StepFailure {
            usage: true,
            ..StepFailure::new(message)
        }
    }

    /// A failure to reach the cluster or the backup target, as opposed to a failed check.
    pub fn unreachable(message: impl Into<String>) -> Self {
        StepFailure {
            message: message.into(),
            diagnostics: Vec::new(),
            infrastructure: true,
            usage: false,
        }
    }

    /// Appends `diagnostics` (object status, events, logs) to the failure's evidence.
    pub fn with_diagnostics(mut self, diagnostics: Vec<String>) -> Self {
        self.diagnostics.extend(diagnostics);
        self
    }

    /// Appends one line of evidence.
    pub fn diagnostic(mut self, line: impl Into<String>) -> Self {
        self.diagnostics.push(line.into());
        self
    }
}

impl From<ClusterError> for StepFailure {
    fn from(e: ClusterError) -> Self {
        let (infrastructure, usage) = match &e {
            ClusterError::KubeconfigMissing { .. } => (false, true),
            ClusterError::Kubeconfig { .. } => (true, false),
            ClusterError::Api { source, .. } => (unreachable_error(source), false),
            _ => (false, false),
        };
        StepFailure {
            message: e.to_string(),
            diagnostics: Vec::new(),
            infrastructure,
            usage,
        }
    }
}

impl From<kube::Error> for StepFailure {
    fn from(e: kube::Error) -> Self {
        StepFailure {
            infrastructure: unreachable_error(&e),
            ..StepFailure::new(format!("kubernetes API: {e}"))
        }
    }
}

/// Whether a kube error means the API could not be reached (exit 3), as opposed to an API that
/// answered and refused: a 4xx status (401, 403 forbidden, 404 not found) is an answer from a
/// reachable cluster, so the drill failed (exit 1) and the message says what was refused.
/// 5xx (the API server or its backend is down) and transport errors are unreachable.
pub fn unreachable_error(e: &kube::Error) -> bool {
    match e {
        kube::Error::Api(status) => !(400..500).contains(&status.code),
        _ => true,
    }
}

/// Result of one step.
pub type StepResult = Result<(), StepFailure>;
