//! Common ground of the datero-ecs Lambda functions.
//!
//! - [`custom_resource`]: the CloudFormation custom-resource protocol: typed requests, the
//!   property parser, and the entry point that always answers CloudFormation.
//! - [`aws`]: SDK configuration and clients, built once per process.
//! - [`config`]: the event functions' environment variables.
//! - [`logging`]: JSON logs that never carry a presigned URL's signature.
//! - [`metrics`]: the product's CloudWatch metrics, written as embedded-metric-format lines.
//! - [`error`]: the error types every function shares.
//! - [`poll`]: waiting on AWS with a growing pause, never past a deadline.

pub mod aws;
pub mod config;
pub mod custom_resource;
pub mod datero_task;
pub mod ecs_event;
pub mod ecs_tasks;
pub mod elastic_ip;
pub mod error;
pub mod logging;
pub mod metrics;
pub mod poll;
pub mod properties;
pub mod provisioner;
pub mod resources;
pub mod restart_policy;

pub use error::{PropertyError, ResourceError};
