//! What the product measures, as CloudWatch embedded metric format (EMF) log lines.
//!
//! Lambda sends a function's standard output to its log group, and CloudWatch Logs extracts
//! metrics from every line that follows the EMF specification: no `PutMetricData` call, no
//! permission beyond writing logs, no latency
//! (<https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/CloudWatch_Embedded_Metric_Format_Lambda.html>).
//! With the function's log format set to JSON, Lambda leaves a line that is already JSON as it
//! is (<https://docs.aws.amazon.com/lambda/latest/dg/monitoring-cloudwatchlogs-logformat.html>).
//! A line without a `level` counts as INFO for Lambda's log-level filtering
//! (<https://docs.aws.amazon.com/lambda/latest/dg/monitoring-cloudwatchlogs-log-level.html>):
//! the template keeps the functions' application log level at INFO so that these lines, and the
//! alarms built on them, are never filtered out.
//! The line layout is the specification's
//! (<https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/CloudWatch_Embedded_Metric_Format_Specification.html>):
//! `_aws.Timestamp`, `_aws.CloudWatchMetrics[]` naming the namespace, the dimension sets and the
//! metrics, whose values and dimension values sit at the top level of the same object.
//!
//! Every metric is dimensioned by the cluster (`ClusterName`, as `AWS/ECS` names it), which is
//! unique to one stack; skips also by `Reason`. The alarms in `template.yaml` use these names
//! (the template contract test checks them against [`PUBLISHED`]).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::{Map, Value, json};

/// The product's CloudWatch namespace.
pub const NAMESPACE: &str = "DateroEcs";
/// The dimension every metric carries: the stack's cluster.
pub const CLUSTER_DIMENSION: &str = "ClusterName";
/// The extra dimension of skip counts: why nothing was done.
pub const REASON_DIMENSION: &str = "Reason";

/// Restarts made (at once or after a delay).
pub const RESTARTS: &str = "Restarts";
/// Restarts put off by the crash-loop backoff.
pub const DELAYED_RESTARTS: &str = "DelayedRestarts";
/// The delay of a put-off restart, in seconds; its maximum reaches the backoff cap in a crash
/// loop that does not heal.
pub const RESTART_DELAY: &str = "RestartDelay";
/// Stopped tasks that led to no restart, by reason.
pub const SKIPPED_RESTARTS: &str = "SkippedRestarts";
/// Events the restarter could not act on (Lambda retries them, then keeps them in the failure
/// destination).
pub const RESTART_FAILURES: &str = "RestartFailures";
/// Starts made by the office-hours schedule.
pub const SCHEDULED_STARTS: &str = "ScheduledStarts";
/// Stops made by the office-hours schedule (one per task stopped).
pub const SCHEDULED_STOPS: &str = "ScheduledStops";
/// Schedule firings that changed nothing, by reason.
pub const SKIPPED_SCHEDULES: &str = "SkippedSchedules";
/// Elastic IP associations made.
pub const ADDRESS_MOVES: &str = "AddressMoves";
/// Instance events that left the address where it was, by reason.
pub const SKIPPED_ADDRESS_MOVES: &str = "SkippedAddressMoves";
/// Instance events the keeper could not act on.
pub const ADDRESS_MOVE_FAILURES: &str = "AddressMoveFailures";

/// Backups stored in the bucket. Written by the backup task itself (`PutMetricData`, see
/// `backup::UPLOAD_SCRIPT`), not by a function.
pub const BACKUPS: &str = "Backups";
/// The size of the last stored backup, in bytes (written with [`BACKUPS`]).
pub const BACKUP_SIZE: &str = "BackupSize";
/// Backups that did not reach the bucket: the dump or the upload failed.
pub const BACKUP_FAILURES: &str = "BackupFailures";

/// Every metric the product publishes, with its dimension set.
pub const PUBLISHED: &[(&str, &[&str])] = &[
    (RESTARTS, &[CLUSTER_DIMENSION]),
    (DELAYED_RESTARTS, &[CLUSTER_DIMENSION]),
    (RESTART_DELAY, &[CLUSTER_DIMENSION]),
    (SKIPPED_RESTARTS, &[CLUSTER_DIMENSION, REASON_DIMENSION]),
    (RESTART_FAILURES, &[CLUSTER_DIMENSION]),
    (SCHEDULED_STARTS, &[CLUSTER_DIMENSION]),
    (SCHEDULED_STOPS, &[CLUSTER_DIMENSION]),
    (SKIPPED_SCHEDULES, &[CLUSTER_DIMENSION, REASON_DIMENSION]),
    (ADDRESS_MOVES, &[CLUSTER_DIMENSION]),
    (
        SKIPPED_ADDRESS_MOVES,
        &[CLUSTER_DIMENSION, REASON_DIMENSION],
    ),
    (ADDRESS_MOVE_FAILURES, &[CLUSTER_DIMENSION]),
    (BACKUPS, &[CLUSTER_DIMENSION]),
    (BACKUP_SIZE, &[CLUSTER_DIMENSION]),
    (BACKUP_FAILURES, &[CLUSTER_DIMENSION]),
];

