//! `functions/elastic-ip` through the local Runtime API against the tightened emulator, with
//! its role from template.yaml enforced. The test plays EventBridge: it builds the ECS Container
//! Instance State Change event from the instance as ECS has it, and sends it.

use std::time::Duration;

use aws_config::SdkConfig;
use datero_testbed::emulator::Emulator;
use datero_testbed::events;
use datero_testbed::harness::{self, FunctionHarness};
use datero_testbed::runtime_api::Invocation;
use datero_testbed::seed::{self, CLUSTER};
use serde_json::{Value, json};

struct Bed {
    harness: FunctionHarness,
    config: SdkConfig,
    allocation: String,
    /// The group's two instances, registered with the cluster.
    instances: Vec<aws_sdk_ecs::types::ContainerInstance>,
}

async fn bed() -> Bed {
    let emulator = Emulator::start().await;
    let config = emulator.sdk_config().await;
    seed::ready_cluster(&config, 2).await;
    let (allocation, _) = seed::allocate_address(&config).await;
    let principal = harness::principal_with_address(
        "elastic-ip",
        &allocation,
        &seed::default_vpc(&config).await,
    );
    let ecs = aws_sdk_ecs::Client::new(&config);
    let arns = ecs
        .list_container_instances()
        .cluster(CLUSTER)
        .send()
        .await
        .unwrap()
        .container_instance_arns()
        .to_vec();
    let instances = ecs
        .describe_container_instances()
        .cluster(CLUSTER)
        .set_container_instances(Some(arns))
        .send()
        .await
        .unwrap()
        .container_instances()
        .to_vec();
    assert_eq!(instances.len(), 2);
    let env = [
        ("CLUSTER_NAME", CLUSTER.to_owned()),
        ("ALLOCATION_ID", allocation.clone()),
    ];
    let harness = FunctionHarness::start_as(emulator, principal, &env).await;
    Bed {
        harness,
        config,
        allocation,
        instances,
    }
}

impl Bed {
    fn joined(&self, index: usize) -> Value {
        events::container_instance_state_change(
            &self.instances[index],
            &format!("arn:aws:ecs:us-east-1:123456789012:cluster/{CLUSTER}"),
            &format!("joined-{index}"),
        )
    }

    fn ec2_id(&self, index: usize) -> String {
        self.instances[index].ec2_instance_id().unwrap().to_owned()
    }

    async fn send(&self, event: Value) -> Invocation {
        self.harness
            .api
            .invoke(event, Duration::from_secs(30))
            .await
    }

    async fn holder(&self) -> Option<String> {
        aws_sdk_ec2::Client::new(&self.config)
            .describe_addresses()
            .allocation_ids(&self.allocation)
            .send()
            .await
            .unwrap()
            .addresses()
            .first()
            .and_then(|a| a.instance_id())
            .map(str::to_owned)
            .filter(|id| !id.is_empty())
    }

    /// The decision log lines, in order: (decision, reason).
    fn decisions(&self) -> Vec<(String, String)> {
        self.harness
            .decision_lines()
            .into_iter()
            .map(|line| {
                (
                    line["decision"].as_str().unwrap_or_default().to_owned(),
                    line["reason"].as_str().unwrap_or_default().to_owned(),
                )
            })
            .collect()
    }
}

fn assert_ok(invocation: &Invocation) {
    assert!(
        matches!(invocation, Invocation::Response(_)),
        "{invocation:?}"
    );
}

#[tokio::test]
async fn the_instance_that_joins_gets_the_address_and_a_repeat_changes_nothing() {
    let bed = bed().await;
    assert_eq!(bed.holder().await, None);
    assert_ok(&bed.send(bed.joined(0)).await);
    assert_eq!(bed.holder().await, Some(bed.ec2_id(0)));
    // The same event again: no error, no change.
    assert_ok(&bed.send(bed.joined(0)).await);
    assert_eq!(bed.holder().await, Some(bed.ec2_id(0)));
    // A replacement joins: the address moves to it.
    assert_ok(&bed.send(bed.joined(1)).await);
    assert_eq!(bed.holder().await, Some(bed.ec2_id(1)));
    let decisions = bed.decisions();
    assert_eq!(decisions[0].0, "associate");
    assert_eq!(
        decisions[1],
        (
            "skip".into(),
            "the address is already on this instance".into()
        )
    );
    assert_eq!(decisions[2].0, "associate");
    // Two moves and one skip, counted as the alarms and dashboards see them.
    let metrics: Vec<(String, String)> = bed
        .harness
        .metric_lines()
        .iter()
        .map(|line| {
            let name = line["_aws"]["CloudWatchMetrics"][0]["Metrics"][0]["Name"]
                .as_str()
                .unwrap_or_default()
                .to_owned();
            (name, line["Reason"].as_str().unwrap_or("").to_owned())
        })
        .collect();
    let expected = [
        ("AddressMoves", ""),
        ("SkippedAddressMoves", "already-there"),
        ("AddressMoves", ""),
    ]
    .map(|(name, reason)| (name.to_owned(), reason.to_owned()));
    assert_eq!(metrics, expected);
    bed.harness.assert_logs_clean(&[]);
}

