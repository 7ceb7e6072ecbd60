//! ECS "Task State Change" events as EventBridge delivers them.
//!
//! `aws_lambda_events` has the EventBridge envelope but no type for this detail, so this one is
//! ours. It is lenient on purpose: ECS adds fields and stop codes over time, and a restarter that
//! fails to read an event is a Datero that stays down.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// The `detail` of an ECS Task State Change event; unknown fields are ignored.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(rename_all = "camelCase", default)]
pub struct TaskStateChange {
    pub task_arn: String,
    pub cluster_arn: String,
    /// `family:<family>` for tasks run from a task definition.
    pub group: Option<String>,
    pub last_status: String,
    pub desired_status: Option<String>,
    pub task_definition_arn: Option<String>,
    pub started_by: Option<String>,
    pub stopped_reason: Option<String>,
    /// Kept as text: ECS adds codes over time.
    pub stop_code: Option<String>,
    pub created_at: Option<DateTime<Utc>>,
    pub started_at: Option<DateTime<Utc>>,
    pub stopped_at: Option<DateTime<Utc>>,
    pub containers: Vec<ContainerState>,
}

/// One container of the task, as far as the restarter cares.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(rename_all = "camelCase", default)]
pub struct ContainerState {
    pub name: String,
    pub exit_code: Option<i64>,
    pub last_status: Option<String>,
    pub reason: Option<String>,
}

/// The `detail` of an ECS Container Instance State Change event (an instance registered,
/// changed status, or its agent connected or disconnected); unknown fields are ignored.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(rename_all = "camelCase", default)]
pub struct ContainerInstanceStateChange {
    pub cluster_arn: String,
    pub container_instance_arn: String,
    pub ec2_instance_id: String,
    /// `ACTIVE`, `DRAINING`, `REGISTERING`, `DEREGISTERING`, `INACTIVE`, ...
    pub status: String,
    pub agent_connected: bool,
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_lambda_events::eventbridge::EventBridgeEvent;
    use serde_json::{Value, json};

    fn sample() -> Value {
        serde_json::from_str(include_str!(
            "../fixtures/ecs-task-state-change-stopped.json"
        ))
        .unwrap()
    }

    #[test]
    fn the_sample_event_reads() {
        let event: EventBridgeEvent<TaskStateChange> = serde_json::from_value(sample()).unwrap();
        let detail = event.detail;
        assert_eq!(detail.last_status, "STOPPED");
        assert_eq!(detail.group.as_deref(), Some("family:datero"));
        assert_eq!(
            detail.stop_code.as_deref(),
            Some("EssentialContainerExited")
        );
        assert_eq!(detail.containers[0].exit_code, Some(137));
        assert!(detail.stopped_at.unwrap() > detail.started_at.unwrap());
    }

    #[test]
    fn unknown_fields_codes_and_empty_containers_are_tolerated() {
        let mut event = sample();
        event["detail"]["stopCode"] = json!("SomethingNewFromEcs");
        event["detail"]["brandNewField"] = json!({"x": [1, 2]});
        event["detail"]["containers"] = json!([]);
        let event: EventBridgeEvent<TaskStateChange> = serde_json::from_value(event).unwrap();
        assert_eq!(
            event.detail.stop_code.as_deref(),
            Some("SomethingNewFromEcs")
        );
        assert!(event.detail.containers.is_empty());
    }

    #[test]
    fn the_sample_container_instance_event_reads() {
        let event: EventBridgeEvent<ContainerInstanceStateChange> = serde_json::from_str(
            include_str!("../fixtures/ecs-container-instance-state-change-active.json"),
        )
        .unwrap();
        let detail = event.detail;
        assert_eq!(detail.status, "ACTIVE");
        assert!(detail.agent_connected);
        assert_eq!(detail.ec2_instance_id, "i-0f1e2d3c4b5a69788");
        assert!(detail.cluster_arn.ends_with(":cluster/datero-datero"));
    }

    #[test]
    fn wrong_types_are_an_error_not_a_panic() {
        let mut event = sample();
        event["detail"]["containers"] = json!("none");
        assert!(serde_json::from_value::<EventBridgeEvent<TaskStateChange>>(event).is_err());
    }
}
