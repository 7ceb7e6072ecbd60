//! What CloudFormation or EC2 would have made before our functions run: an Auto Scaling group
//! with instances, instances registered by the ECS agent, a task definition.

use aws_config::SdkConfig;
use aws_sdk_autoscaling::types::AutoScalingGroup;
use serde_json::json;

use crate::emulator::{ACCOUNT, REGION};

/// A group of `instances` instances (t3.small, ECS-optimized image id), unprotected.
pub async fn auto_scaling_group(
    config: &SdkConfig,
    name: &str,
    instances: i32,
) -> AutoScalingGroup {
    let client = aws_sdk_autoscaling::Client::new(config);
    let template = format!("{name}-lc");
    client
        .create_launch_configuration()
        .launch_configuration_name(&template)
        .image_id("ami-12c6146b")
        .instance_type("t3.small")
        .send()
        .await
        .expect("create launch configuration");
    client
        .create_auto_scaling_group()
        .auto_scaling_group_name(name)
        .launch_configuration_name(&template)
        .min_size(0)
        .max_size(instances.max(1))
        .desired_capacity(instances)
        .availability_zones(format!("{REGION}a"))
        .send()
        .await
        .expect("create auto scaling group");
    describe_group(config, name)
        .await
        .expect("the group exists")
}

/// The group as the emulator holds it now.
pub async fn describe_group(config: &SdkConfig, name: &str) -> Option<AutoScalingGroup> {
    aws_sdk_autoscaling::Client::new(config)
        .describe_auto_scaling_groups()
        .auto_scaling_group_names(name)
        .send()
        .await
        .expect("describe groups")
        .auto_scaling_groups()
        .first()
        .cloned()
}

/// Registers every instance of the group with the cluster, as the ECS agent does at boot.
pub async fn register_instances(
    config: &SdkConfig,
    cluster: &str,
    group: &AutoScalingGroup,
) -> Vec<String> {
    let ids: Vec<String> = group
        .instances()
        .iter()
        .filter_map(|instance| instance.instance_id().map(str::to_owned))
        .collect();
    register_instance_ids(config, cluster, &ids).await
}

/// Registers the EC2 instances `ids` with the cluster, as the ECS agent does at boot.
pub async fn register_instance_ids(
    config: &SdkConfig,
    cluster: &str,
    ids: &[String],
) -> Vec<String> {
    let ecs = aws_sdk_ecs::Client::new(config);
    let mut arns = Vec::new();
    for id in ids {
        let document = json!({
            "instanceId": id,
            "region": REGION,
            "availabilityZone": format!("{REGION}a"),
        });
        let registered = ecs
            .register_container_instance()
            .cluster(cluster)
            .instance_identity_document(document.to_string())
            .send()
            .await
            .expect("register container instance");
        if let Some(arn) = registered
            .container_instance()
            .and_then(|ci| ci.container_instance_arn())
        {
            arns.push(arn.to_owned());
        }
    }
    arns
}

/// A minimal task definition of `family` (what the task-definition function registers is
/// tested on its own).
pub async fn task_definition(config: &SdkConfig, family: &str) -> String {
    datero_task_definition(config, family, "chumaky/datero:1.2.0", None).await
}

/// Where [`datero_on_data_volume`] keeps PostgreSQL's data on the instance.
pub const HOST_DATA_PATH: &str = "/var/lib/datero";

/// Datero of `image` (family [`FAMILY`]) with its data on the instance at [`HOST_DATA_PATH`],
/// mounted where PGDATA points, as the product's.
pub async fn datero_on_data_volume(config: &SdkConfig, image: &str) -> String {
    datero_task_definition(config, FAMILY, image, Some(HOST_DATA_PATH)).await
}

