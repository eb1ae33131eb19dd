//! The sandbox's Kubernetes API server: an in-memory object [`store`] that controllers use
//! in-process, and an HTTP and HTTPS front end ([`server`]) that `kube` clients and a real `kubectl` talk
//! to (discovery, CRUD with selectors and pagination, patches, watches, `pods/log`,
//! `pods/exec` over WebSocket, `scale`), with injectable [`faults`].
//!
//! Layout: `server` routes; `handlers` (resources), `watch` and `exec` (logs, exec) serve;
//! what they share — handler state, replies, request parsing, authentication — is the private
//! `http` module, which imports none of them. The store is split by job (see [`store`]).
//!
//! With Longhorn's real CRDs loaded (`--longhorn-crds`, [`crd`]) Longhorn objects written by
//! clients are pruned and validated by their schemas as kube-apiserver v1.32 does, and printed
//! with the CRDs' columns; without them only the built-in rules of [`validate`] apply.
//!
//! Known limits, chosen on purpose (each module says more):
//! - Loopback only, HTTPS with a CA made at every start (see [`server`] and the private `tls`
//!   module), plain HTTP on the same port for the sandbox's own callers. The generated
//!   kubeconfig's default context is HTTPS with the CA and a bearer token, as a real cluster's;
//!   a second context, `<context>-basic`, reaches the plain-HTTP URL with the token as URL user
//!   info (Basic auth) for older callers, and a `/sandbox-auth/<token>` path prefix is still
//!   accepted; the token must be URL-path and user-info safe.
//! - Bodies are JSON or YAML. kubectl's typed generators (`kubectl create configmap|namespace`,
//!   `kubectl run`) send protobuf and get 415 with a hint; `kubectl apply/patch/label/delete`
//!   and kube-rs work.
//! - Deletion: an object with finalizers is marked (`deletionTimestamp`) and goes when the
//!   last finalizer is removed; anything else goes at once. The Namespace `Terminating` phase
//!   is not emulated; ownerReference garbage collection runs synchronously
//!   (`propagationPolicy=Orphan` keeps dependents).
//! - Server-side apply records the manager's `Apply` entry in `metadata.managedFields`
//!   ([`managed`]) but merges without using ownership (fields dropped from an applied
//!   configuration are not removed, no conflicts); plain writes add no `Update` entries;
//!   strategic merge knows a fixed list of merge keys ([`patch`]).
//! - `pods/log` ignores `follow`; `pods/attach`, port-forward, SPDY and OpenAPI v2 schemas
//!   are not served; RBAC is not enforced, so access reviews ([`reviews`]) always allow.

pub mod crd;
pub mod discovery;
pub mod error;
mod exec;
pub mod faults;
mod handlers;
mod http;
pub mod managed;
pub mod object;
pub mod openapi;
pub mod patch;
pub mod printers;
pub mod proxy;
pub mod resources;
pub mod reviews;
pub mod runtime;
pub mod scale;
pub mod selectors;
pub mod server;
pub mod store;
pub mod table;
mod tls;
pub mod validate;
mod watch;

pub use error::ApiError;
pub use faults::ApiFaults;
pub use resources::ResourceType;
pub use runtime::{ExecRequest, PodRuntime};
pub use server::{ApiServer, ApiServerOptions, RequestRecord};
pub use store::{
    Admission, EventType, Operation, Store, UpdateScope, WatchEvent, WatchStart, WriteOptions,
};
pub use tls::TlsIdentity;
