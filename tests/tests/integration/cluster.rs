//! `functions/cluster` through the local Runtime API against the tightened emulator.

use aws_config::SdkConfig;
use aws_sdk_ecs::types::{
    CapacityProviderStatus, DesiredStatus, ManagedScalingStatus, ManagedTerminationProtection,
};
use datero_testbed::emulator::{Emulator, Timing};
use datero_testbed::harness::{self, FunctionHarness};
use datero_testbed::iam::Principal;
use datero_testbed::seed::{CLUSTER, GROUP, PROVIDER};
use datero_testbed::{events, seed};
use serde_json::{Value, json};

const TYPE: &str = "Custom::DateroCluster";

struct Bed {
    harness: FunctionHarness,
    config: SdkConfig,
    ecs: aws_sdk_ecs::Client,
}

async fn bed(instances: i32) -> Bed {
    bed_as(harness::principal("cluster"), instances).await
}

/// A bed whose function holds `principal`'s permissions.
async fn bed_as(principal: Principal, instances: i32) -> Bed {
    let harness = FunctionHarness::start_as(Emulator::start().await, principal, &[]).await;
    let config = harness.emulator.sdk_config().await;
    seed::auto_scaling_group(&config, GROUP, instances).await;
    let ecs = aws_sdk_ecs::Client::new(&config);
    Bed {
        harness,
        config,
        ecs,
    }
}

fn properties() -> Value {
    json!({
        "AutoScalingGroupName": GROUP,
        "ClusterName": CLUSTER,
        "CapacityProviderName": PROVIDER,
        "TargetCapacity": "80",
        "ManagedTerminationProtection": "ENABLED",
        "ContainerInsights": "enabled",
    })
}

impl Bed {
    async fn cluster_status(&self, name: &str) -> Option<String> {
        let answer = self
            .ecs
            .describe_clusters()
            .clusters(name)
            .send()
            .await
            .unwrap();
        answer
            .clusters()
            .first()
            .and_then(|c| c.status())
            .map(str::to_owned)
    }

    async fn provider_exists(&self, name: &str) -> bool {
        let answer = self
            .ecs
            .describe_capacity_providers()
            .capacity_providers(name)
            .send()
            .await
            .unwrap();
        answer.capacity_providers().iter().any(|p| {
            matches!(
                p.status(),
                Some(CapacityProviderStatus::Active | CapacityProviderStatus::Provisioning)
            )
        })
    }

    async fn group_protection(&self) -> (bool, Vec<bool>) {
        let group = seed::describe_group(&self.config, GROUP).await.unwrap();
        (
            group.new_instances_protected_from_scale_in() == Some(true),
            group
                .instances()
                .iter()
                .map(|i| i.protected_from_scale_in() == Some(true))
                .collect(),
        )
    }

    async fn create(&self, properties: Value) -> Value {
        self.harness
            .request(events::create(TYPE, properties, ""))
            .await
    }

