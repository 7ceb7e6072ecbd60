//! The Auto Scaling group behind the capacity provider, and its scale-in protection.

use aws_sdk_autoscaling::types::AutoScalingGroup;
use datero_shared::ResourceError;
use datero_shared::aws::aws_error;
use tracing::info;

use crate::Context;

/// SetInstanceProtection takes at most this many instances per call.
const PROTECTION_BATCH: usize = 50;

/// The group, if it exists.
pub async fn describe(
    clients: &Context,
    name: &str,
) -> Result<Option<AutoScalingGroup>, ResourceError> {
    let answer = clients
        .autoscaling
        .describe_auto_scaling_groups()
        .auto_scaling_group_names(name)
        .send()
        .await
        .map_err(|error| aws_error("DescribeAutoScalingGroups", error))?;
    Ok(answer.auto_scaling_groups().first().cloned())
}

/// The group, or a failure naming the property that pointed at it.
pub async fn require(clients: &Context, name: &str) -> Result<AutoScalingGroup, ResourceError> {
    describe(clients, name)
        .await?
        .ok_or_else(|| ResourceError::NotFound {
            kind: "Auto Scaling group",
            name: name.to_owned(),
            property: Some("AutoScalingGroupName"),
        })
}

/// Sets scale-in protection for the group's new instances and for every current one.
/// ECS's managed termination protection requires it on; teardown must turn it off, or
/// CloudFormation waits for ever for protected instances to go.
pub async fn set_protection(
    clients: &Context,
    group: &AutoScalingGroup,
    protect: bool,
) -> Result<(), ResourceError> {
    let name = group.auto_scaling_group_name().unwrap_or_default();
    clients
        .autoscaling
        .update_auto_scaling_group()
        .auto_scaling_group_name(name)
        .new_instances_protected_from_scale_in(protect)
        .send()
        .await
        .map_err(|error| aws_error("UpdateAutoScalingGroup", error))?;
    let instances: Vec<String> = group
        .instances()
        .iter()
        .filter_map(|instance| instance.instance_id().map(str::to_owned))
        .collect();
    for batch in instances.chunks(PROTECTION_BATCH) {
        clients
            .autoscaling
            .set_instance_protection()
            .auto_scaling_group_name(name)
            .set_instance_ids(Some(batch.to_vec()))
            .protected_from_scale_in(protect)
            .send()
            .await
            .map_err(|error| aws_error("SetInstanceProtection", error))?;
    }
    info!(
        group = name,
        protect,
        instances = instances.len(),
        "scale-in protection set"
    );
    Ok(())
}
