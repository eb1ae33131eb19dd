//! Longhorn's real CustomResourceDefinitions in the sandbox API server (`--longhorn-crds FILE`).
//!
//! [`CrdSet::load`] reads a Longhorn manifest (a multi-document YAML such as the
//! `longhorn.yaml` a user deploys, or `../shared/longhorn-crds/crds-v<ver>.yaml`) and keeps the
//! `CustomResourceDefinition` documents of group `longhorn.io`. The store then:
//! - serves them as `apiextensions.k8s.io/v1` objects (`kubectl get crd`);
//! - on every client write of a Longhorn kind (create, update, patch, server-side apply, the
//!   status subresource) decodes the object as the API server's CR decoder does ([`prune`]:
//!   unknown fields pruned and reported, non-nullable `null`s dropped, defaults filled) and
//!   validates it by the served version's `openAPIV3Schema` ([`check`]), answering 422
//!   `Invalid` with `details.causes`;
//! - prints Longhorn kinds with the CRD's `additionalPrinterColumns` ([`columns`]).
//!
//! How unknown fields are answered follows the request's `fieldValidation` ([`FieldValidation`],
//! k8s.io/apiserver v0.32.13 `pkg/endpoints/handlers/{create,update,patch,rest}.go`).
//! Without a file the sandbox keeps its built-in rules (`validate.rs`).
//!
//! Order as in the API server: decode (prune) → admission (the simulated Longhorn webhook) →
//! prune what admission added, defaults → schema validation → store. Updates ratchet: a field
//! error already present in the stored object does not fail an update (Kubernetes 1.30+
//! `CRDValidationRatcheting`). Writes of the simulated Longhorn controllers bypass the HTTP
//! layer: they are never refused, only recorded (`Store::schema_violations`, logged once each).
//!
//! Known limits: unknown fields inside `metadata` are not pruned; `pattern`, CEL rules
//! (`x-kubernetes-validations`), `allOf`/`anyOf`/`oneOf`, list-type and map-type markers are
//! not enforced (Longhorn's CRDs v1.7.1–v1.10.1 use none); server-side apply reports unknown
//! fields under `Strict` like a merge patch does; no conversion between `v1beta1` and
//! `v1beta2` (the sandbox serves `v1beta2` only); only the CRDs of group longhorn.io are
//! taken from the manifest, and discovery still lists the sandbox's built-in Longhorn kinds.

pub mod builtin;
pub mod check;
pub mod columns;
pub mod prune;
pub mod schema;

use std::path::Path;

use serde::Deserialize;
use serde_json::{json, Value};

use super::error::ApiError;
use super::resources::ResourceType;
use check::FieldError;
use columns::Column;
use schema::Schema;

/// The API group whose CRDs the sandbox takes from a manifest.
pub const LONGHORN_GROUP: &str = "longhorn.io";

/// Why a manifest could not be used.
#[derive(Debug, thiserror::Error)]
pub enum CrdError {
    /// The file could not be read.
    #[error("cannot read Longhorn CRD manifest {path}: {source}")]
    Read {
        /// The file.
        path: String,
        /// The I/O error.
        source: std::io::Error,
    },
    /// A YAML document did not parse.
    #[error("Longhorn CRD manifest {path}: YAML document {index}: {message}")]
    Yaml {
        /// The file.
        path: String,
        /// 1-based document number.
        index: usize,
        /// The parser's message.
        message: String,
    },
    /// A longhorn.io CRD lacks what the sandbox needs.
    #[error("Longhorn CRD manifest {path}: CRD {name}: {message}")]
    Crd {
        /// The file.
        path: String,
        /// The CRD's `metadata.name`.
        name: String,
        /// What is missing.
        message: String,
    },
    /// No longhorn.io CRD in the file.
    #[error("Longhorn CRD manifest {path} holds no CustomResourceDefinition of group longhorn.io")]
    Empty {
        /// The file.
        path: String,
    },
}

/// How a request wants unknown fields answered (`?fieldValidation=`); the API server's
/// default is `Warn` (k8s.io/apiserver v0.32.13 `handlers/rest.go: fieldValidation`).
/// kubectl sends `Strict` by default (`--validate=strict`, the flag's default since 1.25;
/// `--validate=warn` → `Warn`, `--validate=false|ignore` → `Ignore`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldValidation {
    /// Prune silently.
    Ignore,
    /// Prune and answer with a `Warning: 299 - "unknown field \"spec.foo\""` header each.
    Warn,
    /// Refuse the request.
    Strict,
}

