//! The AWS calls on the Elastic IP and on the instances that may hold it.

use super::{Address, RegisteredInstance};
use crate::aws::aws_error;
use crate::ec2::Ec2;
use crate::error::ResourceError;

/// Describes the Elastic IP `allocation_id`.
pub async fn describe(ec2: &Ec2, allocation_id: &str) -> Result<Address, ResourceError> {
    let address =
        ec2.describe_address(allocation_id)
            .await?
            .ok_or_else(|| ResourceError::NotFound {
                kind: "Elastic IP",
                name: allocation_id.to_owned(),
                property: None,
            })?;
    Ok(Address {
        public_ip: address.public_ip.unwrap_or_default(),
        instance_id: address.instance_id.filter(|id| !id.is_empty()),
    })
}

/// Makes sure the address is on `instance_id`: associates it unless it is there already.
/// Returns the address as it is now.
pub async fn ensure_on(
    ec2: &Ec2,
    allocation_id: &str,
    instance_id: &str,
) -> Result<Address, ResourceError> {
    let address = describe(ec2, allocation_id).await?;
    if address.instance_id.as_deref() != Some(instance_id) {
        associate(ec2, allocation_id, instance_id).await?;
    }
    Ok(Address {
        instance_id: Some(instance_id.to_owned()),
        ..address
    })
}

/// Associates the address with `instance_id`, taking it from any other instance
/// (`AllowReassociation`).
pub async fn associate(
    ec2: &Ec2,
    allocation_id: &str,
    instance_id: &str,
) -> Result<(), ResourceError> {
    ec2.associate_address(allocation_id, instance_id).await
}

/// The container instances where ECS wants a task the provisioner started (Datero's) running.
/// A task started a moment ago can be listed before DescribeTasks shows it (eventual
/// consistency, RunTask API reference): it is waited for until `deadline`, after which the
/// instances of the tasks seen so far are returned.
pub async fn datero_instances(
    ecs: &aws_sdk_ecs::Client,
    cluster: &str,
    deadline: tokio::time::Instant,
) -> Result<Vec<String>, ResourceError> {
    let mut backoff = crate::poll::Backoff::ecs(deadline);
    loop {
        let arns = crate::ecs_tasks::started_by_provisioner(ecs, cluster).await?;
        let tasks = crate::ecs_tasks::describe(ecs, cluster, &arns).await?;
        if tasks.len() >= arns.len().min(100) || !backoff.wait().await {
            if tasks.len() < arns.len().min(100) {
                tracing::warn!(
                    listed = arns.len(),
                    described = tasks.len(),
                    "Datero tasks not all visible yet at the deadline; deciding on those seen"
                );
            }
            return Ok(tasks
                .iter()
                .filter_map(|task| task.container_instance_arn().map(str::to_owned))
                .collect());
        }
    }
}

/// The container instance `arn` of `cluster` as ECS describes it now; `None` when ECS no
/// longer knows it.
pub async fn registered_instance(
    ecs: &aws_sdk_ecs::Client,
    cluster: &str,
    arn: &str,
) -> Result<Option<RegisteredInstance>, ResourceError> {
    let answer = ecs
        .describe_container_instances()
        .cluster(cluster)
        .container_instances(arn)
        .send()
        .await
        .map_err(|error| aws_error("DescribeContainerInstances", error))?;
    Ok(answer
        .container_instances()
        .first()
        .map(|instance| RegisteredInstance {
            status: instance.status().unwrap_or_default().to_owned(),
            agent_connected: instance.agent_connected(),
            ec2_instance_id: instance.ec2_instance_id().unwrap_or_default().to_owned(),
        }))
}
