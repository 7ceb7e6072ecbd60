//! The answer CloudFormation reads from the ResponseURL.

use std::collections::{BTreeMap, HashMap};

use aws_lambda_events::cloudformation::{
    CloudFormationCustomResourceResponse, CloudFormationCustomResourceResponseStatus,
};

use super::physical_id;
use super::request::{Action, CustomResourceRequest};

/// CloudFormation rejects a response body over 4096 bytes.
pub const MAX_BODY_BYTES: usize = 4096;
/// Longest `Reason` sent; CloudFormation shows it in the stack's events.
pub const MAX_REASON_CHARS: usize = 256;

/// What a handler made: the id CloudFormation will know it by and the attributes
/// `Fn::GetAtt` can read.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Outcome {
    pub physical_resource_id: String,
    pub data: BTreeMap<String, String>,
    /// Hide `data` from `describe-stack-events` and the console.
    pub no_echo: bool,
    /// What was done, for the resource's event (`ResourceStatusReason`, "Success/failure
    /// message associated with the resource", CloudFormation API reference); by default
    /// `<request type> succeeded`.
    pub reason: Option<String>,
}

impl Outcome {
    /// An outcome with no attributes.
    pub fn new(physical_resource_id: impl Into<String>) -> Self {
        Self {
            physical_resource_id: physical_resource_id.into(),
            ..Self::default()
        }
    }

    /// Adds one attribute.
    pub fn with(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.data.insert(key.into(), value.into());
        self
    }

    /// Says what was done in the resource's event.
    pub fn with_reason(mut self, reason: impl Into<String>) -> Self {
        self.reason = Some(reason.into());
        self
    }
}

/// A SUCCESS answer carrying `outcome`.
pub fn success(
    request: &CustomResourceRequest,
    outcome: Outcome,
) -> CloudFormationCustomResourceResponse {
    let mut response = base(request, outcome.physical_resource_id);
    response.status = CloudFormationCustomResourceResponseStatus::Success;
    response.reason = Some(
        outcome
            .reason
            .unwrap_or_else(|| format!("{} succeeded", request.request_type())),
    );
    response.no_echo = outcome.no_echo;
    response.data = outcome.data.into_iter().collect();
    response
}

/// A FAILED answer. A failed Create answers with the sentinel id, so that the Delete
/// CloudFormation sends during rollback knows there is nothing to remove.
pub fn failure(
    request: &CustomResourceRequest,
    reason: &str,
) -> CloudFormationCustomResourceResponse {
    let id = match &request.action {
        Action::Create => physical_id::failed_create(&request.request_id),
        Action::Update {
            physical_resource_id,
            ..
        }
        | Action::Delete {
            physical_resource_id,
        } => physical_resource_id.clone(),
    };
    let mut response = base(request, id);
    response.status = CloudFormationCustomResourceResponseStatus::Failed;
    response.reason = Some(reason.to_owned());
    response
}

fn base(
    request: &CustomResourceRequest,
    physical_resource_id: String,
) -> CloudFormationCustomResourceResponse {
    let mut response = CloudFormationCustomResourceResponse::default();
    response.physical_resource_id = physical_resource_id;
    response.stack_id = request.stack_id.clone();
    response.request_id = request.request_id.clone();
    response.logical_resource_id = request.logical_resource_id.clone();
    response
}

/// `why` then `then`, within [`MAX_REASON_CHARS`]: `why` gives way (cut, with `...`) so that
/// `then`, what happened after, is always read whole.
pub fn reason_ending_with(why: &str, then: &str) -> String {
    let room = MAX_REASON_CHARS.saturating_sub(then.chars().count() + 3);
    if why.chars().count() > room {
        let cut: String = why.chars().take(room).collect();
        format!("{cut}...{then}")
    } else {
        format!("{why}{then}")
    }
}

/// What [`encode`] had to cut to fit CloudFormation's limits.
#[derive(Debug, Default, PartialEq)]
pub struct Trimmed {
    pub reason_truncated: bool,
    pub dropped_keys: Vec<String>,
}

/// Serializes the response within CloudFormation's limits: `Reason` cut to
/// [`MAX_REASON_CHARS`], then the largest `Data` entries dropped until the body fits
/// [`MAX_BODY_BYTES`].
pub fn encode(mut response: CloudFormationCustomResourceResponse) -> (Vec<u8>, Trimmed) {
    let mut trimmed = Trimmed::default();
    if let Some(reason) = response.reason.as_mut() {
        trimmed.reason_truncated = truncate_chars(reason, MAX_REASON_CHARS);
    }
    loop {
        let body = to_json(&response);
        if body.len() <= MAX_BODY_BYTES || response.data.is_empty() {
            return (body, trimmed);
        }
        let Some(largest) = largest_key(&response.data) else {
            return (body, trimmed);
        };
        response.data.remove(&largest);
        trimmed.dropped_keys.push(largest);
    }
}

