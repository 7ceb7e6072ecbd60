//! Where Datero's UI answers: the stack's Elastic IP once it is on the task's instance, else
//! the instance's own public address.

use aws_sdk_ecs::types::Task;
use datero_shared::ResourceError;
use datero_shared::aws::aws_error;
use datero_shared::container::CONTAINER_PORT;
use datero_shared::resources::task::TaskSpec;
use datero_shared::{edge, elastic_ip};
use tracing::info;

use crate::Context;

/// `http://<address>:<host port>/`; `None` when the instance has no public address. With
/// `ElasticIpAllocationId`, the address is first put on the task's instance (an error when that
/// cannot be done: the stack's URL would point at nothing).
pub async fn url(
    clients: &Context,
    spec: &TaskSpec,
    task: &Task,
) -> Result<Option<String>, ResourceError> {
    let Some(container_instance) = task.container_instance_arn() else {
        return Ok(None);
    };
    let Some(registered) = elastic_ip::calls::registered_instance(
        &clients.ecs,
        &spec.cluster_name,
        container_instance,
    )
    .await?
    else {
        return Ok(None);
    };
    let instance = registered.ec2_instance_id;
    let host = match &spec.elastic_ip_allocation_id {
        Some(allocation) => {
            let address = elastic_ip::calls::ensure_on(&clients.ec2, allocation, &instance).await?;
            info!(decision = "associate", instance = %instance, address = %address.public_ip, "the stack's Elastic IP is on Datero's instance");
            Some(address.public_ip)
        }
        None => public_address(clients, &instance).await?,
    };
    let Some(host) = host.filter(|host| !host.is_empty()) else {
        return Ok(None);
    };
    // In public mode Datero's port is not published (only CloudFront reaches it, through the
    // proxy): there is no plain-HTTP URL to give.
    let Some(port) = host_port(clients, task).await? else {
        return Ok(None);
    };
    Ok(Some(format!("http://{host}:{port}/")))
}

async fn public_address(
    clients: &Context,
    instance_id: &str,
) -> Result<Option<String>, ResourceError> {
    let instances = clients
        .ec2
        .describe_instances(&[instance_id.to_owned()])
        .await?;
    // EC2 answers an empty dnsName for an instance without a public name.
    Ok(instances.into_iter().next().and_then(|instance| {
        instance
            .public_ip
            .or(instance.public_dns)
            .filter(|address| !address.is_empty())
    }))
}

/// The host port bound to the container's port 80: from the task's bindings, else from its
/// task definition; `None` in public mode, where the edge proxy is the only way in.
async fn host_port(clients: &Context, task: &Task) -> Result<Option<i32>, ResourceError> {
    let behind_proxy = task
        .containers()
        .iter()
        .any(|container| container.name() == Some(edge::PROXY_CONTAINER));
    if behind_proxy {
        return Ok(None);
    }
    let bound = task
        .containers()
        .iter()
        .flat_map(|container| container.network_bindings())
        .find(|binding| binding.container_port() == Some(CONTAINER_PORT))
        .and_then(|binding| binding.host_port());
    if bound.is_some() {
        return Ok(bound);
    }
    let definition = clients
        .ecs
        .describe_task_definition()
        .task_definition(task.task_definition_arn().unwrap_or_default())
        .send()
        .await
        .map_err(|error| aws_error("DescribeTaskDefinition", error))?;
    Ok(definition
        .task_definition()
        .into_iter()
        .flat_map(|definition| definition.container_definitions())
        .flat_map(|container| container.port_mappings())
        .find(|mapping| mapping.container_port() == Some(CONTAINER_PORT))
        .and_then(|mapping| mapping.host_port())
        .or(Some(CONTAINER_PORT)))
}
