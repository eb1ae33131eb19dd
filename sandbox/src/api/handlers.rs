//! Resource requests: parses `/api/v1/...` and `/apis/{g}/{v}/...` paths into a target, then
//! serves get, list (selectors, pagination, Table), create, update, patch, delete and
//! deletecollection against the [`Store`], handing watches, logs and exec to their modules.

use std::sync::Arc;

use axum::extract::{FromRequestParts, Request};
use axum::http::{header, Method};
use axum::response::Response;
use serde_json::{json, Value};

use super::crd::{self, FieldValidation};
use super::error::ApiError;
use super::http::{
    error_response, header_str, json_response, not_found_path, parse_object, parse_target,
    read_body, reject_protobuf, Ctx, Params, Target,
};
use super::object::now_rfc3339;
use super::patch::{self, PatchKind};
use super::resources::{self, ResourceType};
use super::selectors::{FieldSelector, LabelSelector};
use super::store::{name_of, namespace_of, Store, UpdateScope, WriteOptions};
use super::{exec, managed, scale, table, watch};

/// Serves one resource request (everything below `/api/v1` and `/apis/{g}/{v}`).
pub(crate) async fn resource(ctx: Arc<Ctx>, req: Request) -> Response {
    match resource_inner(ctx, req).await {
        Ok(r) => r,
        Err(e) => error_response(&e),
    }
}

async fn resource_inner(ctx: Arc<Ctx>, req: Request) -> Result<Response, ApiError> {
    let path = req.uri().path().to_string();
    let segs: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    let t = parse_target(&segs)?;
    let params = Params::parse(req.uri())?;
    let method = req.method().clone();
    let accept = header_str(req.headers(), header::ACCEPT).to_string();
    let content_type = match header_str(req.headers(), header::CONTENT_TYPE) {
        "" => "application/json".to_string(),
        ct => ct.to_string(),
    };
    let store = ctx.store.clone();
    let ns = t.ns.as_deref();

    if let (Some(name), Some(sub)) = (t.name.as_deref(), t.sub.as_deref()) {
        let is_pods = std::ptr::eq(t.rt, &resources::PODS);
        match (sub, method.clone()) {
            ("log", Method::GET) if is_pods => {
                return exec::logs(&ctx, ns.unwrap_or(""), name, &params);
            }
            ("exec", Method::GET) if is_pods => {
                let (mut parts, _body) = req.into_parts();
                let ws = axum::extract::ws::WebSocketUpgrade::from_request_parts(&mut parts, &())
                    .await
                    .map_err(|e| {
                        ApiError::bad_request(format!("unable to upgrade connection: {e}"))
                    })?;
                return exec::exec(ctx.clone(), ns.unwrap_or(""), name, &params, ws);
            }
            ("exec" | "attach", _) if is_pods => {
                // SPDY (POST + Upgrade: SPDY/3.1) is not offered; kubectl 1.31+ uses WebSocket.
                return Err(ApiError::bad_request(
                    "unable to upgrade connection: only WebSocket (v5.channel.k8s.io, v4.channel.k8s.io) exec is supported",
                ));
            }
            ("scale", _) if resources::has_scale(t.rt) => {
                return serve_scale(
                    &store,
                    t.rt,
                    ns.unwrap_or(""),
                    name,
                    method,
                    &params,
                    &content_type,
                    req,
                )
                .await;
            }
            ("status", _) if t.rt.has_status => {}
            _ => return Err(not_found_path()),
        }
    }

    let scope = if t.sub.is_some() {
        UpdateScope::Status
    } else {
        UpdateScope::Main
    };
    match (method, t.name.as_deref()) {
        (Method::GET, None) if params.flag("watch") => {
            let encoding = if table::wants_table(&accept) {
                watch::Encoding::Table
            } else if table::wants_metadata(&accept) {
                watch::Encoding::Metadata
            } else {
                watch::Encoding::Full
            };
            watch::serve(ctx.clone(), &t, &params, encoding)
        }
        (Method::GET, None) => list(&store, &t, &params, &accept),
        (Method::GET, Some(name)) => {
            let obj = store
                .get(t.rt, ns, name)
                .ok_or_else(|| ApiError::not_found(t.rt, name))?;
            if table::wants_table(&accept) {
                let rv = obj
                    .pointer("/metadata/resourceVersion")
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_string();
                return Ok(json_response(
                    200,
                    &table::to_table(t.rt, store.crds().as_deref(), &[obj], &rv),
                ));
            }
            if table::wants_metadata(&accept) {
                return Ok(json_response(200, &table::to_partial(&obj)));
            }
            Ok(json_response(200, &obj))
        }
        (Method::POST, None) => {
            reject_protobuf(&content_type)?;
            if t.rt.namespaced && ns.is_none() {
                return Err(ApiError::method_not_allowed(format!(
                    "create {} requires a namespace in the URL",
                    t.rt.plural
                )));
            }
            let body = read_body(req.into_body()).await?;
            let mut obj = parse_object(&body)?;
            let warnings = decode_body(&store, t.rt, &mut obj, &params)?;
            let created =
                store.create_with(t.rt, ns, obj, WriteOptions::client(params.dry_run()))?;
            Ok(with_warnings(json_response(201, &created), &warnings))
        }
        (Method::PUT, Some(name)) => {
            reject_protobuf(&content_type)?;
            let body = read_body(req.into_body()).await?;
            let mut obj = parse_object(&body)?;
            let warnings = decode_body(&store, t.rt, &mut obj, &params)?;
            let out = store.update_with(
                t.rt,
                ns,
                name,
                scope,
                WriteOptions::client(params.dry_run()),
                |_| Ok(obj.clone()),
            )?;
            Ok(with_warnings(json_response(200, &out), &warnings))
        }
        (Method::PATCH, Some(name)) => {
            let body = read_body(req.into_body()).await?;
            patch_object(&store, &t, name, scope, &params, &content_type, &body)
        }
        (Method::DELETE, Some(name)) => {
            let body = read_body(req.into_body()).await?;
            let orphan = orphan_requested(&params, &body);
            let out = store.delete_with(t.rt, ns, name, params.dry_run(), orphan)?;
            Ok(json_response(200, &out))
        }
        (Method::DELETE, None) => {
            let body = read_body(req.into_body()).await?;
            let orphan = orphan_requested(&params, &body);
            let (items, rv) = select(&store, &t, &params)?;
            let mut deleted = Vec::new();
            for o in items {
                let ons = namespace_of(&o).to_string();
                match store.delete_with(t.rt, Some(&ons), name_of(&o), params.dry_run(), orphan) {
                    Ok(d) => deleted.push(d),
                    Err(e) if e.code == 404 => {}
                    Err(e) => return Err(e),
                }
            }
            Ok(json_response(200, &list_json(t.rt, deleted, rv, None)))
        }
        (m, _) => Err(ApiError::method_not_allowed(format!(
            "the server does not allow this method on the requested resource: {m}"
        ))),
    }
}

