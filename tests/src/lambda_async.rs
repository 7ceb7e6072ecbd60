//! Lambda's asynchronous invocation, as EventBridge uses it: the event, Lambda's retries when
//! the function fails, then an on-failure record sent to the function's destination with the
//! function's own credentials (Lambda guide, "Asynchronous invocation" and "Capturing records of
//! asynchronous invocations"). The local Runtime API alone plays one synchronous invocation.

use std::time::Duration;

use serde_json::{Value, json};

use crate::runtime_api::{Invocation, RuntimeApi};

/// Where a failed asynchronous invocation ends.
#[derive(Debug, Clone, PartialEq)]
pub enum AsyncOutcome {
    /// One of the tries succeeded; how many were made.
    Succeeded { tries: u32 },
    /// Every try failed; the record was sent to the destination.
    SentToDestination { tries: u32, record: Value },
}

/// Invokes `api` with `event` once plus up to `retries` times while it fails; when every try
/// fails, sends Lambda's on-failure record to the SQS queue `destination_url` through `sqs`
/// (a client signing as the function, so that the function's role must allow it).
pub async fn invoke(
    api: &RuntimeApi,
    event: Value,
    retries: u32,
    function_arn: &str,
    sqs: &aws_sdk_sqs::Client,
    destination_url: &str,
) -> Result<AsyncOutcome, String> {
    let mut last = Invocation::NoAnswer;
    for tries in 1..=retries + 1 {
        last = api.invoke(event.clone(), Duration::from_secs(30)).await;
        if matches!(last, Invocation::Response(_)) {
            return Ok(AsyncOutcome::Succeeded { tries });
        }
    }
    let error = match last {
        Invocation::Error(error) => error,
        other => json!({"errorMessage": format!("{other:?}")}),
    };
    let record = json!({
        "version": "1.0",
        "requestContext": {
            "functionArn": format!("{function_arn}:$LATEST"),
            "condition": "RetriesExhausted",
            "approximateInvokeCount": retries + 1,
        },
        "requestPayload": event,
        "responseContext": {"statusCode": 200, "executedVersion": "$LATEST", "functionError": "Unhandled"},
        "responsePayload": error,
    });
    sqs.send_message()
        .queue_url(destination_url)
        .message_body(record.to_string())
        .send()
        .await
        .map_err(|error| {
            format!("Lambda could not send to the on-failure destination: {error:?}")
        })?;
    Ok(AsyncOutcome::SentToDestination {
        tries: retries + 1,
        record,
    })
}
