//! The down alarm when office hours begin: what the restarter does to it once Datero has had
//! time to come up (pure decisions).
//!
//! The alarm (`MemoryReservation` Maximum < 1 for 10 of 10 minutes, missing data breaching)
//! sits in ALARM all night with its actions off. Its actions cannot simply come back at the
//! start: at that moment no task has run for 10 minutes, so the alarm is, rightly, in ALARM,
//! and a reset to OK holds only until the next evaluation ("metric alarms return to their
//! actual state quickly": SetAlarmState, CloudWatch API Reference). So the restarter looks
//! [`CHECK_DELAY`] after a scheduled start, when Datero has either come up or failed to:
//! - up: the alarm is set to OK while its actions are still off (silent), then its actions
//!   come back; its next evaluation sees Datero's data and keeps it OK.
//! - not up: its actions come back, then it goes through INSUFFICIENT_DATA (no action is
//!   configured for that state) to ALARM, one transition that sends one notification. The
//!   alarm's own evaluations keep it in ALARM (no transition, no second message) until Datero
//!   comes up, and that transition to OK is the recovery message.
//! - up, after hours that closed with the alarm in ALARM (Datero down all afternoon, or never
//!   up that day): its subscribers' last message said "down", and the alarm returned to OK
//!   overnight or this morning with its actions off. So the actions come back first, then it
//!   goes through INSUFFICIENT_DATA to OK: one transition to OK, the recovery message (a set
//!   to the state it is already in would invoke nothing).
//!
//! A check delivered twice acts once: the second finds the alarm's actions on.
//!
//! Actions fire on state transitions only, for the state entered (CloudWatch guide, "Alarm
//! actions"; SetAlarmState: "When the updated state differs from the previous value, the
//! action configured for the appropriate state is invoked").

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::restart_policy::MAX_DELAY;

/// How long after a scheduled start the restarter looks: SQS's longest delay, 15 minutes
/// (the instance launches in a few minutes, the image pulls, PostgreSQL starts).
pub const CHECK_DELAY: Duration = MAX_DELAY;

/// The delayed message that brings the check back (the body on the restart queue).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct MorningCheck {
    /// The scheduled time of the start that queued it (ISO 8601).
    pub office_hours_began: String,
    /// The hours before closed with the alarm in ALARM ([`crate::schedule::HoursMark`]).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub owes_recovery: bool,
}

/// The states a step sets (the `StateValue` of SetAlarmState).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    Ok,
    InsufficientData,
    Alarm,
}

impl State {
    /// The API's name of the state.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Ok => "OK",
            Self::InsufficientData => "INSUFFICIENT_DATA",
            Self::Alarm => "ALARM",
        }
    }
}

/// One call on the alarm, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// SetAlarmState with this state and reason.
    SetState { state: State, reason: String },
    /// EnableAlarmActions.
    EnableActions,
}

/// What the check finds when it is delivered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Found {
    /// A Datero task is RUNNING.
    pub datero_running: bool,
    /// The alarm's actions are on already: this check was done (SQS delivers at least once),
    /// since only the check turns them on during office hours.
    pub actions_enabled: bool,
}

/// The calls to make on the down alarm, in order, given what the check found.
pub fn after_start(found: Found, check: &MorningCheck) -> Vec<Step> {
    if found.actions_enabled {
        return Vec::new();
    }
    let datero_running = found.datero_running;
    let began = &check.office_hours_began;
    if datero_running && check.owes_recovery {
        return vec![
            Step::EnableActions,
            Step::SetState {
                state: State::InsufficientData,
                reason: "checking whether Datero came up".to_owned(),
            },
            Step::SetState {
                state: State::Ok,
                reason: format!(
                    "Datero is running again; it was down when office hours last closed, and office hours began at {began}"
                ),
            },
        ];
    }
    if datero_running {
        return vec![
            Step::SetState {
                state: State::Ok,
                reason: format!("Datero is running; office hours began at {began}"),
            },
            Step::EnableActions,
        ];
    }
    let minutes = CHECK_DELAY.as_secs() / 60;
    vec![
        Step::EnableActions,
        Step::SetState {
            state: State::InsufficientData,
            reason: "checking whether Datero came up".to_owned(),
        },
        Step::SetState {
            state: State::Alarm,
            reason: format!(
                "Datero is not running {minutes} minutes after office hours began at {began}"
            ),
        },
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    const RUNNING: Found = Found {
        datero_running: true,
        actions_enabled: false,
    };
    const DOWN: Found = Found {
        datero_running: false,
        actions_enabled: false,
    };

    #[test]
    fn a_second_delivery_of_the_check_finds_the_actions_on_and_does_nothing() {
        for datero_running in [true, false] {
            let found = Found {
                datero_running,
                actions_enabled: true,
            };
            assert!(after_start(found, &check()).is_empty());
        }
    }

    fn check() -> MorningCheck {
        MorningCheck {
            office_hours_began: "2026-11-30T08:00:00Z".into(),
            owes_recovery: false,
        }
    }

    #[test]
    fn a_datero_back_after_a_day_down_is_announced_once_with_actions_on() {
        let owed = MorningCheck {
            owes_recovery: true,
            ..check()
        };
        let steps = after_start(RUNNING, &owed);
        assert_eq!(steps[0], Step::EnableActions);
        assert!(matches!(
            &steps[1],
            Step::SetState {
                state: State::InsufficientData,
                ..
            }
        ));
        assert!(matches!(
            &steps[2],
            Step::SetState { state: State::Ok, reason } if reason.contains("running again")
        ));
        assert_eq!(steps.len(), 3);
        // Still down: the same single ALARM as any failed morning.
        assert_eq!(after_start(DOWN, &owed), after_start(DOWN, &check()));
        let body = serde_json::to_string(&owed).unwrap();
        assert_eq!(
            body,
            r#"{"officeHoursBegan":"2026-11-30T08:00:00Z","owesRecovery":true}"#
        );
    }

    #[test]
    fn a_running_datero_is_set_ok_while_actions_are_still_off() {
        let steps = after_start(RUNNING, &check());
        assert!(matches!(
            steps[0],
            Step::SetState {
                state: State::Ok,
                ..
            }
        ));
        assert_eq!(steps[1], Step::EnableActions);
        assert_eq!(steps.len(), 2);
    }

    #[test]
    fn a_missing_datero_ends_in_one_transition_to_alarm_with_actions_on() {
        let steps = after_start(DOWN, &check());
        assert_eq!(steps[0], Step::EnableActions);
        let states: Vec<State> = steps
            .iter()
            .filter_map(|step| match step {
                Step::SetState { state, .. } => Some(*state),
                Step::EnableActions => None,
            })
            .collect();
        assert_eq!(states, [State::InsufficientData, State::Alarm]);
        let Step::SetState { reason, .. } = &steps[2] else {
            panic!("{steps:?}")
        };
        assert!(reason.contains("15 minutes"), "{reason}");
    }

    #[test]
    fn the_message_is_read_as_written_and_is_not_a_restart() {
        let body = serde_json::to_string(&check()).unwrap();
        assert_eq!(body, r#"{"officeHoursBegan":"2026-11-30T08:00:00Z"}"#);
        let read: MorningCheck = serde_json::from_str(&body).unwrap();
        assert_eq!(read, check());
        assert!(
            serde_json::from_str::<MorningCheck>(
                r#"{"stoppedTaskArn":"a","streak":1,"delaySeconds":30}"#
            )
            .is_err()
        );
    }
}
