//! Common ground of the datero-ecs Lambda functions, by role.
//!
//! The CloudFormation protocol
//! - [`custom_resource`]: typed requests, the answer (always one, within CloudFormation's
//!   limits), the entry point that answers on errors, panics and the deadline.
//! - [`properties`]: reading resource properties, strings and native JSON alike.
//! - [`resources`]: each custom resource's properties parsed and validated, its returned
//!   attributes, and its pure plans (`cluster::plan_teardown`, `task::plan_update`); also
//!   `mount_targets`, served by the cluster function.
//!
//! Decisions over plain data (no AWS call; unit-tested)
//! - [`restart_policy`]: whether and when the restarter restarts Datero (skip, now, later).
//! - [`schedule`]: the office-hours event, whether a firing starts, stops or skips, and the
//!   mark that bars restarts once office hours have closed.
//! - [`down_alarm`]: what the restarter does to the down alarm after office hours begin.
//! - [`elastic_ip`]: whether the keeper moves the address (`screen`, `decide`); its AWS calls,
//!   shared by the runner and the keeper, are apart in `elastic_ip::calls`.
//! - [`mount_targets`]: one EFS mount target per zone: what to make, replace, wait for, delete.
//! - [`edge`]: public mode through CloudFront: the origin's name, the VPC's DNS check, the
//!   sign-in's hash, the proxy's configuration.
//! - [`readiness`]: when a task the runner started counts as up (RUNNING and HEALTHY).
//! - [`postgres_major`]: a new image's PostgreSQL that cannot open the data, read from its
//!   log, and what the user does about it.
//! - [`data_directory`]: the move to a new PostgreSQL major (whether, the folder, the dump's
//!   key, each step's time).
//! - [`container`]: Datero's container definition built from its spec; [`image`]: the names and
//!   paths of Datero's image that everything relies on.
//! - [`marks`]: the product's tags, `startedBy`, stop reasons and failed-create id.
//! - [`metrics`]: the decisions as CloudWatch embedded-metric lines.
//! - [`ecs_event`]: the ECS events the event functions read.
//! - [`backup`]: the dump and restore commands of Datero's database.
//! - [`backup_watch`]: whether a scheduled backup happened, checked after each firing.
//! - [`refusal`]: which ECS refusals are transient while the cluster resource creates.
//! - [`replacement`]: which of the group's instances a stack update must replace.
//!
//! AWS calls and plumbing
//! - [`aws`]: SDK configuration, AWS errors as [`ResourceError`]s.
//! - [`ec2`]: the five EC2 calls over EC2's Query API (signed with aws-sigv4, read with
//!   aws-smithy-xml), instead of the whole `aws-sdk-ec2` crate.
//! - [`ecs_tasks`]: running, listing, describing and stopping Datero's tasks; the cluster's data
//!   folder mark.
//! - [`poll`]: waiting on AWS with a growing pause, never past a deadline.
//! - [`config`]: the event functions' environment variables; [`event_function`]: their
//!   runtime wiring, metrics and typed failures.
//! - [`logging`]: JSON logs with the request id, never a presigned URL's signature.
//! - [`error`]: the error types every function shares.

pub mod aws;
pub mod backup;
pub mod backup_watch;
pub mod config;
pub mod container;
pub mod custom_resource;
pub mod data_directory;
pub mod down_alarm;
pub mod ec2;
pub mod ecs_event;
pub mod ecs_tasks;
pub mod edge;
pub mod elastic_ip;
pub mod error;
pub mod event_function;
pub mod image;
pub mod logging;
pub mod marks;
pub mod metrics;
pub mod mount_targets;
pub mod poll;
pub mod postgres_major;
pub mod properties;
pub mod readiness;
pub mod refusal;
pub mod replacement;
pub mod resources;
pub mod restart_policy;
pub mod schedule;
pub mod tls;

pub use error::{PropertyError, ResourceError};
