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

/// Whether office hours are open, and since when: the value of the cluster's
/// [`crate::marks::OFFICE_HOURS_TAG`], written at each scheduled start and stop, so that a
/// restart decided later (a crash-loop restart waiting in the delay queue, a crash just before
/// the stop) knows the hours closed after its task stopped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HoursMark {
    pub open: bool,
    /// The firing's scheduled time, in ms since the epoch.
    pub since_ms: i64,
    /// Closed while the down alarm was in ALARM: the last word its subscribers had was "Datero
    /// is down" (its actions were on all day), and the recovery is theirs to hear next morning,
    /// though the alarm's own return to OK will happen with its actions off.
    pub closed_down: bool,
}

impl HoursMark {
    /// The mark a firing leaves; `None` when its time cannot be read. `down_alarm_in_alarm`
    /// matters at a stop only.
    pub fn of(event: &ScheduledEvent, down_alarm_in_alarm: bool) -> Option<Self> {
        let since = chrono::DateTime::parse_from_rfc3339(&event.scheduled_time).ok()?;
        let open = event.schedule == Action::Start;
        Some(Self {
            open,
            since_ms: since.timestamp_millis(),
            closed_down: !open && down_alarm_in_alarm,
        })
    }

    /// The tag value: `open <ms>`, `closed <ms>` or `closed <ms> down`.
    pub fn tag_value(&self) -> String {
        let state = if self.open { "open" } else { "closed" };
        let down = if self.closed_down { " down" } else { "" };
        format!("{state} {}{down}", self.since_ms)
    }

    /// Reads a tag value; anything else is no mark (hours treated as open).
    pub fn parse(value: &str) -> Option<Self> {
        let mut words = value.split(' ');
        let open = match words.next()? {
            "open" => true,
            "closed" => false,
            _ => return None,
        };
        let since_ms = words.next()?.trim().parse().ok()?;
        let closed_down = match words.next() {
            None => false,
            Some("down") if !open => true,
            Some(_) => return None,
        };
        Some(Self {
            open,
            since_ms,
            closed_down,
        })
    }

    /// Whether the morning after this mark owes the down alarm's subscribers a recovery.
    pub fn owes_recovery(mark: Option<&Self>) -> bool {
        mark.is_some_and(|mark| mark.closed_down)
    }
}

/// Whether a restart of a task that stopped at `stopped_at_ms` is barred: office hours are
/// closed, and they closed after the task stopped (or its stop time is unknown). A task that
/// stopped after the close ran because someone started it deliberately; its restart goes on.
pub fn restart_barred(mark: Option<&HoursMark>, stopped_at_ms: Option<i64>) -> bool {
    match mark {
        Some(mark) if !mark.open => stopped_at_ms.is_none_or(|stopped| stopped <= mark.since_ms),
        _ => false,
    }
}

/// Whether the restarter checks the down alarm [`crate::down_alarm::CHECK_DELAY`] after this
/// decision: after every start of office hours where Datero should come up (started now, or
/// already running); not while paused (the pause keeps the alarm silent) and not at a stop.
pub fn checks_down_alarm(decision: &Decision) -> bool {
    matches!(
        decision,
        Decision::Start { .. } | Decision::Skip(Skip::AlreadyWanted(_))
    )
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
    fn starts_check_the_down_alarm_later_stops_and_pauses_do_not() {
        assert!(checks_down_alarm(&decide(
            &event(Action::Start),
            false,
            &[]
        )));
        assert!(checks_down_alarm(&decide(
            &event(Action::Start),
            false,
            &["arn:t".into()]
        )));
        assert!(!checks_down_alarm(&decide(
            &event(Action::Start),
            true,
            &[]
        )));
        assert!(!checks_down_alarm(&decide(
            &event(Action::Stop),
            false,
            &["arn:t".into()]
        )));
        assert!(!checks_down_alarm(&decide(
            &event(Action::Stop),
            false,
            &[]
        )));
    }

    #[test]
    fn a_mark_is_written_and_read_back() {
        let stop = ScheduledEvent {
            schedule: Action::Stop,
            scheduled_time: "2026-11-26T20:00:00Z".into(),
        };
        let mark = HoursMark::of(&stop, false).unwrap();
        assert!(!mark.open && !mark.closed_down);
        assert_eq!(mark.tag_value(), "closed 1795723200000");
        assert_eq!(HoursMark::parse(&mark.tag_value()), Some(mark));
        let down = HoursMark::of(&stop, true).unwrap();
        assert_eq!(down.tag_value(), "closed 1795723200000 down");
        assert_eq!(HoursMark::parse(&down.tag_value()), Some(down.clone()));
        assert!(HoursMark::owes_recovery(Some(&down)));
        assert!(!HoursMark::owes_recovery(None));
        assert_eq!(HoursMark::parse("ajar 5"), None);
        assert_eq!(HoursMark::parse("open soon"), None);
        assert_eq!(HoursMark::parse("open 5 down"), None);
        assert_eq!(HoursMark::parse("closed 5 up"), None);
        let start = ScheduledEvent {
            schedule: Action::Start,
            scheduled_time: "2026-11-27T08:00:00Z".into(),
        };
        // Only a close carries the alarm's state.
        let open = HoursMark::of(&start, true).unwrap();
        assert!(open.open && !open.closed_down);
        assert!(!HoursMark::owes_recovery(Some(&open)));
        assert_eq!(
            HoursMark::of(
                &ScheduledEvent {
                    schedule: Action::Start,
                    scheduled_time: "yesterday".into()
                },
                false
            ),
            None
        );
    }

    #[test]
    fn closed_hours_bar_restarts_of_tasks_that_stopped_before_the_close() {
        let closed = HoursMark {
            open: false,
            since_ms: 1_000,
            closed_down: false,
        };
        assert!(restart_barred(Some(&closed), Some(999)));
        assert!(restart_barred(Some(&closed), None));
        // Started by hand after the close: its crash is restarted.
        assert!(!restart_barred(Some(&closed), Some(1_001)));
        let open = HoursMark {
            open: true,
            since_ms: 1_000,
            closed_down: false,
        };
        assert!(!restart_barred(Some(&open), Some(1)));
        assert!(!restart_barred(None, Some(1)));
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