/// `GET`/`PUT`/`PATCH` of `{deployments,statefulsets}/{name}/scale` (see [`scale`]).
#[allow(clippy::too_many_arguments)] // one request's parts, passed once
async fn serve_scale(
    store: &Store,
    rt: &'static ResourceType,
    ns: &str,
    name: &str,
    method: Method,
    params: &Params,
    content_type: &str,
    req: Request,
) -> Result<Response, ApiError> {
    let body = read_body(req.into_body()).await?;
    let out = match method {
        Method::GET => {
            let d = store
                .get(rt, Some(ns), name)
                .ok_or_else(|| ApiError::not_found(rt, name))?;
            scale::scale_of(&d)
        }
        Method::PUT => {
            reject_protobuf(content_type)?;
            let obj = parse_object(&body)?;
            scale::write(
                store,
                rt,
                ns,
                name,
                scale::ScaleWrite::Replace(&obj),
                params.dry_run(),
            )?
        }
        Method::PATCH => {
            let kind = PatchKind::from_content_type(content_type)?;
            let doc = patch::parse_body(kind, &body)?;
            scale::write(
                store,
                rt,
                ns,
                name,
                scale::ScaleWrite::Patch(kind, &doc),
                params.dry_run(),
            )?
        }
        m => {
            return Err(ApiError::method_not_allowed(format!(
                "the server does not allow this method on the requested resource: {m}"
            )))
        }
    };
    Ok(json_response(200, &out))
}

