//! Requests from CloudFormation, digested for handlers.

use aws_lambda_events::cloudformation::CloudFormationCustomResourceRequest;
use serde_json::Value;
use tokio::time::Instant;

use crate::marks::{LOGICAL_ID_TAG, STACK_TAG};

/// What CloudFormation asks of the resource.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// Make the resource.
    Create,
    /// Change the resource known as `physical_resource_id`.
    Update {
        physical_resource_id: String,
        old_properties: Value,
    },
    /// Remove the resource known as `physical_resource_id`.
    Delete { physical_resource_id: String },
}

/// One custom-resource request as a handler sees it.
#[derive(Debug, Clone)]
pub struct CustomResourceRequest {
    pub action: Action,
    /// `ResourceProperties` as sent; read them with [`crate::properties::Properties`].
    pub properties: Value,
    pub request_id: String,
    pub stack_id: String,
    pub logical_resource_id: String,
    pub resource_type: String,
    pub response_url: String,
    /// When the handler must have finished; after it, the request is answered FAILED for it.
    pub deadline: Instant,
}

/// The event is not a custom-resource request.
#[derive(Debug, thiserror::Error)]
#[error("not a CloudFormation custom-resource request: {0}")]
pub struct MalformedRequest(pub String);

impl CustomResourceRequest {
    /// Reads a request through `aws_lambda_events`' types.
    pub fn from_event(event: Value, deadline: Instant) -> Result<Self, MalformedRequest> {
        let request: CloudFormationCustomResourceRequest =
            serde_json::from_value(event).map_err(|error| MalformedRequest(error.to_string()))?;
        let request = match request {
            CloudFormationCustomResourceRequest::Create(create) => Self {
                action: Action::Create,
                properties: create.resource_properties,
                request_id: create.request_id,
                stack_id: create.stack_id,
                logical_resource_id: create.logical_resource_id,
                resource_type: create.resource_type,
                response_url: create.response_url,
                deadline,
            },
            CloudFormationCustomResourceRequest::Update(update) => Self {
                action: Action::Update {
                    physical_resource_id: update.physical_resource_id,
                    old_properties: update.old_resource_properties,
                },
                properties: update.resource_properties,
                request_id: update.request_id,
                stack_id: update.stack_id,
                logical_resource_id: update.logical_resource_id,
                resource_type: update.resource_type,
                response_url: update.response_url,
                deadline,
            },
            CloudFormationCustomResourceRequest::Delete(delete) => Self {
                action: Action::Delete {
                    physical_resource_id: delete.physical_resource_id,
                },
                properties: delete.resource_properties,
                request_id: delete.request_id,
                stack_id: delete.stack_id,
                logical_resource_id: delete.logical_resource_id,
                resource_type: delete.resource_type,
                response_url: delete.response_url,
                deadline,
            },
            _ => return Err(MalformedRequest("unsupported RequestType".to_owned())),
        };
        Ok(request)
    }

    /// `Create`, `Update` or `Delete`, for logs.
    pub fn request_type(&self) -> &'static str {
        match self.action {
            Action::Create => "Create",
            Action::Update { .. } => "Update",
            Action::Delete { .. } => "Delete",
        }
    }

    /// The id CloudFormation knows the resource by; none before it is created.
    pub fn physical_resource_id(&self) -> Option<&str> {
        match &self.action {
            Action::Create => None,
            Action::Update {
                physical_resource_id,
                ..
            }
            | Action::Delete {
                physical_resource_id,
            } => Some(physical_resource_id),
        }
    }

    /// Tags that say which stack and resource made a thing: `(key, value)` pairs.
    pub fn ownership_tags(&self) -> [(&'static str, String); 2] {
        [
            (STACK_TAG, self.stack_id.clone()),
            (LOGICAL_ID_TAG, self.logical_resource_id.clone()),
        ]
    }

    /// The stack's name, read from `StackId`
    /// (`arn:aws:cloudformation:<region>:<account>:stack/<name>/<uuid>`).
    pub fn stack_name(&self) -> &str {
        self.stack_id
            .split('/')
            .nth(1)
            .filter(|name| !name.is_empty())
            .unwrap_or(&self.stack_id)
    }

    /// The stack's Region and account, read from `StackId`: where the resource lives.
    pub fn region_and_account(&self) -> (&str, &str) {
        let mut parts = self.stack_id.split(':').skip(3);
        (
            parts.next().unwrap_or_default(),
            parts.next().unwrap_or_default(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn sample() -> Value {
        serde_json::from_str(include_str!("../../fixtures/cfn-create-cluster.json"))
            .expect("fixture")
    }

    #[test]
    fn a_create_is_read_with_its_stack_name() {
        let request = CustomResourceRequest::from_event(sample(), Instant::now()).unwrap();
        assert_eq!(request.action, Action::Create);
        assert_eq!(request.stack_name(), "datero-prod");
        assert_eq!(request.region_and_account(), ("us-east-1", "111122223333"));
        assert_eq!(request.logical_resource_id, "Cluster");
        assert_eq!(request.properties["TargetCapacity"], json!("100"));
        assert_eq!(request.physical_resource_id(), None);
    }

    #[test]
    fn an_update_carries_the_id_and_old_properties() {
        let mut event = sample();
        event["RequestType"] = json!("Update");
        event["PhysicalResourceId"] = json!("arn:aws:ecs:us-east-1:1:cluster/x");
        event["OldResourceProperties"] = json!({"TargetCapacity": "50"});
        let request = CustomResourceRequest::from_event(event, Instant::now()).unwrap();
        assert_eq!(
            request.physical_resource_id(),
            Some("arn:aws:ecs:us-east-1:1:cluster/x")
        );
        assert_eq!(request.request_type(), "Update");
    }

    #[test]
    fn an_unknown_request_type_is_malformed() {
        let mut event = sample();
        event["RequestType"] = json!("Rename");
        assert!(CustomResourceRequest::from_event(event, Instant::now()).is_err());
    }
}