/// Logs to Datero's log group with `prefix`, as the product's (the awslogs driver; the group
/// made here as the template makes it).
async fn awslogs(config: &SdkConfig, prefix: &str) -> aws_sdk_ecs::types::LogConfiguration {
    let logs = aws_sdk_cloudwatchlogs::Client::new(config);
    if let Err(error) = logs
        .create_log_group()
        .log_group_name(LOG_GROUP)
        .send()
        .await
    {
        assert!(
            error
                .as_service_error()
                .is_some_and(|e| e.is_resource_already_exists_exception()),
            "create log group: {error}"
        );
    }
    aws_sdk_ecs::types::LogConfiguration::builder()
        .log_driver(aws_sdk_ecs::types::LogDriver::Awslogs)
        .options("awslogs-group", LOG_GROUP)
        .options("awslogs-region", REGION)
        .options("awslogs-stream-prefix", prefix)
        .build()
        .expect("a log configuration")
}

async fn datero_task_definition(
    config: &SdkConfig,
    family: &str,
    image: &str,
    host_data_path: Option<&str>,
) -> String {
    // With a health check, as the product's (shared/src/container.rs): the runner waits for it.
    let health_check = aws_sdk_ecs::types::HealthCheck::builder()
        .command("CMD-SHELL")
        .command("pg_isready -U postgres -h 127.0.0.1 || exit 1")
        .build()
        .expect("a health check");
    let log_configuration = awslogs(config, "datero").await;
    let mut container = aws_sdk_ecs::types::ContainerDefinition::builder()
        .name("datero")
        .image(image)
        .memory(1536)
        .cpu(1024)
        .health_check(health_check)
        .log_configuration(log_configuration);
    let mut volumes = Vec::new();
    if let Some(path) = host_data_path {
        container = container.mount_points(
            aws_sdk_ecs::types::MountPoint::builder()
                .source_volume("pgdata")
                .container_path(datero_shared::container::DATA_PATH)
                .build(),
        );
        volumes.push(
            aws_sdk_ecs::types::Volume::builder()
                .name("pgdata")
                .host(
                    aws_sdk_ecs::types::HostVolumeProperties::builder()
                        .source_path(path)
                        .build(),
                )
                .build(),
        );
    }
    aws_sdk_ecs::Client::new(config)
        .register_task_definition()
        .family(family)
        .execution_role_arn(EXECUTION_ROLE)
        .container_definitions(container.build())
        .set_volumes((!volumes.is_empty()).then_some(volumes))
        .send()
        .await
        .expect("register task definition")
        .task_definition()
        .and_then(|definition| definition.task_definition_arn())
        .expect("an ARN")
        .to_owned()
}

/// The stack's backup and restore task definitions, as the template names and shapes them for
/// a move to a new major: their containers in order, each after the one before (the upload
/// whatever the dump did, the rest only after a success), logging to Datero's log group.
/// Returns their ARNs.
pub async fn backup_and_restore(config: &SdkConfig) -> (String, String) {
    use datero_shared::backup::{
        DUMP_CONTAINER, FETCH_CONTAINER, KEEP_DUMP_CONTAINER, RESTORE_CONTAINER, UPLOAD_CONTAINER,
    };
    let ecs = aws_sdk_ecs::Client::new(config);
    let mut arns = Vec::new();
    for (family, prefix, containers, role) in [
        (
            BACKUP_FAMILY,
            "backup",
            [DUMP_CONTAINER, UPLOAD_CONTAINER].as_slice(),
            "BackupTaskRole",
        ),
        (
            RESTORE_FAMILY,
            "restore",
            [KEEP_DUMP_CONTAINER, FETCH_CONTAINER, RESTORE_CONTAINER].as_slice(),
            "RestoreTaskRole",
        ),
    ] {
        let mut definitions = Vec::new();
        for (index, name) in containers.iter().enumerate() {
            let logs = awslogs(config, prefix).await;
            let mut container = aws_sdk_ecs::types::ContainerDefinition::builder()
                .name(*name)
                .image("chumaky/datero:1.2.0")
                .memory_reservation(64)
                .essential(index + 1 == containers.len())
                .log_configuration(logs);
            if index > 0 {
                container = container.depends_on(after(containers[index - 1], name));
            }
            definitions.push(container.build());
        }
        let arn = ecs
            .register_task_definition()
            .family(family)
            .network_mode(aws_sdk_ecs::types::NetworkMode::Host)
            .execution_role_arn(EXECUTION_ROLE)
            .task_role_arn(format!("arn:aws:iam::{ACCOUNT}:role/{role}"))
            .set_container_definitions(Some(definitions))
            .send()
            .await
            .expect("register a one-off task definition")
            .task_definition()
            .and_then(|definition| definition.task_definition_arn())
            .expect("an ARN")
            .to_owned();
        arns.push(arn);
    }
    (arns.remove(0), arns.remove(0))
}

