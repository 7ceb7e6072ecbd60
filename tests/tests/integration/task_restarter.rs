//! `functions/task-restarter` through the local Runtime API against the tightened emulator.
//! The test plays EventBridge: it stops a task, builds the STOPPED event from it, sends it.

use std::time::Duration;

use aws_config::SdkConfig;
use datero_testbed::emulator::Emulator;
use datero_testbed::events;
use datero_testbed::harness::{self, FunctionHarness};
use datero_testbed::lambda_async::{self, AsyncOutcome};
use datero_testbed::raw_aws;
use datero_testbed::runtime_api::{FunctionProcess, Invocation};
use datero_testbed::seed::{self, CLUSTER, FAMILY, PROVIDER};
use datero_testbed::template::Template;
use serde_json::{Value, json};

const HOUR: Duration = Duration::from_secs(3600);
const QUICK: Duration = Duration::from_secs(20);

struct Bed {
    harness: FunctionHarness,
    config: SdkConfig,
    queue_url: String,
    /// Revision 1 and 2 of the family; 2 is the latest ACTIVE.
    revisions: [String; 2],
}

async fn bed_with(env: &[(&str, String)], instances: i32) -> Bed {
    bed_for(env, instances, &[]).await
}

/// A bed whose restarter has the role of a stack deployed with `parameters`.
async fn bed_for(env: &[(&str, String)], instances: i32, parameters: &[(&str, &str)]) -> Bed {
    let emulator = Emulator::start().await;
    let config = emulator.sdk_config().await;
    seed::ready_cluster(&config, instances).await;
    let revisions = [
        seed::task_definition(&config, FAMILY).await,
        seed::task_definition(&config, FAMILY).await,
    ];
    let sqs = aws_sdk_sqs::Client::new(&config);
    let queue_url = sqs
        .create_queue()
        .queue_name(seed::RESTART_QUEUE)
        .send()
        .await
        .unwrap()
        .queue_url()
        .unwrap()
        .to_owned();
    let mut all_env = vec![
        ("CLUSTER_NAME", CLUSTER.to_owned()),
        ("CAPACITY_PROVIDER_NAME", PROVIDER.to_owned()),
        ("TASK_FAMILY", FAMILY.to_owned()),
        ("RESTART_QUEUE_URL", queue_url.clone()),
    ];
    all_env.extend(env.iter().map(|(key, value)| (*key, value.clone())));
    let principal = harness::principal_with("task-restarter", parameters);
    let harness = FunctionHarness::start_as(emulator, principal, &all_env).await;
    Bed {
        harness,
        config,
        queue_url,
        revisions,
    }
}

async fn bed() -> Bed {
    bed_with(&[], 1).await
}

impl Bed {
    /// Runs a Datero task, crashes it after `ran_for`, and returns its STOPPED event.
    async fn crashed_task(&self, ran_for: Duration) -> Value {
        let task = seed::run_datero(&self.config, &self.revisions[0]).await;
        self.crash(task.task_arn().unwrap(), ran_for).await
    }

    async fn crash(&self, task_arn: &str, ran_for: Duration) -> Value {
        self.harness
            .emulator
            .crash_task(CLUSTER, task_arn, 137, ran_for)
            .await;
        let stopped = seed::describe_tasks(&self.config, &[task_arn.to_owned()]).await;
        events::task_state_change(&stopped[0], &format!("event-{task_arn}"))
    }

    async fn send(&self, event: Value) -> Invocation {
        self.harness
            .api
            .invoke(event, Duration::from_secs(30))
            .await
    }

    async fn wanted_arns(&self) -> Vec<String> {
        seed::wanted(&self.config)
            .await
            .iter()
            .map(|t| t.task_arn().unwrap().to_owned())
            .collect()
    }

    /// The decision log lines (JSON objects carrying a `decision`).
    fn decisions(&self) -> Vec<Value> {
        self.harness.decision_lines()
    }

    async fn delayed_messages(&self) -> i64 {
        let attributes = aws_sdk_sqs::Client::new(&self.config)
            .get_queue_attributes()
            .queue_url(&self.queue_url)
            .attribute_names(aws_sdk_sqs::types::QueueAttributeName::All)
            .send()
            .await
            .unwrap();
        let map = attributes.attributes().cloned().unwrap_or_default();
        [
            "ApproximateNumberOfMessagesDelayed",
            "ApproximateNumberOfMessages",
        ]
        .iter()
        .filter_map(|name| map.get(&aws_sdk_sqs::types::QueueAttributeName::from(*name)))
        .filter_map(|value| value.parse::<i64>().ok())
        .sum()
    }
}

fn assert_ok(invocation: &Invocation) {
    assert!(
        matches!(invocation, Invocation::Response(_)),
        "{invocation:?}"
    );
}

