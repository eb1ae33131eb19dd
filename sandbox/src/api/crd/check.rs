//! Validation of a (pruned, defaulted) custom resource by its structural schema, with the API
//! server's field errors.
//!
//! Sources: k8s.io/kube-openapi `pkg/validation/validate/{type,object_validator,
//! slice_validator,values}.go` and `pkg/validation/errors/schema.go` (messages such as
//! `spec.size in body must be of type string: "integer"`), mapped to field errors by
//! k8s.io/apiextensions-apiserver v0.32.13 `pkg/apiserver/validation/validation.go`
//! (`kubeOpenAPIResultToFieldErrors`: required → `FieldValueRequired`, enum →
//! `FieldValueNotSupported`, type → `FieldValueTypeInvalid`, the rest → `FieldValueInvalid`),
//! rendered like k8s.io/apimachinery `pkg/util/validation/field/errors.go` (`ErrorBody`).
//! Formats checked: only those of apiextensions' `formats.go` supported list that Longhorn
//! uses (`date-time`) plus `date`, `byte`, `uuid`; the others pass.

use serde_json::Value;

use super::schema::Schema;

/// One field error, as a `Status` cause.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldError {
    /// Dotted path, e.g. `spec.size`, `status.conditions[0].type`.
    pub field: String,
    /// Cause reason: `FieldValueTypeInvalid`, `FieldValueRequired`, `FieldValueNotSupported`,
    /// `FieldValueInvalid`.
    pub reason: &'static str,
    /// The cause message (`ErrorBody`), e.g. `Invalid value: "integer": spec.size in body must
    /// be of type string: "integer"`.
    pub message: String,
}

impl std::fmt::Display for FieldError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.field, self.message)
    }
}

/// Renders a bad value as apimachinery's `ErrorBody` does: strings quoted, numbers and bools
/// plain, anything else as Go would print it (approximated by JSON).
fn render(v: &Value) -> String {
    match v {
        Value::String(s) => format!("{s:?}"),
        Value::Null => "\"null\"".to_string(),
        other => other.to_string(),
    }
}

/// JSON type name kube-openapi infers for a value (`schemaInfoForType`), and its format.
fn type_of(v: &Value) -> (&'static str, &'static str) {
    match v {
        Value::Null => ("null", ""),
        Value::Bool(_) => ("boolean", ""),
        Value::Number(n) if n.is_f64() => ("number", "double"),
        Value::Number(_) => ("integer", "int64"),
        Value::String(_) => ("string", ""),
        Value::Array(_) => ("array", ""),
        Value::Object(_) => ("object", ""),
    }
}

fn type_error(path: &str, want: &str, got: &str) -> FieldError {
    FieldError {
        field: path.to_string(),
        reason: "FieldValueTypeInvalid",
        message: format!("Invalid value: {got:?}: {path} in body must be of type {want}: {got:?}"),
    }
}

fn invalid(path: &str, value: &Value, detail: String) -> FieldError {
    FieldError {
        field: path.to_string(),
        reason: "FieldValueInvalid",
        message: format!("Invalid value: {}: {detail}", render(value)),
    }
}

fn is_integral(v: &Value) -> bool {
    match v {
        Value::Number(n) => {
            n.is_i64() || n.is_u64() || n.as_f64().is_some_and(|f| f.fract() == 0.0)
        }
        _ => false,
    }
}

/// Whether `data` matches a string `format` (only the formats named in the module docs).
fn format_ok(format: &str, data: &str) -> bool {
    use base64::Engine;
    match format.replace('-', "").as_str() {
        // strfmt's DateTime accepts RFC 3339 with or without fractional seconds.
        "datetime" => chrono::DateTime::parse_from_rfc3339(data).is_ok(),
        "date" => chrono::NaiveDate::parse_from_str(data, "%Y-%m-%d").is_ok(),
        "byte" => base64::engine::general_purpose::STANDARD
            .decode(data)
            .is_ok(),
        "uuid" => uuid::Uuid::parse_str(data).is_ok(),
        _ => true,
    }
}

