//! Update: in place where ECS allows it (same id); a new cluster when its name changes.

use datero_shared::ResourceError;
use datero_shared::custom_resource::{CustomResourceRequest, Outcome};
use datero_shared::resources::cluster::{ClusterSpec, ProtectionSteps, ProviderChange, UpdatePlan};
use serde_json::Value;
use tracing::info;

use crate::{Context, create, ecs_ops, group, outcome};

pub async fn update(
    request: &CustomResourceRequest,
    cluster_arn: &str,
    old_properties: &Value,
    new: &ClusterSpec,
    clients: &Context,
) -> Result<Outcome, ResourceError> {
    // The old properties were accepted when they were applied; if they no longer parse, only a
    // new cluster is safe.
    let plan = ClusterSpec::parse(old_properties, request.stack_name())
        .map(|old| (old.plan_update(new), Some(old)))
        .unwrap_or((UpdatePlan::NewCluster, None));
    info!(decision = ?plan.0, "update planned");
    match plan {
        (UpdatePlan::NewCluster, _) | (_, None) => create::create(request, new, clients).await,
        (
            UpdatePlan::InPlace {
                provider,
                protection,
                insights_changed,
            },
            Some(old),
        ) => {
            if ecs_ops::active_cluster(clients, &new.cluster_name)
                .await?
                .is_none()
            {
                return Err(ResourceError::Gone {
                    kind: "cluster",
                    name: new.cluster_name.clone(),
                    then: "delete and recreate the resource",
                });
            }
            change_provider(request, &old, new, provider, protection, clients).await?;
            if insights_changed {
                ecs_ops::set_insights(clients, &new.cluster_name, new.container_insights).await?;
            }
            Ok(outcome(cluster_arn, new))
        }
    }
}

async fn change_provider(
    request: &CustomResourceRequest,
    old: &ClusterSpec,
    new: &ClusterSpec,
    change: ProviderChange,
    protection: ProtectionSteps,
    clients: &Context,
) -> Result<(), ResourceError> {
    let new_group = group::require(clients, &new.auto_scaling_group).await?;
    if protection.protect_new_group {
        group::set_protection(clients, &new_group, true).await?;
    }
    match change {
        ProviderChange::None => {}
        ProviderChange::Update => ecs_ops::update_provider(clients, new).await?,
        ProviderChange::Replace => replace_provider(request, old, new, &new_group, clients).await?,
    }
    if protection.release_old_group
        && let Some(group) = group::describe(clients, &old.auto_scaling_group).await?
    {
        group::set_protection(clients, &group, false).await?;
    }
    if protection.release_new_group {
        group::set_protection(clients, &new_group, false).await?;
    }
    Ok(())
}

/// A provider cannot change its group or name: make the new one, attach it, delete the old.
/// The cluster's id stays, so CloudFormation will not delete anything: this Update must.
async fn replace_provider(
    request: &CustomResourceRequest,
    old: &ClusterSpec,
    new: &ClusterSpec,
    new_group: &aws_sdk_autoscaling::types::AutoScalingGroup,
    clients: &Context,
) -> Result<(), ResourceError> {
    let group_arn = new_group.auto_scaling_group_arn().unwrap_or_default();
    if old.capacity_provider_name == new.capacity_provider_name {
        // Same name: the old one has to go first.
        ecs_ops::detach_all(clients, &new.cluster_name, request.deadline).await?;
        ecs_ops::delete_provider(clients, &old.capacity_provider_name, request.deadline).await?;
        ecs_ops::create_provider(clients, request, new, group_arn).await?;
        ecs_ops::attach(
            clients,
            &new.cluster_name,
            &new.capacity_provider_name,
            request.deadline,
        )
        .await?;
    } else {
        ecs_ops::create_provider(clients, request, new, group_arn).await?;
        ecs_ops::attach(
            clients,
            &new.cluster_name,
            &new.capacity_provider_name,
            request.deadline,
        )
        .await?;
        ecs_ops::delete_provider(clients, &old.capacity_provider_name, request.deadline).await?;
    }
    info!(decision = "provider replaced", old = %old.capacity_provider_name, new = %new.capacity_provider_name, "capacity provider replaced");
    Ok(())
}
