//! Label and field selectors as list and watch requests send them (`labelSelector`,
//! `fieldSelector` query parameters), parsed once and matched against stored objects.
//!
//! Label selector grammar follows k8s.io/apimachinery `pkg/labels` (`=`, `==`, `!=`, `in`,
//! `notin`, `key`, `!key`). Field selectors support `=`, `==`, `!=` on `metadata.name`,
//! `metadata.namespace` for every type plus a few per-type fields the real API server indexes
//! (pods: `status.phase`, `spec.nodeName`; events: `involvedObject.*`; secrets: `type`;
//! namespaces: `status.phase`); anything else is a 400 like the real server's
//! `field label not supported`.

use serde_json::Value;

use super::error::ApiError;
use super::resources::{ResourceType, EVENTS, NAMESPACES, PODS, SECRETS};
use super::validate::field;

#[derive(Debug, Clone, PartialEq)]
enum Req {
    Eq(String, String),
    NotEq(String, String),
    In(String, Vec<String>),
    NotIn(String, Vec<String>),
    Exists(String),
    NotExists(String),
}

/// A parsed label selector; the empty selector matches everything.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LabelSelector(Vec<Req>);

/// Splits at commas outside parentheses (`a in (x,y),b` → `a in (x,y)`, `b`).
fn split_top_level(s: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut depth = 0i32;
    let mut cur = String::new();
    for c in s.chars() {
        match c {
            '(' => {
                depth += 1;
                cur.push(c);
            }
            ')' => {
                depth -= 1;
                cur.push(c);
            }
            ',' if depth == 0 => out.push(std::mem::take(&mut cur)),
            _ => cur.push(c),
        }
    }
    out.push(cur);
    out.into_iter()
        .map(|p| p.trim().to_string())
        .filter(|p| !p.is_empty())
        .collect()
}

fn parse_set(rest: &str, raw: &str) -> Result<Vec<String>, ApiError> {
    let rest = rest.trim();
    let inner = rest
        .strip_prefix('(')
        .and_then(|r| r.strip_suffix(')'))
        .ok_or_else(|| ApiError::bad_request(format!("unable to parse requirement: {raw}")))?;
    Ok(inner
        .split(',')
        .map(|v| v.trim().to_string())
        .filter(|v| !v.is_empty())
        .collect())
}

impl LabelSelector {
    /// Parses a `labelSelector` string.
    ///
    /// # Errors
    /// 400 BadRequest for a malformed requirement.
    pub fn parse(s: &str) -> Result<Self, ApiError> {
        let mut reqs = Vec::new();
        for part in split_top_level(s) {
            let req = if let Some(k) = part.strip_prefix('!') {
                Req::NotExists(k.trim().to_string())
            } else if let Some((k, v)) = part.split_once("!=") {
                Req::NotEq(k.trim().to_string(), v.trim().to_string())
            } else if let Some((k, v)) = part.split_once("==") {
                Req::Eq(k.trim().to_string(), v.trim().to_string())
            } else if let Some((k, v)) = part.split_once('=') {
                Req::Eq(k.trim().to_string(), v.trim().to_string())
            } else if let Some((k, rest)) = part.split_once(" notin ") {
                Req::NotIn(k.trim().to_string(), parse_set(rest, &part)?)
            } else if let Some((k, rest)) = part.split_once(" in ") {
                Req::In(k.trim().to_string(), parse_set(rest, &part)?)
            } else if part.contains(char::is_whitespace) || part.contains('(') {
                return Err(ApiError::bad_request(format!(
                    "unable to parse requirement: {part}"
                )));
            } else {
                Req::Exists(part.clone())
            };
            let key = match &req {
                Req::Eq(k, _)
                | Req::NotEq(k, _)
                | Req::In(k, _)
                | Req::NotIn(k, _)
                | Req::Exists(k)
                | Req::NotExists(k) => k,
            };
            if key.is_empty() {
                return Err(ApiError::bad_request(format!(
                    "unable to parse requirement: {part}: empty key"
                )));
            }
            reqs.push(req);
        }
        Ok(Self(reqs))
    }

