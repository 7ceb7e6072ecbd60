//! EFS is mounted through the mount target of the instance's Availability Zone: the emulator,
//! as AWS, stops a task whose instance is in a zone without one (before it runs), and EFS
//! refuses a second mount target in a zone, and nothing mounts through one still being made.
//! The template gives every zone of the group's subnets a mount target
//! (`template_contract::with_efs_the_instance_runs_only_where_a_mount_target_is`,
//! `tests/tests/mount_targets.rs`).

use aws_config::SdkConfig;
use datero_testbed::emulator::{Emulator, Timing};
use datero_testbed::events;
use datero_testbed::harness::FunctionHarness;
use datero_testbed::raw_aws;
use datero_testbed::seed::{self, CLUSTER, EXECUTION_ROLE, FAMILY, PROVIDER};
use serde_json::{Value, json};

const TYPE: &str = "Custom::DateroTask";

/// A revision of Datero's family whose data is on `file_system`.
async fn definition_on_efs(config: &SdkConfig, file_system: &str) -> String {
    let container = aws_sdk_ecs::types::ContainerDefinition::builder()
        .name("datero")
        .image("chumaky/datero:1.2.0")
        .memory(1536)
        .mount_points(
            aws_sdk_ecs::types::MountPoint::builder()
                .source_volume("data")
                .container_path("/var/lib/postgresql/data")
                .build(),
        )
        .build();
    let volume = aws_sdk_ecs::types::Volume::builder()
        .name("data")
        .efs_volume_configuration(
            aws_sdk_ecs::types::EfsVolumeConfiguration::builder()
                .file_system_id(file_system)
                .transit_encryption(aws_sdk_ecs::types::EfsTransitEncryption::Enabled)
                .build()
                .unwrap(),
        )
        .build();
    aws_sdk_ecs::Client::new(config)
        .register_task_definition()
        .family(FAMILY)
        .execution_role_arn(EXECUTION_ROLE)
        .container_definitions(container)
        .volumes(volume)
        .send()
        .await
        .unwrap()
        .task_definition()
        .and_then(|d| d.task_definition_arn())
        .unwrap()
        .to_owned()
}

async fn mount_target(endpoint: &str, file_system: &str, subnet: &str) -> Result<Value, String> {
    raw_aws::rest_json(
        endpoint,
        "elasticfilesystem",
        "/2015-02-01/mount-targets",
        &json!({"FileSystemId": file_system, "SubnetId": subnet}),
    )
    .await
}

#[tokio::test]
async fn datero_starts_only_in_a_zone_with_a_mount_target() {
    let emulator = Emulator::start().await;
    let config = emulator.sdk_config().await;
    let endpoint = emulator.endpoint().to_owned();
    let (group, _) = seed::launch_template_group(&config).await;
    seed::attach_group(&config, &group).await;
    let subnets = seed::default_subnets(&config).await;
    let (instance_subnet, other_zone_subnet) = (subnets[0].clone(), subnets[1].clone());
    let file_system = seed::file_system(&endpoint).await;
    // A mount target only in another zone than the instance's.
    mount_target(&endpoint, &file_system, &other_zone_subnet)
        .await
        .unwrap();
    let revision = definition_on_efs(&config, &file_system).await;
    let harness = FunctionHarness::start_on(emulator, "task-runner", &[]).await;
    let properties = json!({"ClusterName": CLUSTER, "CapacityProviderName": PROVIDER, "TaskDefinitionArn": revision});
    let answer = harness
        .request(events::create(TYPE, properties.clone(), ""))
        .await;
    assert_eq!(answer["Status"], "FAILED", "{answer}");
    let reason = answer["Reason"].as_str().unwrap_or_default();
    assert!(
        reason.contains("EFS mount target") || reason.contains("Failed to resolve"),
        "{reason}"
    );
    // A second mount target in that zone is refused; one in the instance's zone works.
    let twice = mount_target(&endpoint, &file_system, &other_zone_subnet).await;
    assert!(
        twice
            .as_ref()
            .is_err_and(|error| error.contains("MountTargetConflict")),
        "{twice:?}"
    );
    mount_target(&endpoint, &file_system, &instance_subnet)
        .await
        .unwrap();
    // Nothing mounts through a mount target still `creating`.
    let early = harness
        .request(events::create(TYPE, properties.clone(), ""))
        .await;
    assert_eq!(early["Status"], "FAILED", "{early}");
    tokio::time::sleep(Timing::AWS_LIKE.mount_target).await;
    let answer = harness.request(events::create(TYPE, properties, "")).await;
    assert_eq!(answer["Status"], "SUCCESS", "{answer}");
}
