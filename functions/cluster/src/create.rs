//! Create: protection, cluster, provider, default strategy; undone step by step on failure.

use datero_shared::ResourceError;
use datero_shared::custom_resource::{CustomResourceRequest, Outcome};
use datero_shared::resources::cluster::ClusterSpec;
use tokio::time::Instant;
use tracing::{info, warn};

use crate::{Context, ecs_ops, group, outcome};

/// Something this request made, to be unmade if a later step fails.
#[derive(Debug)]
enum Made {
    /// The group's protection, which was off before.
    Protection(String),
    Cluster(String),
    Provider(String),
    Attachment(String),
}

/// Makes the cluster and its provider; on failure leaves nothing this request made.
pub async fn create(
    request: &CustomResourceRequest,
    spec: &ClusterSpec,
    clients: &Context,
) -> Result<Outcome, ResourceError> {
    let mut made = Vec::new();
    match make(request, spec, clients, &mut made).await {
        Ok(cluster_arn) => {
            info!(decision = "created", cluster = %spec.cluster_name, provider = %spec.capacity_provider_name, "cluster ready");
            Ok(outcome(&cluster_arn, spec))
        }
        Err(failure) => {
            warn!(error = %failure, undo = ?made, "create failed; undoing what it made");
            undo(made, clients, request.deadline).await;
            Err(failure)
        }
    }
}

async fn make(
    request: &CustomResourceRequest,
    spec: &ClusterSpec,
    clients: &Context,
    made: &mut Vec<Made>,
) -> Result<String, ResourceError> {
    let group = group::require(clients, &spec.auto_scaling_group).await?;
    let group_arn = group
        .auto_scaling_group_arn()
        .unwrap_or_default()
        .to_owned();
    if spec.managed_termination_protection
        && group.new_instances_protected_from_scale_in() != Some(true)
    {
        group::set_protection(clients, &group, true).await?;
        made.push(Made::Protection(spec.auto_scaling_group.clone()));
    }

    let cluster_arn = ensure_cluster(request, spec, clients, made).await?;
    ensure_provider(request, spec, &group_arn, clients, made).await?;

    ecs_ops::attach(
        clients,
        &spec.cluster_name,
        &spec.capacity_provider_name,
        request.deadline,
    )
    .await?;
    made.push(Made::Attachment(spec.cluster_name.clone()));
    Ok(cluster_arn)
}

/// The stack's cluster: made now, or found from a repeated delivery of this Create.
async fn ensure_cluster(
    request: &CustomResourceRequest,
    spec: &ClusterSpec,
    clients: &Context,
    made: &mut Vec<Made>,
) -> Result<String, ResourceError> {
    let arn = match ecs_ops::active_cluster(clients, &spec.cluster_name).await? {
        // A repeated delivery of this same Create: the cluster is ours already.
        Some(cluster) if ecs_ops::made_by(request, cluster.tags()) => {
            cluster.cluster_arn().unwrap_or_default().to_owned()
        }
        Some(_) => {
            return Err(ResourceError::NameTaken {
                kind: "cluster",
                name: spec.cluster_name.clone(),
                property: "ClusterName",
            });
        }
        None => {
            let cluster = ecs_ops::create_cluster(clients, request, spec).await?;
            made.push(Made::Cluster(spec.cluster_name.clone()));
            cluster.cluster_arn().unwrap_or_default().to_owned()
        }
    };
    Ok(arn)
}

/// The stack's capacity provider on `group_arn`: made now, or found from a repeated delivery.
async fn ensure_provider(
    request: &CustomResourceRequest,
    spec: &ClusterSpec,
    group_arn: &str,
    clients: &Context,
    made: &mut Vec<Made>,
) -> Result<(), ResourceError> {
    match ecs_ops::active_provider(clients, &spec.capacity_provider_name).await? {
        Some(provider)
            if provider_group(&provider) == Some(group_arn)
                && ecs_ops::made_by(request, provider.tags()) => {}
        Some(_) => {
            return Err(ResourceError::NameTaken {
                kind: "capacity provider",
                name: spec.capacity_provider_name.clone(),
                property: "CapacityProviderName",
            });
        }
        None => {
            ecs_ops::create_provider(clients, request, spec, group_arn).await?;
            made.push(Made::Provider(spec.capacity_provider_name.clone()));
        }
    }
    Ok(())
}

fn provider_group(provider: &aws_sdk_ecs::types::CapacityProvider) -> Option<&str> {
    provider
        .auto_scaling_group_provider()
        .map(|asg| asg.auto_scaling_group_arn())
}

/// Unmakes in reverse order; each step is best effort and logged, since the answer is
/// FAILED already and the original error is what the user needs to see.
async fn undo(made: Vec<Made>, clients: &Context, deadline: Instant) {
    for step in made.into_iter().rev() {
        let result = match &step {
            Made::Attachment(cluster) => ecs_ops::detach_all(clients, cluster, deadline).await,
            Made::Provider(name) => ecs_ops::delete_provider(clients, name, deadline).await,
            Made::Cluster(name) => ecs_ops::delete_cluster(clients, name, deadline).await,
            Made::Protection(name) => match group::describe(clients, name).await {
                Ok(Some(group)) => group::set_protection(clients, &group, false).await,
                other => other.map(|_| ()),
            },
        };
        match result {
            Ok(()) => info!(step = ?step, "undone"),
            Err(error) => warn!(step = ?step, %error, "could not undo"),
        }
    }
}
