//! `functions/task-runner` through the local Runtime API against the tightened emulator.

use std::time::Duration;

use aws_config::SdkConfig;
use datero_testbed::emulator::{Emulator, TaskStart};
use datero_testbed::harness::{self, FunctionHarness};
use datero_testbed::runtime_api::Invocation;
use datero_testbed::seed::{self, CLUSTER, FAMILY, PROVIDER};
use datero_testbed::{events, sink::ResponseSink};
use serde_json::{Value, json};

const TYPE: &str = "Custom::DateroTask";

struct Bed {
    harness: FunctionHarness,
    config: SdkConfig,
    revisions: [String; 2],
}

async fn bed() -> Bed {
    let emulator = Emulator::start().await;
    let config = emulator.sdk_config().await;
    seed::ready_cluster(&config, 1).await;
    let revisions = [
        seed::task_definition(&config, FAMILY).await,
        seed::task_definition(&config, FAMILY).await,
    ];
    let harness = FunctionHarness::start_on(emulator, "task-runner", &[]).await;
    Bed {
        harness,
        config,
        revisions,
    }
}

fn properties(task_definition: &str) -> Value {
    json!({"ClusterName": CLUSTER, "CapacityProviderName": PROVIDER, "TaskDefinitionArn": task_definition})
}

impl Bed {
    async fn create(&self, revision: usize) -> Value {
        self.harness
            .request(events::create(
                TYPE,
                properties(&self.revisions[revision]),
                "",
            ))
            .await
    }

    /// The Update that rolls Datero from revision `from` to revision `to`.
    fn update(&self, from: usize, to: usize) -> Value {
        events::update(
            TYPE,
            &format!("{CLUSTER}/datero"),
            properties(&self.revisions[from]),
            properties(&self.revisions[to]),
            "",
        )
    }

    async fn wanted(&self) -> Vec<aws_sdk_ecs::types::Task> {
        seed::wanted(&self.config).await
    }
}

#[tokio::test]
async fn create_runs_one_task_through_the_provider_and_answers_once_running() {
    let bed = bed().await;
    let answer = bed.create(0).await;
    assert_eq!(answer["Status"], "SUCCESS", "{answer}");
    assert_eq!(answer["PhysicalResourceId"], format!("{CLUSTER}/datero"));
    let wanted = bed.wanted().await;
    assert_eq!(wanted.len(), 1);
    let task = &wanted[0];
    assert_eq!(answer["Data"]["TaskArn"], task.task_arn().unwrap());
    assert_eq!(task.last_status(), Some("RUNNING"));
    assert_eq!(task.started_by(), Some("datero-provisioner"));
    assert_eq!(task.task_definition_arn(), Some(bed.revisions[0].as_str()));
    // Without an Elastic IP, the answer names the instance's own public address.
    let instance = seed::instance_of_task(&bed.config, task).await;
    let described = aws_sdk_ec2::Client::new(&bed.config)
        .describe_instances()
        .instance_ids(&instance)
        .send()
        .await
        .unwrap();
    let public = described.reservations()[0].instances()[0]
        .public_ip_address()
        .expect("the emulator's instances have public addresses");
    assert_eq!(answer["Data"]["Url"], format!("http://{public}:80/"));
    bed.harness.assert_logs_clean(&[]);
}

#[tokio::test]
async fn create_with_the_stacks_elastic_ip_puts_it_on_the_tasks_instance() {
    let emulator = Emulator::start().await;
    let config = emulator.sdk_config().await;
    seed::ready_cluster(&config, 1).await;
    let revision = seed::task_definition(&config, FAMILY).await;
    let (allocation, public_ip) = seed::allocate_address(&config).await;
    let principal = harness::principal_with_address(
        "task-runner",
        &allocation,
        &seed::default_vpc(&config).await,
    );
    let harness = FunctionHarness::start_as(emulator, principal, &[]).await;
    let mut properties = properties(&revision);
    properties["ElasticIpAllocationId"] = json!(allocation);
    let answer = harness.request(events::create(TYPE, properties, "")).await;
    assert_eq!(answer["Status"], "SUCCESS", "{answer}");
    assert_eq!(answer["Data"]["Url"], format!("http://{public_ip}:80/"));
    // The address is on the instance that runs the task.
    let task = &seed::wanted(&config).await[0];
    let instance = seed::instance_of_task(&config, task).await;
    let holder = aws_sdk_ec2::Client::new(&config)
        .describe_addresses()
        .allocation_ids(&allocation)
        .send()
        .await
        .unwrap();
    assert_eq!(holder.addresses()[0].instance_id(), Some(instance.as_str()));
}

