//! The restarter's environment, read once at start-up.

use datero_shared::error::MissingVariable;
use datero_shared::restart_policy::Scope;

/// What the restarter looks after.
#[derive(Debug, Clone)]
pub struct Config {
    pub scope: Scope,
    pub capacity_provider_name: String,
    /// Where restarts put off by the backoff wait (SQS, delayed delivery); optional.
    pub queue_url: Option<String>,
    /// Operators' switch: while `true`, stopped tasks are not restarted.
    pub paused: bool,
    /// The down alarm whose actions come back after office hours begin (set with office hours).
    pub down_alarm_name: Option<String>,
    /// The backup task's family, whose runs the backup check looks at (set with backups).
    pub backup_family: Option<String>,
}

impl Config {
    /// Reads `CLUSTER_NAME`, `CAPACITY_PROVIDER_NAME`, `TASK_FAMILY`, and the optional
    /// `RESTART_QUEUE_URL`, `RESTARTS_PAUSED`, `DOWN_ALARM_NAME` and `BACKUP_FAMILY`.
    pub fn from_env() -> Result<Self, MissingVariable> {
        use datero_shared::config::{optional, required};
        Ok(Self {
            scope: Scope {
                cluster_name: required("CLUSTER_NAME")?,
                family: required("TASK_FAMILY")?,
            },
            capacity_provider_name: required("CAPACITY_PROVIDER_NAME")?,
            queue_url: optional("RESTART_QUEUE_URL"),
            paused: optional("RESTARTS_PAUSED")
                .is_some_and(|value| value.trim().eq_ignore_ascii_case("true")),
            down_alarm_name: optional("DOWN_ALARM_NAME"),
            backup_family: optional("BACKUP_FAMILY"),
        })
    }
}
