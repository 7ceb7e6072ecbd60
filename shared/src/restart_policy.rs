//! When to restart Datero after its task stops: pure decisions over plain data.
//!
//! Modelled on ECS's service scheduler: replace a stopped task, never run more than one, and
//! throttle a task that keeps failing with delays that grow to 15 minutes.

use std::time::Duration;

use crate::ecs_event::{ContainerInstanceStateChange, TaskStateChange};
use crate::marks;

/// A task that stops sooner than this after it started counts as a failed start.
pub const QUICK_FAILURE: Duration = Duration::from_secs(5 * 60);
/// First delay of a crash loop (after the second quick failure in a row).
pub const FIRST_DELAY: Duration = Duration::from_secs(30);
/// The most an SQS message can be delayed: 900 seconds (SendMessage, SQS API Reference,
/// `DelaySeconds`).
pub const SQS_MAX_DELAY: Duration = Duration::from_secs(900);
/// Longest delay of the crash-loop backoff: what the delay queue can hold.
pub const MAX_DELAY: Duration = Duration::from_secs(15 * 60);
// A delay the queue could not hold would be cut short silently.
const _: () = assert!(MAX_DELAY.as_secs() <= SQS_MAX_DELAY.as_secs());
/// ECS accepts a `clientToken` of at most 64 characters.
pub const CLIENT_TOKEN_MAX: usize = 64;

/// What the restarter is responsible for (its environment).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scope {
    pub cluster_name: String,
    pub family: String,
}

/// Why an event leads to no restart.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Skip {
    NotStopped(String),
    ForeignCluster(String),
    ForeignFamily(String),
    StoppedByProvisioner(String),
    AlreadyWanted(String),
    Paused,
    /// The task stopped before office hours closed: nothing starts Datero until they open.
    AfterHours,
    /// A container-instance event that is not our cluster's instance going DRAINING.
    NotDraining(String),
}

impl Skip {
    /// A short stable name for the reason: the `Reason` dimension of the skip metric.
    pub fn key(&self) -> &'static str {
        match self {
            Self::NotStopped(_) => "not-stopped",
            Self::ForeignCluster(_) => "other-cluster",
            Self::ForeignFamily(_) => "other-family",
            Self::StoppedByProvisioner(_) => "provisioner-stop",
            Self::AlreadyWanted(_) => "already-wanted",
            Self::Paused => "paused",
            Self::AfterHours => "after-hours",
            Self::NotDraining(_) => "not-draining",
        }
    }
}

impl std::fmt::Display for Skip {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::NotStopped(status) => write!(f, "the task is {status}, not STOPPED"),
            Self::ForeignCluster(cluster) => {
                write!(f, "the task ran on another cluster ({cluster})")
            }
            Self::ForeignFamily(group) => {
                write!(f, "the task is not of our family (group {group})")
            }
            Self::StoppedByProvisioner(reason) => {
                write!(f, "the provisioner stopped it on purpose ({reason})")
            }
            Self::AlreadyWanted(task) => {
                write!(f, "a Datero task is already running or starting ({task})")
            }
            Self::Paused => write!(f, "restarts are paused (RESTARTS_PAUSED=true)"),
            Self::AfterHours => write!(
                f,
                "office hours closed after the task stopped; the next scheduled start brings Datero back"
            ),
            Self::NotDraining(what) => write!(f, "not our instance going DRAINING ({what})"),
        }
    }
}

/// The checks that need no AWS call: is this event ours, and a crash rather than our own stop?
pub fn screen(event: &TaskStateChange, scope: &Scope) -> Result<(), Skip> {
    if event.last_status != "STOPPED" {
        return Err(Skip::NotStopped(event.last_status.clone()));
    }
    let cluster = event.cluster_arn.rsplit('/').next().unwrap_or_default();
    if cluster != scope.cluster_name {
        return Err(Skip::ForeignCluster(event.cluster_arn.clone()));
    }
    let group = event.group.clone().unwrap_or_default();
    if group != format!("family:{}", scope.family) {
        return Err(Skip::ForeignFamily(group));
    }
    if marks::is_provisioner_stop(event.stopped_reason.as_deref()) {
        return Err(Skip::StoppedByProvisioner(
            event.stopped_reason.clone().unwrap_or_default(),
        ));
    }
    Ok(())
}