    /// Nothing of ours is left: no ACTIVE cluster, no provider.
    async fn assert_nothing_made(&self) {
        let clusters = self.ecs.list_clusters().send().await.unwrap();
        for arn in clusters.cluster_arns() {
            assert_ne!(
                self.cluster_status(arn).await.as_deref(),
                Some("ACTIVE"),
                "{arn} left behind"
            );
        }
        let providers = self.ecs.describe_capacity_providers().send().await.unwrap();
        assert!(
            providers.capacity_providers().is_empty(),
            "{:?}",
            providers.capacity_providers()
        );
    }
}
#[tokio::test]
async fn create_makes_cluster_provider_strategy_and_protection() {
    let bed = bed(1).await;
    let answer = bed.create(properties()).await;
    assert_eq!(answer["Status"], "SUCCESS", "{answer}");
    let arn = answer["PhysicalResourceId"].as_str().unwrap();
    assert_eq!(
        arn,
        format!("arn:aws:ecs:us-east-1:123456789012:cluster/{CLUSTER}")
    );
    assert_eq!(
        answer["Data"],
        json!({"ClusterName": CLUSTER, "ClusterArn": arn, "CapacityProviderName": PROVIDER})
    );

    let described = bed
        .ecs
        .describe_clusters()
        .clusters(arn)
        .send()
        .await
        .unwrap();
    let cluster = &described.clusters()[0];
    assert_eq!(cluster.status(), Some("ACTIVE"));
    assert_eq!(cluster.capacity_providers(), [PROVIDER]);
    assert_eq!(
        cluster.default_capacity_provider_strategy()[0].capacity_provider(),
        PROVIDER
    );
    let insights = cluster
        .settings()
        .iter()
        .find(|s| s.name().map(|n| n.as_str()) == Some("containerInsights"));
    assert_eq!(insights.and_then(|s| s.value()), Some("enabled"));

    let providers = bed
        .ecs
        .describe_capacity_providers()
        .capacity_providers(PROVIDER)
        .send()
        .await
        .unwrap();
    let asg = providers.capacity_providers()[0]
        .auto_scaling_group_provider()
        .unwrap();
    assert!(
        asg.auto_scaling_group_arn()
            .ends_with(&format!("autoScalingGroupName/{GROUP}"))
    );
    let scaling = asg.managed_scaling().unwrap();
    assert_eq!(
        (scaling.status(), scaling.target_capacity()),
        (Some(&ManagedScalingStatus::Enabled), Some(80))
    );
    assert_eq!(
        asg.managed_termination_protection(),
        Some(&ManagedTerminationProtection::Enabled)
    );
    // Managed draining (ECS's default) would add a lifecycle hook that can hold the group's
    // deletion; a group of one gains nothing from it.
    assert_eq!(
        asg.managed_draining(),
        Some(&aws_sdk_ecs::types::ManagedDraining::Disabled)
    );
    assert_eq!(bed.group_protection().await, (true, vec![true]));
    bed.harness.assert_logs_clean(&[]);
}

#[tokio::test]
async fn a_new_accounts_service_linked_role_is_waited_out() {
    // The account's first CreateCluster makes ECS's service-linked role, which IAM makes
    // usable seconds later: CreateCluster, then CreateCapacityProvider, are refused meanwhile.
    let bed = bed(1).await;
    let wait = std::time::Duration::from_secs(3);
    bed.harness
        .emulator
        .set_timing(Timing {
            service_linked_role: wait,
            ..Timing::default()
        })
        .await;
    let started = std::time::Instant::now();
    let answer = bed.create(properties()).await;
    assert_eq!(answer["Status"], "SUCCESS", "{answer}");
    assert!(
        started.elapsed() >= wait,
        "answered before the role was usable"
    );
    assert_eq!(bed.cluster_status(CLUSTER).await.as_deref(), Some("ACTIVE"));
    assert!(bed.provider_exists(PROVIDER).await);
    let retries: Vec<String> = bed
        .harness
        .process
        .logs()
        .iter()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .filter(|line| line["why"] == "ECS service-linked role not usable yet")
        .map(|line| line["action"].as_str().unwrap_or_default().to_owned())
        .collect();
    assert_eq!(retries.first().map(String::as_str), Some("CreateCluster"));
    assert_eq!(
        retries.last().map(String::as_str),
        Some("CreateCapacityProvider")
    );
}

#[tokio::test]
async fn defaults_come_from_the_stack_name() {
    // The product's template names the provider itself; a user's template that leaves the
    // default grants its role the default name.
    let principal = harness::principal("cluster").grant(json!({
        "Effect": "Allow",
        "Action": ["ecs:CreateCapacityProvider", "ecs:TagResource"],
        "Resource": ["*", "arn:aws:ecs:us-east-1:123456789012:capacity-provider/datero-prod-datero-ec2"],
    }));
    let bed = bed_as(principal, 0).await;
    let answer = bed.create(json!({"AutoScalingGroupName": GROUP})).await;
    assert_eq!(
        answer["Data"]["ClusterName"], "datero-prod-datero",
        "{answer}"
    );
    assert_eq!(
        answer["Data"]["CapacityProviderName"],
        "datero-prod-datero-ec2"
    );
}