#[tokio::test]
async fn the_same_create_delivered_twice_starts_one_task() {
    let bed = bed().await;
    let event = events::create(TYPE, properties(&bed.revisions[0]), "");
    let first = bed.harness.request(event.clone()).await;
    let second = bed.harness.request(event).await;
    assert_eq!(first["Data"]["TaskArn"], second["Data"]["TaskArn"]);
    assert_eq!(bed.wanted().await.len(), 1);
}

#[tokio::test]
async fn a_task_that_stops_before_running_fails_the_create_with_ecs_words() {
    let bed = bed().await;
    bed.harness
        .emulator
        .set_task_start(TaskStart::Fail(
            "CannotPullContainerError: pull access denied for chumaky/datero",
        ))
        .await;
    let answer = bed.create(0).await;
    assert_eq!(answer["Status"], "FAILED");
    let reason = answer["Reason"].as_str().unwrap();
    assert!(
        reason.starts_with("Datero's task stopped before it was up: CannotPullContainerError: pull access denied for chumaky/datero (TaskFailedToStart)"),
        "{reason}"
    );
}

#[tokio::test]
async fn a_task_still_pending_at_the_deadline_fails_and_is_stopped() {
    let bed = bed().await;
    bed.harness
        .emulator
        .set_task_start(TaskStart::Pending)
        .await;
    let sink = ResponseSink::start().await;
    let event = events::create(
        TYPE,
        properties(&bed.revisions[0]),
        &sink.response_url("pending"),
    );
    // A 20 s Lambda: the watchdog keeps 8 s, the runner 5 more to stop the task and answer.
    let invocation = bed.harness.api.invoke(event, Duration::from_secs(20)).await;
    assert!(
        matches!(invocation, Invocation::Response(_)),
        "{invocation:?}"
    );
    let answers = sink.received();
    assert_eq!(
        answers.len(),
        1,
        "one answer, from the runner itself rather than the watchdog"
    );
    let answer = answers[0].json();
    assert_eq!(answer["Status"], "FAILED");
    assert!(
        answer["Reason"]
            .as_str()
            .unwrap()
            .starts_with("Datero's task was still PENDING when time ran out, so it was stopped"),
        "{answer}"
    );
    assert!(
        bed.wanted().await.is_empty(),
        "the pending task was stopped"
    );
}

#[tokio::test]
async fn update_stops_the_old_task_then_runs_the_new_revision() {
    let bed = bed().await;
    let created = bed.create(0).await;
    let old_task = created["Data"]["TaskArn"].as_str().unwrap().to_owned();
    let id = created["PhysicalResourceId"].as_str().unwrap().to_owned();
    let event = events::update(
        TYPE,
        &id,
        properties(&bed.revisions[0]),
        properties(&bed.revisions[1]),
        "",
    );
    let updated = bed.harness.request(event).await;
    assert_eq!(updated["Status"], "SUCCESS", "{updated}");
    assert_eq!(updated["PhysicalResourceId"], id.as_str());
    let wanted = bed.wanted().await;
    assert_eq!(wanted.len(), 1, "never two Datero tasks");
    assert_eq!(
        wanted[0].task_definition_arn(),
        Some(bed.revisions[1].as_str())
    );
    let old = seed::describe_tasks(&bed.config, &[old_task]).await;
    assert_eq!(
        old[0].stopped_reason(),
        Some("datero-provisioner: replaced by datero-prod-datero:2")
    );
    // Stopped before the new one started: never two PostgreSQL servers on one data directory.
    assert!(old[0].stopped_at().unwrap().secs() <= wanted[0].created_at().unwrap().secs());
}

#[tokio::test]
async fn a_failed_update_brings_the_previous_revision_back() {
    let bed = bed().await;
    bed.create(0).await;
    bed.harness
        .emulator
        .set_task_start(TaskStart::FailRevision(
            "CannotPullContainerError: manifest unknown",
            bed.revisions[1].clone(),
        ))
        .await;
    let updated = bed.harness.request(bed.update(0, 1)).await;
    assert_eq!(updated["Status"], "FAILED");
    let reason = updated["Reason"].as_str().unwrap();
    assert!(
        reason.contains("manifest unknown")
            && reason.ends_with("the previous revision was started again"),
        "{reason}"
    );
    let wanted = bed.wanted().await;
    assert_eq!(wanted.len(), 1);
    assert_eq!(
        wanted[0].task_definition_arn(),
        Some(bed.revisions[0].as_str()),
        "Datero runs on while CloudFormation rolls back"
    );
}