/// The checks on an `ECS Container Instance State Change`: our cluster's instance, going
/// DRAINING (a Spot interruption notice, a scale-in, an instance replacement).
pub fn screen_draining(event: &ContainerInstanceStateChange, scope: &Scope) -> Result<(), Skip> {
    let cluster = event.cluster_arn.rsplit('/').next().unwrap_or_default();
    if cluster != scope.cluster_name {
        return Err(Skip::ForeignCluster(event.cluster_arn.clone()));
    }
    if event.status != "DRAINING" {
        return Err(Skip::NotDraining(format!(
            "{} is {}",
            event.ec2_instance_id, event.status
        )));
    }
    Ok(())
}

/// The stop reason of a Datero task stopped because its instance drains. Not the provisioner's:
/// the STOPPED event that follows is a restart like any other, onto capacity that is not draining.
pub const DRAINING_STOP_REASON: &str = "its container instance is draining (Spot interruption notice or scale-in); restarting elsewhere";

/// One finished task, as far as the backoff cares (times in milliseconds since the epoch).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FinishedTask {
    pub task_arn: String,
    pub started_at_ms: Option<i64>,
    pub stopped_at_ms: Option<i64>,
    pub stopped_by_provisioner: bool,
}

impl FinishedTask {
    /// The stopped task an event describes.
    pub fn from_event(event: &TaskStateChange) -> Self {
        Self {
            task_arn: event.task_arn.clone(),
            started_at_ms: event.started_at.map(|at| at.timestamp_millis()),
            stopped_at_ms: event.stopped_at.map(|at| at.timestamp_millis()),
            stopped_by_provisioner: marks::is_provisioner_stop(event.stopped_reason.as_deref()),
        }
    }

    /// Never started, or stopped within [`QUICK_FAILURE`] of starting, and not on purpose.
    pub fn is_quick_failure(&self) -> bool {
        if self.stopped_by_provisioner {
            return false;
        }
        match (self.started_at_ms, self.stopped_at_ms) {
            (None, _) => true,
            (Some(started), Some(stopped)) => stopped - started < duration_ms(QUICK_FAILURE),
            (Some(_), None) => false,
        }
    }
}

fn duration_ms(duration: Duration) -> i64 {
    i64::try_from(duration.as_millis()).unwrap_or(i64::MAX)
}

/// How many quick failures in a row end with `stopped`, counting back through `history`
/// (other finished tasks of the family, any order; `stopped` may be among them). A task that
/// ran long, or that the provisioner stopped, ends the streak.
pub fn failure_streak(stopped: &FinishedTask, history: &[FinishedTask]) -> u32 {
    if !stopped.is_quick_failure() {
        return 0;
    }
    let mut earlier: Vec<&FinishedTask> = history
        .iter()
        .filter(|task| task.task_arn != stopped.task_arn)
        .filter(|task| {
            task.stopped_at_ms.unwrap_or(i64::MIN) <= stopped.stopped_at_ms.unwrap_or(i64::MAX)
        })
        .collect();
    earlier.sort_by_key(|task| std::cmp::Reverse(task.stopped_at_ms));
    let before = earlier
        .iter()
        .take_while(|task| task.is_quick_failure())
        .count();
    u32::try_from(before + 1).unwrap_or(u32::MAX)
}

/// The delay before restarting after a streak of `streak` quick failures: none for the first,
/// then [`FIRST_DELAY`] doubling up to [`MAX_DELAY`].
pub fn backoff(streak: u32) -> Duration {
    if streak <= 1 {
        return Duration::ZERO;
    }
    let doublings = streak.saturating_sub(2).min(16);
    FIRST_DELAY.saturating_mul(1 << doublings).min(MAX_DELAY)
}

