//! The entry point every custom-resource function runs: it answers CloudFormation in every case.

use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::time::{Duration, SystemTime};

use aws_lambda_events::cloudformation::CloudFormationCustomResourceResponse;
use futures_util::FutureExt;
use lambda_runtime::{Error, LambdaEvent, service_fn};
use serde_json::Value;
use tokio::time::Instant;
use tracing::{error, info, warn};

use super::physical_id;
use super::request::{Action, CustomResourceRequest};
use super::response::{self, Outcome};
use super::sender::{ResponseSender, SenderSettings};
use crate::error::ResourceError;
use crate::logging::redact_url;

/// Time kept back before the Lambda deadline to answer FAILED if the handler is still running.
pub const WATCHDOG_MARGIN: Duration = Duration::from_secs(8);

/// Runs `handler` under the Lambda runtime until the process ends.
pub async fn serve<H, Fut>(handler: H) -> Result<(), Error>
where
    H: Fn(CustomResourceRequest) -> Fut,
    Fut: Future<Output = Result<Outcome, ResourceError>>,
{
    let sender = ResponseSender::new(SenderSettings::default());
    let handler = &handler;
    let sender = &sender;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| async move {
        answer(event, handler, sender, WATCHDOG_MARGIN).await
    }))
    .await
}

/// Handles one invocation: reads the request, runs the handler under a watchdog that fires
/// `margin` before the Lambda deadline, catches a panic, and PUTs exactly one answer.
///
/// Returns `Ok` once an answer was attempted: CloudFormation invokes asynchronously, and an
/// `Err` would make Lambda run the request again. Only an event that is not a custom-resource
/// request at all (nowhere to answer) is an `Err`.
pub async fn answer<H, Fut>(
    event: LambdaEvent<Value>,
    handler: &H,
    sender: &ResponseSender,
    margin: Duration,
) -> Result<(), Error>
where
    H: Fn(CustomResourceRequest) -> Fut,
    Fut: Future<Output = Result<Outcome, ResourceError>>,
{
    let lambda_deadline = instant_of(event.context.deadline());
    let watchdog = lambda_deadline - margin.min(remaining(lambda_deadline) / 2);
    let request = match CustomResourceRequest::from_event(event.payload, watchdog) {
        Ok(request) => request,
        Err(malformed) => {
            error!(error = %malformed, "event ignored: cannot answer it");
            return Err(malformed.into());
        }
    };
    info!(
        request_type = request.request_type(),
        logical_resource_id = %request.logical_resource_id,
        physical_resource_id = request.physical_resource_id().unwrap_or(""),
        response_url = redact_url(&request.response_url),
        "request received"
    );

    let response = match supervise(&request, handler, watchdog).await {
        Ok(outcome) => response::success(&request, outcome),
        Err(reason) => {
            warn!(request_type = request.request_type(), %reason, "answering FAILED");
            response::failure(&request, &reason)
        }
    };
    deliver(&request, response, sender, lambda_deadline).await;
    Ok(())
}

/// Encodes the answer within CloudFormation's limits and PUTs it, logging how that went.
async fn deliver(
    request: &CustomResourceRequest,
    response: CloudFormationCustomResourceResponse,
    sender: &ResponseSender,
    lambda_deadline: Instant,
) {
    let status = format!("{:?}", response.status).to_uppercase();
    let (body, trimmed) = response::encode(response);
    if trimmed.reason_truncated || !trimmed.dropped_keys.is_empty() {
        warn!(
            reason_truncated = trimmed.reason_truncated,
            dropped_data_keys = ?trimmed.dropped_keys,
            "answer trimmed to CloudFormation's limits"
        );
    }
    match sender
        .put(&request.response_url, body, lambda_deadline)
        .await
    {
        Ok(delivery) => info!(
            %status,
            attempts = delivery.attempts,
            http_status = delivery.status,
            "answer delivered"
        ),
        Err(failure) => error!(
            %status,
            error = %failure,
            response_url = redact_url(&request.response_url),
            "answer NOT delivered: CloudFormation will wait for the resource's ServiceTimeout"
        ),
    }
}

