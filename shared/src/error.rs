//! Errors shared by every function. Each carries what a user needs to act on it.

use thiserror::Error;

/// A resource property that is missing, malformed, or not accepted.
///
/// The message always names the property and what was expected; it is what CloudFormation
/// shows as the `Reason` of a failed Create or Update.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum PropertyError {
    /// `ResourceProperties` was not a JSON object.
    #[error("ResourceProperties must be a JSON object, got {found}")]
    NotAnObject { found: String },
    /// A required property is absent or empty.
    #[error("property {name} is required: expected {expected}")]
    Missing { name: String, expected: String },
    /// A property is present but its value does not fit.
    #[error("property {name} is invalid: expected {expected}, got {found}")]
    Invalid {
        name: String,
        expected: String,
        found: String,
    },
    /// Properties this resource type does not know.
    #[error("unknown properties {names}; accepted: {accepted}")]
    Unknown { names: String, accepted: String },
    /// Two properties that exclude each other are both set.
    #[error("properties {first} and {second} cannot both be set: {why}")]
    Conflict {
        first: String,
        second: String,
        why: String,
    },
}

/// Why a custom-resource handler could not do what CloudFormation asked.
#[derive(Debug, Error)]
pub enum ResourceError {
    /// Bad input: nothing was created.
    #[error(transparent)]
    Property(#[from] PropertyError),
    /// An AWS API call failed; `action` is the API operation, `message` the service's words.
    #[error("{action} failed: {message}")]
    Aws {
        action: &'static str,
        message: String,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// Something the request names does not exist; `property` is the one that named it.
    #[error("{kind} {name} not found in this account and Region{}", property_hint(*.property))]
    NotFound {
        kind: &'static str,
        name: String,
        property: Option<&'static str>,
    },
    /// A name the request asks for is held by something this stack did not make.
    #[error(
        "{kind} {name} already exists and was not made by this stack (property {property}): choose another name"
    )]
    NameTaken {
        kind: &'static str,
        name: String,
        property: &'static str,
    },
    /// Tasks that had to stop first were still running at the deadline; `what` names them and
    /// `then` says what the user can do.
    #[error("{what} did not stop in time{then}")]
    NotStopped { what: String, then: &'static str },
    /// An update would replace the instance that holds Datero's data (DataPersistence=instance)
    /// and the stack does not accept losing it; nothing was stopped.
    #[error(
        "this update replaces Datero's instance ({why}), and its data is on that instance's disk (DataPersistence=instance): refused. Back up, then deploy again with AllowInstanceDataLoss=true, or revert the change"
    )]
    InstanceReplacementRefused { why: String },
    /// ECS ran no task; `reasons` are its placement failures.
    #[error("ECS placed no Datero task on cluster {cluster}: {reasons}")]
    NotPlaced { cluster: String, reasons: String },
    /// A successful AWS answer without the object it exists to return.
    #[error("{action} answered no {missing}")]
    EmptyAnswer {
        action: &'static str,
        missing: &'static str,
    },
    /// A message of ours could not be encoded: a bug here.
    #[error("cannot encode {what}: {source}")]
    Encode {
        what: &'static str,
        #[source]
        source: serde_json::Error,
    },
    /// EFS mount targets cannot be made as asked.
    #[error(transparent)]
    MountTargets(#[from] crate::mount_targets::Refusal),
    /// Public mode's edge cannot be set up as asked.
    #[error(transparent)]
    Edge(#[from] crate::edge::Refusal),
    /// The request was understood and AWS answered, but the outcome is a failure that fits
    /// none of the variants above (a rollout that did not run, ...).
    #[error("{0}")]
    Failed(String),
    /// A request to AWS could not be put together (a required field left empty): a bug here.
    #[error("internal error building an AWS request: {0}")]
    Build(#[from] aws_sdk_ecs::error::BuildError),
}

fn property_hint(property: Option<&'static str>) -> String {
    property.map_or_else(String::new, |name| format!(" (property {name})"))
}

/// Why the answer to CloudFormation could not be delivered.
#[derive(Debug, Error)]
pub enum ResponseError {
    /// The HTTP client could not be built (TLS set-up).
    #[error("cannot build the HTTP client: {0}")]
    Client(String),
    /// Every attempt failed; `last` says how the last one did.
    #[error("gave up after {attempts} attempt(s): {last}")]
    GaveUp { attempts: u32, last: String },
    /// The ResponseURL refused the answer with a client error; retrying cannot help.
    #[error("ResponseURL refused the answer with HTTP {status}")]
    Refused { status: u16 },
}

#[cfg(test)]
mod tests {
    use super::ResourceError;

    #[test]
    fn the_recurring_failures_keep_their_messages() {
        let missing = ResourceError::NotFound {
            kind: "Auto Scaling group",
            name: "g".into(),
            property: Some("AutoScalingGroupName"),
        };
        assert_eq!(
            missing.to_string(),
            "Auto Scaling group g not found in this account and Region (property AutoScalingGroupName)"
        );
        let missing = ResourceError::NotFound {
            kind: "Elastic IP",
            name: "eipalloc-1".into(),
            property: None,
        };
        assert_eq!(
            missing.to_string(),
            "Elastic IP eipalloc-1 not found in this account and Region"
        );
        let taken = ResourceError::NameTaken {
            kind: "cluster",
            name: "c".into(),
            property: "ClusterName",
        };
        assert_eq!(
            taken.to_string(),
            "cluster c already exists and was not made by this stack (property ClusterName): choose another name"
        );
        let late = ResourceError::NotStopped {
            what: "the previous Datero task".into(),
            then: "",
        };
        assert_eq!(
            late.to_string(),
            "the previous Datero task did not stop in time"
        );
    }

    #[test]
    fn an_encoding_failure_keeps_its_source() {
        use std::error::Error;
        let source = serde_json::from_str::<u8>("x").unwrap_err();
        let error = ResourceError::Encode {
            what: "the delayed restart",
            source,
        };
        assert!(error.source().is_some());
    }
}