#[tokio::test]
async fn a_crash_starts_exactly_one_task_of_the_latest_active_revision() {
    let bed = bed().await;
    let event = bed.crashed_task(HOUR).await;
    assert_ok(&bed.send(event).await);
    let wanted = seed::wanted(&bed.config).await;
    assert_eq!(wanted.len(), 1);
    assert_eq!(
        wanted[0].task_definition_arn(),
        Some(bed.revisions[1].as_str())
    );
    assert_eq!(wanted[0].started_by(), Some("datero-provisioner"));
    let decision = bed.decisions().pop().unwrap();
    assert_eq!(decision["decision"], "restart", "{decision}");
    assert!(decision["event_id"].as_str().unwrap().starts_with("event-"));
    // The restart is counted, for the stack's cluster, in the invocation's log line.
    let metric = bed.harness.metric_lines().pop().expect("a metric line");
    assert_eq!(metric["Restarts"], 1.0, "{metric}");
    assert_eq!(metric["ClusterName"], CLUSTER);
    assert_eq!(metric["requestId"], decision["span"]["requestId"]);
    bed.harness.assert_logs_clean(&[]);
}

#[tokio::test]
async fn after_a_move_to_a_new_major_a_restart_runs_on_the_recorded_data_folder() {
    let bed = bed().await;
    let ecs = aws_sdk_ecs::Client::new(&bed.config);
    let cluster = ecs
        .describe_clusters()
        .clusters(CLUSTER)
        .send()
        .await
        .unwrap()
        .clusters()[0]
        .cluster_arn()
        .unwrap()
        .to_owned();
    // What the runner records on the cluster once Datero's data is in the folder pg18.
    ecs.tag_resource()
        .resource_arn(&cluster)
        .tags(
            aws_sdk_ecs::types::Tag::builder()
                .key("datero-ecs:data-directory")
                .value("pg18")
                .build(),
        )
        .send()
        .await
        .unwrap();
    let event = bed.crashed_task(HOUR).await;
    bed.harness.emulator.take_calls().await;
    assert_ok(&bed.send(event).await);
    // The office-hours mark and the data folder are both the cluster's tags: one read.
    let reads = bed
        .harness
        .emulator
        .take_calls()
        .await
        .iter()
        .filter(|call| call.action == "DescribeClusters")
        .count();
    assert_eq!(reads, 1, "DescribeClusters per restart");
    let wanted = seed::wanted(&bed.config).await;
    assert_eq!(wanted.len(), 1);
    let pgdata: Vec<(Option<&str>, Option<&str>)> = wanted[0]
        .overrides()
        .into_iter()
        .flat_map(|overrides| overrides.container_overrides())
        .flat_map(|container| {
            container
                .environment()
                .iter()
                .map(move |pair| (container.name(), pair.value()))
        })
        .collect();
    assert_eq!(
        pgdata,
        [(Some("datero"), Some("/var/lib/postgresql/data/pg18"))]
    );
    bed.harness.assert_logs_clean(&[]);
}

#[tokio::test]
async fn the_same_event_ten_times_one_after_another_starts_one_task() {
    let bed = bed().await;
    let event = bed.crashed_task(HOUR).await;
    for _ in 0..10 {
        assert_ok(&bed.send(event.clone()).await);
    }
    assert_eq!(bed.wanted_arns().await.len(), 1);
}

#[tokio::test]
async fn the_same_event_ten_times_concurrently_starts_one_task() {
    let bed = bed().await;
    // Several execution environments polling one Runtime API, as Lambda scales out.
    let env = bed.harness.emulator.function_env();
    let mut extra_env = env.clone();
    extra_env.extend([
        ("CLUSTER_NAME", CLUSTER.to_owned()),
        ("CAPACITY_PROVIDER_NAME", PROVIDER.to_owned()),
        ("TASK_FAMILY", FAMILY.to_owned()),
        ("RESTART_QUEUE_URL", bed.queue_url.clone()),
    ]);
    let _more: Vec<FunctionProcess> = (0..3)
        .map(|_| FunctionProcess::spawn("task-restarter", &bed.harness.api, &extra_env))
        .collect();
    let event = bed.crashed_task(HOUR).await;
    let sends = (0..10).map(|_| bed.send(event.clone()));
    for invocation in futures_util::future::join_all(sends).await {
        assert_ok(&invocation);
    }
    assert_eq!(bed.wanted_arns().await.len(), 1);
}

#[tokio::test]
async fn an_old_event_after_a_newer_task_runs_is_skipped() {
    let bed = bed().await;
    let older = bed.crashed_task(HOUR).await;
    let newer = bed.crashed_task(HOUR).await;
    assert_ok(&bed.send(newer).await);
    let running = bed.wanted_arns().await;
    assert_eq!(running.len(), 1);
    assert_ok(&bed.send(older).await);
    assert_eq!(bed.wanted_arns().await, running);
    let decision = bed.decisions().pop().unwrap();
    assert_eq!(decision["decision"], "skip");
    assert!(
        decision["reason"]
            .as_str()
            .unwrap()
            .starts_with("a Datero task is already running or starting"),
        "{decision}"
    );
}