/// `container` starts once `before` has exited: the upload whatever the dump did (so that it
/// reports a failed dump), every other only after a success.
fn after(before: &str, container: &str) -> aws_sdk_ecs::types::ContainerDependency {
    use aws_sdk_ecs::types::{ContainerCondition, ContainerDependency};
    let condition = if container == datero_shared::backup::UPLOAD_CONTAINER {
        ContainerCondition::Complete
    } else {
        ContainerCondition::Success
    };
    ContainerDependency::builder()
        .container_name(before)
        .condition(condition)
        .build()
        .expect("a dependency")
}

/// The stack the integration tests play: the names below are what `template.yaml` gives its
/// resources in a stack of this name, so that each function's role, resolved for it, is the
/// role a real deploy would have (`test_stack_names_are_the_templates` checks them).
pub const STACK: &str = "datero-prod";
pub const CLUSTER: &str = "datero-prod-datero";
pub const PROVIDER: &str = "datero-datero-prod-ec2";
pub const FAMILY: &str = "datero-prod-datero";
pub const GROUP: &str = "datero-prod-datero";
/// The backup and restore task definitions' families in the test stack.
pub const BACKUP_FAMILY: &str = "datero-prod-datero-backup";
pub const RESTORE_FAMILY: &str = "datero-prod-datero-restore";
/// Datero's log group in the test stack (`DateroLogGroup`).
pub const LOG_GROUP: &str = "/datero/datero-prod";
/// The test stack's execution role, in [`ACCOUNT`] (a constant cannot be formatted; the test
/// below holds the two together).
pub const EXECUTION_ROLE: &str = "arn:aws:iam::123456789012:role/datero-prod-TaskExecutionRole";

/// Queue names of the test stack (the restart queue and the failure destination).
pub const RESTART_QUEUE: &str = "datero-prod-restarts";
pub const FAILURE_QUEUE: &str = "datero-prod-failures";

/// The test stack: the template's resources with the values above.
pub fn test_stack(template: &crate::template::Template) -> crate::template::Stack {
    let mut stack = crate::template::Stack::placeholder(template, STACK);
    let sqs = |name: &str| format!("arn:aws:sqs:{REGION}:{ACCOUNT}:{name}");
    for (key, value) in [
        ("TaskExecutionRole.Arn", EXECUTION_ROLE.to_owned()),
        ("RestartQueue.Arn", sqs(RESTART_QUEUE)),
        ("RestartDeadLetterQueue.Arn", sqs(FAILURE_QUEUE)),
    ] {
        stack.attributes.insert(key.to_owned(), value);
    }
    stack.refs.insert("Instances".to_owned(), GROUP.to_owned());
    stack
        .refs
        .insert("DateroLogGroup".to_owned(), LOG_GROUP.to_owned());
    stack
}

/// A cluster as the cluster function leaves it, with the group's instance registered as the
/// ECS agent would: ready to run Datero. Returns the group.
pub async fn ready_cluster(config: &SdkConfig, instances: i32) -> AutoScalingGroup {
    let group = auto_scaling_group(config, GROUP, instances).await;
    attach_group(config, &group).await;
    group
}

