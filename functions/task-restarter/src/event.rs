//! What the restarter accepts: a STOPPED task from EventBridge, a batch of restarts that the
//! backoff put off, back from the delay queue, or an office-hours start or stop from
//! EventBridge Scheduler.

use aws_lambda_events::eventbridge::EventBridgeEvent;
use aws_lambda_events::sqs::SqsEventObj;
use datero_shared::ecs_event::TaskStateChange;
use datero_shared::restart_policy::DelayedRestart;
use datero_shared::schedule::ScheduledEvent;
use serde_json::Value;

/// One invocation's payload.
#[derive(Debug)]
pub enum Incoming {
    /// `ECS Task State Change`, from the rule on the cluster's Datero tasks.
    Stopped(Box<EventBridgeEvent<TaskStateChange>>),
    /// Delayed restarts from the SQS queue (the body of each record is a [`DelayedRestart`]).
    Delayed(SqsEventObj<DelayedRestart>),
    /// The product's own event from an office-hours schedule.
    Scheduled(ScheduledEvent),
}

impl Incoming {
    /// Reads `payload` as the shape its discriminating member announces (`Records` for SQS,
    /// `schedule` for a schedule, anything else as EventBridge), so that the error names what
    /// was expected.
    pub fn parse(payload: Value) -> Result<Self, String> {
        if payload.get("schedule").is_some() {
            return serde_json::from_value(payload)
                .map(Self::Scheduled)
                .map_err(|error| format!("malformed scheduled event: {error}"));
        }
        if payload.get("Records").is_some() {
            return serde_json::from_value(payload)
                .map(Self::Delayed)
                .map_err(|error| format!("malformed SQS batch of delayed restarts: {error}"));
        }
        serde_json::from_value(payload)
            .map(|event| Self::Stopped(Box::new(event)))
            .map_err(|error| format!("malformed ECS Task State Change event: {error}"))
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
                assert_eq!(batch.records[0].body.streak, 3);
                assert_eq!(batch.records[0].body.delay_seconds, 120);
            }
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
        assert!(error.starts_with("malformed scheduled event"), "{error}");
    }

    #[test]
    fn a_bad_payload_names_the_shape_that_was_expected() {
        let error = Incoming::parse(json!({"Records": [{"body": "not json"}]})).unwrap_err();
        assert!(
            error.starts_with("malformed SQS batch of delayed restarts"),
            "{error}"
        );
        let error = Incoming::parse(json!({"detail": {}})).unwrap_err();
        assert!(
            error.starts_with("malformed ECS Task State Change event"),
            "{error}"
        );
    }
}
