//! `Custom::DateroTaskDefinition`: registers one revision of Datero's task definition and
//! deregisters exactly that revision on Delete.

use aws_sdk_ecs::Client;
use aws_sdk_ecs::types::{Compatibility, NetworkMode};
use datero_shared::aws::{aws_error, load_config};
use datero_shared::container;
use datero_shared::custom_resource::{Action, CustomResourceRequest, Outcome, serve};
use datero_shared::resources::task_definition::returned;
use datero_shared::resources::task_definition::{Persistence, TaskDefinitionSpec};
use datero_shared::{ResourceError, logging};
use tracing::{info, warn};

/// Clients and settings read once at start-up.
struct Context {
    ecs: Client,
    region: String,
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_runtime::Error> {
    logging::init();
    let config = load_config();
    let context = Context {
        ecs: Client::new(&config),
        region: config.region().map(ToString::to_string).unwrap_or_default(),
    };
    serve(|request| handle(request, &context)).await
}

async fn handle(
    request: CustomResourceRequest,
    context: &Context,
) -> Result<Outcome, ResourceError> {
    match &request.action {
        // Any change is a new revision: CloudFormation then deletes the old one.
        Action::Create | Action::Update { .. } => {
            let spec = TaskDefinitionSpec::parse(&request.properties)?;
            register(&request, &spec, context).await
        }
        Action::Delete {
            physical_resource_id,
        } => deregister(physical_resource_id, &context.ecs).await,
    }
}

async fn register(
    request: &CustomResourceRequest,
    spec: &TaskDefinitionSpec,
    context: &Context,
) -> Result<Outcome, ResourceError> {
    if spec.persistence == Persistence::Ephemeral {
        warn!(family = %spec.family, "no EfsFileSystemId or HostDataPath: Datero's data lives and dies with the task");
    }
    let tags = datero_shared::marks::ecs_tags(request.ownership_tags());
    let registered = context
        .ecs
        .register_task_definition()
        .family(&spec.family)
        .network_mode(NetworkMode::Bridge)
        .requires_compatibilities(Compatibility::Ec2)
        .execution_role_arn(&spec.execution_role_arn)
        .set_task_role_arn(spec.task_role_arn.clone())
        .set_container_definitions(Some(container::container_definitions(
            spec,
            &context.region,
        )?))
        .set_volumes(Some(container::volumes(spec)?))
        .set_tags(Some(tags))
        .send()
        .await
        .map_err(|error| aws_error("RegisterTaskDefinition", error))?;
    let definition = registered
        .task_definition()
        .ok_or(ResourceError::EmptyAnswer {
            action: "RegisterTaskDefinition",
            missing: "task definition",
        })?;
    let arn = definition
        .task_definition_arn()
        .unwrap_or_default()
        .to_owned();
    info!(
        decision = "registered",
        task_definition_arn = %arn,
        persistence = ?spec.persistence,
        "registered a new revision"
    );
    Ok(Outcome::new(arn.clone())
        .with(returned::TASK_DEFINITION_ARN, arn)
        .with(
            returned::FAMILY,
            definition.family().unwrap_or(&spec.family),
        )
        .with(returned::REVISION, definition.revision().to_string()))
}

/// Deregisters exactly the revision in the id; a revision that is unknown or already INACTIVE
/// is success, so a repeated Delete never leaves the stack in DELETE_FAILED.
async fn deregister(physical_resource_id: &str, ecs: &Client) -> Result<Outcome, ResourceError> {
    let outcome = Outcome::new(physical_resource_id);
    if datero_shared::resources::task::family_of(physical_resource_id).is_none() {
        info!(
            decision = "skip",
            physical_resource_id, "not a task-definition revision ARN: nothing to deregister"
        );
        return Ok(outcome);
    }
    match ecs
        .deregister_task_definition()
        .task_definition(physical_resource_id)
        .send()
        .await
    {
        Ok(_) => {
            info!(
                decision = "deregistered",
                task_definition_arn = physical_resource_id,
                "revision deregistered"
            );
            Ok(outcome)
        }
        // ECS answers ClientException for a revision it does not know or that is already gone.
        Err(error)
            if error
                .as_service_error()
                .is_some_and(|e| e.is_client_exception()) =>
        {
            info!(
                decision = "skip",
                task_definition_arn = physical_resource_id,
                error = %datero_shared::aws::error_message(&error),
                "revision already gone"
            );
            Ok(outcome)
        }
        Err(error) => Err(aws_error("DeregisterTaskDefinition", error)),
    }
}