#[tokio::test]
async fn provisioner_stops_foreign_events_and_running_changes_start_nothing() {
    let bed = bed().await;
    let ecs = aws_sdk_ecs::Client::new(&bed.config);
    let task = seed::run_datero(&bed.config, &bed.revisions[0]).await;
    ecs.stop_task()
        .cluster(CLUSTER)
        .task(task.task_arn().unwrap())
        .reason("datero-provisioner: stack deleted")
        .send()
        .await
        .unwrap();
    // EventBridge sends the STOPPED event once the task has stopped (after its stop timeout).
    let stopped = seed::stopped(&bed.config, task.task_arn().unwrap()).await;
    let by_us = events::task_state_change(&stopped, "by-us");

    let crash = bed.crashed_task(HOUR).await;
    let mut foreign_cluster = crash.clone();
    foreign_cluster["detail"]["clusterArn"] =
        json!("arn:aws:ecs:us-east-1:123456789012:cluster/someone-else");
    let mut foreign_family = crash.clone();
    foreign_family["detail"]["group"] = json!("family:nginx");
    let mut running = crash.clone();
    running["detail"]["lastStatus"] = json!("RUNNING");

    for event in [by_us, foreign_cluster, foreign_family, running] {
        assert_ok(&bed.send(event).await);
    }
    assert!(bed.wanted_arns().await.is_empty());
    let reasons: Vec<String> = bed
        .decisions()
        .iter()
        .map(|d| d["reason"].as_str().unwrap_or("").to_owned())
        .collect();
    assert_eq!(reasons.len(), 4, "{reasons:?}");
    assert!(
        reasons[0].starts_with("the provisioner stopped it on purpose"),
        "{reasons:?}"
    );
    assert!(reasons[1].starts_with("the task ran on another cluster"));
    assert!(reasons[2].starts_with("the task is not of our family"));
    assert!(reasons[3].starts_with("the task is RUNNING, not STOPPED"));
}

#[tokio::test]
async fn a_crash_loop_gets_growing_delays_through_the_queue() {
    let bed = bed().await;
    let mut delays = Vec::new();
    let mut event = bed.crashed_task(QUICK).await;
    for _ in 0..5 {
        assert_ok(&bed.send(event.clone()).await);
        let decision = bed.decisions().pop().unwrap();
        delays.push(decision["delay_seconds"].as_u64().unwrap_or(0));
        // Whether restarted at once or after the delay, the next task fails quickly too.
        let next = match bed.wanted_arns().await.pop() {
            Some(arn) => arn,
            None => seed::run_datero(&bed.config, &bed.revisions[1])
                .await
                .task_arn()
                .unwrap()
                .to_owned(),
        };
        tokio::time::sleep(Duration::from_millis(20)).await;
        event = bed.crash(&next, QUICK).await;
    }
    assert_eq!(delays, [0, 30, 60, 120, 240]);
    // One restart at once, then four put off, each with its delay as a metric.
    let values = harness::metric_values(&bed.harness.metric_lines());
    let of = |wanted: &str| -> Vec<f64> {
        values
            .iter()
            .filter(|(name, _)| name == wanted)
            .map(|(_, value)| *value)
            .collect()
    };
    assert_eq!(of("Restarts"), [1.0]);
    assert_eq!(of("DelayedRestarts"), [1.0; 4]);
    assert_eq!(of("RestartDelay"), [30.0, 60.0, 120.0, 240.0]);
    assert_eq!(
        bed.delayed_messages().await,
        4,
        "each put-off restart waits in the queue"
    );
}

#[tokio::test]
async fn a_delayed_restart_from_the_queue_starts_one_task() {
    let bed = bed().await;
    let body = json!({"stoppedTaskArn": "arn:aws:ecs:us-east-1:123456789012:task/datero-prod-datero/abc", "streak": 3, "delaySeconds": 60});
    let record = json!({"messageId": "m1", "body": body.to_string(), "eventSource": "aws:sqs"});
    for _ in 0..2 {
        assert_ok(&bed.send(json!({"Records": [record.clone()]})).await);
    }
    assert_eq!(bed.wanted_arns().await.len(), 1);
}

#[tokio::test]
async fn when_paused_nothing_restarts() {
    let bed = bed_with(&[("RESTARTS_PAUSED", "true".to_owned())], 1).await;
    let event = bed.crashed_task(HOUR).await;
    assert_ok(&bed.send(event).await);
    assert!(bed.wanted_arns().await.is_empty());
    assert_eq!(
        bed.decisions().pop().unwrap()["reason"],
        "restarts are paused (RESTARTS_PAUSED=true)"
    );
    let metric = bed.harness.metric_lines().pop().expect("a metric line");
    assert_eq!(metric["SkippedRestarts"], 1.0, "{metric}");
    assert_eq!(metric["Reason"], "paused");
}