/// An empty `PhysicalResourceId` (an SDK field that came back `None`) would make
/// CloudFormation replace or lose the resource: refused here, once, for every handler. An Update
/// or Delete keeps the id it was given; a Create fails.
fn refuse_empty_id(request: &CustomResourceRequest, outcome: Outcome) -> Result<Outcome, String> {
    if !outcome.physical_resource_id.trim().is_empty() {
        return Ok(outcome);
    }
    match request.physical_resource_id() {
        Some(given) if !given.is_empty() => {
            warn!(
                decision = "keep id",
                "the handler answered an empty physical resource id; the one given is kept"
            );
            Ok(Outcome {
                physical_resource_id: given.to_owned(),
                ..outcome
            })
        }
        _ => Err(format!(
            "internal error in {}: AWS answered without the new resource's id; see the function's log",
            request.resource_type
        )),
    }
}

/// Runs the handler (under the watchdog, a panic caught): its result as an outcome or a
/// `Reason`, with the protocol's own rules first.
async fn supervise<H, Fut>(
    request: &CustomResourceRequest,
    handler: &H,
    watchdog: Instant,
) -> Result<Outcome, String>
where
    H: Fn(CustomResourceRequest) -> Fut,
    Fut: Future<Output = Result<Outcome, ResourceError>>,
{
    if let Action::Delete {
        physical_resource_id,
    } = &request.action
        && physical_id::is_failed_create(physical_resource_id)
    {
        info!(
            decision = "skip",
            "nothing to delete: the Create had failed"
        );
        return Ok(Outcome::new(physical_resource_id.clone()));
    }
    let run = AssertUnwindSafe(handler(request.clone())).catch_unwind();
    tokio::select! {
        result = run => match result {
            Ok(Ok(outcome)) => refuse_empty_id(request, outcome),
            Ok(Err(failure)) => Err(failure.to_string()),
            Err(panic) => {
                let message = panic_message(panic.as_ref());
                error!(panic = %message, "handler panicked");
                Err(format!("internal error in {}: {message}; see the function's log", request.resource_type))
            }
        },
        () = tokio::time::sleep_until(watchdog) => {
            error!("handler still running near the Lambda deadline; answering FAILED");
            Err("timed out: the function was still working near its Lambda deadline; see its log".to_owned())
        }
    }
}

fn panic_message(panic: &(dyn std::any::Any + Send)) -> String {
    panic
        .downcast_ref::<&str>()
        .map(|text| (*text).to_owned())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "panic".to_owned())
}

/// The monotonic instant of a wall-clock deadline.
fn instant_of(deadline: SystemTime) -> Instant {
    let now = Instant::now();
    match deadline.duration_since(SystemTime::now()) {
        Ok(left) => now + left,
        Err(_) => now,
    }
}

fn remaining(deadline: Instant) -> Duration {
    deadline.saturating_duration_since(Instant::now())
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use super::{CustomResourceRequest, Outcome, refuse_empty_id};

    fn request(change: impl FnOnce(&mut Value)) -> CustomResourceRequest {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/fixtures/cfn-create-cluster.json"
        );
        let mut event: Value =
            serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
        change(&mut event);
        CustomResourceRequest::from_event(event, tokio::time::Instant::now()).unwrap()
    }

    #[test]
    fn an_id_is_passed_through() {
        let outcome = refuse_empty_id(&request(|_| {}), Outcome::new("arn:x")).unwrap();
        assert_eq!(outcome.physical_resource_id, "arn:x");
    }

    #[test]
    fn an_empty_id_fails_a_create() {
        let reason =
            refuse_empty_id(&request(|_| {}), Outcome::new("").with("A", "1")).unwrap_err();
        assert!(reason.contains("without the new resource's id"), "{reason}");
    }

    #[test]
    fn an_empty_id_keeps_the_given_one_on_update_and_delete() {
        for kind in ["Update", "Delete"] {
            let update = request(|event| {
                event["RequestType"] = json!(kind);
                event["PhysicalResourceId"] = json!("arn:given");
                event["OldResourceProperties"] = event["ResourceProperties"].clone();
            });
            let outcome = refuse_empty_id(&update, Outcome::new(" ").with("A", "1")).unwrap();
            assert_eq!(outcome.physical_resource_id, "arn:given", "{kind}");
            assert_eq!(outcome.data["A"], "1");
        }
    }
}
