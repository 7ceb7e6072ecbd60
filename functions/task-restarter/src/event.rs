//! What the restarter accepts: a STOPPED task or a DRAINING container instance from
//! EventBridge, a batch of delayed work back from the delay queue (restarts the backoff put
//! off, the down alarm's check after office hours begin), or an office-hours start or stop from
//! EventBridge Scheduler.

use aws_lambda_events::eventbridge::EventBridgeEvent;
use aws_lambda_events::sqs::SqsEventObj;
use datero_shared::backup_watch::BackupCheck;
use datero_shared::down_alarm::MorningCheck;
use datero_shared::ecs_event::{ContainerInstanceStateChange, TaskStateChange};
use datero_shared::error::EventError;
use datero_shared::restart_policy::DelayedRestart;
use datero_shared::schedule::ScheduledEvent;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The `detail-type` of the container-instance events (ECS guide, "Amazon ECS container
/// instance state change events").
pub const INSTANCE_STATE_CHANGE: &str = "ECS Container Instance State Change";

/// One invocation's payload.
#[derive(Debug)]
pub enum Incoming {
    /// `ECS Task State Change`, from the rule on the cluster's Datero tasks.
    Stopped(Box<EventBridgeEvent<TaskStateChange>>),
    /// `ECS Container Instance State Change`, from the rule on the cluster's instances going
    /// DRAINING.
    Draining(Box<EventBridgeEvent<ContainerInstanceStateChange>>),
    /// Delayed work from the SQS queue.
    Delayed(SqsEventObj<Queued>),
    /// The product's own event from an office-hours schedule.
    Scheduled(ScheduledEvent),
    /// The backup schedule fired (`{"backupDue": ...}`): check later that a backup happened.
    BackupDue(BackupCheck),
}

/// The body of a message on the delay queue.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(untagged)]
pub enum Queued {
    /// The down alarm's check, [`datero_shared::down_alarm::CHECK_DELAY`] after a start.
    MorningCheck(MorningCheck),
    /// The check that a scheduled backup happened.
    BackupCheck(BackupCheck),
    /// A restart the backoff put off.
    Restart(DelayedRestart),
}

impl Incoming {
    /// Reads `payload` as the shape its discriminating member announces (`Records` for SQS,
    /// `schedule` for a schedule, anything else as EventBridge), so that the error names what
    /// was expected.
    pub fn parse(payload: Value) -> Result<Self, EventError> {
        let malformed = |shape| move |source| EventError::Malformed { shape, source };
        if payload.get("schedule").is_some() {
            return serde_json::from_value(payload)
                .map(Self::Scheduled)
                .map_err(malformed("scheduled event"));
        }
        if payload.get("backupDue").is_some() {
            return serde_json::from_value(payload)
                .map(Self::BackupDue)
                .map_err(malformed("backup-due event"));
        }
        if payload.get("Records").is_some() {
            return serde_json::from_value(payload)
                .map(Self::Delayed)
                .map_err(malformed("SQS batch of delayed restarts"));
        }
        if payload.get("detail-type").and_then(Value::as_str) == Some(INSTANCE_STATE_CHANGE) {
            return serde_json::from_value(payload)
                .map(|event| Self::Draining(Box::new(event)))
                .map_err(malformed("ECS Container Instance State Change event"));
        }
        serde_json::from_value(payload)
            .map(|event| Self::Stopped(Box::new(event)))
            .map_err(malformed("ECS Task State Change event"))
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::Incoming;

    fn fixture(name: &str) -> serde_json::Value {
        let path = format!(
            "{}/../../shared/fixtures/{name}",
            env!("CARGO_MANIFEST_DIR")
        );
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
    }

    #[test]
    fn a_stopped_task_event_is_read_as_one() {
        match Incoming::parse(fixture("ecs-task-state-change-stopped.json")).unwrap() {
            Incoming::Stopped(event) => assert_eq!(event.detail.last_status, "STOPPED"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_delayed_batch_is_read_with_its_bodies() {
        let body = json!({"stoppedTaskArn": "arn:aws:ecs:eu-west-1:1:task/c/t", "streak": 3, "delaySeconds": 120});
        let payload = json!({"Records": [{"messageId": "m", "body": body.to_string()}]});
        match Incoming::parse(payload).unwrap() {
            Incoming::Delayed(batch) => {
                assert_eq!(batch.records.len(), 1);
                let super::Queued::Restart(restart) = &batch.records[0].body else {
                    panic!("{batch:?}")
                };
                assert_eq!(restart.streak, 3);
                assert_eq!(restart.delay_seconds, 120);
            }
            other => panic!("{other:?}"),
        }
        let check = json!({"officeHoursBegan": "2026-11-30T08:00:00Z"});
        let payload = json!({"Records": [{"messageId": "m", "body": check.to_string()}]});
        match Incoming::parse(payload).unwrap() {
            Incoming::Delayed(batch) => assert!(matches!(
                batch.records[0].body,
                super::Queued::MorningCheck(_)
            )),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_backup_firing_and_its_queued_check_are_read_as_such() {
        match Incoming::parse(json!({"backupDue": "2026-11-30T12:00:00Z"})).unwrap() {
            Incoming::BackupDue(check) => assert_eq!(check.checks, 0),
            other => panic!("{other:?}"),
        }
        let body = json!({"backupDue": "2026-11-30T12:00:00Z", "checks": 1});
        let payload = json!({"Records": [{"messageId": "m", "body": body.to_string()}]});
        match Incoming::parse(payload).unwrap() {
            Incoming::Delayed(batch) => assert!(matches!(
                batch.records[0].body,
                super::Queued::BackupCheck(_)
            )),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_container_instance_event_is_read_as_one() {
        let payload = fixture("ecs-container-instance-state-change-active.json");
        match Incoming::parse(payload).unwrap() {
            Incoming::Draining(event) => assert!(!event.detail.ec2_instance_id.is_empty()),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_scheduled_event_is_read_as_one() {
        let payload = json!({"schedule": "start", "scheduledTime": "2026-11-26T08:00:00Z"});
        match Incoming::parse(payload).unwrap() {
            Incoming::Scheduled(event) => {
                assert_eq!(event.schedule, datero_shared::schedule::Action::Start);
            }
            other => panic!("{other:?}"),
        }
        let error = Incoming::parse(json!({"schedule": "later"})).unwrap_err();
        assert_eq!(error.error_type(), "MalformedEvent");
        let error = error.to_string();
        assert!(error.starts_with("malformed scheduled event"), "{error}");
    }

    #[test]
    fn a_bad_payload_names_the_shape_that_was_expected() {
        let error = Incoming::parse(json!({"Records": [{"body": "not json"}]}))
            .unwrap_err()
            .to_string();
        assert!(
            error.starts_with("malformed SQS batch of delayed restarts"),
            "{error}"
        );
        let error = Incoming::parse(json!({"detail": {}}))
            .unwrap_err()
            .to_string();
        assert!(
            error.starts_with("malformed ECS Task State Change event"),
            "{error}"
        );
    }
}
