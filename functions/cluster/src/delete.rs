//! Delete: leave nothing that blocks the stack's deletion. Every step tolerates "already gone".

use aws_sdk_ecs::types::{
    CapacityProvider, CapacityProviderStatus, Cluster, DesiredStatus, ManagedTerminationProtection,
};
use datero_shared::ResourceError;
use datero_shared::aws::aws_error;
use datero_shared::custom_resource::Outcome;
use datero_shared::ecs_tasks;
use datero_shared::resources::cluster::{
    ClusterSpec, ProviderFacts, TeardownPlan, cluster_name_of, group_name, plan_teardown,
};
use serde_json::Value;
use tokio::time::Instant;
use tracing::info;

use crate::{Context, ecs_ops, group};

pub async fn delete(
    cluster_arn: &str,
    properties: &Value,
    deadline: Instant,
    clients: &Context,
) -> Result<Outcome, ResourceError> {
    let done = Outcome::new(cluster_arn);
    let Some(cluster_name) = cluster_name_of(cluster_arn) else {
        info!(
            decision = "skip",
            physical_resource_id = cluster_arn,
            "not a cluster ARN: nothing to delete"
        );
        return Ok(done);
    };
    // gather, then decide.
    let cluster = ecs_ops::active_cluster(clients, cluster_name).await?;
    let plan = plan(cluster_name, cluster.as_ref(), properties, clients).await?;
    info!(decision = "delete", cluster = cluster_name, cluster_active = cluster.is_some(), providers = ?plan.providers, release = ?plan.release, keep_protected = ?plan.keep_protected, "tearing down");

    // act. The order matters on AWS:
    // 1. stop the tasks and wait until they are STOPPED: until then ECS refuses to detach
    //    their capacity provider ("in use") and to delete the cluster;
    // 2. detach and delete the provider, and wait until it is gone: while a provider with
    //    managed termination protection exists, ECS may protect instances again;
    // 3. only then lift the group's scale-in protection, so CloudFormation can delete it.
    if cluster.is_some() {
        stop_tasks(clients, cluster_name, deadline).await?;
        ecs_ops::detach_all(clients, cluster_name, deadline).await?;
    }
    for name in &plan.providers {
        ecs_ops::delete_provider(clients, name, deadline).await?;
    }
    for name in &plan.release {
        release_group(clients, name).await?;
    }
    if cluster.is_some() {
        deregister_instances(clients, cluster_name).await?;
        ecs_ops::delete_cluster(clients, cluster_name, deadline).await?;
    }
    info!(
        decision = "deleted",
        cluster = cluster_name,
        "cluster and capacity provider gone"
    );
    Ok(done)
}

/// Every provider of the account (one call) as plain facts, and the teardown decided over them.
async fn plan(
    cluster_name: &str,
    cluster: Option<&Cluster>,
    properties: &Value,
    clients: &Context,
) -> Result<TeardownPlan, ResourceError> {
    let known = ClusterSpec::lenient(properties);
    let attached: Vec<String> = cluster
        .iter()
        .flat_map(|cluster| cluster.capacity_providers().iter().cloned())
        .collect();
    let providers: Vec<ProviderFacts> = ecs_ops::providers(clients, &[])
        .await?
        .iter()
        .filter_map(provider_facts)
        .collect();
    Ok(plan_teardown(
        cluster_name,
        &attached,
        known.capacity_provider_name.as_deref(),
        known.auto_scaling_group.as_deref(),
        &providers,
    ))
}

/// A described provider as the teardown plan sees it.
fn provider_facts(provider: &CapacityProvider) -> Option<ProviderFacts> {
    let asg = provider.auto_scaling_group_provider()?;
    Some(ProviderFacts {
        name: provider.name()?.to_owned(),
        group: group_name(asg.auto_scaling_group_arn()).to_owned(),
        termination_protection: asg.managed_termination_protection()
            == Some(&ManagedTerminationProtection::Enabled),
        active: provider.status() == Some(&CapacityProviderStatus::Active),
    })
}