/// The test group as the template makes it: instances from a launch template (version 1,
/// t3.small) in the emulator's first default subnet, one instance. Returns the template's id.
pub async fn launch_template_group(config: &SdkConfig) -> (AutoScalingGroup, String) {
    let ec2 = aws_sdk_ec2::Client::new(config);
    let template = ec2
        .create_launch_template()
        .launch_template_name(format!("{GROUP}-lt"))
        .launch_template_data(
            aws_sdk_ec2::types::RequestLaunchTemplateData::builder()
                .image_id("ami-12c6146b")
                .instance_type(aws_sdk_ec2::types::InstanceType::T3Small)
                .build(),
        )
        .send()
        .await
        .expect("create launch template");
    let template_id = template
        .launch_template()
        .and_then(|t| t.launch_template_id())
        .expect("a launch template id")
        .to_owned();
    let subnet = default_subnets(config).await.remove(0);
    aws_sdk_autoscaling::Client::new(config)
        .create_auto_scaling_group()
        .auto_scaling_group_name(GROUP)
        .launch_template(
            aws_sdk_autoscaling::types::LaunchTemplateSpecification::builder()
                .launch_template_id(&template_id)
                .version("1")
                .build(),
        )
        .min_size(0)
        .max_size(1)
        .desired_capacity(1)
        .vpc_zone_identifier(subnet)
        .send()
        .await
        .expect("create auto scaling group");
    let group = describe_group(config, GROUP)
        .await
        .expect("the group exists");
    (group, template_id)
}

/// The emulator's default subnets.
pub async fn default_subnets(config: &SdkConfig) -> Vec<String> {
    aws_sdk_ec2::Client::new(config)
        .describe_subnets()
        .send()
        .await
        .expect("describe subnets")
        .subnets()
        .iter()
        .filter(|subnet| subnet.default_for_az() == Some(true))
        .filter_map(|subnet| subnet.subnet_id().map(str::to_owned))
        .collect()
}

/// The ECS agent on every instance the group launches from now on: registers each new one
/// with the cluster, as the agent does at boot, until dropped.
pub struct Agent(tokio::task::JoinHandle<()>);

impl Agent {
    /// The agent for the test group and cluster.
    pub fn start(config: &SdkConfig) -> Self {
        Self::start_for(config, GROUP, CLUSTER)
    }