#[tokio::test]
async fn runtask_failures_are_errors_that_lambda_retries() {
    // No container instance at all.
    let empty = bed_with(&[], 0).await;
    let task = json!({
        "taskArn": "arn:aws:ecs:us-east-1:123456789012:task/datero-prod-datero/gone",
        "clusterArn": "arn:aws:ecs:us-east-1:123456789012:cluster/datero-prod-datero",
        "group": format!("family:{FAMILY}"), "lastStatus": "STOPPED", "stoppedReason": "Host EC2 instance terminated",
        "containers": [],
    });
    let mut event =
        events::task_state_change(&aws_sdk_ecs::types::Task::builder().build(), "no-room");
    event["detail"] = task;
    event["resources"] = json!(["arn:aws:ecs:us-east-1:123456789012:task/datero-prod-datero/gone"]);
    let Invocation::Error(error) = empty.send(event.clone()).await else {
        panic!("expected an error")
    };
    assert!(
        error
            .to_string()
            .contains("No Container Instances were found in your cluster"),
        "{error}"
    );
    // The failure is counted, so that the function-errors alarm has company in the metrics.
    let failures = harness::metric_values(&empty.harness.metric_lines());
    assert!(
        failures.contains(&("RestartFailures".to_owned(), 1.0)),
        "{failures:?}"
    );

    // An instance without room for the revision ECS would run.
    let bed = bed().await;
    let hungry = aws_sdk_ecs::types::ContainerDefinition::builder()
        .name("datero")
        .image("x")
        .memory(64_000)
        .build();
    aws_sdk_ecs::Client::new(&bed.config)
        .register_task_definition()
        .family(FAMILY)
        .container_definitions(hungry)
        .send()
        .await
        .unwrap();
    let event = bed.crashed_task(HOUR).await;
    let Invocation::Error(error) = bed.send(event).await else {
        panic!("expected an error")
    };
    assert!(error.to_string().contains("RESOURCE:MEMORY"), "{error}");
    // The kind of failure, as a record in the failure destination shows it.
    assert_eq!(error["errorType"], "ActionFailed", "{error}");
}

#[tokio::test]
async fn malformed_events_are_clear_errors_and_never_panics() {
    let bed = bed().await;
    let mut no_detail = bed.crashed_task(HOUR).await;
    no_detail.as_object_mut().unwrap().remove("detail");
    let mut wrong_types = bed.crashed_task(HOUR).await;
    wrong_types["detail"]["containers"] = json!("none");
    for event in [no_detail, wrong_types, json!("just a string")] {
        let Invocation::Error(error) = bed.send(event).await else {
            panic!("expected an error")
        };
        assert!(
            error
                .to_string()
                .contains("malformed ECS Task State Change event"),
            "{error}"
        );
        assert_eq!(error["errorType"], "MalformedEvent", "{error}");
    }
    let mut bed_process = bed.harness;
    assert!(
        bed_process.process.is_running(),
        "the function survives bad input"
    );
}
#[tokio::test]
async fn a_restart_that_cannot_be_made_ends_in_the_failure_destination() {
    // No container instance: every try fails. EventBridge invokes the restarter asynchronously,
    // so Lambda retries as the template's EventInvokeConfig says, then sends the record to the
    // on-failure destination with the restarter's own role.
    let bed = bed_with(&[], 0).await;
    let template = Template::load().unwrap();
    let config = &template.resource("TaskRestarterFailures")["Properties"];
    let retries = u32::try_from(config["MaximumRetryAttempts"].as_u64().unwrap()).unwrap();
    let destination = aws_sdk_sqs::Client::new(&bed.config)
        .create_queue()
        .queue_name(seed::FAILURE_QUEUE)
        .send()
        .await
        .unwrap()
        .queue_url()
        .unwrap()
        .to_owned();
    let lambda = aws_sdk_sqs::Client::new(
        &bed.harness
            .emulator
            .sdk_config_as(&harness::principal("task-restarter"))
            .await,
    );
    let mut event =
        events::task_state_change(&aws_sdk_ecs::types::Task::builder().build(), "lost-restart");
    event["detail"] = json!({
        "taskArn": format!("arn:aws:ecs:us-east-1:123456789012:task/{CLUSTER}/gone"),
        "clusterArn": format!("arn:aws:ecs:us-east-1:123456789012:cluster/{CLUSTER}"),
        "group": format!("family:{FAMILY}"), "lastStatus": "STOPPED",
        "stoppedReason": "Host EC2 instance terminated", "containers": [],
    });
    event["resources"] = json!([event["detail"]["taskArn"]]);
    let outcome = lambda_async::invoke(
        &bed.harness.api,
        event,
        retries,
        "arn:aws:lambda:us-east-1:123456789012:function:datero-prod-TaskRestarterFunction",
        &lambda,
        &destination,
    )
    .await
    .unwrap();
    assert!(
        matches!(outcome, AsyncOutcome::SentToDestination { tries: 3, .. }),
        "{outcome:?}"
    );
    let kept = aws_sdk_sqs::Client::new(&bed.config)
        .receive_message()
        .queue_url(&destination)
        .send()
        .await
        .unwrap();
    let record: Value = serde_json::from_str(kept.messages()[0].body().unwrap()).unwrap();
    assert_eq!(record["requestPayload"]["id"], "lost-restart");
    assert!(
        record["responsePayload"]
            .to_string()
            .contains("No Container Instances were found in your cluster"),
        "{record}"
    );
}