/// The `clientToken` of the restart that replaces `stopped_task_arn`: the same for every
/// delivery of that task's STOPPED event, so ECS starts one task at most.
pub fn client_token(stopped_task_arn: &str) -> String {
    let id = stopped_task_arn
        .rsplit('/')
        .next()
        .unwrap_or(stopped_task_arn);
    let token = format!("restart-{id}");
    if token.len() <= CLIENT_TOKEN_MAX
        && token
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    {
        token
    } else {
        format!("restart-{:016x}", fnv1a(stopped_task_arn.as_bytes()))
    }
}

/// Of several wanted Datero tasks, the one every party keeps: the smallest ARN, so that two
/// restarts racing each other agree without talking.
pub fn keeper(wanted: &[String]) -> Option<&String> {
    wanted.iter().min()
}

/// After a restart's RunTask, which of the wanted tasks survives: a task the runner rolled out
/// (it carries the runner's request tag, and the runner keeps its own), else the [`keeper`] of
/// them all. `rolled_out` are the other wanted tasks that carry the request tag.
pub fn survivor<'a>(started: &'a str, wanted: &'a [String], rolled_out: &[&'a str]) -> &'a str {
    if let Some(task) = rolled_out.first() {
        return task;
    }
    keeper(wanted).map_or(started, String::as_str)
}

/// What the restarter found out about a stopped task (the gather step).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Facts {
    /// `RESTARTS_PAUSED`.
    pub paused: bool,
    /// A Datero task ECS wants running (RUNNING, PENDING or PROVISIONING), if any.
    pub wanted: Option<String>,
    /// Quick failures in a row, this stop included (0 when it ran long).
    pub streak: u32,
    /// The delay queue (`RESTART_QUEUE_URL`), if one is configured.
    pub delay_queue: Option<String>,
    /// Office hours closed after the task stopped ([`crate::schedule::restart_barred`]).
    pub after_hours: bool,
}

/// What to do about a stopped task.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    Skip(Skip),
    /// Restart now. `delay_not_queued`: the backoff asked for a delay, but there is no queue to
    /// wait in, so the restart happens at once.
    RestartNow {
        streak: u32,
        delay_not_queued: Option<Duration>,
    },
    /// Put the restart off by `delay`: a delayed message on `queue` (there is no restart
    /// later without a queue to wait in).
    RestartLater {
        streak: u32,
        delay: Duration,
        queue: String,
    },
}

/// The restarter's decision, from what it gathered. A pause wins over everything, then closed
/// office hours; a Datero task already wanted means there is nothing to restart; otherwise the
/// backoff decides.
pub fn decide(facts: &Facts) -> Decision {
    if facts.paused {
        return Decision::Skip(Skip::Paused);
    }
    if facts.after_hours {
        return Decision::Skip(Skip::AfterHours);
    }
    if let Some(task) = &facts.wanted {
        return Decision::Skip(Skip::AlreadyWanted(task.clone()));
    }
    let delay = backoff(facts.streak);
    match (delay.is_zero(), &facts.delay_queue) {
        (true, _) => Decision::RestartNow {
            streak: facts.streak,
            delay_not_queued: None,
        },
        (false, None) => Decision::RestartNow {
            streak: facts.streak,
            delay_not_queued: Some(delay),
        },
        (false, Some(queue)) => Decision::RestartLater {
            streak: facts.streak,
            delay,
            queue: queue.clone(),
        },
    }
}

/// A restart put off by the backoff: the body of the delayed SQS message that brings it back.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DelayedRestart {
    pub stopped_task_arn: String,
    pub streak: u32,
    pub delay_seconds: u64,
    /// When the task stopped (ms since the epoch); absent in messages queued by older versions.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stopped_at_ms: Option<i64>,
}

