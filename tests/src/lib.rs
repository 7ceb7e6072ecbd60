//! Test bed for datero-ecs: real HTTP and a real AWS API emulator, no mocks.
//!
//! - [`emulator`]: moto's server, tightened to answer like AWS (see `emulator/launcher.py`).
//! - [`sink`]: plays CloudFormation's ResponseURL and records every PUT.
//! - [`runtime_api`]: a local Lambda Runtime API that runs the real function binaries.
//! - [`events`]: CloudFormation requests built from the shared fixtures.

pub mod alarm_eval;
pub mod aws_cli;
pub mod cfn_update;
pub mod costs;
pub mod cron;
pub mod emulator;
pub mod events;
pub mod fixtures;
pub mod harness;
pub mod http;
pub mod iam;
pub mod instance_types;
pub mod lambda_async;
pub mod lifecycle;
pub mod postgres;
pub mod raw_aws;
pub mod runtime_api;
pub mod sink;
pub mod template;
pub mod week;

use std::path::PathBuf;

/// The workspace's root folder.
pub fn workspace_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ sits in the workspace root")
        .to_path_buf()
}