fn scheduled(action: &str, time: &str) -> Value {
    json!({"schedule": action, "scheduledTime": time})
}

#[tokio::test]
async fn a_scheduled_stop_leaves_no_task_and_its_stopped_event_restarts_nothing() {
    let bed = bed().await;
    let task = seed::run_datero(&bed.config, &bed.revisions[1]).await;
    let task_arn = task.task_arn().unwrap().to_owned();
    assert_ok(&bed.send(scheduled("stop", "2026-11-26T20:00:00Z")).await);
    assert!(bed.wanted_arns().await.is_empty());
    let stopped = seed::describe_tasks(&bed.config, std::slice::from_ref(&task_arn)).await;
    assert_eq!(
        stopped[0].stopped_reason(),
        Some("datero-provisioner: scheduled stop (office hours)")
    );
    // EventBridge then delivers the task's STOPPED event: the restarter leaves it stopped.
    let event = events::task_state_change(&stopped[0], "after-scheduled-stop");
    assert_ok(&bed.send(event).await);
    assert!(bed.wanted_arns().await.is_empty());
    let decisions = bed.decisions();
    assert_eq!(decisions[0]["decision"], "scheduled stop");
    assert_eq!(decisions[1]["decision"], "skip");
    let values = harness::metric_values(&bed.harness.metric_lines());
    assert!(
        values.contains(&("ScheduledStops".to_owned(), 1.0)),
        "{values:?}"
    );
    bed.harness.assert_logs_clean(&[]);
}

#[tokio::test]
async fn a_scheduled_start_runs_exactly_one_task_also_when_delivered_twice() {
    let bed = bed().await;
    for _ in 0..2 {
        assert_ok(&bed.send(scheduled("start", "2026-11-27T08:00:00Z")).await);
    }
    let wanted = seed::wanted(&bed.config).await;
    assert_eq!(wanted.len(), 1);
    // As a restart: the latest ACTIVE revision, through the capacity provider.
    assert_eq!(
        wanted[0].task_definition_arn(),
        Some(bed.revisions[1].as_str())
    );
    assert_eq!(wanted[0].capacity_provider_name(), Some(PROVIDER));
    let values = harness::metric_values(&bed.harness.metric_lines());
    assert_eq!(
        values
            .iter()
            .filter(|(name, _)| name == "ScheduledStarts")
            .count(),
        1,
        "{values:?}"
    );
}

#[tokio::test]
async fn a_scheduled_start_while_paused_or_while_datero_runs_does_nothing() {
    let paused = bed_with(&[("RESTARTS_PAUSED", "true".to_owned())], 1).await;
    assert_ok(
        &paused
            .send(scheduled("start", "2026-11-27T08:00:00Z"))
            .await,
    );
    assert!(paused.wanted_arns().await.is_empty());
    assert_eq!(
        paused.decisions().pop().unwrap()["reason"],
        "restarts are paused (RESTARTS_PAUSED=true)"
    );

    let bed = bed().await;
    let running = seed::run_datero(&bed.config, &bed.revisions[1]).await;
    // Past the emulator's listing delay for a new task, as a start hours later would be.
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_ok(&bed.send(scheduled("start", "2026-11-27T08:00:00Z")).await);
    assert_eq!(
        bed.wanted_arns().await,
        [running.task_arn().unwrap().to_owned()]
    );
    assert_eq!(bed.decisions().pop().unwrap()["decision"], "skip");
}

// --- Office hours over time (issue 23) ----------------------------------------------------

const HOURS: [(&str, &str); 2] = [
    ("ScheduleStart", "cron(0 8 ? * MON-FRI *)"),
    ("ScheduleStop", "cron(0 20 ? * MON-FRI *)"),
];
const DOWN_ALARM: &str = "datero-prod-datero-down";

/// A bed for a stack with office hours: the restarter's office-hours role and environment, and
/// the down alarm as the template makes it, its actions off as at night.
async fn office_hours_bed() -> Bed {
    let bed = bed_for(&[("DOWN_ALARM_NAME", DOWN_ALARM.to_owned())], 1, &HOURS).await;
    put_down_alarm_with_actions_off(&bed).await;
    bed
}

