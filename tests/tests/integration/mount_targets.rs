//! `Custom::DateroMountTargets` (the cluster function) against EFS's rules as the emulator
//! plays them: one mount target per zone (a second is refused with MountTargetConflict), mount
//! targets that take a while to become available and to go, and the function's role from
//! template.yaml enforced, with the EC2 permissions EFS uses on the caller's behalf.

use aws_config::SdkConfig;
use datero_testbed::emulator::Emulator;
use datero_testbed::events;
use datero_testbed::harness::FunctionHarness;
use datero_testbed::iam::Principal;
use datero_testbed::raw_aws;
use datero_testbed::seed;
use datero_testbed::template::Template;
use serde_json::{Value, json};

const TYPE: &str = "Custom::DateroMountTargets";

struct Bed {
    harness: FunctionHarness,
    endpoint: String,
    file_system: String,
    group: String,
    vpc: String,
    /// One default subnet per zone, and a second subnet in the first one's zone.
    subnets: Vec<String>,
    second_in_first_zone: String,
}

async fn bed() -> Bed {
    let emulator = Emulator::start().await;
    let config = emulator.sdk_config().await;
    let endpoint = emulator.endpoint().to_owned();
    let file_system = seed::file_system(&endpoint).await;
    let (vpc, group, subnets, second_in_first_zone) = network(&config).await;
    // The cluster function's role for a stack with this file system and security group.
    let template = Template::load().unwrap();
    let mut stack = seed::test_stack(&template);
    stack.refs.insert("FileSystem".into(), file_system.clone());
    stack.attributes.insert(
        "FileSystem.Arn".into(),
        format!("arn:aws:elasticfilesystem:us-east-1:123456789012:file-system/{file_system}"),
    );
    stack
        .attributes
        .insert("EfsSecurityGroup.GroupId".into(), group.clone());
    let principal = Principal::of_function(&template, &stack, "cluster").unwrap();
    let harness = FunctionHarness::start_as(emulator, principal, &[]).await;
    Bed {
        harness,
        endpoint,
        file_system,
        group,
        vpc,
        subnets,
        second_in_first_zone,
    }
}

async fn network(config: &SdkConfig) -> (String, String, Vec<String>, String) {
    let ec2 = aws_sdk_ec2::Client::new(config);
    let subnets = seed::default_subnets(config).await;
    let described = ec2
        .describe_subnets()
        .subnet_ids(&subnets[0])
        .send()
        .await
        .unwrap();
    let first = &described.subnets()[0];
    let vpc = first.vpc_id().unwrap().to_owned();
    let second = ec2
        .create_subnet()
        .vpc_id(&vpc)
        .availability_zone(first.availability_zone().unwrap())
        .cidr_block("172.31.200.0/24")
        .send()
        .await
        .unwrap()
        .subnet()
        .unwrap()
        .subnet_id()
        .unwrap()
        .to_owned();
    let group = ec2
        .create_security_group()
        .group_name("datero-efs")
        .description("EFS")
        .vpc_id(&vpc)
        .send()
        .await
        .unwrap()
        .group_id()
        .unwrap()
        .to_owned();
    (vpc, group, subnets, second)
}

impl Bed {
    fn properties(&self, subnets: &[&String]) -> Value {
        json!({
            "FileSystemId": self.file_system,
            "VpcId": self.vpc,
            "SubnetIds": subnets,
            "SecurityGroupIds": [self.group],
        })
    }

