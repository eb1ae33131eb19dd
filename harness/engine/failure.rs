//! How a step fails: a message that says what was expected, what was found and what to look at,
//! plus the evidence gathered.

use crate::cluster::ClusterError;

/// A failed step.
#[derive(Debug, Clone, PartialEq)]
pub struct StepFailure {
    pub message: String,
    /// Object status, recent events, Job logs … (redacted by the runner).
    pub diagnostics: Vec<String>,
    /// Not a failure of the checked system but of the harness reaching it (exit code 3).
    pub infrastructure: bool,
}

impl StepFailure {
    pub fn new(message: impl Into<String>) -> Self {
        StepFailure {
            message: message.into(),
            diagnostics: Vec::new(),
            infrastructure: false,
        }
    }

    /// A failure to reach the cluster or the backup target, as opposed to a failed check.
    pub fn unreachable(message: impl Into<String>) -> Self {
        StepFailure {
            message: message.into(),
            diagnostics: Vec::new(),
            infrastructure: true,
        }
    }

    pub fn with_diagnostics(mut self, diagnostics: Vec<String>) -> Self {
        self.diagnostics.extend(diagnostics);
        self
    }

    pub fn diagnostic(mut self, line: impl Into<String>) -> Self {
        self.diagnostics.push(line.into());
        self
    }
}

impl From<ClusterError> for StepFailure {
    fn from(e: ClusterError) -> Self {
        let infrastructure = matches!(
            e,
            ClusterError::Kubeconfig { .. } | ClusterError::Api { .. }
        );
        StepFailure {
            message: e.to_string(),
            diagnostics: Vec::new(),
            infrastructure,
        }
    }
}

impl From<kube::Error> for StepFailure {
    fn from(e: kube::Error) -> Self {
        StepFailure::unreachable(format!("kubernetes API: {e}"))
    }
}

/// Result of one step.
pub type StepResult = Result<(), StepFailure>;