/// Validates `value` at `path` (`""` for the resource root) by `s`; errors in document order.
pub fn validate(value: &Value, s: &Schema, path: &str, out: &mut Vec<FieldError>) {
    if s.preserve_unknown && s.type_name.is_none() && s.properties.is_empty() {
        return;
    }
    if value.is_null() {
        if !s.nullable {
            if let Some(t) = &s.type_name {
                out.push(type_error(path, t, "null"));
            }
        }
        return;
    }
    let (got, got_format) = type_of(value);
    if s.int_or_string {
        if !(got == "string" || is_integral(value)) {
            out.push(type_error(path, "integer,string", got));
        }
    } else if let Some(want) = s.type_name.as_deref() {
        let ok = match want {
            "integer" => is_integral(value),
            "number" => got == "integer" || got == "number",
            other => other == got,
        };
        if !ok {
            // kube-openapi names the format instead of the type for a non-string value
            // that carries a declared numeric format (`type.go`).
            let named = match (&s.format, value) {
                (Some(f), v) if !v.is_string() && !v.is_array() && want != "string" => f.as_str(),
                _ => want,
            };
            let got_named = if named == want { got } else { got_format };
            out.push(type_error(
                path,
                named,
                if got_named.is_empty() { got } else { got_named },
            ));
        }
    }
    match value {
        Value::String(text) => check_string(text, value, s, path, out),
        Value::Number(n) => check_number(n.as_f64().unwrap_or(0.0), value, s, path, out),
        Value::Array(items) => {
            if let Some(max) = s.max_items {
                if items.len() as u64 > max {
                    out.push(FieldError {
                        field: path.to_string(),
                        reason: "FieldValueTooMany",
                        message: format!(
                            "Too many: {}: must have at most {max} items",
                            items.len()
                        ),
                    });
                }
            }
            if let Some(min) = s.min_items {
                if (items.len() as u64) < min {
                    out.push(invalid(
                        path,
                        &Value::String(String::new()),
                        format!("{path} in body should have at least {min} items"),
                    ));
                }
            }
            if let Some(item) = s.items.as_deref() {
                for (i, v) in items.iter().enumerate() {
                    validate(v, item, &format!("{path}[{i}]"), out);
                }
            }
        }
        Value::Object(map) => {
            for r in &s.required {
                if !map.contains_key(r) {
                    out.push(FieldError {
                        field: child_path(path, r),
                        reason: "FieldValueRequired",
                        message: "Required value".to_string(),
                    });
                }
            }
            for (k, v) in map {
                if path.is_empty() && matches!(k.as_str(), "apiVersion" | "kind" | "metadata") {
                    continue;
                }
                if let Some(child) = s.field(k) {
                    validate(v, child, &child_path(path, k), out);
                }
            }
        }
        _ => {}
    }
    if let Some(allowed) = &s.enum_values {
        if !allowed.contains(value) {
            let list: Vec<String> = allowed
                .iter()
                .map(|a| match a {
                    Value::String(s) => format!("{s:?}"),
                    other => format!("{:?}", other.to_string()),
                })
                .collect();
            out.push(FieldError {
                field: path.to_string(),
                reason: "FieldValueNotSupported",
                message: format!(
                    "Unsupported value: {}: supported values: {}",
                    render(value),
                    list.join(", ")
                ),
            });
        }
    }
}

fn child_path(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_string()
    } else {
        format!("{path}.{key}")
    }
}

fn check_string(text: &str, value: &Value, s: &Schema, path: &str, out: &mut Vec<FieldError>) {
    let chars = text.chars().count() as u64;
    if let Some(max) = s.max_length {
        if chars > max {
            out.push(FieldError {
                field: path.to_string(),
                reason: "FieldValueTooLong",
                message: format!("Too long: may not be more than {max} bytes"),
            });
        }
    }
    if let Some(min) = s.min_length {
        if chars < min {
            out.push(invalid(
                path,
                value,
                format!("{path} in body should be at least {min} chars long"),
            ));
        }
    }
    let declared_string = s.type_name.as_deref() == Some("string");
    if let Some(f) = s.format.as_deref().filter(|_| declared_string) {
        if !format_ok(f, text) {
            out.push(FieldError {
                field: path.to_string(),
                reason: "FieldValueTypeInvalid",
                message: format!(
                    "Invalid value: {}: {path} in body must be of type {f}: {}",
                    render(value),
                    render(value)
                ),
            });
        }
    }
}

