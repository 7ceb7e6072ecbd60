//! CloudFormation requests for tests, built from the shared fixtures.

use serde_json::{Value, json};

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

fn with_service_token(mut properties: Value) -> Value {
    if let Value::Object(map) = &mut properties {
        map.insert(
            "ServiceToken".to_owned(),
            json!("arn:aws:lambda:us-east-1:123456789012:function:datero-test"),
        );
    }
    properties
}
