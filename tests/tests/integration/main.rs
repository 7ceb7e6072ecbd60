//! Every integration test of the test bed, one module per part, in one binary: one link instead
//! of one per file, and one executable on disk (CI's disk is small). nextest still runs each
//! test in a process of its own.

mod alarms;
mod backup;
mod backup_template;
mod cluster;
mod edge;
mod edge_proxy;
mod efs_zones;
mod elastic_ip;
mod instance_replacement;
mod lifecycle;
mod memory_fit;
mod mount_targets;
mod new_major;
mod office_hours;
mod postgres_upgrade;
mod protocol;
mod sign_in;
mod stack_update;
mod task_definition;
mod task_restarter;
mod task_runner;
mod template_contract;
mod week;