/// PostgreSQL's last words when it meets another major's data, as PostgreSQL 17 and 15 print
/// them (`postgres_upgrade.rs` reads them from real servers).
const NEWER_SERVER: &str = "2026-11-30 11:25:23.129 UTC [1] FATAL:  database files are incompatible with server\n2026-11-30 11:25:23.129 UTC [1] DETAIL:  The data directory was initialized by PostgreSQL version 15, which is not compatible with this version 17.6.";
const OLDER_SERVER: &str = "2026-11-30 11:25:23.738 UTC [1] FATAL:  database files are incompatible with server\n2026-11-30 11:25:23.738 UTC [1] DETAIL:  The data directory was initialized by PostgreSQL version 17, which is not compatible with this version 15.18.";

/// A rollout is done when Datero is up: a new task that runs, then exits (PostgreSQL refusing
/// a data directory of another major), or whose health check fails, fails the update, and the
/// previous revision runs again. The reason puts PostgreSQL's refusal, read from the
/// container's log, first: the way to a new major, or the downgrade refused.
#[tokio::test]
async fn a_new_task_that_runs_then_exits_or_stays_unhealthy_fails_the_update() {
    let bed = bed().await;
    bed.create(0).await;
    for (start, expected) in [
        (
            TaskStart::ExitsRevision(NEWER_SERVER, bed.revisions[1].clone()),
            vec![
                "PostgreSQL 17 cannot open the data of PostgreSQL 15 (left untouched)",
                "DataDirectory=pg17",
            ],
        ),
        (
            TaskStart::ExitsRevision(OLDER_SERVER, bed.revisions[1].clone()),
            vec!["downgrade refused: PostgreSQL 15 cannot read the data of PostgreSQL 17"],
        ),
        (
            TaskStart::ExitsRevision(
                "initdb: error: could not change permissions of directory",
                bed.revisions[1].clone(),
            ),
            vec![
                "Datero's task stopped before it was up",
                "datero exited with 1; Datero's log ends: initdb: error: could not change permissions",
            ],
        ),
        (
            TaskStart::UnhealthyRevision(bed.revisions[1].clone()),
            vec!["Datero's task ran but its health check (pg_isready) failed"],
        ),
    ] {
        bed.harness.emulator.set_task_start(start).await;
        let updated = bed.harness.request(bed.update(0, 1)).await;
        assert_eq!(updated["Status"], "FAILED", "{updated}");
        let reason = updated["Reason"].as_str().unwrap();
        assert!(
            expected.iter().all(|part| reason.contains(part))
                && reason.starts_with(expected[0])
                && reason.ends_with("the previous revision was started again"),
            "{reason}"
        );
        let wanted = bed.wanted().await;
        assert_eq!(wanted.len(), 1, "{wanted:?}");
        assert_eq!(
            wanted[0].task_definition_arn(),
            Some(bed.revisions[0].as_str())
        );
    }
}