#[tokio::test]
async fn update_in_place_keeps_the_id_and_changes_settings() {
    let bed = bed(1).await;
    let arn = bed.create(properties()).await["PhysicalResourceId"]
        .as_str()
        .unwrap()
        .to_owned();
    let mut changed = properties();
    changed["TargetCapacity"] = json!("50");
    changed["ManagedTerminationProtection"] = json!("DISABLED");
    changed["ContainerInsights"] = json!("disabled");
    let answer = bed
        .harness
        .request(events::update(TYPE, &arn, properties(), changed, ""))
        .await;
    assert_eq!(answer["Status"], "SUCCESS", "{answer}");
    assert_eq!(answer["PhysicalResourceId"], arn.as_str());

    let providers = bed
        .ecs
        .describe_capacity_providers()
        .capacity_providers(PROVIDER)
        .send()
        .await
        .unwrap();
    let asg = providers.capacity_providers()[0]
        .auto_scaling_group_provider()
        .unwrap();
    assert_eq!(asg.managed_scaling().unwrap().target_capacity(), Some(50));
    assert_eq!(
        asg.managed_termination_protection(),
        Some(&ManagedTerminationProtection::Disabled)
    );
    assert_eq!(bed.group_protection().await, (false, vec![false]));
    let described = bed
        .ecs
        .describe_clusters()
        .clusters(&arn)
        .send()
        .await
        .unwrap();
    let insights = described.clusters()[0]
        .settings()
        .iter()
        .find_map(|s| s.value().map(str::to_owned));
    assert_eq!(insights.as_deref(), Some("disabled"));
}

#[tokio::test]
async fn a_new_cluster_name_is_a_replacement_that_leaves_the_old_untouched() {
    // The product's template never renames its cluster; a user's template that does grants the
    // new names.
    let principal = harness::principal("cluster").grant(json!({
        "Effect": "Allow",
        "Action": ["ecs:*"],
        "Resource": [
            "arn:aws:ecs:us-east-1:123456789012:cluster/datero-next",
            "arn:aws:ecs:us-east-1:123456789012:capacity-provider/datero-next-ec2",
        ],
    }));
    let bed = bed_as(principal, 1).await;
    let old_arn = bed.create(properties()).await["PhysicalResourceId"]
        .as_str()
        .unwrap()
        .to_owned();
    let mut renamed = properties();
    renamed["ClusterName"] = json!("datero-next");
    renamed["CapacityProviderName"] = json!("datero-next-ec2");
    let answer = bed
        .harness
        .request(events::update(TYPE, &old_arn, properties(), renamed, ""))
        .await;
    assert_eq!(answer["Status"], "SUCCESS", "{answer}");
    assert_eq!(
        answer["PhysicalResourceId"],
        "arn:aws:ecs:us-east-1:123456789012:cluster/datero-next"
    );
    assert_eq!(
        bed.cluster_status(CLUSTER).await.as_deref(),
        Some("ACTIVE"),
        "CloudFormation deletes the old one, not Update"
    );
    assert!(bed.provider_exists(PROVIDER).await);
    assert!(bed.provider_exists("datero-next-ec2").await);
}

#[tokio::test]
async fn a_new_group_replaces_the_provider_in_place() {
    // The product's template keeps one group; a user's template that moves the provider to
    // another group grants its role that group.
    let principal = harness::principal("cluster").grant(json!({
        "Effect": "Allow",
        "Action": ["autoscaling:UpdateAutoScalingGroup", "autoscaling:SetInstanceProtection", "autoscaling:CreateOrUpdateTags"],
        "Resource": "arn:aws:autoscaling:us-east-1:123456789012:autoScalingGroup:*:autoScalingGroupName/datero-asg-2",
    }));
    let bed = bed_as(principal, 1).await;
    seed::auto_scaling_group(&bed.config, "datero-asg-2", 1).await;
    let arn = bed.create(properties()).await["PhysicalResourceId"]
        .as_str()
        .unwrap()
        .to_owned();
    let mut moved = properties();
    moved["AutoScalingGroupName"] = json!("datero-asg-2");
    let answer = bed
        .harness
        .request(events::update(TYPE, &arn, properties(), moved, ""))
        .await;
    assert_eq!(answer["Status"], "SUCCESS", "{answer}");
    assert_eq!(answer["PhysicalResourceId"], arn.as_str());
    let providers = bed
        .ecs
        .describe_capacity_providers()
        .capacity_providers(PROVIDER)
        .send()
        .await
        .unwrap();
    let group_arn = providers.capacity_providers()[0]
        .auto_scaling_group_provider()
        .unwrap()
        .auto_scaling_group_arn();
    assert!(
        group_arn.ends_with("autoScalingGroupName/datero-asg-2"),
        "{group_arn}"
    );
    assert_eq!(
        bed.group_protection().await,
        (false, vec![false]),
        "the old group is released so it can be deleted"
    );
}

