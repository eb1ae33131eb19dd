//! dr-sandbox: a local stand-in for a Kubernetes cluster with Longhorn and an S3 backup target.

pub mod api;
pub mod dataplane;
pub mod s3;
