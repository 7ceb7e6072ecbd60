//! An update that changes the group's instance settings (launch template version: instance
//! type, AMI, user data; subnets) replaces the instances launched with the old ones, Datero
//! stopped cleanly first. Without this the old instance runs on with the old settings:
//! "Existing instances continue to run with the configuration that they were originally
//! launched with" (UpdateAutoScalingGroup, Auto Scaling API Reference).
//!
//! gather (the group and its instances' subnets) -> decide ([`replacement::outdated`], the
//! stack's [`Policy`]) -> act (stop Datero and wait STOPPED, drain, terminate without lowering
//! the desired capacity, so the group launches the replacement with the new settings). The
//! rollout that follows starts Datero there.

use aws_sdk_autoscaling::types::AutoScalingGroup;
use aws_sdk_ecs::types::ContainerInstanceStatus;
use datero_shared::ResourceError;
use datero_shared::aws::aws_error;
use datero_shared::replacement::{self, GroupInstance, GroupSettings, Outdated, Policy};
use datero_shared::resources::task::TaskSpec;
use std::time::Duration;

use datero_shared::poll::Backoff;
use tokio::time::Instant;
use tracing::info;

use crate::{Context, rollout};

/// Replaces the group's outdated instances; returns how many.
pub async fn replace_outdated(
    spec: &TaskSpec,
    previous: Option<&TaskSpec>,
    clients: &Context,
    limit: Instant,
) -> Result<usize, ResourceError> {
    let Some(group_name) = spec.auto_scaling_group_name.as_deref() else {
        return Ok(0);
    };
    let group = describe_group(clients, group_name).await?;
    let (settings, instances) = gather(clients, &group).await?;
    let outdated = replacement::outdated(&settings, &instances);
    if outdated.is_empty() {
        info!(
            decision = "keep-instances",
            group = group_name,
            "every instance has the group's settings"
        );
        return Ok(0);
    }
    let why = describe(&outdated);
    if spec.instance_replacement == Policy::Refuse {
        info!(decision = "refuse-replacement", group = group_name, why = %why, "the instance holds Datero's data");
        return Err(ResourceError::InstanceReplacementRefused { why });
    }
    // Datero first, with its stop timeout: PostgreSQL shuts down cleanly before its instance goes.
    let (current, _) = rollout::current_tasks(spec, previous, clients).await?;
    rollout::stop_and_wait(
        clients,
        &spec.cluster_name,
        &current,
        "its instance is replaced by a stack update",
        limit,
    )
    .await?;
    let ids: Vec<String> = outdated.iter().map(|(id, _)| id.clone()).collect();
    drain(clients, &spec.cluster_name, &ids).await?;
    // Without lowering the desired capacity, "Amazon EC2 Auto Scaling launches instances to
    // replace the ones that are terminated" (TerminateInstanceInAutoScalingGroup, Auto Scaling
    // API Reference) from the group's current launch template and subnets; scale-in protection
    // does not stop a termination asked for by name ("Using instance scale-in protection").
    for id in &ids {
        clients
            .autoscaling
            .terminate_instance_in_auto_scaling_group()
            .instance_id(id)
            .should_decrement_desired_capacity(false)
            .send()
            .await
            .map_err(|error| aws_error("TerminateInstanceInAutoScalingGroup", error))?;
    }
    info!(decision = "replace-instances", group = group_name, instances = ?ids, why = %why, "outdated instances terminated; the group launches their replacements");
    wait_for_replacement(clients, &spec.cluster_name, &ids, limit).await?;
    Ok(ids.len())
}

/// Waits until an instance other than the `replaced` ones is ACTIVE in the cluster (the group's
/// replacement, once its ECS agent registered), so that Datero's task is placed there.
async fn wait_for_replacement(
    clients: &Context,
    cluster: &str,
    replaced: &[String],
    limit: Instant,
) -> Result<(), ResourceError> {
    let mut backoff = Backoff::new(Duration::from_secs(1), Duration::from_secs(10), limit);
    loop {
        let active = active_instances(clients, cluster).await?;
        if let Some((_, ec2)) = active.iter().find(|(_, ec2)| !replaced.contains(ec2)) {
            info!(decision = "replacement-ready", instance = %ec2, "the new instance joined the cluster");
            return Ok(());
        }
        if !backoff.wait().await {
            return Err(ResourceError::Deadline {
                what: format!(
                    "the replacement of {} had not joined cluster {cluster}",
                    replaced.join(", ")
                ),
                then: "Datero is stopped (the restarter or a new deploy starts it)",
            });
        }
    }
}

