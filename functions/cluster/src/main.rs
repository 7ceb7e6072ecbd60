//! Placeholder until its issue lands: parses the request and answers, acting on nothing.

use datero_shared::custom_resource::{Action, CustomResourceRequest, Outcome, serve};
use datero_shared::{ResourceError, logging};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_runtime::Error> {
    logging::init();
    serve(handle).await
}

async fn handle(request: CustomResourceRequest) -> Result<Outcome, ResourceError> {
    match &request.action {
        Action::Delete {
            physical_resource_id,
        } => Ok(Outcome::new(physical_resource_id.clone())),
        _ => Err(ResourceError::Failed("not implemented yet".into())),
    }
}
