//! Errors shared by every function. Each carries what a user needs to act on it.

use thiserror::Error;

use crate::custom_resource::response::reason_ending_with;
use crate::postgres_major::MajorMismatch;

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
    /// Something AWS does was not done by the deadline; `what` says what, `then` what the user
    /// can do.
    #[error("{what} at the deadline; {then}")]
    Deadline { what: String, then: &'static str },
    /// Something this resource made or runs on is gone; `then` says what the user can do.
    #[error("{kind} {name} no longer exists; {then}")]
    Gone {
        kind: &'static str,
        name: String,
        then: &'static str,
    },
    /// Datero's new task was not up: `why` in ECS's and PostgreSQL's words, `after` what was
    /// done about it. The reason keeps `after` whole ([`reason_ending_with`]).
    #[error("{}", reason_ending_with(why, &after.to_string()))]
    NotUp { why: String, after: AfterNotUp },
    /// PostgreSQL refused another major's data and this rollout cannot move it.
    #[error("{}", .0.advice())]
    OtherMajor(MajorMismatch),
    /// A move to a new PostgreSQL major failed at a step (`why`); `after` where Datero is.
    #[error("{}", reason_ending_with(why, &after.to_string()))]
    MoveFailed { why: String, after: AfterFailedMove },
    /// A request to AWS could not be put together (a required field left empty): a bug here.
    #[error("internal error building an AWS request: {0}")]
    Build(#[from] aws_sdk_ecs::error::BuildError),
}

/// Why an event function failed an event: Lambda retries it, then keeps it in the function's
/// failure destination, with [`EventError::error_type`] as the record's `errorType`.
#[derive(Debug, Error)]
pub enum EventError {
    /// The payload is not an event this function takes; `shape` is what it was read as.
    #[error("malformed {shape}: {source}")]
    Malformed {
        shape: &'static str,
        #[source]
        source: serde_json::Error,
    },
    /// An action the event calls for failed.
    #[error(transparent)]
    Action(#[from] ResourceError),
}

impl EventError {
    /// The stable name of the kind of failure (the runtime would otherwise record the type name
    /// of a boxed error, the same for every failure).
    pub fn error_type(&self) -> &'static str {
        match self {
            Self::Malformed { .. } => "MalformedEvent",
            Self::Action(_) => "ActionFailed",
        }
    }
}

impl From<EventError> for lambda_runtime::Diagnostic {
    fn from(error: EventError) -> Self {
        Self {
            error_type: error.error_type().to_owned(),
            error_message: error.to_string(),
        }
    }
}

/// An environment variable a function cannot start without.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("environment variable {name} is required")]
pub struct MissingVariable {
    pub name: String,
}

/// What was done after Datero's new task was not up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AfterNotUp {
    /// Nothing ran before (a Create): nothing to bring back.
    Nothing,
    /// The previous revision was started again.
    PreviousStarted,
    /// Starting the previous revision again failed too.
    PreviousNotStarted(String),
    /// The new task was still stopping at the deadline: the previous revision was not started
    /// beside it (two servers on one data directory).
    StillStopping,
}

impl std::fmt::Display for AfterNotUp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Nothing => Ok(()),
            Self::PreviousStarted => f.write_str("; the previous revision was started again"),
            Self::PreviousNotStarted(error) => {
                write!(f, "; starting the previous revision again failed too: {error}")
            }
            Self::StillStopping => f.write_str(
                "; it was still stopping at the deadline, so the previous revision was not started beside it",
            ),
        }
    }
}

/// Where Datero is after a move to a new major failed; `from` is the old major.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AfterFailedMove {
    /// Before anything was stopped: nothing changed.
    Untouched,
    /// The dump failed: the old major still runs, its data unchanged.
    OldMajorRuns { from: u32 },
    /// The old major was started again on its data.
    OldMajorAgain { from: u32 },
    /// Starting the old major again failed; its data is untouched.
    OldMajorNotStarted { from: u32, error: String },
    /// The new task could not be stopped: Datero is down, the old data untouched.
    NewTaskNotStopped { from: u32, error: String },
}

impl std::fmt::Display for AfterFailedMove {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Untouched => f.write_str("; the data is untouched"),
            Self::OldMajorRuns { from } => {
                write!(f, "; Datero runs PostgreSQL {from} on its data, unchanged")
            }
            Self::OldMajorAgain { from } => write!(f, "; PostgreSQL {from} runs on its data again"),
            Self::OldMajorNotStarted { from, error } => write!(
                f,
                "; starting PostgreSQL {from} again failed too ({error}); its data is untouched"
            ),
            Self::NewTaskNotStopped { from, error } => write!(
                f,
                "; stopping the new task failed too ({error}): Datero is down, its PostgreSQL {from} data untouched"
            ),
        }
    }
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
    use super::{AfterFailedMove, AfterNotUp, ResourceError};
    use crate::custom_resource::response::MAX_REASON_CHARS;

    #[test]
    fn a_rollout_or_move_failure_always_ends_with_where_datero_is() {
        let long = "PostgreSQL said: ".to_owned() + &"x".repeat(400);
        for (error, ending) in [
            (
                ResourceError::NotUp {
                    why: long.clone(),
                    after: AfterNotUp::PreviousStarted,
                },
                "; the previous revision was started again".to_owned(),
            ),
            (
                ResourceError::MoveFailed {
                    why: long.clone(),
                    after: AfterFailedMove::OldMajorAgain { from: 17 },
                },
                "; PostgreSQL 17 runs on its data again".to_owned(),
            ),
        ] {
            let reason = error.to_string();
            assert!(reason.ends_with(&ending), "{reason}");
            assert_eq!(reason.chars().count(), MAX_REASON_CHARS);
        }
        let created = ResourceError::NotUp {
            why: "stopped".into(),
            after: AfterNotUp::Nothing,
        };
        assert_eq!(created.to_string(), "stopped");
        let late = ResourceError::Deadline {
            what: "mount target fsmt-1 was still being deleted".into(),
            then: "retry the update",
        };
        assert_eq!(
            late.to_string(),
            "mount target fsmt-1 was still being deleted at the deadline; retry the update"
        );
    }

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