impl FieldValidation {
    /// Parses the query value; absent or empty = `Warn`.
    ///
    /// # Errors
    /// 400 BadRequest for any other value.
    pub fn parse(v: Option<&str>) -> Result<Self, ApiError> {
        match v.unwrap_or("") {
            "" | "Warn" => Ok(Self::Warn),
            "Ignore" => Ok(Self::Ignore),
            "Strict" => Ok(Self::Strict),
            other => Err(ApiError::bad_request(format!(
                "fieldValidation: Unsupported value: {other:?}: supported values: \"Ignore\", \"Warn\", \"Strict\""
            ))),
        }
    }
}

/// One Longhorn CRD, at the version the sandbox serves.
#[derive(Debug, Clone)]
pub struct Crd {
    /// `metadata.name`, e.g. `volumes.longhorn.io`.
    pub name: String,
    /// `spec.group`.
    pub group: String,
    /// `spec.names.kind`.
    pub kind: String,
    /// `spec.names.plural`.
    pub plural: String,
    /// The served version whose schema applies (the one the sandbox serves, `v1beta2`, if the
    /// CRD serves it, else its storage version).
    pub version: String,
    /// That version's `openAPIV3Schema`.
    pub schema: Schema,
    /// That version's `additionalPrinterColumns`.
    pub columns: Vec<Column>,
    /// The CRD as `kubectl get crd -o yaml` shows it.
    pub object: Value,
}

impl Crd {
    /// Decodes a client's object as the API server's CR decoder does: prunes unknown fields
    /// (returned, sorted), drops non-nullable `null`s, fills defaults.
    pub fn decode(&self, obj: &mut Value) -> Vec<String> {
        let pruned = prune::prune_unknown(obj, &self.schema);
        prune::drop_non_nullable_nulls(obj, Some(&self.schema));
        prune::apply_defaults(obj, &self.schema);
        pruned
    }

    /// Field errors of `obj` by the schema (empty = valid).
    pub fn field_errors(&self, obj: &Value) -> Vec<FieldError> {
        let mut out = Vec::new();
        check::validate(obj, &self.schema, "", &mut out);
        out
    }

    /// 422 Invalid for `errs` (non-empty), worded like k8s.io/apimachinery
    /// `pkg/api/errors.NewInvalid`: `Volume.longhorn.io "x" is invalid: <err>` or
    /// `… is invalid: [<err>, <err>]`.
    pub fn invalid(&self, name: &str, errs: &[FieldError]) -> ApiError {
        let all: Vec<String> = errs.iter().map(ToString::to_string).collect();
        let agg = if all.len() == 1 {
            all[0].clone()
        } else {
            format!("[{}]", all.join(", "))
        };
        let causes: Vec<Value> = errs
            .iter()
            .map(|e| json!({"reason": e.reason, "message": e.message, "field": e.field}))
            .collect();
        ApiError {
            code: 422,
            reason: "Invalid".into(),
            message: format!("{}.{} {name:?} is invalid: {agg}", self.kind, self.group),
            details: Some(
                json!({"name": name, "group": self.group, "kind": self.kind, "causes": causes}),
            ),
        }
    }

    /// 400 for unknown fields under `fieldValidation=Strict` on create/update
    /// (`handlers/rest.go: transformDecodeError`).
    pub fn strict_decode_error(&self, unknown: &[String]) -> ApiError {
        ApiError::bad_request(format!(
            "{kind} in version {v:?} cannot be handled as a {kind}: {}",
            strict_list(unknown),
            kind = self.kind,
            v = self.version
        ))
    }

    /// 422 for unknown fields under `fieldValidation=Strict` on a patch
    /// (`handlers/patch.go: jsonPatcher.applyPatchToCurrentObject`): the cause names the field
    /// `patch` and quotes the patched object.
    pub fn strict_patch_error(&self, patched: &Value, unknown: &[String]) -> ApiError {
        let body = format!(
            "Invalid value: {:?}: {}",
            patched.to_string(),
            strict_list(unknown)
        );
        ApiError {
            code: 422,
            reason: "Invalid".into(),
            message: format!(" \"\" is invalid: patch: {body}"),
            details: Some(
                json!({"causes": [{"reason": "FieldValueInvalid", "message": body, "field": "patch"}]}),
            ),
        }
    }
}

/// `strict decoding error: unknown field "a", unknown field "b"` (k8s.io/apimachinery
/// `runtime.NewStrictDecodingError`, apiextensions `schemaCoercingDecoder`).
pub fn strict_list(unknown: &[String]) -> String {
    let parts: Vec<String> = unknown
        .iter()
        .map(|p| format!("unknown field {p:?}"))
        .collect();
    format!("strict decoding error: {}", parts.join(", "))
}

