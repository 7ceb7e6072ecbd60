//! Test bed for datero-ecs: real HTTP and a real AWS API emulator, no mocks.
//!
//! The world the functions run in:
//! - [`emulator`]: moto's server, tightened to answer like AWS (see `emulator/launcher.py`),
//!   with IAM from the Service Authorization Reference's data (`emulator/iam.py`, `sar.py`).
//! - [`runtime_api`]: a local Lambda Runtime API that runs the real function binaries;
//!   [`lambda_async`]: Lambda's asynchronous invocation, retries and failure destination.
//! - [`sink`]: plays CloudFormation's ResponseURL and records every PUT; [`harness`] drives one
//!   function through both.
//! - [`events`]: CloudFormation requests built from the shared fixtures; [`seed`]: what
//!   the tests seed the emulator with; [`raw_aws`]: calls the SDKs here do not make.
//! - [`iam`]: each function's role from `template.yaml`; [`aws_cli`]: the AWS CLI as a task role.
//! - [`postgres`]: real PostgreSQL servers of two majors; [`http`]: a small HTTP server.
//!
//! The template and time:
//! - [`template`]: `template.yaml` resolved for a stack; [`cfn_update`]: a stack update as
//!   CloudFormation plans it, from the resource schemas; [`lifecycle`]: the whole stack's life.
//! - [`alarm_eval`], [`cron`], [`week`]: CloudWatch alarms, EventBridge cron and a week of the
//!   stack on a simulated clock; [`instance_types`]: EC2's figures for instance types.
//!
//! The tools that drive it (the benchmark, the cost and permission tables) live in `xtask/`.

// `pub` only on what the crate exports to the tests and xtask: the rest says `pub(crate)`.
#![warn(unreachable_pub)]

pub mod alarm_eval;
pub mod aws_cli;
pub mod cfn_update;
pub mod cron;
pub mod emulator;
pub mod events;
pub mod harness;
pub mod http;
pub mod iam;
pub mod instance_types;
pub mod lambda_async;
pub mod lifecycle;
pub mod postgres;
pub mod raw_aws;
pub mod runtime_api;
pub mod seed;
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
