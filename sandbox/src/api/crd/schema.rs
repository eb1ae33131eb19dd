//! A CRD's `openAPIV3Schema`, parsed into the structural form the API server validates and
//! prunes by (k8s.io/apiextensions-apiserver `pkg/apiserver/schema`, v0.32: `Structural`).
//!
//! Only the keywords Longhorn's CRDs use (and their close relatives) are modelled; `pattern`,
//! `allOf`/`anyOf`/`oneOf`/`not`, `x-kubernetes-validations` (CEL) and list/map type markers are
//! read but not enforced (Longhorn's CRDs v1.7.1–v1.10.1 use none of them; checked with
//! `grep` over `../shared/longhorn-crds/`).

use std::collections::BTreeMap;

use serde_json::Value;

/// One node of a structural schema.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Schema {
    /// `type`: `string`, `integer`, `number`, `boolean`, `object` or `array`; `None` when the
    /// node has no type (only allowed with `x-kubernetes-preserve-unknown-fields` or
    /// `x-kubernetes-int-or-string`).
    pub type_name: Option<String>,
    /// `format`, e.g. `date-time`, `int64`.
    pub format: Option<String>,
    /// `nullable: true`: `null` is a valid value (otherwise a `null` object property is dropped
    /// on write, as the API server does).
    pub nullable: bool,
    /// `enum` values, if restricted.
    pub enum_values: Option<Vec<Value>>,
    /// `required` property names (object nodes).
    pub required: Vec<String>,
    /// `properties` (object nodes).
    pub properties: BTreeMap<String, Schema>,
    /// `additionalProperties` schema (map nodes).
    pub additional_properties: Option<Box<Schema>>,
    /// `items` schema (array nodes).
    pub items: Option<Box<Schema>>,
    /// `x-kubernetes-preserve-unknown-fields: true`: unknown fields below are kept.
    pub preserve_unknown: bool,
    /// `x-kubernetes-int-or-string: true`: an integer or a string.
    pub int_or_string: bool,
    /// `x-kubernetes-embedded-resource: true`: apiVersion/kind/metadata are kept unpruned.
    pub embedded_resource: bool,
    /// `default`: applied to a missing object property on write.
    pub default: Option<Value>,
    /// `maxLength` / `minLength` (strings, in characters).
    pub max_length: Option<u64>,
    /// See `max_length`.
    pub min_length: Option<u64>,
    /// `maximum` / `minimum` (numbers), with their `exclusive*` flags.
    pub maximum: Option<f64>,
    /// See `maximum`.
    pub minimum: Option<f64>,
    /// `exclusiveMaximum: true`.
    pub exclusive_maximum: bool,
    /// `exclusiveMinimum: true`.
    pub exclusive_minimum: bool,
    /// `maxItems` / `minItems` (arrays).
    pub max_items: Option<u64>,
    /// See `max_items`.
    pub min_items: Option<u64>,
}

impl Schema {
    /// Parses a schema node (a JSON object; anything else is an empty, permissive node).
    pub fn parse(v: &Value) -> Schema {
        let str_of = |k: &str| v.get(k).and_then(Value::as_str).map(str::to_string);
        let bool_of = |k: &str| v.get(k).and_then(Value::as_bool).unwrap_or(false);
        let u64_of = |k: &str| v.get(k).and_then(Value::as_u64);
        let f64_of = |k: &str| v.get(k).and_then(Value::as_f64);
        let properties = v
            .get("properties")
            .and_then(Value::as_object)
            .map(|m| {
                m.iter()
                    .map(|(k, s)| (k.clone(), Schema::parse(s)))
                    .collect()
            })
            .unwrap_or_default();
        let additional_properties = match v.get("additionalProperties") {
            Some(s @ Value::Object(_)) => Some(Box::new(Schema::parse(s))),
            // `additionalProperties: true` admits any value (a node without a type).
            Some(Value::Bool(true)) => Some(Box::new(Schema {
                preserve_unknown: true,
                ..Schema::default()
            })),
            _ => None,
        };
        Schema {
            type_name: str_of("type"),
            format: str_of("format"),
            nullable: bool_of("nullable"),
            enum_values: v.get("enum").and_then(Value::as_array).cloned(),
            required: v
                .get("required")
                .and_then(Value::as_array)
                .map(|a| {
                    a.iter()
                        .filter_map(Value::as_str)
                        .map(str::to_string)
                        .collect()
                })
                .unwrap_or_default(),
            properties,
            additional_properties,
            items: v.get("items").map(|s| Box::new(Schema::parse(s))),
            preserve_unknown: bool_of("x-kubernetes-preserve-unknown-fields"),
            int_or_string: bool_of("x-kubernetes-int-or-string"),
            embedded_resource: bool_of("x-kubernetes-embedded-resource"),
            default: v.get("default").cloned(),
            max_length: u64_of("maxLength"),
            min_length: u64_of("minLength"),
            maximum: f64_of("maximum"),
            minimum: f64_of("minimum"),
            exclusive_maximum: bool_of("exclusiveMaximum"),
            exclusive_minimum: bool_of("exclusiveMinimum"),
            max_items: u64_of("maxItems"),
            min_items: u64_of("minItems"),
        }
    }

    /// The schema of object property `key`: a declared property, else `additionalProperties`.
    pub fn field(&self, key: &str) -> Option<&Schema> {
        self.properties
            .get(key)
            .or(self.additional_properties.as_deref())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn parses_nested_keywords() {
        let s = Schema::parse(&json!({
            "type": "object",
            "required": ["a"],
            "properties": {
                "a": {"type": "string", "enum": ["x", "y"], "nullable": true},
                "m": {"type": "object", "additionalProperties": {"type": "integer"}},
                "l": {"type": "array", "items": {"type": "boolean"}},
                "p": {"x-kubernetes-preserve-unknown-fields": true},
            }
        }));
        assert_eq!(s.required, vec!["a".to_string()]);
        assert!(s.properties["a"].nullable);
        assert_eq!(
            s.properties["a"].enum_values.as_ref().map(Vec::len),
            Some(2)
        );
        assert_eq!(
            s.properties["m"]
                .field("any")
                .and_then(|f| f.type_name.clone()),
            Some("integer".to_string())
        );
        assert_eq!(
            s.properties["l"]
                .items
                .as_ref()
                .and_then(|i| i.type_name.clone()),
            Some("boolean".to_string())
        );
        assert!(s.properties["p"].preserve_unknown);
    }
}
