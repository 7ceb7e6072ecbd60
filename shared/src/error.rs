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
    #[error("unknown properties {names}; accepted properties are {accepted}")]
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
    },
    /// The request was understood and AWS answered, but the outcome is a failure
    /// (a task that stopped before it ran, a group that does not exist, ...).
    #[error("{0}")]
    Failed(String),
    /// A request to AWS could not be put together (a required field left empty): a bug here.
    #[error("internal error building an AWS request: {0}")]
    Build(#[from] aws_sdk_ecs::error::BuildError),
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