/// `propagationPolicy=Orphan` in the query or in a DeleteOptions body (or the legacy
/// `orphanDependents: true`).
fn orphan_requested(params: &Params, body: &[u8]) -> bool {
    if params.get("propagationPolicy") == Some("Orphan") || params.flag("orphanDependents") {
        return true;
    }
    serde_json::from_slice::<Value>(body).is_ok_and(|b| {
        b.get("propagationPolicy").and_then(Value::as_str) == Some("Orphan")
            || b.get("orphanDependents").and_then(Value::as_bool) == Some(true)
    })
}

fn patch_object(
    store: &Arc<Store>,
    t: &Target,
    name: &str,
    scope: UpdateScope,
    params: &Params,
    content_type: &str,
    body: &[u8],
) -> Result<Response, ApiError> {
    let kind = PatchKind::from_content_type(content_type)?;
    let patch_doc = patch::parse_body(kind, body)?;
    let directive = FieldValidation::parse(params.get("fieldValidation"))?;
    let crds = store.crds();
    let crd = crds.as_deref().and_then(|set| set.for_type(t.rt));
    let ns = t.ns.as_deref();
    let manager = params.get("fieldManager").unwrap_or("");
    let opts = WriteOptions::client(params.dry_run());
    if kind == PatchKind::Apply {
        if params.get("fieldManager").unwrap_or("").is_empty() {
            return Err(ApiError::bad_request(
                "PATCH requests with apply content type must have fieldManager specified",
            ));
        }
        let body_name = name_of(&patch_doc);
        if !body_name.is_empty() && body_name != name {
            return Err(ApiError::bad_request(format!(
                "the name of the object ({body_name}) does not match the name on the URL ({name})"
            )));
        }
        if store.get(t.rt, ns, name).is_none() && scope == UpdateScope::Main {
            let mut obj = patch_doc.clone();
            obj["metadata"]["name"] = json!(name);
            let warnings = decode_body(store, t.rt, &mut obj, params)?;
            managed::record_apply(&mut obj, manager, &patch_doc, &now_rfc3339());
            match store.create_with(t.rt, ns, obj, opts) {
                Ok(created) => return Ok(with_warnings(json_response(201, &created), &warnings)),
                // Lost a race with another creator: fall through to the update path.
                Err(e) if e.reason == "AlreadyExists" => {}
                Err(e) => return Err(e),
            }
        }
    }
    let mut warnings = Vec::new();
    let out = store.update_with(t.rt, ns, name, scope, opts, |cur| {
        let mut patched = patch::apply_patch(kind, cur, &patch_doc)?;
        if kind == PatchKind::Apply {
            managed::record_apply(&mut patched, manager, &patch_doc, &now_rfc3339());
        }
        warnings.clear();
        if let Some(crd) = crd {
            // Only what the patch brought in is the client's unknown field.
            let before = crd.decode(&mut cur.clone());
            let unknown: Vec<String> = crd
                .decode(&mut patched)
                .into_iter()
                .filter(|p| !before.contains(p))
                .collect();
            match directive {
                FieldValidation::Strict if !unknown.is_empty() => {
                    return Err(crd.strict_patch_error(&patched, &unknown));
                }
                FieldValidation::Warn => warnings = unknown,
                _ => {}
            }
        }
        Ok(patched)
    })?;
    Ok(with_warnings(json_response(200, &out), &warnings))
}

/// The CR decoder step of a create/update body (see [`crd`]): prunes unknown fields of a
/// Longhorn kind when CRDs are loaded; returns the pruned paths to warn about.
///
/// # Errors
/// 400 under `fieldValidation=Strict` when anything was pruned; 400 for a bad
/// `fieldValidation` value.
fn decode_body(
    store: &Store,
    rt: &ResourceType,
    obj: &mut Value,
    params: &Params,
) -> Result<Vec<String>, ApiError> {
    let directive = FieldValidation::parse(params.get("fieldValidation"))?;
    let Some(set) = store.crds() else {
        return Ok(Vec::new());
    };
    let Some(crd) = set.for_type(rt) else {
        return Ok(Vec::new());
    };
    let unknown = crd.decode(obj);
    match directive {
        FieldValidation::Strict if !unknown.is_empty() => Err(crd.strict_decode_error(&unknown)),
        FieldValidation::Warn => Ok(unknown),
        _ => Ok(Vec::new()),
    }
}

