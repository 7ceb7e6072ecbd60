//! Placeholder until its issue lands.

use lambda_runtime::{LambdaEvent, service_fn};
use serde_json::Value;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_runtime::Error> {
    datero_shared::logging::init();
    lambda_runtime::run(service_fn(|event: LambdaEvent<Value>| async move {
        tracing::info!(
            id = event.payload["id"].as_str().unwrap_or(""),
            "event received"
        );
        Ok::<(), lambda_runtime::Error>(())
    }))
    .await
}