    /// Whether the selector has no requirements (matches everything).
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Whether the object's `metadata.labels` satisfy every requirement.
    pub fn matches(&self, obj: &Value) -> bool {
        let labels = obj.pointer("/metadata/labels").and_then(Value::as_object);
        let get = |k: &str| labels.and_then(|m| m.get(k)).and_then(Value::as_str);
        self.0.iter().all(|r| match r {
            Req::Eq(k, v) => get(k) == Some(v.as_str()),
            Req::NotEq(k, v) => get(k) != Some(v.as_str()),
            Req::In(k, vs) => get(k).is_some_and(|x| vs.iter().any(|v| v == x)),
            Req::NotIn(k, vs) => !get(k).is_some_and(|x| vs.iter().any(|v| v == x)),
            Req::Exists(k) => get(k).is_some(),
            Req::NotExists(k) => get(k).is_none(),
        })
    }
}

/// A parsed field selector: `(field path, wanted value, equal?)` terms, all of which must hold.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FieldSelector(Vec<(String, String, bool)>);

fn supported_field(rt: &ResourceType, f: &str) -> bool {
    if f == "metadata.name" || f == "metadata.namespace" {
        return true;
    }
    if std::ptr::eq(rt, &PODS) {
        return matches!(
            f,
            "status.phase"
                | "spec.nodeName"
                | "spec.restartPolicy"
                | "spec.serviceAccountName"
                | "status.podIP"
        );
    }
    if std::ptr::eq(rt, &EVENTS) {
        return f.starts_with("involvedObject.") || matches!(f, "reason" | "type" | "source");
    }
    if std::ptr::eq(rt, &SECRETS) {
        return f == "type";
    }
    if std::ptr::eq(rt, &NAMESPACES) {
        return f == "status.phase";
    }
    false
}

impl FieldSelector {
    /// Parses a `fieldSelector` string for resource type `rt`.
    ///
    /// # Errors
    /// 400 BadRequest `field label not supported: <field>` for fields the type does not index,
    /// or for a term without an operator.
    pub fn parse(rt: &ResourceType, s: &str) -> Result<Self, ApiError> {
        let mut terms = Vec::new();
        for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (f, v, eq) = if let Some((f, v)) = part.split_once("!=") {
                (f, v, false)
            } else if let Some((f, v)) = part.split_once("==") {
                (f, v, true)
            } else if let Some((f, v)) = part.split_once('=') {
                (f, v, true)
            } else {
                return Err(ApiError::bad_request(format!(
                    "invalid selector: '{s}'; can't understand '{part}'"
                )));
            };
            let f = f.trim();
            if !supported_field(rt, f) {
                return Err(ApiError::bad_request(format!(
                    "field label not supported: {f}"
                )));
            }
            terms.push((f.to_string(), v.trim().to_string(), eq));
        }
        Ok(Self(terms))
    }

    /// Whether the selector has no terms (matches everything).
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Whether every term holds; a missing field compares as `""`.
    pub fn matches(&self, obj: &Value) -> bool {
        self.0.iter().all(|(f, want, eq)| {
            let have = match field(obj, f) {
                Some(Value::String(s)) => s.clone(),
                Some(other) => other.to_string(),
                None => String::new(),
            };
            (have == *want) == *eq
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::resources::CONFIGMAPS;
    use serde_json::json;

    fn obj(labels: Value) -> Value {
        json!({"metadata": {"name": "a", "namespace": "ns", "labels": labels}, "status": {"phase": "Running"}})
    }

    #[test]
    fn label_operators() {
        let o = obj(json!({"app": "web", "tier": "db"}));
        let m = |s: &str| LabelSelector::parse(s).map(|sel| sel.matches(&o)).ok();
        assert_eq!(m("app=web"), Some(true));
        assert_eq!(m("app==web,tier=db"), Some(true));
        assert_eq!(m("app!=web"), Some(false));
        assert_eq!(m("app in (x, web),tier"), Some(true));
        assert_eq!(m("app notin (web)"), Some(false));
        assert_eq!(m("!missing"), Some(true));
        assert_eq!(m("!app"), Some(false));
        assert_eq!(m("missing!=x"), Some(true));
        assert_eq!(m(""), Some(true));
        assert!(LabelSelector::parse("a in x").is_err());
    }

    #[test]
    fn field_selectors_check_support() {
        let o = obj(json!({}));
        let sel = FieldSelector::parse(&PODS, "metadata.name=a,status.phase!=Failed").ok();
        assert_eq!(sel.map(|s| s.matches(&o)), Some(true));
        let e = FieldSelector::parse(&CONFIGMAPS, "status.phase=Running").err();
        assert_eq!(e.map(|e| e.code), Some(400));
    }
}