/// Stops every task of the cluster with the provisioner's reason, and waits until they are
/// STOPPED.
async fn stop_tasks(
    clients: &Context,
    cluster: &str,
    deadline: Instant,
) -> Result<(), ResourceError> {
    let arns = clients
        .ecs
        .list_tasks()
        .cluster(cluster)
        .desired_status(DesiredStatus::Running)
        .into_paginator()
        .items()
        .send()
        .collect::<Result<Vec<_>, _>>()
        .await
        .map_err(|error| aws_error("ListTasks", error))?;
    for arn in &arns {
        ecs_tasks::stop(&clients.ecs, cluster, arn, "cluster deleted").await?;
        info!(task = %arn, "task stopped");
    }
    if !ecs_tasks::wait_stopped(&clients.ecs, cluster, &arns, deadline).await? {
        return Err(ResourceError::NotStopped {
            what: format!("the tasks of cluster {cluster}"),
            then: "; delete the stack again once they are STOPPED",
        });
    }
    Ok(())
}

/// Turns the group's scale-in protection off so that CloudFormation can delete the group.
async fn release_group(clients: &Context, name: &str) -> Result<(), ResourceError> {
    let Some(found) = group::describe(clients, name).await? else {
        info!(group = name, "group already gone");
        return Ok(());
    };
    group::set_protection(clients, &found, false).await
}

async fn deregister_instances(clients: &Context, cluster: &str) -> Result<(), ResourceError> {
    let arns = clients
        .ecs
        .list_container_instances()
        .cluster(cluster)
        .into_paginator()
        .items()
        .send()
        .collect::<Result<Vec<_>, _>>()
        .await
        .map_err(|error| aws_error("ListContainerInstances", error))?;
    for arn in &arns {
        let result = clients
            .ecs
            .deregister_container_instance()
            .cluster(cluster)
            .container_instance(arn)
            .force(true)
            .send()
            .await;
        match result {
            Ok(_) => info!(container_instance = %arn, "container instance deregistered"),
            // Deregistered meanwhile.
            Err(error)
                if error
                    .as_service_error()
                    .is_some_and(|e| e.is_invalid_parameter_exception()) => {}
            Err(error) => return Err(aws_error("DeregisterContainerInstance", error)),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use aws_sdk_ecs::types::AutoScalingGroupProvider;
    use aws_sdk_ecs::types::builders::CapacityProviderBuilder;

    use super::*;

    fn provider(protection: ManagedTerminationProtection) -> CapacityProviderBuilder {
        CapacityProvider::builder()
            .name("datero-provider")
            .status(CapacityProviderStatus::Active)
            .auto_scaling_group_provider(
                AutoScalingGroupProvider::builder()
                    .auto_scaling_group_arn(
                        "arn:aws:autoscaling:eu-west-1:123456789012:autoScalingGroup:1a2b:\
                         autoScalingGroupName/datero-asg",
                    )
                    .managed_termination_protection(protection)
                    .build()
                    .expect("the group's ARN is set"),
            )
    }

    #[test]
    fn a_described_provider_becomes_the_facts_the_teardown_plan_reads() {
        let facts = provider_facts(&provider(ManagedTerminationProtection::Enabled).build());
        assert_eq!(
            facts,
            Some(ProviderFacts {
                name: "datero-provider".to_owned(),
                group: "datero-asg".to_owned(),
                termination_protection: true,
                active: true,
            })
        );
        let inactive = provider(ManagedTerminationProtection::Disabled)
            .status(CapacityProviderStatus::Inactive)
            .build();
        let facts = provider_facts(&inactive).expect("facts");
        assert!(!facts.termination_protection);
        assert!(!facts.active);
    }

    #[test]
    fn a_provider_without_a_group_or_a_name_is_not_ours_to_tear_down() {
        let fargate = CapacityProvider::builder().name("FARGATE").build();
        assert_eq!(provider_facts(&fargate), None);
        let nameless = CapacityProvider::builder()
            .auto_scaling_group_provider(
                AutoScalingGroupProvider::builder()
                    .auto_scaling_group_arn("datero-asg")
                    .build()
                    .expect("the group's ARN is set"),
            )
            .build();
        assert_eq!(provider_facts(&nameless), None);
    }
}
