//! The CloudFormation custom-resource protocol.
//!
//! A function hands [`serve()`] an async handler; `serve` answers CloudFormation whatever the
//! handler does: returns, fails, panics, or outlives the Lambda deadline.

pub mod physical_id;
pub mod request;
pub mod response;
pub mod sender;
pub mod serve;

pub use request::{Action, CustomResourceRequest};
pub use response::Outcome;
pub use sender::{ResponseSender, SenderSettings};
pub use serve::{answer, serve};
