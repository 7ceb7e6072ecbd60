//! The properties of each custom resource, parsed and validated as `../shared/CONTRACT.md`
//! fixes them. Functions and the template contract test share these parsers.

pub mod cluster;
pub mod names;
pub mod task;
pub mod task_definition;
