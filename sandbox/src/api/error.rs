//! Kubernetes API errors as the sandbox returns them: an HTTP code plus a `Status` object.
//!
//! Clients decide on `reason` and `code` (kube's `is_already_exists()` checks only
//! `reason == "AlreadyExists"`), so every error carries both; messages copy the real API server's
//! wording (k8s.io/apimachinery `pkg/api/errors`) so that logs read the same as in a cluster.

use serde_json::{json, Value};

use super::resources::ResourceType;

/// One failed API call: HTTP `code`, machine-readable `reason`, human `message`, optional
/// `details` (the Status `details` object: `name`, `group`, `kind`, `causes`).
#[derive(Debug, Clone, thiserror::Error)]
#[error("{message}")]
pub struct ApiError {
    /// HTTP status code, e.g. 404.
    pub code: u16,
    /// Status reason: "NotFound", "AlreadyExists", "Conflict", "Invalid", "BadRequest",
    /// "ServiceUnavailable", "MethodNotAllowed", "Unauthorized", "Forbidden", "Gone", ...
    pub reason: String,
    /// Human-readable message (the real API server's wording where it has one).
    pub message: String,
    /// Status `details`, if any.
    pub details: Option<Value>,
}

impl ApiError {
    /// A free-form error with the given code and reason.
    pub fn new(code: u16, reason: &str, message: impl Into<String>) -> Self {
        Self {
            code,
            reason: reason.to_string(),
            message: message.into(),
            details: None,
        }
    }

    fn details_for(rt: &ResourceType, name: &str) -> Value {
        let mut d = json!({ "name": name, "kind": rt.plural });
        if !rt.group.is_empty() {
            d["group"] = json!(rt.group);
        }
        d
    }

    /// 404 NotFound: `pods "x" not found` (`volumes.longhorn.io "x" not found` for groups).
    pub fn not_found(rt: &ResourceType, name: &str) -> Self {
        Self {
            code: 404,
            reason: "NotFound".into(),
            message: format!("{} \"{}\" not found", rt.qualified_plural(), name),
            details: Some(Self::details_for(rt, name)),
        }
    }

    /// 409 AlreadyExists: `configmaps "x" already exists`.
    pub fn already_exists(rt: &ResourceType, name: &str) -> Self {
        Self {
            code: 409,
            reason: "AlreadyExists".into(),
            message: format!("{} \"{}\" already exists", rt.qualified_plural(), name),
            details: Some(Self::details_for(rt, name)),
        }
    }

    /// 409 Conflict: `Operation cannot be fulfilled on configmaps "x": <msg>`.
    pub fn conflict(rt: &ResourceType, name: &str, msg: &str) -> Self {
        Self {
            code: 409,
            reason: "Conflict".into(),
            message: format!(
                "Operation cannot be fulfilled on {} \"{}\": {}",
                rt.qualified_plural(),
                name,
                msg
            ),
            details: Some(Self::details_for(rt, name)),
        }
    }

    /// 409 Conflict for a stale `metadata.resourceVersion` (optimistic concurrency).
    pub fn stale(rt: &ResourceType, name: &str) -> Self {
        Self::conflict(
            rt,
            name,
            "the object has been modified; please apply your changes to the latest version and try again",
        )
    }

    /// 422 Invalid: `Pod "x" is invalid: spec.containers: Required value`; `details.causes`
    /// holds one cause `{reason: FieldValueInvalid|FieldValueRequired, message, field}`.
    pub fn invalid(rt: &ResourceType, name: &str, field: &str, msg: &str) -> Self {
        let cause_reason = if msg.starts_with("Required value") {
            "FieldValueRequired"
        } else {
            "FieldValueInvalid"
        };
        let mut details = json!({
            "name": name,
            "kind": rt.kind,
            "causes": [{ "reason": cause_reason, "message": msg, "field": field }],
        });
        if !rt.group.is_empty() {
            details["group"] = json!(rt.group);
        }
        Self {
            code: 422,
            reason: "Invalid".into(),
            message: format!("{} \"{}\" is invalid: {}: {}", rt.kind, name, field, msg),
            details: Some(details),
        }
    }

    /// 400 BadRequest with a free-form message.
    pub fn bad_request(msg: impl Into<String>) -> Self {
        Self::new(400, "BadRequest", msg)
    }

    /// 403 Forbidden, e.g. an admission webhook denial.
    pub fn forbidden(msg: impl Into<String>) -> Self {
        Self::new(403, "Forbidden", msg)
    }

    /// 401 Unauthorized (missing or wrong bearer token).
    pub fn unauthorized() -> Self {
        Self::new(401, "Unauthorized", "Unauthorized")
    }

    /// 405 MethodNotAllowed.
    pub fn method_not_allowed(msg: impl Into<String>) -> Self {
        Self::new(405, "MethodNotAllowed", msg)
    }

    /// 503 ServiceUnavailable (injected API fault).
    pub fn unavailable(msg: impl Into<String>) -> Self {
        Self::new(503, "ServiceUnavailable", msg)
    }

    /// 410 Gone / Expired: a watch asked for a resourceVersion older than the history kept.
    pub fn gone(rv: u64) -> Self {
        Self::new(410, "Expired", format!("too old resource version: {rv}"))
    }

    /// 500 InternalError.
    pub fn internal(msg: impl Into<String>) -> Self {
        Self::new(500, "InternalError", msg)
    }

    /// The error as a `meta/v1 Status` object (`kind: Status`, `status: Failure`, `message`,
    /// `reason`, `code`, `details`).
    pub fn to_status(&self) -> Value {
        let mut s = json!({
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
            "reason": self.reason,
            "code": self.code,
        });
        if let Some(d) = &self.details {
            s["details"] = d.clone();
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::resources::{LH_VOLUMES, PODS};

    #[test]
    fn not_found_names_group_qualified_resource() {
        let e = ApiError::not_found(&LH_VOLUMES, "v1");
        assert_eq!(e.message, "volumes.longhorn.io \"v1\" not found");
        let s = e.to_status();
        assert_eq!(s["code"], 404);
        assert_eq!(s["reason"], "NotFound");
        assert_eq!(s["details"]["group"], "longhorn.io");
    }

    #[test]
    fn invalid_carries_field_cause() {
        let e = ApiError::invalid(&PODS, "p", "spec.containers", "Required value");
        let s = e.to_status();
        assert_eq!(s["code"], 422);
        assert_eq!(s["details"]["causes"][0]["field"], "spec.containers");
        assert_eq!(s["details"]["causes"][0]["reason"], "FieldValueRequired");
    }
}
