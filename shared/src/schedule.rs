//! Office hours: the product's own event that EventBridge Scheduler sends the restarter at the
//! start and the stop of Datero's hours, and what to do with it (pure decisions).
//!
//! The event (`docs/reference.md`, "Scheduled start and stop"):
//! `{"schedule": "start" | "stop", "scheduledTime": "2026-11-26T08:00:00Z"}`. The template
//! fills `scheduledTime` with Scheduler's `<aws.scheduler.scheduled-time>` context attribute
//! (Scheduler guide, "Adding context attributes"), the same for every delivery of one firing.

use serde::Deserialize;

use crate::restart_policy::CLIENT_TOKEN_MAX;

/// What a schedule asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    /// Start Datero: one task through the capacity provider, as a restart does.
    Start,
    /// Stop Datero with the provisioner's reason, so that the restarter leaves it stopped.
    Stop,
}

/// The event a schedule sends.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ScheduledEvent {
    pub schedule: Action,
    /// When the schedule fired (ISO 8601, UTC).
    pub scheduled_time: String,
}

/// Why a scheduled event changes nothing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Skip {
    /// Restarts are paused: a scheduled start would undo the operator's pause.
    Paused,
    /// A Datero task already runs or starts (a start by hand, or a repeated delivery).
    AlreadyWanted(String),
    /// Nothing runs at the stop time.
    NothingRunning,
}

impl Skip {
    /// A short stable name for the reason: the `Reason` dimension of the skip metric.
    pub fn key(&self) -> &'static str {
        match self {
            Self::Paused => "paused",
            Self::AlreadyWanted(_) => "already-wanted",
            Self::NothingRunning => "nothing-running",
        }
    }
}

impl std::fmt::Display for Skip {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Paused => write!(f, "restarts are paused (RESTARTS_PAUSED=true)"),
            Self::AlreadyWanted(task) => {
                write!(f, "a Datero task is already running or starting ({task})")
            }
            Self::NothingRunning => write!(f, "no Datero task runs"),
        }
    }
}

/// What to do with a scheduled event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Run one task with this `clientToken`.
    Start {
        client_token: String,
    },
    /// Stop these tasks with the provisioner's reason.
    Stop {
        tasks: Vec<String>,
    },
    Skip(Skip),
}

/// The stop reason of a scheduled stop (after the provisioner's prefix).
pub const STOP_WHY: &str = "scheduled stop (office hours)";

/// The decision for `event`, from the pause switch and the Datero tasks ECS wants now. A stop
/// happens while paused too: the pause is about restarts, and stopping saves the instance.
pub fn decide(event: &ScheduledEvent, paused: bool, wanted: &[String]) -> Decision {
    match event.schedule {
        Action::Start if paused => Decision::Skip(Skip::Paused),
        Action::Start => match wanted.first() {
            Some(task) => Decision::Skip(Skip::AlreadyWanted(task.clone())),
            None => Decision::Start {
                client_token: client_token(&event.scheduled_time),
            },
        },
        Action::Stop if wanted.is_empty() => Decision::Skip(Skip::NothingRunning),
        Action::Stop => Decision::Stop {
            tasks: wanted.to_vec(),
        },
    }
}

/// The `clientToken` of the start at `scheduled_time`: every delivery of one firing starts one
/// task at most (ECS keeps a token's answer for a while, RunTask API reference).
pub fn client_token(scheduled_time: &str) -> String {
    let stamp: String = scheduled_time
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .collect();
    let mut token = format!("schedule-{stamp}");
    token.truncate(CLIENT_TOKEN_MAX);
    token
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(action: Action) -> ScheduledEvent {
        ScheduledEvent {
            schedule: action,
            scheduled_time: "2026-11-26T08:00:00Z".into(),
        }
    }

    #[test]
    fn the_event_is_read_as_the_template_writes_it() {
        let read: ScheduledEvent =
            serde_json::from_str(r#"{"schedule":"stop","scheduledTime":"2026-11-26T20:00:00Z"}"#)
                .unwrap();
        assert_eq!(read.schedule, Action::Stop);
        assert!(serde_json::from_str::<ScheduledEvent>(r#"{"schedule":"pause"}"#).is_err());
    }

    #[test]
    fn a_start_runs_one_task_unless_paused_or_one_is_wanted() {
        assert_eq!(
            decide(&event(Action::Start), false, &[]),
            Decision::Start {
                client_token: "schedule-20261126T080000Z".into()
            }
        );
        assert_eq!(
            decide(&event(Action::Start), true, &[]),
            Decision::Skip(Skip::Paused)
        );
        assert_eq!(
            decide(&event(Action::Start), false, &["arn:t".into()]),
            Decision::Skip(Skip::AlreadyWanted("arn:t".into()))
        );
    }

    #[test]
    fn a_stop_stops_every_wanted_task_even_while_paused() {
        let wanted = vec!["arn:a".to_owned(), "arn:b".to_owned()];
        for paused in [false, true] {
            assert_eq!(
                decide(&event(Action::Stop), paused, &wanted),
                Decision::Stop {
                    tasks: wanted.clone()
                }
            );
        }
        assert_eq!(
            decide(&event(Action::Stop), false, &[]),
            Decision::Skip(Skip::NothingRunning)
        );
    }

    #[test]
    fn one_firing_has_one_token_and_tokens_fit_ecs() {
        assert_eq!(
            client_token("2026-11-26T08:00:00Z"),
            client_token("2026-11-26T08:00:00Z")
        );
        assert_ne!(
            client_token("2026-11-26T08:00:00Z"),
            client_token("2026-11-27T08:00:00Z")
        );
        assert!(client_token(&"9".repeat(200)).len() <= CLIENT_TOKEN_MAX);
    }
}
