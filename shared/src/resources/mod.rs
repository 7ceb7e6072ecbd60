//! The properties of each custom resource, parsed and validated as `docs/reference.md`
//! fixes them. Functions and the template contract test share these parsers.

pub mod cluster;
pub mod mount_targets;
pub mod names;
pub mod task;
pub mod task_definition;