/// One decision worth counting.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Measurement {
    Restart,
    DelayedRestart {
        delay: Duration,
    },
    /// `reason` is a short stable key (see `restart_policy::Skip::key`).
    SkippedRestart {
        reason: &'static str,
    },
    RestartFailure,
    ScheduledStart,
    ScheduledStop {
        tasks: usize,
    },
    SkippedSchedule {
        reason: &'static str,
    },
    AddressMove,
    SkippedAddressMove {
        reason: &'static str,
    },
    AddressMoveFailure,
    /// A scheduled backup that nothing reported (`backup_watch::Verdict::Missed`): counted as
    /// a backup failure, as the backup task counts its own.
    BackupMissed,
}

/// A CloudWatch unit, as EMF spells it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Unit {
    Count,
    Seconds,
}

impl Unit {
    fn as_str(self) -> &'static str {
        match self {
            Unit::Count => "Count",
            Unit::Seconds => "Seconds",
        }
    }
}

impl Measurement {
    /// The metrics this decision adds, with their units and values.
    fn values(&self) -> Vec<(&'static str, Unit, f64)> {
        let one = |name| vec![(name, Unit::Count, 1.0)];
        match self {
            Self::Restart => one(RESTARTS),
            Self::DelayedRestart { delay } => vec![
                (DELAYED_RESTARTS, Unit::Count, 1.0),
                (RESTART_DELAY, Unit::Seconds, delay.as_secs_f64()),
            ],
            Self::SkippedRestart { .. } => one(SKIPPED_RESTARTS),
            Self::RestartFailure => one(RESTART_FAILURES),
            Self::ScheduledStart => one(SCHEDULED_STARTS),
            Self::ScheduledStop { tasks } => {
                vec![(
                    SCHEDULED_STOPS,
                    Unit::Count,
                    f64::from(u32::try_from(*tasks).unwrap_or(u32::MAX)),
                )]
            }
            Self::SkippedSchedule { .. } => one(SKIPPED_SCHEDULES),
            Self::AddressMove => one(ADDRESS_MOVES),
            Self::SkippedAddressMove { .. } => one(SKIPPED_ADDRESS_MOVES),
            Self::AddressMoveFailure => one(ADDRESS_MOVE_FAILURES),
            Self::BackupMissed => one(BACKUP_FAILURES),
        }
    }

    fn reason(&self) -> Option<&'static str> {
        match self {
            Self::SkippedRestart { reason }
            | Self::SkippedAddressMove { reason }
            | Self::SkippedSchedule { reason } => Some(reason),
            _ => None,
        }
    }

    /// The EMF object for this decision on `cluster`, at `timestamp_ms` (milliseconds since the
    /// epoch). `request_id` rides along as a plain property, for Logs Insights.
    pub fn emf(&self, cluster: &str, request_id: &str, timestamp_ms: u64) -> Value {
        let mut dimensions = vec![CLUSTER_DIMENSION];
        let mut line = Map::new();
        line.insert(CLUSTER_DIMENSION.into(), json!(cluster));
        if let Some(reason) = self.reason() {
            dimensions.push(REASON_DIMENSION);
            line.insert(REASON_DIMENSION.into(), json!(reason));
        }
        let values = self.values();
        let metrics: Vec<Value> = values
            .iter()
            .map(|(name, unit, _)| json!({"Name": name, "Unit": unit.as_str()}))
            .collect();
        for (name, _, value) in &values {
            line.insert((*name).into(), json!(value));
        }
        line.insert("requestId".into(), json!(request_id));
        line.insert(
            "_aws".into(),
            json!({
                "Timestamp": timestamp_ms,
                "CloudWatchMetrics": [{
                    "Namespace": NAMESPACE,
                    "Dimensions": [dimensions],
                    "Metrics": metrics,
                }],
            }),
        );
        Value::Object(line)
    }
}

/// Writes EMF lines for one invocation: the cluster and the request id are fixed.
#[derive(Debug, Clone)]
pub struct Recorder {
    cluster: String,
    request_id: String,
}

impl Recorder {
    pub fn new(cluster: &str, request_id: &str) -> Self {
        Self {
            cluster: cluster.to_owned(),
            request_id: request_id.to_owned(),
        }
    }

