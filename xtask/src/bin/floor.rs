//! The floor of the benchmark's cold starts: a Lambda function that does nothing, on the same
//! runtime crate, Tokio flavour and release profile as the product's functions. `bench` starts it
//! in the same run as them and prints each function's cold start as a multiple of this one's
//! (issue 26).

use lambda_runtime::{Error, LambdaEvent, service_fn};
use serde_json::Value;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    lambda_runtime::run(service_fn(|_: LambdaEvent<Value>| async {
        Ok::<(), Error>(())
    }))
    .await
}