    /// The file system's mount targets as (subnet, zone, state), sorted by zone.
    async fn targets(&self) -> Vec<Value> {
        let listed = raw_aws::rest_call(
            &self.endpoint,
            "elasticfilesystem",
            reqwest::Method::GET,
            &format!(
                "/2015-02-01/mount-targets?FileSystemId={}",
                self.file_system
            ),
        )
        .await
        .unwrap();
        let mut targets = listed["MountTargets"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        targets.sort_by_key(|t| {
            t["AvailabilityZoneName"]
                .as_str()
                .unwrap_or_default()
                .to_owned()
        });
        targets
    }

    async fn zones(&self) -> Vec<(String, String, String)> {
        self.targets()
            .await
            .iter()
            .map(|t| {
                let text = |key: &str| t[key].as_str().unwrap_or_default().to_owned();
                (
                    text("SubnetId"),
                    text("AvailabilityZoneName"),
                    text("LifeCycleState"),
                )
            })
            .collect()
    }
}

fn assert_success(answer: &Value) {
    assert_eq!(answer["Status"], "SUCCESS", "{answer}");
}

#[tokio::test]
async fn two_subnets_in_a_zone_and_a_swap_within_it_keep_one_available_mount_target_per_zone() {
    let bed = bed().await;
    let [first, second_zone, third_zone] = [&bed.subnets[0], &bed.subnets[1], &bed.subnets[2]];
    let extra = &bed.second_in_first_zone;
    // A first deploy with two subnets in one zone: one mount target per zone, all available
    // when CloudFormation hears of it.
    let created = bed
        .harness
        .request(events::create(
            TYPE,
            bed.properties(&[first, extra, second_zone]),
            "",
        ))
        .await;
    assert_success(&created);
    let id = created["PhysicalResourceId"].as_str().unwrap().to_owned();
    assert!(
        id.ends_with(&format!(":file-system/{}", bed.file_system)),
        "{id}"
    );
    let zones = bed.zones().await;
    assert_eq!(zones.len(), 2, "{zones:?}");
    assert!(
        zones.iter().all(|(_, _, state)| state == "available"),
        "{zones:?}"
    );
    let subnets: Vec<&str> = zones.iter().map(|(s, _, _)| s.as_str()).collect();
    assert!(subnets.contains(&first.as_str()) && subnets.contains(&second_zone.as_str()));

    // An update that swaps the first zone's subnet for the other one and adds a zone: the first
    // zone keeps its mount target (a running Datero's mount stays), the new zone gets one.
    let updated = bed
        .harness
        .request(events::update(
            TYPE,
            &id,
            bed.properties(&[first, extra, second_zone]),
            bed.properties(&[extra, second_zone, third_zone]),
            "",
        ))
        .await;
    assert_success(&updated);
    assert_eq!(updated["PhysicalResourceId"], id.as_str());
    let after: Vec<String> = bed.zones().await.into_iter().map(|(s, _, _)| s).collect();
    assert_eq!(after.len(), 3, "{after:?}");
    assert!(
        after.contains(first) && after.contains(third_zone),
        "{after:?}"
    );

    // Delete: answered once EFS lists none, so the security group can go next.
    let deleted = bed
        .harness
        .request(events::delete(TYPE, &id, bed.properties(&[extra]), ""))
        .await;
    assert_success(&deleted);
    assert!(bed.targets().await.is_empty());
    // Again (a retried delete): nothing to do, still a success.
    let again = bed
        .harness
        .request(events::delete(TYPE, &id, bed.properties(&[extra]), ""))
        .await;
    assert_success(&again);
    bed.harness.assert_logs_clean(&[]);
}

#[tokio::test]
async fn a_stack_made_before_keeps_its_addresses_when_its_mount_targets_are_taken_over() {
    let bed = bed().await;
    let first = &bed.subnets[0];
    // The old template's own AWS::EFS::MountTarget, made by CloudFormation.
    let old = raw_aws::rest_json(
        &bed.endpoint,
        "elasticfilesystem",
        "/2015-02-01/mount-targets",
        &json!({"FileSystemId": bed.file_system, "SubnetId": first, "SecurityGroups": [bed.group]}),
    )
    .await
    .unwrap();
    let old_id = old["MountTargetId"].as_str().unwrap().to_owned();
    let address = old["IpAddress"].as_str().unwrap().to_owned();
    tokio::time::sleep(std::time::Duration::from_secs(3)).await;

    let created = bed
        .harness
        .request(events::create(TYPE, bed.properties(&[first]), ""))
        .await;
    assert_success(&created);
    let targets = bed.targets().await;
    assert_eq!(targets.len(), 1, "{targets:?}");
    let new = &targets[0];
    assert_ne!(
        new["MountTargetId"],
        old_id.as_str(),
        "replaced, not adopted"
    );
    assert_eq!(new["SubnetId"], first.as_str());
    assert_eq!(
        new["IpAddress"],
        address.as_str(),
        "the mounts find it at the same address"
    );
    assert_eq!(new["LifeCycleState"], "available");

    // CloudFormation's cleanup then deletes the old template's resource: EFS no longer knows
    // it (CloudFormation takes NotFound on a delete as done), and the new one stays.
    let cleanup = raw_aws::rest_call(
        &bed.endpoint,
        "elasticfilesystem",
        reqwest::Method::DELETE,
        &format!("/2015-02-01/mount-targets/{old_id}"),
    )
    .await;
    assert!(cleanup.is_err(), "{cleanup:?}");
    assert_eq!(bed.targets().await.len(), 1);
    let replaced = bed
        .harness
        .decision_lines()
        .into_iter()
        .find(|line| line["decision"] == "replace")
        .expect("a replace decision is logged");
    assert_eq!(replaced["old"], old_id.as_str());
}

#[tokio::test]
async fn bad_input_and_another_vpc_are_refused_with_the_reason_and_nothing_made() {
    let bed = bed().await;
    let mut bad = bed.properties(&[&bed.subnets[0]]);
    bad["SubnetIds"] = json!(["sg-123"]);
    let refused = bed.harness.request(events::create(TYPE, bad, "")).await;
    assert_eq!(refused["Status"], "FAILED");
    assert!(
        refused["Reason"].as_str().unwrap().contains("SubnetIds"),
        "{refused}"
    );
    // Mount targets already in another VPC: a file system's are all in one.
    let mut elsewhere = bed.properties(&[&bed.subnets[0]]);
    elsewhere["VpcId"] = json!("vpc-0123456789abcdef0");
    raw_aws::rest_json(
        &bed.endpoint,
        "elasticfilesystem",
        "/2015-02-01/mount-targets",
        &json!({"FileSystemId": bed.file_system, "SubnetId": bed.subnets[1]}),
    )
    .await
    .unwrap();
    let answer = bed
        .harness
        .request(events::update(
            TYPE,
            "arn:aws:elasticfilesystem:us-east-1:123456789012:file-system/fs-1",
            bed.properties(&[&bed.subnets[0]]),
            elsewhere,
            "",
        ))
        .await;
    assert_eq!(answer["Status"], "FAILED");
    let reason = answer["Reason"].as_str().unwrap();
    assert!(
        reason.contains(&bed.vpc) && reason.contains("one VPC"),
        "{reason}"
    );
    assert_eq!(bed.targets().await.len(), 1, "nothing was made");
}

/// A first deploy with four subnets in four zones (more than the three the template once
/// covered): each zone gets its mount target, and the group may use every subnet.
#[tokio::test]
async fn a_first_deploy_with_four_subnets_covers_four_zones() {
    let bed = bed().await;
    let four: Vec<&String> = bed.subnets.iter().take(4).collect();
    let created = bed
        .harness
        .request(events::create(TYPE, bed.properties(&four), ""))
        .await;
    assert_success(&created);
    let zones = bed.zones().await;
    assert_eq!(zones.len(), 4, "{zones:?}");
    let mut distinct: Vec<&String> = zones.iter().map(|(_, zone, _)| zone).collect();
    distinct.dedup();
    assert_eq!(distinct.len(), 4, "{zones:?}");
    assert!(zones.iter().all(|(_, _, state)| state == "available"));
}