fn check_number(n: f64, value: &Value, s: &Schema, path: &str, out: &mut Vec<FieldError>) {
    if let Some(max) = s.maximum {
        let bad = if s.exclusive_maximum {
            n >= max
        } else {
            n > max
        };
        if bad {
            let word = if s.exclusive_maximum {
                "less than"
            } else {
                "less than or equal to"
            };
            out.push(invalid(
                path,
                value,
                format!("{path} in body should be {word} {max}"),
            ));
        }
    }
    if let Some(min) = s.minimum {
        let bad = if s.exclusive_minimum {
            n <= min
        } else {
            n < min
        };
        if bad {
            let word = if s.exclusive_minimum {
                "greater than"
            } else {
                "greater than or equal to"
            };
            out.push(invalid(
                path,
                value,
                format!("{path} in body should be {word} {min}"),
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn errors(schema: Value, obj: Value) -> Vec<String> {
        let mut out = Vec::new();
        validate(&obj, &Schema::parse(&schema), "", &mut out);
        out.iter()
            .map(|e| format!("{} [{}]", e, e.reason))
            .collect()
    }

    fn spec(props: Value) -> Value {
        json!({"type": "object", "properties": {"spec": {"type": "object", "properties": props}}})
    }

    #[test]
    fn type_errors_use_apiserver_wording() {
        let e = errors(
            spec(json!({"size": {"type": "string"}})),
            json!({"spec": {"size": 5}}),
        );
        assert_eq!(
            e,
            vec![
                r#"spec.size: Invalid value: "integer": spec.size in body must be of type string: "integer" [FieldValueTypeInvalid]"#
            ]
        );
        let e = errors(
            spec(json!({"n": {"type": "integer", "format": "int32"}})),
            json!({"spec": {"n": "3"}}),
        );
        assert_eq!(
            e,
            vec![
                r#"spec.n: Invalid value: "string": spec.n in body must be of type integer: "string" [FieldValueTypeInvalid]"#
            ]
        );
    }

    #[test]
    fn enum_required_format() {
        let e = errors(
            spec(json!({"m": {"type": "string", "enum": ["rwo", "rwx"]}})),
            json!({"spec": {"m": "RWO"}}),
        );
        assert_eq!(
            e,
            vec![
                r#"spec.m: Unsupported value: "RWO": supported values: "rwo", "rwx" [FieldValueNotSupported]"#
            ]
        );
        let e = errors(
            json!({"type": "object", "properties": {"spec": {"type": "object", "required": ["a"], "properties": {"a": {"type": "string"}}}}}),
            json!({"spec": {}}),
        );
        assert_eq!(e, vec!["spec.a: Required value [FieldValueRequired]"]);
        let e = errors(
            spec(json!({"t": {"type": "string", "format": "date-time"}})),
            json!({"spec": {"t": "yesterday"}}),
        );
        assert_eq!(
            e,
            vec![
                r#"spec.t: Invalid value: "yesterday": spec.t in body must be of type date-time: "yesterday" [FieldValueTypeInvalid]"#
            ]
        );
        assert!(errors(
            spec(json!({"t": {"type": "string", "format": "date-time"}})),
            json!({"spec": {"t": "2026-12-01T10:00:00Z"}}),
        )
        .is_empty());
    }

    #[test]
    fn nullable_and_integral_floats() {
        let s = spec(json!({"t": {"type": "string", "nullable": true}, "n": {"type": "integer"}}));
        assert!(errors(s.clone(), json!({"spec": {"t": null, "n": 3.0}})).is_empty());
        assert_eq!(errors(s, json!({"spec": {"n": 1.5}})).len(), 1);
    }
}