fn to_json(response: &CloudFormationCustomResourceResponse) -> Vec<u8> {
    // Serializing plain strings and maps cannot fail; an empty body would make the failure
    // visible at the ResponseURL rather than hide it.
    serde_json::to_vec(response).unwrap_or_default()
}

fn largest_key(data: &HashMap<String, String>) -> Option<String> {
    data.iter()
        .max_by_key(|(key, value)| (key.len() + value.len(), (*key).clone()))
        .map(|(key, _)| key.clone())
}

/// Cuts `text` to at most `limit` characters, ending with "..." when cut.
fn truncate_chars(text: &mut String, limit: usize) -> bool {
    if text.chars().count() <= limit {
        return false;
    }
    let keep = limit.saturating_sub(3);
    let cut = text
        .char_indices()
        .nth(keep)
        .map_or(text.len(), |(index, _)| index);
    text.truncate(cut);
    text.push_str("...");
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reason_keeps_its_ending_whole() {
        let then = "; the previous revision was started again";
        assert_eq!(reason_ending_with("short", then), format!("short{then}"));
        let long = "x".repeat(400);
        let fitted = reason_ending_with(&long, then);
        assert_eq!(fitted.chars().count(), MAX_REASON_CHARS);
        assert!(fitted.ends_with(&format!("...{then}")), "{fitted}");
    }
    use serde_json::{Value, json};
    use tokio::time::Instant;

    fn request(kind: &str) -> CustomResourceRequest {
        let mut event: Value =
            serde_json::from_str(include_str!("../../fixtures/cfn-create-cluster.json")).unwrap();
        event["RequestType"] = json!(kind);
        event["PhysicalResourceId"] = json!("arn:aws:ecs:us-east-1:1:cluster/c");
        event["OldResourceProperties"] = json!({});
        CustomResourceRequest::from_event(event, Instant::now()).unwrap()
    }

    fn decode(body: &[u8]) -> Value {
        serde_json::from_slice(body).unwrap()
    }

    #[test]
    fn success_carries_ids_data_and_no_echo() {
        let mut outcome = Outcome::new("arn:x").with("ClusterName", "c");
        outcome.no_echo = true;
        let (body, trimmed) = encode(success(&request("Create"), outcome));
        let body = decode(&body);
        assert_eq!(body["Status"], "SUCCESS");
        assert_eq!(body["PhysicalResourceId"], "arn:x");
        assert_eq!(body["LogicalResourceId"], "Cluster");
        assert_eq!(body["RequestId"], "6a1b2c3d-4e5f-6a7b-8c9d-0e1f2a3b4c5d");
        assert_eq!(body["Data"]["ClusterName"], "c");
        assert_eq!(body["NoEcho"], true);
        assert_eq!(trimmed, Trimmed::default());
    }

    #[test]
    fn failed_create_answers_the_sentinel_and_update_keeps_its_id() {
        let (body, _) = encode(failure(&request("Create"), "boom"));
        let id = decode(&body)["PhysicalResourceId"]
            .as_str()
            .unwrap()
            .to_owned();
        assert!(physical_id::is_failed_create(&id), "{id}");
        let (body, _) = encode(failure(&request("Update"), "boom"));
        assert_eq!(
            decode(&body)["PhysicalResourceId"],
            "arn:aws:ecs:us-east-1:1:cluster/c"
        );
        assert_eq!(decode(&body)["Status"], "FAILED");
    }

    #[test]
    fn long_reason_is_cut_on_a_character_boundary() {
        let reason = "é".repeat(400);
        let (body, trimmed) = encode(failure(&request("Create"), &reason));
        let sent = decode(&body)["Reason"].as_str().unwrap().to_owned();
        assert_eq!(sent.chars().count(), MAX_REASON_CHARS);
        assert!(sent.ends_with("..."));
        assert!(trimmed.reason_truncated);
    }

    #[test]
    fn oversized_data_drops_the_largest_entries_until_the_body_fits() {
        let outcome = Outcome::new("arn:x")
            .with("Small", "s")
            .with("Huge", "h".repeat(5000))
            .with("Big", "b".repeat(3000))
            .with("Medium", "m".repeat(2000));
        let (body, trimmed) = encode(success(&request("Create"), outcome));
        assert!(body.len() <= MAX_BODY_BYTES, "{}", body.len());
        assert_eq!(
            decode(&body)["Data"],
            json!({"Small": "s", "Medium": "m".repeat(2000)})
        );
        assert_eq!(
            trimmed.dropped_keys,
            vec!["Huge".to_owned(), "Big".to_owned()]
        );
    }
}