#[tokio::test]
async fn delete_with_a_running_task_instances_and_protection_leaves_nothing_blocking() {
    let bed = bed(1).await;
    let arn = bed.create(properties()).await["PhysicalResourceId"]
        .as_str()
        .unwrap()
        .to_owned();
    let group = seed::describe_group(&bed.config, GROUP).await.unwrap();
    seed::register_instances(&bed.config, CLUSTER, &group).await;
    let definition = seed::task_definition(&bed.config, seed::FAMILY).await;
    let run = bed
        .ecs
        .run_task()
        .cluster(CLUSTER)
        .task_definition(&definition)
        .capacity_provider_strategy(
            aws_sdk_ecs::types::CapacityProviderStrategyItem::builder()
                .capacity_provider(PROVIDER)
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    let task = run.tasks()[0].task_arn().unwrap().to_owned();

    let answer = bed
        .harness
        .request(events::delete(TYPE, &arn, properties(), ""))
        .await;
    assert_eq!(answer["Status"], "SUCCESS", "{answer}");
    assert_eq!(
        bed.cluster_status(CLUSTER).await.as_deref(),
        Some("INACTIVE")
    );
    assert!(!bed.provider_exists(PROVIDER).await);
    let stopped = bed
        .ecs
        .describe_tasks()
        .cluster(CLUSTER)
        .tasks(&task)
        .send()
        .await
        .unwrap();
    assert_eq!(
        stopped.tasks()[0].stopped_reason(),
        Some("datero-provisioner: cluster deleted")
    );
    assert_eq!(bed.group_protection().await, (false, vec![false]));
    // What CloudFormation does next: delete the group. Protected instances would block it.
    aws_sdk_autoscaling::Client::new(&bed.config)
        .delete_auto_scaling_group()
        .auto_scaling_group_name(GROUP)
        .force_delete(true)
        .send()
        .await
        .expect("the group is deletable");
}

#[tokio::test]
async fn deletes_are_idempotent_lenient_and_know_the_failed_create_sentinel() {
    let bed = bed(1).await;
    // A cluster of this stack that was never made.
    let never = format!("arn:aws:ecs:us-east-1:123456789012:cluster/{CLUSTER}");
    let answer = bed
        .harness
        .request(events::delete(TYPE, &never, json!({}), ""))
        .await;
    assert_eq!(answer["Status"], "SUCCESS", "{answer}");
    let arn = bed.create(properties()).await["PhysicalResourceId"]
        .as_str()
        .unwrap()
        .to_owned();
    // Invalid and unknown values are read leniently; the names the template always sends stay.
    let invalid = json!({"AutoScalingGroupName": GROUP, "CapacityProviderName": PROVIDER, "TargetCapacity": "lots", "Bogus": true});
    for _ in 0..2 {
        let answer = bed
            .harness
            .request(events::delete(TYPE, &arn, invalid.clone(), ""))
            .await;
        assert_eq!(answer["Status"], "SUCCESS", "{answer}");
    }
    assert_eq!(
        bed.cluster_status(CLUSTER).await.as_deref(),
        Some("INACTIVE")
    );
    assert_eq!(bed.group_protection().await, (false, vec![false]));

    let failed = bed
        .create(json!({"AutoScalingGroupName": "missing-group"}))
        .await;
    assert_eq!(failed["Status"], "FAILED");
    let sentinel = failed["PhysicalResourceId"].as_str().unwrap();
    let answer = bed
        .harness
        .request(events::delete(TYPE, sentinel, json!({}), ""))
        .await;
    assert_eq!(answer["Status"], "SUCCESS", "{answer}");
}

#[tokio::test]
async fn bad_properties_fail_naming_them_and_make_nothing() {
    let bed = bed(1).await;
    let with = |key: &str, value: Value| {
        let mut properties = properties();
        properties[key] = value;
        properties
    };
    let cases = [
        (
            json!({"ClusterName": "x"}),
            "property AutoScalingGroupName is required: expected the name or ARN of the Auto Scaling group",
        ),
        (
            with("TargetCapacity", json!("101")),
            "property TargetCapacity is invalid: expected a whole number from 1 to 100, got \"101\"",
        ),
        (
            with("ManagedTerminationProtection", json!("ON")),
            "property ManagedTerminationProtection is invalid: expected one of ENABLED, DISABLED, got \"ON\"",
        ),
        (
            with("ContainerInsights", json!(true)),
            "property ContainerInsights is invalid: expected one of enabled, disabled, got \"true\"",
        ),
        (
            with("CapacityProviderName", json!("fargate-x")),
            "property CapacityProviderName is invalid: expected a name that does not start with aws, ecs or fargate (reserved by ECS), got \"fargate-x\"",
        ),
        (
            with("Size", json!("big")),
            "unknown properties Size; accepted: AutoScalingGroupName, ClusterName, CapacityProviderName, TargetCapacity, ManagedTerminationProtection, ContainerInsights",
        ),
    ];
    for (properties, reason) in cases {
        let answer = bed.create(properties).await;
        assert_eq!(
            (answer["Status"].as_str(), answer["Reason"].as_str()),
            (Some("FAILED"), Some(reason))
        );
    }
    bed.assert_nothing_made().await;
    assert_eq!(bed.group_protection().await, (false, vec![false]));
}
#[tokio::test]
async fn aws_refusals_fail_clearly_and_undo_everything() {
    let bed = bed(1).await;
    let answer = bed.create(with_group("no-such-group")).await;
    assert_eq!(answer["Status"], "FAILED");
    assert_eq!(
        answer["Reason"],
        "Auto Scaling group no-such-group not found in this account and Region (property AutoScalingGroupName)"
    );
    bed.assert_nothing_made().await;

    // A provider of that name exists already (someone else's).
    let group = seed::describe_group(&bed.config, GROUP).await.unwrap();
    let foreign = aws_sdk_ecs::types::AutoScalingGroupProvider::builder()
        .auto_scaling_group_arn(group.auto_scaling_group_arn().unwrap())
        .build()
        .unwrap();
    bed.ecs
        .create_capacity_provider()
        .name(PROVIDER)
        .auto_scaling_group_provider(foreign)
        .send()
        .await
        .unwrap();
    let answer = bed.create(properties()).await;
    assert_eq!(answer["Status"], "FAILED");
    assert_eq!(
        answer["Reason"],
        format!(
            "capacity provider {PROVIDER} already exists and was not made by this stack (property CapacityProviderName): choose another name"
        )
    );
    assert_ne!(
        bed.cluster_status(CLUSTER).await.as_deref(),
        Some("ACTIVE"),
        "the cluster made by the failed Create is undone"
    );
    assert!(
        bed.provider_exists(PROVIDER).await,
        "someone else's provider is left alone"
    );
    assert_eq!(
        bed.group_protection().await,
        (false, vec![false]),
        "protection this Create turned on is turned off again"
    );
    // Nothing running either.
    let tasks = bed
        .ecs
        .list_tasks()
        .cluster(CLUSTER)
        .desired_status(DesiredStatus::Running)
        .send()
        .await;
    match tasks {
        Ok(listed) => assert!(listed.task_arns().is_empty(), "{:?}", listed.task_arns()),
        // The undone cluster is gone: ECS has no tasks to list for it.
        Err(error) => assert!(
            error
                .as_service_error()
                .is_some_and(|e| e.is_cluster_not_found_exception()),
            "{error:?}"
        ),
    }
}

fn with_group(group: &str) -> Value {
    let mut properties = properties();
    properties["AutoScalingGroupName"] = json!(group);
    properties
}