/// FNV-1a: stable across builds and platforms, unlike std's hasher.
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |hash, byte| {
        (hash ^ u64::from(*byte)).wrapping_mul(0x0100_0000_01b3)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    fn scope() -> Scope {
        Scope {
            cluster_name: "datero-prod-datero".into(),
            family: "datero".into(),
        }
    }

    fn sample() -> TaskStateChange {
        let event: Value = serde_json::from_str(include_str!(
            "../fixtures/ecs-task-state-change-stopped.json"
        ))
        .unwrap();
        serde_json::from_value(event["detail"].clone()).unwrap()
    }

    fn finished(id: &str, started_s: Option<i64>, stopped_s: i64) -> FinishedTask {
        FinishedTask {
            task_arn: format!("arn:aws:ecs:us-east-1:1:task/c/{id}"),
            started_at_ms: started_s.map(|s| s * 1000),
            stopped_at_ms: Some(stopped_s * 1000),
            stopped_by_provisioner: false,
        }
    }

    #[test]
    fn a_crash_of_our_task_passes_the_screen() {
        assert_eq!(screen(&sample(), &scope()), Ok(()));
    }

    #[test]
    fn foreign_running_and_provisioner_events_are_skipped() {
        let mut event = sample();
        event.last_status = "RUNNING".into();
        assert_eq!(
            screen(&event, &scope()),
            Err(Skip::NotStopped("RUNNING".into()))
        );
        let mut event = sample();
        event.cluster_arn = "arn:aws:ecs:us-east-1:1:cluster/other".into();
        assert!(matches!(
            screen(&event, &scope()),
            Err(Skip::ForeignCluster(_))
        ));
        let mut event = sample();
        event.group = Some("family:nginx".into());
        assert!(matches!(
            screen(&event, &scope()),
            Err(Skip::ForeignFamily(_))
        ));
        let mut event = sample();
        event.group = None;
        assert!(matches!(
            screen(&event, &scope()),
            Err(Skip::ForeignFamily(_))
        ));
        let mut event = sample();
        event.stopped_reason = Some("datero-provisioner: stack deleted".into());
        assert!(matches!(
            screen(&event, &scope()),
            Err(Skip::StoppedByProvisioner(_))
        ));
    }

    #[test]
    fn a_task_that_ran_an_hour_restarts_at_once() {
        let stopped = FinishedTask::from_event(&sample());
        assert!(!stopped.is_quick_failure());
        assert_eq!(failure_streak(&stopped, &[]), 0);
        assert_eq!(backoff(failure_streak(&stopped, &[])), Duration::ZERO);
    }

    #[test]
    fn quick_failures_in_a_row_grow_the_delay_to_the_cap() {
        // Five tasks, each stopping 20 s after it started, a minute apart.
        let history: Vec<FinishedTask> = (0..5)
            .map(|n| finished(&format!("t{n}"), Some(n * 60), n * 60 + 20))
            .collect();
        let delays: Vec<Duration> = history
            .iter()
            .map(|task| backoff(failure_streak(task, &history)))
            .collect();
        assert_eq!(delays, [0, 30, 60, 120, 240].map(Duration::from_secs));
        assert_eq!(backoff(7), MAX_DELAY);
        assert_eq!(backoff(100), MAX_DELAY);
    }

    #[test]
    fn a_long_run_or_a_provisioner_stop_ends_the_streak() {
        let mut history = vec![
            finished("a", Some(0), 10),
            finished("b", Some(20), 30_000),
            finished("c", Some(30_010), 30_020),
        ];
        assert_eq!(failure_streak(&history[2], &history), 1);
        history[1] = finished("b", Some(20), 30);
        history[1].stopped_by_provisioner = true;
        assert_eq!(failure_streak(&history[2], &history), 1);
        let never_started = finished("d", None, 30_030);
        assert_eq!(failure_streak(&never_started, &history), 2);
    }

    #[test]
    fn later_tasks_do_not_count_for_an_earlier_stop() {
        let history = vec![
            finished("a", Some(0), 10),
            finished("b", Some(20), 30),
            finished("c", Some(40), 50),
        ];
        assert_eq!(failure_streak(&history[0], &history), 1);
    }

    fn facts() -> Facts {
        Facts {
            paused: false,
            wanted: None,
            streak: 0,
            delay_queue: Some("https://sqs.example/queue".into()),
            after_hours: false,
        }
    }

    #[test]
    fn closed_office_hours_bar_a_restart_unless_paused_says_so_first() {
        let closed = Facts {
            after_hours: true,
            streak: 3,
            ..facts()
        };
        assert_eq!(decide(&closed), Decision::Skip(Skip::AfterHours));
        assert_eq!(
            decide(&Facts {
                paused: true,
                ..closed
            }),
            Decision::Skip(Skip::Paused)
        );
    }

    fn instance(status: &str) -> ContainerInstanceStateChange {
        ContainerInstanceStateChange {
            cluster_arn: "arn:aws:ecs:us-east-1:1:cluster/datero-prod-datero".into(),
            container_instance_arn:
                "arn:aws:ecs:us-east-1:1:container-instance/datero-prod-datero/ci".into(),
            ec2_instance_id: "i-1".into(),
            status: status.into(),
            agent_connected: true,
        }
    }

    #[test]
    fn only_our_instance_going_draining_passes_the_draining_screen() {
        assert_eq!(screen_draining(&instance("DRAINING"), &scope()), Ok(()));
        assert!(matches!(
            screen_draining(&instance("ACTIVE"), &scope()),
            Err(Skip::NotDraining(_))
        ));
        let mut other = instance("DRAINING");
        other.cluster_arn = "arn:aws:ecs:us-east-1:1:cluster/other".into();
        assert!(matches!(
            screen_draining(&other, &scope()),
            Err(Skip::ForeignCluster(_))
        ));
        assert!(!crate::marks::is_provisioner_stop(Some(
            DRAINING_STOP_REASON
        )));
    }

    #[test]
    fn the_decision_follows_pause_then_a_wanted_task_then_the_backoff() {
        let paused = Facts {
            paused: true,
            wanted: Some("t".into()),
            ..facts()
        };
        assert_eq!(decide(&paused), Decision::Skip(Skip::Paused));
        let wanted = Facts {
            wanted: Some("arn:t".into()),
            streak: 3,
            ..facts()
        };
        assert_eq!(
            decide(&wanted),
            Decision::Skip(Skip::AlreadyWanted("arn:t".into()))
        );
        assert_eq!(
            decide(&Facts {
                streak: 1,
                ..facts()
            }),
            Decision::RestartNow {
                streak: 1,
                delay_not_queued: None
            }
        );
        assert_eq!(
            decide(&Facts {
                streak: 3,
                ..facts()
            }),
            Decision::RestartLater {
                streak: 3,
                delay: Duration::from_secs(60),
                queue: "https://sqs.example/queue".into()
            }
        );
        // No queue to wait in: restart at once, and say what delay was skipped.
        assert_eq!(
            decide(&Facts {
                streak: 3,
                delay_queue: None,
                ..facts()
            }),
            Decision::RestartNow {
                streak: 3,
                delay_not_queued: Some(Duration::from_secs(60))
            }
        );
    }

    #[test]
    fn a_rolled_out_task_survives_a_race_else_the_keeper() {
        let wanted = vec!["arn:b".to_owned(), "arn:a".to_owned(), "arn:c".to_owned()];
        assert_eq!(survivor("arn:c", &wanted, &[]), "arn:a");
        assert_eq!(survivor("arn:a", &wanted, &["arn:b"]), "arn:b");
        assert_eq!(survivor("arn:c", &[], &[]), "arn:c");
    }

    #[test]
    fn racing_parties_agree_on_the_keeper() {
        let one = vec!["arn:task/b".to_owned(), "arn:task/a".to_owned()];
        let other = vec!["arn:task/a".to_owned(), "arn:task/b".to_owned()];
        assert_eq!(keeper(&one), keeper(&other));
        assert_eq!(keeper(&[]), None);
    }

    #[test]
    fn client_tokens_are_deterministic_and_short() {
        let arn = "arn:aws:ecs:us-east-1:111122223333:task/datero-prod-datero/0a7b5a5e8c2f4a1f9d3c2b1a0f9e8d7c";
        assert_eq!(
            client_token(arn),
            "restart-0a7b5a5e8c2f4a1f9d3c2b1a0f9e8d7c"
        );
        assert_eq!(client_token(arn), client_token(arn));
        let odd = format!("arn:aws:ecs:us-east-1:1:task/c/{}", "x".repeat(80));
        let token = client_token(&odd);
        assert!(token.len() <= CLIENT_TOKEN_MAX, "{token}");
        assert_ne!(token, client_token(&format!("{odd}y")));
    }
}
