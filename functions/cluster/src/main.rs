//! `Custom::DateroCluster`: an ECS cluster with an EC2 capacity provider over an existing Auto
//! Scaling group, made the cluster's default strategy; torn down so that nothing blocks the
//! stack's deletion. The same function serves the stack's other infrastructure:
//! `Custom::DateroMountTargets`, an EFS mount target in each zone the group may use, and
//! `Custom::DateroEdge`, what CloudFront needs to reach Datero in public mode.

mod create;
mod delete;
mod ecs_ops;
mod edge;
mod group;
mod mount_targets;
mod update;

use datero_shared::custom_resource::{Action, CustomResourceRequest, Outcome, serve};
use datero_shared::resources::cluster::ClusterSpec;
use datero_shared::resources::cluster::returned;
use datero_shared::resources::edge::{EdgeSpec, rotation_of};
use datero_shared::resources::mount_targets::MountTargetsSpec;
use datero_shared::{ResourceError, aws, logging};

/// The AWS clients, built once per process.
pub struct Context {
    pub ecs: aws_sdk_ecs::Client,
    pub autoscaling: aws_sdk_autoscaling::Client,
    pub efs: aws_sdk_efs::Client,
    pub ec2: datero_shared::ec2::Ec2,
    pub secretsmanager: aws_sdk_secretsmanager::Client,
}

/// The resource types this function also serves.
const MOUNT_TARGETS: &str = "Custom::DateroMountTargets";
const EDGE: &str = "Custom::DateroEdge";

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_runtime::Error> {
    logging::init();
    let config = aws::load_config();
    let clients = Context {
        ecs: aws_sdk_ecs::Client::new(&config),
        autoscaling: aws_sdk_autoscaling::Client::new(&config),
        efs: aws_sdk_efs::Client::new(&config),
        ec2: datero_shared::ec2::Ec2::new(&config),
        secretsmanager: aws_sdk_secretsmanager::Client::new(&config),
    };
    serve(|request| handle(request, &clients)).await
}

async fn handle(
    request: CustomResourceRequest,
    clients: &Context,
) -> Result<Outcome, ResourceError> {
    if request.resource_type == MOUNT_TARGETS {
        return handle_mount_targets(&request, &clients.efs).await;
    }
    if request.resource_type == EDGE {
        return match &request.action {
            Action::Create => {
                let spec = EdgeSpec::parse(&request.properties)?;
                edge::resolve(&request, &spec, false, clients).await
            }
            Action::Update { old_properties, .. } => {
                let spec = EdgeSpec::parse(&request.properties)?;
                let rotation_changed = rotation_of(old_properties) != spec.rotation;
                edge::resolve(&request, &spec, rotation_changed, clients).await
            }
            Action::Delete {
                physical_resource_id,
            } => Ok(edge::delete(physical_resource_id)),
        };
    }
    match &request.action {
        Action::Create => {
            let spec = ClusterSpec::parse(&request.properties, request.stack_name())?;
            create::create(&request, &spec, clients).await
        }
        Action::Update {
            physical_resource_id,
            old_properties,
        } => {
            let new = ClusterSpec::parse(&request.properties, request.stack_name())?;
            update::update(
                &request,
                physical_resource_id,
                old_properties,
                &new,
                clients,
            )
            .await
        }
        Action::Delete {
            physical_resource_id,
        } => {
            delete::delete(
                physical_resource_id,
                &request.properties,
                request.deadline,
                clients,
            )
            .await
        }
    }
}

async fn handle_mount_targets(
    request: &CustomResourceRequest,
    efs: &aws_sdk_efs::Client,
) -> Result<Outcome, ResourceError> {
    match &request.action {
        Action::Create => {
            let spec = MountTargetsSpec::parse(&request.properties)?;
            mount_targets::ensure(request, &spec, true, efs).await
        }
        // A new file system is a new physical ID: CloudFormation deletes the old one's after.
        Action::Update { .. } => {
            let spec = MountTargetsSpec::parse(&request.properties)?;
            mount_targets::ensure(request, &spec, false, efs).await
        }
        Action::Delete {
            physical_resource_id,
        } => mount_targets::delete(physical_resource_id, request.deadline, efs).await,
    }
}

/// What CloudFormation reads back: the cluster's ARN as id, and its names as attributes.
fn outcome(cluster_arn: &str, spec: &ClusterSpec) -> Outcome {
    Outcome::new(cluster_arn)
        .with(returned::CLUSTER_NAME, &spec.cluster_name)
        .with(returned::CLUSTER_ARN, cluster_arn)
        .with(
            returned::CAPACITY_PROVIDER_NAME,
            &spec.capacity_provider_name,
        )
}