/// The `Warning` header values for pruned fields (`299 - "unknown field \"spec.foo\""`,
/// k8s.io/apiserver `pkg/warning` + `handlers/rest.go: addStrictDecodingWarnings`).
pub fn warning_headers(unknown: &[String]) -> Vec<String> {
    unknown
        .iter()
        .map(|p| {
            let text = format!("unknown field {p:?}");
            format!(
                "299 - \"{}\"",
                text.replace('\\', "\\\\").replace('"', "\\\"")
            )
        })
        .collect()
}

/// What the sandbox says when it runs without Longhorn's CRDs (logged once per start, and
/// printed by `dr-harness sandbox up`).
pub const BUILT_IN_RULES_NOTE: &str = "no --longhorn-crds given: Longhorn objects are checked by the sandbox's built-in rules only (required fields), not by Longhorn's CRD schemas; kubectl get crd lists no Longhorn CRDs";

/// Loads the CRD set for a starting sandbox, logging which rules apply.
///
/// # Errors
/// See [`CrdSet::load`].
pub fn load_for_sandbox(path: Option<&Path>) -> Result<Option<std::sync::Arc<CrdSet>>, CrdError> {
    let Some(path) = path else {
        tracing::info!("{BUILT_IN_RULES_NOTE}");
        return Ok(None);
    };
    let set = CrdSet::load(path)?;
    tracing::info!(
        file = %path.display(),
        crds = set.crds().len(),
        "Longhorn CRDs loaded: Longhorn objects are validated by their schemas"
    );
    Ok(Some(std::sync::Arc::new(set)))
}

/// The Longhorn CRDs of one manifest.
#[derive(Debug, Clone)]
pub struct CrdSet {
    /// Where they came from (for logs).
    pub source: String,
    crds: Vec<Crd>,
}

impl CrdSet {
    /// Reads a manifest file.
    ///
    /// # Errors
    /// [`CrdError`] when the file cannot be read, a document is not YAML, a longhorn.io CRD has
    /// no served version with a schema, or there is no longhorn.io CRD at all.
    pub fn load(path: &Path) -> Result<CrdSet, CrdError> {
        let shown = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|source| CrdError::Read {
            path: shown.clone(),
            source,
        })?;
        Self::from_manifest(&text, &shown)
    }

    /// Parses manifest text; `source` names it in errors.
    ///
    /// # Errors
    /// See [`CrdSet::load`].
    pub fn from_manifest(text: &str, source: &str) -> Result<CrdSet, CrdError> {
        let mut crds = Vec::new();
        for (i, doc) in serde_yaml::Deserializer::from_str(text).enumerate() {
            let v = Value::deserialize(doc).map_err(|e| CrdError::Yaml {
                path: source.to_string(),
                index: i + 1,
                message: e.to_string(),
            })?;
            let is_crd = v.get("kind").and_then(Value::as_str) == Some("CustomResourceDefinition");
            let group = v.pointer("/spec/group").and_then(Value::as_str);
            if is_crd && group == Some(LONGHORN_GROUP) {
                crds.push(parse_crd(v, source)?);
            }
        }
        if crds.is_empty() {
            return Err(CrdError::Empty {
                path: source.to_string(),
            });
        }
        Ok(CrdSet {
            source: source.to_string(),
            crds,
        })
    }

    /// The CRD governing objects of `rt` (same group and plural, serving `rt.version`).
    pub fn for_type(&self, rt: &ResourceType) -> Option<&Crd> {
        self.crds
            .iter()
            .find(|c| c.group == rt.group && c.plural == rt.plural && c.version == rt.version)
    }

    /// Every CRD, in manifest order.
    pub fn crds(&self) -> &[Crd] {
        &self.crds
    }
}

