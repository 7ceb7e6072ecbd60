//! The event functions' wiring, written once (the restarter and the Elastic IP keeper): the
//! Lambda runtime, a metrics recorder per invocation, and a failure that is logged, counted as
//! the function's failure measurement and answered with a stable `errorType`
//! ([`EventError::error_type`]), which is what a record in the failure destination shows.

use std::future::Future;

use lambda_runtime::{LambdaEvent, service_fn};
use serde_json::Value;
use tracing::warn;

use crate::error::EventError;
use crate::metrics::{Measurement, Recorder};

/// Runs `handler` on every event until the runtime stops; `cluster_name` is every metric's
/// dimension and `failure` what a failed event counts as.
pub async fn serve<F, Fut>(
    cluster_name: &str,
    failure: Measurement,
    handler: F,
) -> Result<(), lambda_runtime::Error>
where
    F: Fn(Value, Recorder) -> Fut,
    Fut: Future<Output = Result<(), EventError>>,
{
    let (handler, failure) = (&handler, &failure);
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| async move {
        let metrics = Recorder::new(cluster_name, &event.context.request_id);
        let answer = handler(event.payload, metrics.clone()).await;
        if let Err(error) = &answer {
            warn!(error_type = error.error_type(), %error, "the event failed: Lambda retries it, then keeps it in the failure destination");
            metrics.record(failure);
        }
        answer
    }))
    .await
}
