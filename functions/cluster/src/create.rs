//! Create: protection, cluster, provider, default strategy; undone step by step on failure.

use datero_shared::ResourceError;
use datero_shared::custom_resource::{CustomResourceRequest, Outcome};
use datero_shared::resources::cluster::{ClusterSpec, CreateFacts, Found};
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

/// gather (the group, and what holds the two names) -> decide ([`ClusterSpec::plan_create`]) ->
/// act, recording each step made in `made` for [`undo`].
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
    let cluster = ecs_ops::active_cluster(clients, &spec.cluster_name).await?;
    let provider = ecs_ops::active_provider(clients, &spec.capacity_provider_name).await?;
    let facts = CreateFacts {
        group_protected: group.new_instances_protected_from_scale_in() == Some(true),
        cluster: found(
            cluster
                .as_ref()
                .map(|c| ecs_ops::made_by(request, c.tags())),
        ),
        provider: found(provider.as_ref().map(|p| {
            provider_group(p) == Some(group_arn.as_str()) && ecs_ops::made_by(request, p.tags())
        })),
    };
    let plan = spec.plan_create(&facts)?;
    info!(decision = ?plan, found = ?facts, "create planned");

    if plan.protect_group {
        group::set_protection(clients, &group, true).await?;
        made.push(Made::Protection(spec.auto_scaling_group.clone()));
    }
    let cluster_arn = if plan.make_cluster {
        let made_now = ecs_ops::create_cluster(clients, request, spec).await?;
        made.push(Made::Cluster(spec.cluster_name.clone()));
        made_now.cluster_arn().unwrap_or_default().to_owned()
    } else {
        cluster
            .as_ref()
            .and_then(|c| c.cluster_arn())
            .unwrap_or_default()
            .to_owned()
    };
    if plan.make_provider {
        ecs_ops::create_provider(clients, request, spec, &group_arn).await?;
        made.push(Made::Provider(spec.capacity_provider_name.clone()));
    }
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

/// What holds a name: nothing, this resource's own (`Some(true)`), or something else.
fn found(ours: Option<bool>) -> Found {
    match ours {
        None => Found::Absent,
        Some(true) => Found::Ours,
        Some(false) => Found::Taken,
    }
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