    /// Prints the decision's EMF line on standard output, which Lambda sends to CloudWatch Logs.
    pub fn record(&self, measurement: &Measurement) {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |elapsed| {
                u64::try_from(elapsed.as_millis()).unwrap_or(u64::MAX)
            });
        println!("{}", measurement.emf(&self.cluster, &self.request_id, now));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn every_kind() -> Vec<Measurement> {
        vec![
            Measurement::Restart,
            Measurement::DelayedRestart {
                delay: Duration::from_secs(120),
            },
            Measurement::SkippedRestart {
                reason: "already-wanted",
            },
            Measurement::RestartFailure,
            Measurement::ScheduledStart,
            Measurement::ScheduledStop { tasks: 1 },
            Measurement::SkippedSchedule {
                reason: "nothing-running",
            },
            Measurement::AddressMove,
            Measurement::SkippedAddressMove {
                reason: "already-there",
            },
            Measurement::AddressMoveFailure,
        ]
    }

    /// The specification's rules for one line: a timestamp, directives whose dimension and
    /// metric names all resolve to top-level members of the right type.
    fn assert_valid_emf(line: &Value) {
        let aws = &line["_aws"];
        assert!(aws["Timestamp"].as_u64().is_some(), "{line}");
        let directives = aws["CloudWatchMetrics"].as_array().expect("directives");
        assert!(!directives.is_empty());
        for directive in directives {
            assert_eq!(directive["Namespace"], NAMESPACE);
            for set in directive["Dimensions"].as_array().expect("dimension sets") {
                let set = set.as_array().expect("a dimension set");
                assert!(!set.is_empty() && set.len() <= 30);
                for name in set {
                    let name = name.as_str().expect("dimension name");
                    assert!(line[name].is_string(), "dimension {name} missing: {line}");
                }
            }
            let metrics = directive["Metrics"].as_array().expect("metrics");
            assert!(!metrics.is_empty() && metrics.len() <= 100);
            for metric in metrics {
                let name = metric["Name"].as_str().expect("metric name");
                assert!(line[name].is_number(), "value of {name} missing: {line}");
                assert!(
                    ["Count", "Seconds"].contains(&metric["Unit"].as_str().unwrap_or("")),
                    "{metric}"
                );
            }
        }
    }

    #[test]
    fn every_decision_kind_is_a_valid_emf_line() {
        for measurement in every_kind() {
            let text = measurement
                .emf("datero-prod-datero", "req-1", 1_700_000_000_000)
                .to_string();
            // One line, parseable on its own, as CloudWatch Logs reads it.
            assert!(!text.contains('\n'));
            let line: Value = serde_json::from_str(&text).unwrap();
            assert_valid_emf(&line);
            assert_eq!(line["ClusterName"], "datero-prod-datero");
            assert_eq!(line["requestId"], "req-1");
        }
    }

    #[test]
    fn every_emitted_metric_is_published_with_its_dimensions() {
        for measurement in every_kind() {
            let line = measurement.emf("c", "r", 0);
            let directive = &line["_aws"]["CloudWatchMetrics"][0];
            let dimensions: Vec<&str> = directive["Dimensions"][0]
                .as_array()
                .unwrap()
                .iter()
                .filter_map(Value::as_str)
                .collect();
            for metric in directive["Metrics"].as_array().unwrap() {
                let name = metric["Name"].as_str().unwrap();
                let published = PUBLISHED
                    .iter()
                    .find(|(published, _)| *published == name)
                    .unwrap_or_else(|| panic!("{name} is not in PUBLISHED"));
                assert_eq!(published.1, dimensions.as_slice(), "{name}");
            }
        }
    }

    #[test]
    fn a_delayed_restart_carries_its_delay_in_seconds() {
        let line = Measurement::DelayedRestart {
            delay: Duration::from_secs(900),
        }
        .emf("c", "r", 0);
        assert_eq!(line[DELAYED_RESTARTS], 1.0);
        assert_eq!(line[RESTART_DELAY], 900.0);
        assert_eq!(
            line["_aws"]["CloudWatchMetrics"][0]["Metrics"][1]["Unit"],
            "Seconds"
        );
    }

    #[test]
    fn skips_are_counted_by_reason() {
        let line = Measurement::SkippedRestart { reason: "paused" }.emf("c", "r", 0);
        assert_eq!(line[REASON_DIMENSION], "paused");
        assert_eq!(
            line["_aws"]["CloudWatchMetrics"][0]["Dimensions"],
            json!([["ClusterName", "Reason"]])
        );
        // A count without a reason has the cluster dimension only.
        let line = Measurement::Restart.emf("c", "r", 0);
        assert!(line.get(REASON_DIMENSION).is_none());
    }

    #[test]
    fn a_line_carries_nothing_but_the_metric_its_dimensions_and_the_request_id() {
        // No secret can ride along: the members are fixed by the measurement.
        let line = Measurement::Restart.emf("c", "r", 0);
        let mut keys: Vec<&str> = line
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        keys.sort_unstable();
        assert_eq!(keys, ["ClusterName", "Restarts", "_aws", "requestId"]);
    }
}
