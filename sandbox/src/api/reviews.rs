//! Who-am-I and may-I: `SelfSubjectAccessReview` (`kubectl auth can-i`) and
//! `SelfSubjectReview` (`kubectl auth whoami`), create-only virtual resources as in
//! kube-apiserver (kubernetes@v1.32 `pkg/registry/authorization/selfsubjectaccessreview/rest.go`,
//! `pkg/registry/authentication/selfsubjectreview/rest.go`; nothing is stored).
//!
//! RBAC is not enforced in the sandbox (every valid token is cluster-admin, see FIDELITY.md),
//! so every access review is answered `allowed: true` with a reason saying so, and the user is
//! `sandbox-admin` in groups `system:masters` and `system:authenticated`.

use serde_json::{json, Value};

use super::error::ApiError;

/// Group/version of `SelfSubjectAccessReview`.
pub const AUTHORIZATION_GV: (&str, &str) = ("authorization.k8s.io", "v1");
/// Group/version of `SelfSubjectReview`.
pub const AUTHENTICATION_GV: (&str, &str) = ("authentication.k8s.io", "v1");

/// The user every valid token authenticates as.
pub const USER: &str = "sandbox-admin";

/// The discovery entries of `group/version`, `None` for other groups.
pub fn resources(group: &str, version: &str) -> Option<Vec<Value>> {
    let entry = |name: &str, singular: &str, kind: &str| json!({"name": name, "singularName": singular, "namespaced": false, "kind": kind, "verbs": ["create"]});
    match (group, version) {
        g if g == AUTHORIZATION_GV => Some(vec![
            entry(
                "selfsubjectaccessreviews",
                "selfsubjectaccessreview",
                "SelfSubjectAccessReview",
            ),
            entry(
                "selfsubjectrulesreviews",
                "selfsubjectrulesreview",
                "SelfSubjectRulesReview",
            ),
        ]),
        g if g == AUTHENTICATION_GV => Some(vec![entry(
            "selfsubjectreviews",
            "selfsubjectreview",
            "SelfSubjectReview",
        )]),
        _ => None,
    }
}

/// The review as sent, or — for a protobuf body (kubectl's typed clients send protobuf, which
/// the sandbox does not decode) — an empty review of `kind`: the answer does not depend on
/// the request, so only the echoed `spec` is lost.
fn parse(body: &[u8], kind: &str, api_version: &str) -> Result<Value, ApiError> {
    match serde_json::from_slice::<Value>(body) {
        Ok(v) if v.is_object() => Ok(v),
        Ok(_) => Err(ApiError::bad_request(format!(
            "{kind} must be a JSON object"
        ))),
        Err(_) => Ok(json!({"kind": kind, "apiVersion": api_version, "spec": {}})),
    }
}

/// Answers a `POST` to `plural` of `group/version` with the request body; `None` when the path
/// is not a review.
///
/// # Errors
/// 400 for a JSON body that is not an object.
pub fn answer(
    group: &str,
    version: &str,
    plural: &str,
    body: &[u8],
) -> Option<Result<Value, ApiError>> {
    let gv = (group, version);
    let result = match plural {
        "selfsubjectaccessreviews" if gv == AUTHORIZATION_GV => parse(
            body,
            "SelfSubjectAccessReview",
            "authorization.k8s.io/v1",
        )
        .map(|mut v| {
            v["status"] = json!({
                "allowed": true,
                "reason": "the sandbox does not enforce RBAC: every valid token is cluster-admin",
            });
            v
        }),
        "selfsubjectrulesreviews" if gv == AUTHORIZATION_GV => {
            parse(body, "SelfSubjectRulesReview", "authorization.k8s.io/v1").map(|mut v| {
                v["status"] = json!({
                    "resourceRules": [{"verbs": ["*"], "apiGroups": ["*"], "resources": ["*"]}],
                    "nonResourceRules": [{"verbs": ["*"], "nonResourceURLs": ["*"]}],
                    "incomplete": false,
                });
                v
            })
        }
        "selfsubjectreviews" if gv == AUTHENTICATION_GV => {
            parse(body, "SelfSubjectReview", "authentication.k8s.io/v1").map(|mut v| {
                v["status"] = json!({"userInfo": {
                    "username": USER,
                    "groups": ["system:masters", "system:authenticated"],
                }});
                v
            })
        }
        _ => return None,
    };
    Some(result.map(|mut v| {
        if v.get("metadata").is_none() {
            v["metadata"] = json!({});
        }
        v["metadata"]["creationTimestamp"] = Value::Null;
        v
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn access_reviews_are_allowed() {
        let body = br#"{"kind":"SelfSubjectAccessReview","apiVersion":"authorization.k8s.io/v1","spec":{"resourceAttributes":{"verb":"*","resource":"*"}}}"#;
        let v = answer(
            "authorization.k8s.io",
            "v1",
            "selfsubjectaccessreviews",
            body,
        )
        .and_then(Result::ok);
        assert_eq!(v.map(|v| v["status"]["allowed"].clone()), Some(json!(true)));
        assert!(answer("authorization.k8s.io", "v1", "pods", body).is_none());
    }
}