#[tokio::test]
async fn events_it_must_not_act_on_are_skipped_with_their_reason() {
    let bed = bed().await;
    assert_ok(&bed.send(bed.joined(0)).await);
    let mut other_cluster = bed.joined(1);
    other_cluster["detail"]["clusterArn"] =
        json!("arn:aws:ecs:us-east-1:123456789012:cluster/someone-else");
    let mut draining = bed.joined(1);
    draining["detail"]["status"] = json!("DRAINING");
    let mut disconnected = bed.joined(1);
    disconnected["detail"]["agentConnected"] = json!(false);
    // Instance 1 is deregistered before its (late) ACTIVE event arrives.
    aws_sdk_ecs::Client::new(&bed.config)
        .deregister_container_instance()
        .cluster(CLUSTER)
        .container_instance(bed.instances[1].container_instance_arn().unwrap())
        .force(true)
        .send()
        .await
        .unwrap();
    let late = bed.joined(1);
    for event in [other_cluster, draining, disconnected, late] {
        assert_ok(&bed.send(event).await);
    }
    assert_eq!(
        bed.holder().await,
        Some(bed.ec2_id(0)),
        "the address never moved"
    );
    let reasons: Vec<String> = bed.decisions().into_iter().skip(1).map(|d| d.1).collect();
    assert_eq!(
        reasons,
        [
            "the instance joined another cluster (arn:aws:ecs:us-east-1:123456789012:cluster/someone-else)",
            "the instance is DRAINING, not ACTIVE",
            "the instance's ECS agent is not connected",
            "the instance is no longer registered and ACTIVE in the cluster (a late event)",
        ]
    );
}

#[tokio::test]
async fn the_address_stays_with_the_instance_that_runs_datero() {
    // During a replacement two instances are ACTIVE at once, and each sends events (agent
    // reconnects, task placements): only Datero's instance may hold the address.
    let bed = bed().await;
    let definition = seed::task_definition(&bed.config, seed::FAMILY).await;
    let task = seed::run_datero(&bed.config, &definition).await;
    let host = seed::instance_of_task(&bed.config, &task).await;
    let (datero, other) = if bed.ec2_id(0) == host {
        (0, 1)
    } else {
        (1, 0)
    };
    assert_ok(&bed.send(bed.joined(other)).await);
    assert_eq!(
        bed.holder().await,
        None,
        "the empty instance took the address"
    );
    assert_ok(&bed.send(bed.joined(datero)).await);
    assert_eq!(bed.holder().await, Some(bed.ec2_id(datero)));
    assert_ok(&bed.send(bed.joined(other)).await);
    assert_eq!(
        bed.holder().await,
        Some(bed.ec2_id(datero)),
        "the address left Datero's instance"
    );
    // Datero stopped for good: the newest ACTIVE instance that reports takes the address.
    aws_sdk_ecs::Client::new(&bed.config)
        .stop_task()
        .cluster(CLUSTER)
        .task(task.task_arn().unwrap())
        .send()
        .await
        .unwrap();
    seed::stopped(&bed.config, task.task_arn().unwrap()).await;
    assert_ok(&bed.send(bed.joined(other)).await);
    assert_eq!(bed.holder().await, Some(bed.ec2_id(other)));
    let reasons: Vec<(String, String)> = bed.decisions();
    assert_eq!(
        reasons[0],
        (
            "skip".into(),
            "Datero's task runs on another instance, which keeps the address".into()
        )
    );
    assert_eq!(reasons[2].1, reasons[0].1);
}

#[tokio::test]
async fn a_malformed_event_is_an_error_and_the_process_lives_on() {
    let bed = bed().await;
    let mut wrong = bed.joined(0);
    wrong["detail"]["agentConnected"] = json!("yes");
    for event in [wrong, json!("just a string")] {
        let Invocation::Error(error) = bed.send(event).await else {
            panic!("expected an error")
        };
        assert!(
            error
                .to_string()
                .contains("malformed ECS Container Instance State Change event"),
            "{error}"
        );
    }
    assert_eq!(bed.holder().await, None);
    let mut bed = bed;
    assert!(bed.harness.process.is_running());
}
