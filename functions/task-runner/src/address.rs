//! Where Datero's UI answers: the public address of the instance running the task.

use aws_sdk_ecs::types::Task;
use datero_shared::ResourceError;
use datero_shared::aws::aws_error;
use datero_shared::datero_task::CONTAINER_PORT;

use crate::Clients;

/// `http://<public address>:<host port>/`, or `None` when the instance has no public address.
pub async fn url(
    clients: &Clients,
    cluster: &str,
    task: &Task,
) -> Result<Option<String>, ResourceError> {
    let Some(container_instance) = task.container_instance_arn() else {
        return Ok(None);
    };
    let described = clients
        .ecs
        .describe_container_instances()
        .cluster(cluster)
        .container_instances(container_instance)
        .send()
        .await
        .map_err(|error| aws_error("DescribeContainerInstances", &error))?;
    let Some(instance_id) = described
        .container_instances()
        .first()
        .and_then(|ci| ci.ec2_instance_id())
    else {
        return Ok(None);
    };
    let instances = clients
        .ec2
        .describe_instances()
        .instance_ids(instance_id)
        .send()
        .await
        .map_err(|error| aws_error("DescribeInstances", &error))?;
    let instance = instances
        .reservations()
        .iter()
        .flat_map(|r| r.instances())
        .next();
    let address = instance.and_then(|i| {
        i.public_ip_address()
            .or(i.public_dns_name())
            .filter(|address| !address.is_empty())
            .map(str::to_owned)
    });
    let Some(address) = address else {
        return Ok(None);
    };
    let port = host_port(clients, task).await?;
    Ok(Some(format!("http://{address}:{port}/")))
}

/// The host port bound to the container's port 80: from the task's bindings, else from its
/// task definition.
async fn host_port(clients: &Clients, task: &Task) -> Result<i32, ResourceError> {
    let bound = task
        .containers()
        .iter()
        .flat_map(|container| container.network_bindings())
        .find(|binding| binding.container_port() == Some(CONTAINER_PORT))
        .and_then(|binding| binding.host_port());
    if let Some(port) = bound {
        return Ok(port);
    }
    let definition = clients
        .ecs
        .describe_task_definition()
        .task_definition(task.task_definition_arn().unwrap_or_default())
        .send()
        .await
        .map_err(|error| aws_error("DescribeTaskDefinition", &error))?;
    Ok(definition
        .task_definition()
        .into_iter()
        .flat_map(|definition| definition.container_definitions())
        .flat_map(|container| container.port_mappings())
        .find(|mapping| mapping.container_port() == Some(CONTAINER_PORT))
        .and_then(|mapping| mapping.host_port())
        .unwrap_or(CONTAINER_PORT))
}
