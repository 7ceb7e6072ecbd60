//! CloudFormation requests for tests, built from the shared fixtures.

use std::sync::atomic::{AtomicU64, Ordering};

use serde_json::{Value, json};

use crate::emulator::ACCOUNT;

/// The sample Create request of `shared/fixtures/cfn-create-cluster.json`.
pub fn sample_create() -> Value {
    serde_json::from_str(include_str!(
        "../../shared/fixtures/cfn-create-cluster.json"
    ))
    .expect("the fixture is JSON")
}

/// A Create request for `resource_type` with `properties`, answered at `response_url`.
pub fn create(resource_type: &str, properties: Value, response_url: &str) -> Value {
    let mut event = sample_create();
    // Each CloudFormation request has its own id (a repeated delivery reuses the whole event).
    event["RequestId"] = json!(request_id());
    event["ResourceType"] = json!(resource_type);
    event["ResourceProperties"] = with_service_token(properties);
    event["ResponseURL"] = json!(response_url);
    event
}

/// An Update of `physical_id` from `old` to `new` properties.
pub fn update(
    resource_type: &str,
    physical_id: &str,
    old: Value,
    new: Value,
    response_url: &str,
) -> Value {
    let mut event = create(resource_type, new, response_url);
    event["RequestType"] = json!("Update");
    event["PhysicalResourceId"] = json!(physical_id);
    event["OldResourceProperties"] = with_service_token(old);
    event
}

/// A Delete of `physical_id`.
pub fn delete(
    resource_type: &str,
    physical_id: &str,
    properties: Value,
    response_url: &str,
) -> Value {
    let mut event = create(resource_type, properties, response_url);
    event["RequestType"] = json!("Delete");
    event["PhysicalResourceId"] = json!(physical_id);
    event
}

fn request_id() -> String {
    static NEXT: AtomicU64 = AtomicU64::new(1);
    let next = NEXT.fetch_add(1, Ordering::SeqCst);
    format!("{:08x}-0000-4000-8000-{next:012x}", std::process::id())
}

fn with_service_token(mut properties: Value) -> Value {
    if let Value::Object(map) = &mut properties {
        map.insert(
            "ServiceToken".to_owned(),
            json!(format!(
                "arn:aws:lambda:us-east-1:{ACCOUNT}:function:datero-test"
            )),
        );
    }
    properties
}

/// The EventBridge "ECS Task State Change" event ECS would emit for `task` as it is now, built
/// on the shared sample so that every field ECS sends is there.
pub fn task_state_change(task: &aws_sdk_ecs::types::Task, event_id: &str) -> Value {
    use aws_sdk_ecs::primitives::{DateTime, DateTimeFormat};
    let time = |at: Option<&DateTime>| {
        at.and_then(|at| at.fmt(DateTimeFormat::DateTime).ok())
            .map_or(Value::Null, Value::from)
    };
    let mut event: Value = serde_json::from_str(include_str!(
        "../../shared/fixtures/ecs-task-state-change-stopped.json"
    ))
    .expect("the fixture is JSON");
    event["id"] = json!(event_id);
    event["resources"] = json!([task.task_arn()]);
    let detail = &mut event["detail"];
    detail["taskArn"] = json!(task.task_arn());
    detail["clusterArn"] = json!(task.cluster_arn());
    detail["group"] = json!(task.group());
    detail["lastStatus"] = json!(task.last_status());
    detail["desiredStatus"] = json!(task.desired_status());
    detail["taskDefinitionArn"] = json!(task.task_definition_arn());
    detail["startedBy"] = json!(task.started_by());
    detail["stoppedReason"] = json!(task.stopped_reason());
    detail["stopCode"] = json!(task.stop_code().map(|code| code.as_str()));
    detail["createdAt"] = time(task.created_at());
    detail["startedAt"] = time(task.started_at());
    detail["stoppedAt"] = time(task.stopped_at());
    detail["containers"] = Value::Array(
        task.containers()
            .iter()
            .map(|container| {
                json!({
                    "name": container.name(),
                    "lastStatus": container.last_status(),
                    "exitCode": container.exit_code(),
                    "taskArn": task.task_arn(),
                })
            })
            .collect(),
    );
    event
}

/// The EventBridge "ECS Container Instance State Change" event ECS would emit for `instance`
/// of `cluster_arn` as it is now, built on the shared sample.
pub fn container_instance_state_change(
    instance: &aws_sdk_ecs::types::ContainerInstance,
    cluster_arn: &str,
    event_id: &str,
) -> Value {
    let mut event: Value = serde_json::from_str(include_str!(
        "../../shared/fixtures/ecs-container-instance-state-change-active.json"
    ))
    .expect("the fixture is JSON");
    event["id"] = json!(event_id);
    event["resources"] = json!([instance.container_instance_arn()]);
    let detail = &mut event["detail"];
    detail["clusterArn"] = json!(cluster_arn);
    detail["containerInstanceArn"] = json!(instance.container_instance_arn());
    detail["ec2InstanceId"] = json!(instance.ec2_instance_id());
    detail["status"] = json!(instance.status());
    detail["agentConnected"] = json!(instance.agent_connected());
    event
}