/// The down alarm as the template makes it, its actions off (PutMetricAlarm keeps the state of
/// an alarm that exists: PutMetricAlarm, CloudWatch API Reference).
async fn put_down_alarm_with_actions_off(bed: &Bed) {
    raw_aws::query(
        bed.harness.emulator.endpoint(),
        "monitoring",
        &[
            ("Action", "PutMetricAlarm"),
            ("Version", "2010-08-01"),
            ("AlarmName", DOWN_ALARM),
            ("Namespace", "AWS/ECS"),
            ("MetricName", "MemoryReservation"),
            ("Dimensions.member.1.Name", "ClusterName"),
            ("Dimensions.member.1.Value", CLUSTER),
            ("Statistic", "Maximum"),
            ("Period", "60"),
            ("EvaluationPeriods", "10"),
            ("DatapointsToAlarm", "10"),
            ("Threshold", "1"),
            ("ComparisonOperator", "LessThanThreshold"),
            ("TreatMissingData", "breaching"),
            ("ActionsEnabled", "false"),
        ],
    )
    .await
    .unwrap();
}

/// The down alarm's calls the restarter made, as (operation, state set).
async fn alarm_calls(bed: &Bed) -> Vec<(String, String)> {
    bed.harness
        .emulator
        .take_alarm_calls()
        .await
        .iter()
        .map(|call| {
            assert_eq!(
                call["AlarmNames"][0]
                    .as_str()
                    .or(call["AlarmName"].as_str()),
                Some(DOWN_ALARM),
                "{call}"
            );
            (
                call["operation"].as_str().unwrap_or_default().to_owned(),
                call["StateValue"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect()
}

fn queued(body: Value) -> Value {
    json!({"Records": [{"messageId": "m", "body": body.to_string(), "eventSource": "aws:sqs"}]})
}

#[tokio::test]
async fn a_scheduled_start_brings_the_down_alarm_back_only_after_datero_had_time_to_start() {
    let bed = office_hours_bed().await;
    assert_ok(&bed.send(scheduled("start", "2026-11-30T07:00:00Z")).await);
    // At the start itself nothing touches the alarm: its 10 empty minutes are rightly ALARM.
    assert!(alarm_calls(&bed).await.is_empty());
    assert_eq!(
        bed.delayed_messages().await,
        1,
        "the check waits in the queue"
    );
    let logged = bed.decisions();
    let check = logged
        .iter()
        .find(|line| line["decision"] == "check down alarm later")
        .expect("the check is queued");
    assert_eq!(check["delay_seconds"], 900);

    // 15 minutes later (SQS delivers the message): Datero is up, so the alarm is set OK while
    // its actions are still off, then they come back.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let body = json!({"officeHoursBegan": "2026-11-30T07:00:00Z"});
    assert_ok(&bed.send(queued(body.clone())).await);
    assert_eq!(
        alarm_calls(&bed).await,
        [
            ("SetAlarmState".to_owned(), "OK".to_owned()),
            ("EnableAlarmActions".to_owned(), String::new()),
        ]
    );
    // SQS delivers at least once: the same check again finds the actions on and does nothing.
    assert_ok(&bed.send(queued(body.clone())).await);
    assert!(alarm_calls(&bed).await.is_empty());
    let last = bed.decisions().pop().unwrap();
    assert_eq!(last["reason"], "actions already on", "{last}");

    // A morning where Datero is not up by then (after a night with the actions off): one
    // transition into ALARM, actions on.
    put_down_alarm_with_actions_off(&bed).await;
    let running = bed.wanted_arns().await;
    bed.harness
        .emulator
        .crash_task(CLUSTER, &running[0], 1, QUICK)
        .await;
    assert_ok(&bed.send(queued(body)).await);
    assert_eq!(
        alarm_calls(&bed).await,
        [
            ("EnableAlarmActions".to_owned(), String::new()),
            ("SetAlarmState".to_owned(), "INSUFFICIENT_DATA".to_owned()),
            ("SetAlarmState".to_owned(), "ALARM".to_owned()),
        ]
    );
    bed.harness.assert_logs_clean(&[]);
}

/// The office-hours mark on the cluster, as the restarter left it.
async fn hours_mark(bed: &Bed) -> String {
    let ecs = aws_sdk_ecs::Client::new(&bed.config);
    let described = ecs
        .describe_clusters()
        .clusters(CLUSTER)
        .include(aws_sdk_ecs::types::ClusterField::Tags)
        .send()
        .await
        .unwrap();
    described.clusters()[0]
        .tags()
        .iter()
        .find(|tag| tag.key() == Some("datero-ecs:office-hours"))
        .and_then(|tag| tag.value())
        .unwrap_or_default()
        .to_owned()
}

async fn set_down_alarm(bed: &Bed, state: &str) {
    raw_aws::query(
        bed.harness.emulator.endpoint(),
        "monitoring",
        &[
            ("Action", "SetAlarmState"),
            ("Version", "2010-08-01"),
            ("AlarmName", DOWN_ALARM),
            ("StateValue", state),
            ("StateReason", "the test"),
        ],
    )
    .await
    .unwrap();
}

#[tokio::test]
async fn a_day_that_closed_with_datero_down_ends_with_one_recovery_message_next_morning() {
    let bed = office_hours_bed().await;
    // Datero was reported down in the afternoon and is still down at the close.
    set_down_alarm(&bed, "ALARM").await;
    assert_ok(&bed.send(scheduled("stop", "2026-11-30T19:00:00Z")).await);
    assert_eq!(hours_mark(&bed).await, "closed 1796065200000 down");
    // The next morning's start carries it into the check...
    assert_ok(&bed.send(scheduled("start", "2026-12-01T07:00:00Z")).await);
    assert_eq!(hours_mark(&bed).await, "open 1796108400000");
    let check = bed
        .decisions()
        .into_iter()
        .find(|line| line["decision"] == "check down alarm later")
        .expect("the check is queued");
    assert_eq!(check["owes_recovery"], true, "{check}");
    // ...which, with Datero up, turns the actions on and then passes through a state with no
    // action to OK: the one recovery message.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let body = json!({"officeHoursBegan": "2026-12-01T07:00:00Z", "owesRecovery": true});
    assert_ok(&bed.send(queued(body)).await);
    assert_eq!(
        alarm_calls(&bed).await,
        [
            ("EnableAlarmActions".to_owned(), String::new()),
            ("SetAlarmState".to_owned(), "INSUFFICIENT_DATA".to_owned()),
            ("SetAlarmState".to_owned(), "OK".to_owned()),
        ]
    );

    // A day that closed with the alarm OK owes nothing.
    set_down_alarm(&bed, "OK").await;
    assert_ok(&bed.send(scheduled("stop", "2026-12-01T19:00:00Z")).await);
    assert_eq!(hours_mark(&bed).await, "closed 1796151600000");
    assert_ok(&bed.send(scheduled("start", "2026-12-02T07:00:00Z")).await);
    let check = bed
        .decisions()
        .into_iter()
        .rfind(|line| line["decision"] == "check down alarm later")
        .unwrap();
    assert_eq!(check["owes_recovery"], false, "{check}");
    bed.harness.assert_logs_clean(&[]);
}

#[tokio::test]
async fn a_restart_put_off_before_the_scheduled_stop_does_not_start_datero_for_the_night() {
    let bed = office_hours_bed().await;
    // A crash loop at 19:50: its next restart waits in the queue.
    let event = bed.crashed_task(QUICK).await;
    let stopped_at = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    assert_ok(&bed.send(scheduled("stop", "2099-11-30T19:00:00Z")).await);
    // The queue delivers the restart after the stop.
    let delayed = json!({"stoppedTaskArn": event["detail"]["taskArn"], "streak": 3, "delaySeconds": 240, "stoppedAtMs": stopped_at});
    assert_ok(&bed.send(queued(delayed)).await);
    assert!(
        bed.wanted_arns().await.is_empty(),
        "Datero started after hours"
    );
    let last = bed.decisions().pop().unwrap();
    assert_eq!(last["decision"], "skip", "{last}");
    assert!(
        last["reason"]
            .as_str()
            .unwrap()
            .contains("office hours closed"),
        "{last}"
    );
    // So does the STOPPED event of a crash just before the stop, delivered after it.
    assert_ok(&bed.send(event).await);
    assert!(bed.wanted_arns().await.is_empty());

    // A Datero started by hand after the close is restarted when it crashes.
    let by_hand = seed::run_datero(&bed.config, &bed.revisions[1]).await;
    let crashed = bed
        .crash(by_hand.task_arn().unwrap(), Duration::from_secs(3600))
        .await;
    let mut crashed = crashed;
    crashed["detail"]["stoppedAt"] = json!("2099-11-30T21:00:00Z");
    assert_ok(&bed.send(crashed).await);
    assert_eq!(bed.wanted_arns().await.len(), 1);
    // The next scheduled start opens the hours again.
    assert_ok(&bed.send(scheduled("start", "2099-12-01T07:00:00Z")).await);
}

#[tokio::test]
async fn datero_on_a_draining_instance_is_stopped_cleanly_and_restarted_elsewhere() {
    let bed = bed_with(&[], 2).await;
    let task = seed::run_datero(&bed.config, &bed.revisions[1]).await;
    let task_arn = task.task_arn().unwrap().to_owned();
    let ecs = aws_sdk_ecs::Client::new(&bed.config);
    let instance_arn = task.container_instance_arn().unwrap().to_owned();
    // A Spot interruption notice: the agent drains the instance (ECS_ENABLE_SPOT_INSTANCE_DRAINING).
    ecs.update_container_instances_state()
        .cluster(CLUSTER)
        .container_instances(&instance_arn)
        .status(aws_sdk_ecs::types::ContainerInstanceStatus::Draining)
        .send()
        .await
        .unwrap();
    let instance = ecs
        .describe_container_instances()
        .cluster(CLUSTER)
        .container_instances(&instance_arn)
        .send()
        .await
        .unwrap()
        .container_instances()[0]
        .clone();
    let cluster_arn = task.cluster_arn().unwrap().to_owned();
    let draining = events::container_instance_state_change(&instance, &cluster_arn, "drain-1");
    assert_eq!(draining["detail"]["status"], "DRAINING");
    assert_ok(&bed.send(draining).await);
    // Stopped with its stop timeout, not by the provisioner: its STOPPED event restarts it.
    let stopped = seed::stopped(&bed.config, &task_arn).await;
    let reason = stopped.stopped_reason().unwrap_or_default().to_owned();
    assert!(reason.contains("draining"), "{reason}");
    assert!(!reason.starts_with("datero-provisioner"), "{reason}");
    let event = events::task_state_change(&stopped, "after-drain");
    assert_ok(&bed.send(event).await);
    let wanted = seed::wanted(&bed.config).await;
    assert_eq!(wanted.len(), 1);
    assert_ne!(
        wanted[0].container_instance_arn(),
        Some(instance_arn.as_str())
    );
    // An ACTIVE instance's event, or another cluster's, stops nothing.
    let mut active = events::container_instance_state_change(&instance, &cluster_arn, "drain-2");
    active["detail"]["status"] = json!("ACTIVE");
    assert_ok(&bed.send(active).await);
    assert_eq!(seed::wanted(&bed.config).await.len(), 1);
}

// --- A scheduled backup that never ran (issue 23, item 5) ---------------------------------

const BACKUP_FAMILY: &str = "datero-prod-datero-backup";

/// The backup task definition's shape: a dump container, then the upload that reports.
async fn backup_definition(config: &SdkConfig) -> String {
    let container = |name: &str| {
        aws_sdk_ecs::types::ContainerDefinition::builder()
            .name(name)
            .image("public.ecr.aws/aws-cli/aws-cli:2.32.9")
            .memory_reservation(64)
            .build()
    };
    aws_sdk_ecs::Client::new(config)
        .register_task_definition()
        .family(BACKUP_FAMILY)
        .execution_role_arn(seed::EXECUTION_ROLE)
        .container_definitions(container(datero_shared::backup::DUMP_CONTAINER))
        .container_definitions(container(datero_shared::backup::UPLOAD_CONTAINER))
        .send()
        .await
        .unwrap()
        .task_definition()
        .and_then(|definition| definition.task_definition_arn())
        .unwrap()
        .to_owned()
}

fn backup_failures(bed: &Bed) -> usize {
    harness::metric_values(&bed.harness.metric_lines())
        .iter()
        .filter(|(name, value)| name == "BackupFailures" && *value == 1.0)
        .count()
}

#[tokio::test]
async fn a_scheduled_backup_that_never_ran_is_counted_as_a_failure_and_one_that_ran_is_not() {
    let bed = bed_with(&[("BACKUP_FAMILY", BACKUP_FAMILY.to_owned())], 1).await;
    let due = (chrono::Utc::now() - chrono::Duration::minutes(1)).to_rfc3339();
    // The schedule's firing queues the check.
    assert_ok(&bed.send(json!({"backupDue": due})).await);
    assert_eq!(bed.delayed_messages().await, 1);
    // 15 minutes later: no backup task ran (never placed, say). One failure, as the backup
    // task would have counted its own.
    assert_ok(
        &bed.send(queued(json!({"backupDue": due, "checks": 0})))
            .await,
    );
    assert_eq!(backup_failures(&bed), 1);
    let last = bed.decisions().pop().unwrap();
    assert_eq!(last["decision"], "missed", "{last}");
    assert!(
        last["reason"].as_str().unwrap().contains("never placed"),
        "{last}"
    );

    // A backup task that still runs is looked at again later.
    let definition = backup_definition(&bed.config).await;
    let task = seed::run_datero(&bed.config, &definition).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_ok(
        &bed.send(queued(json!({"backupDue": due, "checks": 0})))
            .await,
    );
    assert_eq!(bed.decisions().pop().unwrap()["decision"], "still-running");
    assert_eq!(bed.delayed_messages().await, 2);
    // Once it has stored its dump (its upload exited 0), nothing more is counted.
    bed.harness
        .emulator
        .crash_task(CLUSTER, task.task_arn().unwrap(), 0, QUICK)
        .await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_ok(
        &bed.send(queued(json!({"backupDue": due, "checks": 1})))
            .await,
    );
    assert_eq!(bed.decisions().pop().unwrap()["decision"], "stored");
    assert_eq!(backup_failures(&bed), 1);
    bed.harness.assert_logs_clean(&[]);
}