#[tokio::test]
#[expect(clippy::too_many_lines, reason = "one scenario, its steps in order")]
async fn delete_stops_every_datero_task_and_is_repeatable() {
    let bed = bed().await;
    bed.create(0).await;
    // A stray task of the family too (as if started by hand).
    seed::run_datero(&bed.config, &bed.revisions[1]).await;
    let id = format!("{CLUSTER}/datero");
    for _ in 0..2 {
        let answer = bed
            .harness
            .request(events::delete(TYPE, &id, properties(&bed.revisions[0]), ""))
            .await;
        assert_eq!(answer["Status"], "SUCCESS", "{answer}");
        // Answered only once every task is STOPPED (its stop timeout played out): what
        // CloudFormation deletes next (the EFS mount targets) is no longer in use.
        let ecs = aws_sdk_ecs::Client::new(&bed.config);
        let arns = ecs
            .list_tasks()
            .cluster(CLUSTER)
            .desired_status(aws_sdk_ecs::types::DesiredStatus::Stopped)
            .send()
            .await
            .unwrap()
            .task_arns()
            .to_vec();
        assert_eq!(arns.len(), 2);
        for task in seed::describe_tasks(&bed.config, &arns).await {
            assert_eq!(task.last_status(), Some("STOPPED"), "{task:?}");
        }
    }
    assert!(bed.wanted().await.is_empty());
    // The cluster deleted meanwhile (the cluster resource goes after the task on a stack's
    // deletion; a retried Delete then finds nothing).
    let ecs = aws_sdk_ecs::Client::new(&bed.config);
    for task in ecs
        .list_tasks()
        .cluster(CLUSTER)
        .send()
        .await
        .unwrap()
        .task_arns()
    {
        seed::stopped(&bed.config, task).await;
    }
    for instance in ecs
        .list_container_instances()
        .cluster(CLUSTER)
        .send()
        .await
        .unwrap()
        .container_instance_arns()
    {
        ecs.deregister_container_instance()
            .cluster(CLUSTER)
            .container_instance(instance)
            .force(true)
            .send()
            .await
            .unwrap();
    }
    ecs.delete_cluster().cluster(CLUSTER).send().await.unwrap();
    let answer = bed
        .harness
        .request(events::delete(TYPE, &id, json!({}), ""))
        .await;
    assert_eq!(
        answer["Status"], "SUCCESS",
        "a cluster already gone is success: {answer}"
    );
}

#[tokio::test]
async fn bad_properties_fail_naming_them() {
    let bed = bed().await;
    let cases = [
        (
            json!({"ClusterName": CLUSTER, "CapacityProviderName": PROVIDER}),
            "property TaskDefinitionArn is required: expected the ARN of a task-definition revision",
        ),
        (
            properties("datero:1"),
            "property TaskDefinitionArn is invalid: expected an ARN like arn:aws:ecs:<region>:<account>:task-definition/<name>, got \"datero:1\"",
        ),
        (
            json!({"ClusterName": CLUSTER, "CapacityProviderName": PROVIDER, "TaskDefinitionArn": bed.revisions[0], "Count": 2}),
            "unknown properties Count; accepted: ClusterName, CapacityProviderName, TaskDefinitionArn, BackupTaskDefinitionArn, RestoreTaskDefinitionArn, ElasticIpAllocationId, AutoScalingGroupName, InstanceSettings, InstanceReplacement",
        ),
    ];
    for (properties, reason) in cases {
        let answer = bed
            .harness
            .request(events::create(TYPE, properties, ""))
            .await;
        assert_eq!(
            (answer["Status"].as_str(), answer["Reason"].as_str()),
            (Some("FAILED"), Some(reason))
        );
    }
    assert!(bed.wanted().await.is_empty());
}

#[tokio::test]
async fn a_runner_update_racing_the_restarter_leaves_one_task() {
    use datero_testbed::runtime_api::{FunctionProcess, RuntimeApi};
    let bed = bed().await;
    let restarter_api = RuntimeApi::start().await;
    let mut env = bed.harness.emulator.function_env();
    env.extend([
        ("CLUSTER_NAME", CLUSTER.to_owned()),
        ("CAPACITY_PROVIDER_NAME", PROVIDER.to_owned()),
        ("TASK_FAMILY", FAMILY.to_owned()),
    ]);
    let _restarter = FunctionProcess::spawn("task-restarter", &restarter_api, &env);
    let mut current = bed.create(0).await["Data"]["TaskArn"]
        .as_str()
        .unwrap()
        .to_owned();
    for round in 0..4 {
        // Datero crashes while CloudFormation rolls out another revision.
        bed.harness
            .emulator
            .crash_task(CLUSTER, &current, 1, Duration::from_secs(3600))
            .await;
        let stopped = seed::describe_tasks(&bed.config, &[current.clone()]).await;
        let event = events::task_state_change(&stopped[0], &format!("race-{round}"));
        let (from, to) = (round % 2, (round + 1) % 2);
        let update = bed.update(from, to);
        let (answer, restart) = tokio::join!(
            bed.harness.request(update),
            restarter_api.invoke(event, Duration::from_secs(30))
        );
        assert_eq!(answer["Status"], "SUCCESS", "{answer}");
        assert!(matches!(restart, Invocation::Response(_)), "{restart:?}");
        let wanted = bed.wanted().await;
        assert_eq!(
            wanted.len(),
            1,
            "round {round}: {:?}",
            wanted.iter().map(|t| t.task_arn()).collect::<Vec<_>>()
        );
        current = wanted[0].task_arn().unwrap().to_owned();
    }
}
