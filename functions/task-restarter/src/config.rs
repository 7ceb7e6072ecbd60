//! The restarter's environment, read once at start-up.

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
}

impl Config {
    /// Reads `CLUSTER_NAME`, `CAPACITY_PROVIDER_NAME`, `TASK_FAMILY`, and the optional
    /// `RESTART_QUEUE_URL` and `RESTARTS_PAUSED`.
    pub fn from_env() -> Result<Self, String> {
        let required = |name: &str| {
            std::env::var(name)
                .ok()
                .filter(|value| !value.trim().is_empty())
                .ok_or_else(|| format!("environment variable {name} is required"))
        };
        Ok(Self {
            scope: Scope {
                cluster_name: required("CLUSTER_NAME")?,
                family: required("TASK_FAMILY")?,
            },
            capacity_provider_name: required("CAPACITY_PROVIDER_NAME")?,
            queue_url: std::env::var("RESTART_QUEUE_URL")
                .ok()
                .filter(|url| !url.trim().is_empty()),
            paused: std::env::var("RESTARTS_PAUSED")
                .is_ok_and(|value| value.trim().eq_ignore_ascii_case("true")),
        })
    }
}