/// (container instance ARN, EC2 id) of the cluster's ACTIVE container instances.
async fn active_instances(
    clients: &Context,
    cluster: &str,
) -> Result<Vec<(String, String)>, ResourceError> {
    let listed = clients
        .ecs
        .list_container_instances()
        .cluster(cluster)
        .status(ContainerInstanceStatus::Active)
        .send()
        .await
        .map_err(|error| aws_error("ListContainerInstances", error))?;
    let arns = listed.container_instance_arns().to_vec();
    if arns.is_empty() {
        return Ok(Vec::new());
    }
    let described = clients
        .ecs
        .describe_container_instances()
        .cluster(cluster)
        .set_container_instances(Some(arns))
        .send()
        .await
        .map_err(|error| aws_error("DescribeContainerInstances", error))?;
    Ok(described
        .container_instances()
        .iter()
        .filter(|instance| instance.status() == Some("ACTIVE"))
        .filter_map(|instance| {
            Some((
                instance.container_instance_arn()?.to_owned(),
                instance.ec2_instance_id()?.to_owned(),
            ))
        })
        .collect())
}

fn describe(outdated: &[(String, Outdated)]) -> String {
    outdated
        .iter()
        .map(|(id, why)| format!("{id} {why}"))
        .collect::<Vec<_>>()
        .join("; ")
}

async fn describe_group(clients: &Context, name: &str) -> Result<AutoScalingGroup, ResourceError> {
    let answer = clients
        .autoscaling
        .describe_auto_scaling_groups()
        .auto_scaling_group_names(name)
        .send()
        .await
        .map_err(|error| aws_error("DescribeAutoScalingGroups", error))?;
    answer
        .auto_scaling_groups()
        .first()
        .cloned()
        .ok_or_else(|| ResourceError::NotFound {
            kind: "Auto Scaling group",
            name: name.to_owned(),
            property: Some("AutoScalingGroupName"),
        })
}

/// The group's settings and its instances with their subnets (EC2 knows the subnet).
async fn gather(
    clients: &Context,
    group: &AutoScalingGroup,
) -> Result<(GroupSettings, Vec<GroupInstance>), ResourceError> {
    let version = group
        .launch_template()
        .or_else(|| {
            group
                .mixed_instances_policy()
                .and_then(|policy| policy.launch_template())
                .and_then(|template| template.launch_template_specification())
        })
        .and_then(|template| template.version())
        .map(str::to_owned);
    let settings = GroupSettings {
        launch_template_version: version,
        subnets: group
            .vpc_zone_identifier()
            .unwrap_or_default()
            .split(',')
            .map(str::trim)
            .filter(|subnet| !subnet.is_empty())
            .map(str::to_owned)
            .collect(),
    };
    let ids: Vec<String> = group
        .instances()
        .iter()
        .filter_map(|instance| instance.instance_id().map(str::to_owned))
        .collect();
    let subnets = subnets_of(clients, &ids).await?;
    let instances = group
        .instances()
        .iter()
        .map(|instance| {
            let id = instance.instance_id().unwrap_or_default().to_owned();
            let state = instance
                .lifecycle_state()
                .map(|state| state.as_str())
                .unwrap_or_default();
            GroupInstance {
                subnet_id: subnets
                    .iter()
                    .find(|(instance, _)| *instance == id)
                    .map(|(_, subnet)| subnet.clone()),
                // An instance's own launch template: the one it was launched from
                // (DescribeAutoScalingGroups, `Instance.LaunchTemplate`).
                launch_template_version: instance
                    .launch_template()
                    .and_then(|template| template.version())
                    .map(str::to_owned),
                leaving: !matches!(
                    state,
                    "InService" | "Pending" | "Pending:Wait" | "Pending:Proceed"
                ),
                instance_id: id,
            }
        })
        .collect();
    Ok((settings, instances))
}

async fn subnets_of(
    clients: &Context,
    ids: &[String],
) -> Result<Vec<(String, String)>, ResourceError> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let instances = clients.ec2.describe_instances(ids).await?;
    Ok(instances
        .into_iter()
        .filter_map(|instance| Some((instance.instance_id?, instance.subnet_id?)))
        .collect())
}

/// Sets the container instances of `ec2_ids` to DRAINING, so that ECS places no task on them
/// while they terminate ("DRAINING ... no new tasks are placed", UpdateContainerInstancesState).
async fn drain(clients: &Context, cluster: &str, ec2_ids: &[String]) -> Result<(), ResourceError> {
    let arns: Vec<String> = active_instances(clients, cluster)
        .await?
        .into_iter()
        .filter(|(_, ec2)| ec2_ids.contains(ec2))
        .map(|(arn, _)| arn)
        .collect();
    if arns.is_empty() {
        return Ok(());
    }
    clients
        .ecs
        .update_container_instances_state()
        .cluster(cluster)
        .set_container_instances(Some(arns))
        .status(ContainerInstanceStatus::Draining)
        .send()
        .await
        .map_err(|error| aws_error("UpdateContainerInstancesState", error))?;
    Ok(())
}