/// Adds one `Warning` header per pruned field.
fn with_warnings(mut resp: Response, unknown: &[String]) -> Response {
    for w in crd::warning_headers(unknown) {
        if let Ok(v) = axum::http::HeaderValue::from_str(&w) {
            resp.headers_mut().append(header::WARNING, v);
        }
    }
    resp
}

/// The objects a list/deletecollection request selects, with the list resourceVersion.
fn select(store: &Store, t: &Target, params: &Params) -> Result<(Vec<Value>, u64), ApiError> {
    let labels = LabelSelector::parse(params.get("labelSelector").unwrap_or(""))?;
    let fields = FieldSelector::parse(t.rt, params.get("fieldSelector").unwrap_or(""))?;
    let (items, rv) = store.list_at(t.rt, t.ns.as_deref());
    let items = items
        .into_iter()
        .filter(|o| labels.matches(o) && fields.matches(o))
        .collect();
    Ok((items, rv))
}

fn list_json(
    rt: &ResourceType,
    items: Vec<Value>,
    rv: u64,
    cont: Option<(String, usize)>,
) -> Value {
    let mut meta = json!({"resourceVersion": rv.to_string()});
    if let Some((token, remaining)) = cont {
        meta["continue"] = json!(token);
        meta["remainingItemCount"] = json!(remaining);
    }
    json!({
        "kind": rt.list_kind,
        "apiVersion": rt.api_version(),
        "metadata": meta,
        "items": items,
    })
}

fn object_key(o: &Value) -> String {
    format!("{}/{}", namespace_of(o), name_of(o))
}

/// `continue` tokens are hex of `"<list rv>\n<ns>/<name of the last item sent>"`; later pages
/// list the current state after that key and report the first page's resourceVersion.
fn encode_continue(rv: u64, key: &str) -> String {
    hex::encode(format!("{rv}\n{key}"))
}

fn decode_continue(token: &str) -> Result<(u64, String), ApiError> {
    let bad = || ApiError::new(410, "Expired", "the provided continue parameter is invalid");
    let raw = hex::decode(token).map_err(|_| bad())?;
    let s = String::from_utf8(raw).map_err(|_| bad())?;
    let (rv, key) = s.split_once('\n').ok_or_else(bad)?;
    Ok((rv.parse().map_err(|_| bad())?, key.to_string()))
}

fn list(store: &Store, t: &Target, params: &Params, accept: &str) -> Result<Response, ApiError> {
    let (mut items, mut rv) = select(store, t, params)?;
    if let Some(token) = params.get("continue").filter(|c| !c.is_empty()) {
        let (first_rv, after) = decode_continue(token)?;
        rv = first_rv;
        items.retain(|o| object_key(o) > after);
    }
    let limit: usize = params
        .get("limit")
        .and_then(|l| l.parse().ok())
        .unwrap_or(0);
    let mut cont = None;
    if limit > 0 && items.len() > limit {
        let remaining = items.len() - limit;
        items.truncate(limit);
        let last = items.last().map(object_key).unwrap_or_default();
        cont = Some((encode_continue(rv, &last), remaining));
    }
    if table::wants_table(accept) {
        let mut tbl = table::to_table(t.rt, store.crds().as_deref(), &items, &rv.to_string());
        if let Some((token, _)) = &cont {
            tbl["metadata"]["continue"] = json!(token);
        }
        return Ok(json_response(200, &tbl));
    }
    if table::wants_metadata(accept) {
        let items = items.iter().map(table::to_partial).collect();
        let mut l = list_json(t.rt, items, rv, cont);
        l["kind"] = json!("PartialObjectMetadataList");
        l["apiVersion"] = json!("meta.k8s.io/v1");
        return Ok(json_response(200, &l));
    }
    Ok(json_response(200, &list_json(t.rt, items, rv, cont)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn continue_token_round_trips() {
        let tok = encode_continue(42, "ns/a");
        assert_eq!(decode_continue(&tok).ok(), Some((42, "ns/a".to_string())));
        assert_eq!(decode_continue("zz").err().map(|e| e.code), Some(410));
    }
}
