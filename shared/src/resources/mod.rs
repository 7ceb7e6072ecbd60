//! The properties of each custom resource, parsed and validated (`docs/reference.md` describes
//! them for users). Functions and the template contract test share these parsers.

pub mod cluster;
pub mod edge;
pub mod mount_targets;
pub mod names;
pub mod task;
pub mod task_definition;