fn parse_crd(mut v: Value, source: &str) -> Result<Crd, CrdError> {
    let name = v
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    let err = |message: &str| CrdError::Crd {
        path: source.to_string(),
        name: name.clone(),
        message: message.to_string(),
    };
    let s = |p: &str| v.pointer(p).and_then(Value::as_str).map(str::to_string);
    let group = s("/spec/group").unwrap_or_default();
    let kind = s("/spec/names/kind").ok_or_else(|| err("no spec.names.kind"))?;
    let plural = s("/spec/names/plural").ok_or_else(|| err("no spec.names.plural"))?;
    let versions = v
        .pointer("/spec/versions")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let served: Vec<&Value> = versions
        .iter()
        .filter(|ver| ver.get("served").and_then(Value::as_bool) == Some(true))
        .collect();
    let pick = served
        .iter()
        .find(|ver| ver.get("name").and_then(Value::as_str) == Some("v1beta2"))
        .or_else(|| {
            served
                .iter()
                .find(|ver| ver.get("storage").and_then(Value::as_bool) == Some(true))
        })
        .ok_or_else(|| err("no served version"))?;
    let version = pick
        .get("name")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    let schema_doc = pick
        .pointer("/schema/openAPIV3Schema")
        .ok_or_else(|| err("served version has no schema.openAPIV3Schema"))?;
    let schema = Schema::parse(schema_doc);
    let columns = pick
        .get("additionalPrinterColumns")
        .and_then(Value::as_array)
        .map(|cols| cols.iter().map(Column::parse).collect())
        .unwrap_or_default();
    let storage: Vec<Value> = versions
        .iter()
        .filter(|ver| ver.get("storage").and_then(Value::as_bool) == Some(true))
        .filter_map(|ver| ver.get("name").cloned())
        .collect();
    let names = v.pointer("/spec/names").cloned().unwrap_or(json!({}));
    let now = super::object::now_rfc3339();
    if let Some(meta) = v.get_mut("metadata").and_then(Value::as_object_mut) {
        meta.insert("uid".into(), json!(uuid::Uuid::new_v4().to_string()));
        meta.insert("creationTimestamp".into(), json!(now));
        meta.insert("resourceVersion".into(), json!("1"));
        meta.insert("generation".into(), json!(1));
    }
    let cond = |t: &str, reason: &str, msg: &str| json!({"type": t, "status": "True", "lastTransitionTime": now, "reason": reason, "message": msg});
    v["status"] = json!({
        "acceptedNames": names,
        "conditions": [
            cond("NamesAccepted", "NoConflicts", "no conflicts found"),
            cond("Established", "InitialNamesAccepted", "the initial names have been accepted"),
        ],
        "storedVersions": storage,
    });
    Ok(Crd {
        name,
        group,
        kind,
        plural,
        version,
        schema,
        columns,
        object: v,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const MANIFEST: &str = r#"
apiVersion: v1
kind: Namespace
metadata: {name: longhorn-system}
---
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: volumes.longhorn.io}
spec:
  group: longhorn.io
  names: {kind: Volume, plural: volumes, listKind: VolumeList, singular: volume}
  scope: Namespaced
  versions:
  - name: v1beta1
    served: false
    storage: false
    schema: {openAPIV3Schema: {type: object, x-kubernetes-preserve-unknown-fields: true}}
  - name: v1beta2
    served: true
    storage: true
    additionalPrinterColumns:
    - {jsonPath: .status.state, name: State, type: string}
    schema:
      openAPIV3Schema:
        type: object
        properties:
          spec: {type: object, properties: {size: {type: string}}}
---
"#;

    #[test]
    fn picks_longhorn_crds_and_served_version() {
        let set = CrdSet::from_manifest(MANIFEST, "m.yaml").expect("parses");
        assert_eq!(set.crds().len(), 1);
        let crd = set
            .for_type(&crate::api::resources::LH_VOLUMES)
            .expect("volumes");
        assert_eq!(crd.version, "v1beta2");
        assert_eq!(crd.columns[0].name, "State");
        assert_eq!(crd.object["status"]["storedVersions"], json!(["v1beta2"]));
        let mut o = json!({"metadata": {"name": "v"}, "spec": {"size": 5, "foo": 1}});
        assert_eq!(crd.decode(&mut o), vec!["spec.foo"]);
        let e = crd.invalid("v", &crd.field_errors(&o));
        assert_eq!(e.message, "Volume.longhorn.io \"v\" is invalid: spec.size: Invalid value: \"integer\": spec.size in body must be of type string: \"integer\"");
    }

    #[test]
    fn manifest_without_longhorn_crds_is_an_error() {
        let e = CrdSet::from_manifest("kind: ConfigMap\n", "x.yaml").err();
        assert!(matches!(e, Some(CrdError::Empty { .. })));
        let e = CrdSet::from_manifest("a: [\n", "x.yaml")
            .err()
            .map(|e| e.to_string());
        assert!(e.is_some_and(|m| m.contains("YAML document 1")));
    }

    #[test]
    fn warnings_are_quoted() {
        assert_eq!(
            warning_headers(&["spec.foo".to_string()]),
            vec![r#"299 - "unknown field \"spec.foo\"""#.to_string()]
        );
    }
}