    /// The agent for the instances of `group`, joining `cluster`.
    pub fn start_for(config: &SdkConfig, group: &str, cluster: &str) -> Self {
        let config = config.clone();
        let (group_name, cluster) = (group.to_owned(), cluster.to_owned());
        Self(tokio::spawn(async move {
            let mut known = std::collections::BTreeSet::new();
            loop {
                if let Some(group) = describe_group(&config, &group_name).await {
                    let fresh: Vec<String> = group
                        .instances()
                        .iter()
                        .filter_map(|i| i.instance_id().map(str::to_owned))
                        .filter(|id| !known.contains(id))
                        .collect();
                    register_instance_ids(&config, &cluster, &fresh).await;
                    known.extend(fresh);
                }
                tokio::time::sleep(std::time::Duration::from_millis(200)).await;
            }
        }))
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// The cluster and its provider over `group`, as the cluster function leaves them, with the
/// group's instances registered.
pub async fn attach_group(config: &SdkConfig, group: &AutoScalingGroup) {
    let ecs = aws_sdk_ecs::Client::new(config);
    ecs.create_cluster()
        .cluster_name(CLUSTER)
        .send()
        .await
        .expect("create cluster");
    let provider = aws_sdk_ecs::types::AutoScalingGroupProvider::builder()
        .auto_scaling_group_arn(group.auto_scaling_group_arn().unwrap_or_default())
        .build()
        .expect("provider");
    ecs.create_capacity_provider()
        .name(PROVIDER)
        .auto_scaling_group_provider(provider)
        .send()
        .await
        .expect("create provider");
    let strategy = aws_sdk_ecs::types::CapacityProviderStrategyItem::builder()
        .capacity_provider(PROVIDER)
        .weight(1)
        .build()
        .expect("strategy");
    ecs.put_cluster_capacity_providers()
        .cluster(CLUSTER)
        .capacity_providers(PROVIDER)
        .default_capacity_provider_strategy(strategy)
        .send()
        .await
        .expect("attach provider");
    register_instances(config, CLUSTER, group).await;
}

/// Tasks of the family ECS wants running on the ready cluster.
pub async fn wanted(config: &SdkConfig) -> Vec<aws_sdk_ecs::types::Task> {
    let ecs = aws_sdk_ecs::Client::new(config);
    let arns = ecs
        .list_tasks()
        .cluster(CLUSTER)
        .family(FAMILY)
        .desired_status(aws_sdk_ecs::types::DesiredStatus::Running)
        .send()
        .await
        .expect("list tasks")
        .task_arns()
        .to_vec();
    describe_tasks(config, &arns).await
}

/// Tasks as the emulator holds them now.
pub async fn describe_tasks(config: &SdkConfig, arns: &[String]) -> Vec<aws_sdk_ecs::types::Task> {
    describe_tasks_in(config, CLUSTER, arns).await
}

/// Like [`describe_tasks`], on `cluster`.
pub async fn describe_tasks_in(
    config: &SdkConfig,
    cluster: &str,
    arns: &[String],
) -> Vec<aws_sdk_ecs::types::Task> {
    if arns.is_empty() {
        return Vec::new();
    }
    aws_sdk_ecs::Client::new(config)
        .describe_tasks()
        .cluster(cluster)
        .set_tasks(Some(arns.to_vec()))
        .send()
        .await
        .expect("describe tasks")
        .tasks()
        .to_vec()
}

/// Runs one Datero task as the provisioner would, and returns it.
pub async fn run_datero(config: &SdkConfig, task_definition: &str) -> aws_sdk_ecs::types::Task {
    aws_sdk_ecs::Client::new(config)
        .run_task()
        .cluster(CLUSTER)
        .task_definition(task_definition)
        .started_by("datero-provisioner")
        .send()
        .await
        .expect("run task")
        .tasks()
        .first()
        .cloned()
        .expect("a task")
}

/// The task once ECS reports it STOPPED (a StopTask takes the container's stop timeout).
pub async fn stopped(config: &SdkConfig, task_arn: &str) -> aws_sdk_ecs::types::Task {
    for _ in 0..100 {
        let tasks = describe_tasks(config, &[task_arn.to_owned()]).await;
        if let Some(task) = tasks
            .into_iter()
            .find(|t| t.last_status() == Some("STOPPED"))
        {
            return task;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!("{task_arn} did not stop within 10 s")
}

/// The EC2 instance behind the container instance that runs `task` on the test cluster.
pub async fn instance_of_task(config: &SdkConfig, task: &aws_sdk_ecs::types::Task) -> String {
    let described = aws_sdk_ecs::Client::new(config)
        .describe_container_instances()
        .cluster(CLUSTER)
        .container_instances(task.container_instance_arn().expect("the task is placed"))
        .send()
        .await
        .expect("describe container instances");
    described.container_instances()[0]
        .ec2_instance_id()
        .expect("an EC2 instance")
        .to_owned()
}

/// The emulator's default VPC, where the groups' instances run.
pub async fn default_vpc(config: &SdkConfig) -> String {
    let vpcs = aws_sdk_ec2::Client::new(config)
        .describe_vpcs()
        .send()
        .await
        .expect("describe the VPCs");
    vpcs.vpcs()
        .iter()
        .find(|vpc| vpc.is_default() == Some(true))
        .and_then(|vpc| vpc.vpc_id())
        .expect("the emulator's default VPC")
        .to_owned()
}

/// A new Elastic IP (VPC); its allocation id and public address.
pub async fn allocate_address(config: &SdkConfig) -> (String, String) {
    let address = aws_sdk_ec2::Client::new(config)
        .allocate_address()
        .domain(aws_sdk_ec2::types::DomainType::Vpc)
        .send()
        .await
        .expect("allocate an address");
    (
        address.allocation_id().unwrap_or_default().to_owned(),
        address.public_ip().unwrap_or_default().to_owned(),
    )
}

/// A new encrypted EFS file system on the emulator at `endpoint`; its ID.
pub async fn file_system(endpoint: &str) -> String {
    crate::raw_aws::rest_json(
        endpoint,
        "elasticfilesystem",
        "/2015-02-01/file-systems",
        &serde_json::json!({"CreationToken": format!("{STACK}-datero"), "Encrypted": true}),
    )
    .await
    .expect("CreateFileSystem")["FileSystemId"]
        .as_str()
        .expect("a file system ID")
        .to_owned()
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_execution_role_is_in_the_test_account() {
        assert!(super::EXECUTION_ROLE.starts_with(&format!("arn:aws:iam::{}:", super::ACCOUNT)));
    }
}
