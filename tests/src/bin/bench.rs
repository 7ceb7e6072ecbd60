//! Benchmarks of the function binaries against the local Runtime API and emulator: cold start,
//! invocation times with the emulator's own time taken out, AWS calls per event, peak memory.
//! Run through `scripts/bench` (release binaries).

use std::time::{Duration, Instant};

use datero_testbed::emulator::Emulator;
use datero_testbed::fixtures::{self, CLUSTER, FAMILY, PROVIDER};
use datero_testbed::runtime_api::{FunctionProcess, Invocation, RuntimeApi};
use datero_testbed::sink::ResponseSink;
use datero_testbed::{events, harness};
use serde_json::json;

const COLD_RUNS: usize = 20;
const EVENT_RUNS: usize = 20;

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

fn restarter_env(emulator: &Emulator) -> Vec<(&'static str, String)> {
    let mut env = emulator.function_env();
    env.extend([
        ("CLUSTER_NAME", CLUSTER.to_owned()),
        ("CAPACITY_PROVIDER_NAME", PROVIDER.to_owned()),
        ("TASK_FAMILY", FAMILY.to_owned()),
    ]);
    env
}

/// Process start to its first `GET .../invocation/next`, in milliseconds.
async fn cold_start(binary: &str, env: &[(&str, String)]) -> f64 {
    let mut samples = Vec::new();
    for _ in 0..COLD_RUNS {
        let api = RuntimeApi::start().await;
        let process = FunctionProcess::spawn(binary, &api, env);
        let deadline = Instant::now() + Duration::from_secs(10);
        while api.first_poll().is_none() && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_micros(200)).await;
        }
        let polled = api
            .first_poll()
            .expect("the function polled the Runtime API");
        samples.push((polled - process.spawned).as_secs_f64() * 1000.0);
    }
    median(samples)
}

#[tokio::main]
async fn main() {
    let emulator = Emulator::start().await;
    let config = emulator.sdk_config().await;
    fixtures::ready_cluster(&config, 1).await;
    let revision = fixtures::task_definition(&config, FAMILY).await;

    println!(
        "| function | cold start (median of {COLD_RUNS}) | invocation | own time (without the emulator's) | AWS calls | peak RSS |"
    );
    println!("|---|---|---|---|---|---|");

    // The restarter: a crash, its STOPPED event, one restart; repeated.
    let env = restarter_env(&emulator);
    let cold = cold_start("task-restarter", &env).await;
    let api = RuntimeApi::start().await;
    let process = FunctionProcess::spawn("task-restarter", &api, &env);
    let mut current = fixtures::run_datero(&config, &revision)
        .await
        .task_arn()
        .unwrap_or_default()
        .to_owned();
    let (mut totals, mut owns, mut calls) = (Vec::new(), Vec::new(), Vec::new());
    for run in 0..EVENT_RUNS {
        emulator
            .crash_task(CLUSTER, &current, 137, Duration::from_secs(3600))
            .await;
        let stopped = fixtures::describe_tasks(&config, &[current.clone()]).await;
        let event = events::task_state_change(&stopped[0], &format!("bench-{run}"));
        emulator.take_stats().await;
        let started = Instant::now();
        let answer = api.invoke(event, Duration::from_secs(30)).await;
        let total = started.elapsed().as_secs_f64() * 1000.0;
        let (count, emulator_seconds) = emulator.take_stats().await;
        assert!(matches!(answer, Invocation::Response(_)), "{answer:?}");
        totals.push(total);
        owns.push(total - emulator_seconds * 1000.0);
        calls.push(count as f64);
        current = fixtures::wanted(&config)
            .await
            .first()
            .and_then(|t| t.task_arn())
            .unwrap_or_default()
            .to_owned();
    }
    println!(
        "| task-restarter (STOPPED event, restart) | {cold:.1} ms | {:.1} ms | {:.2} ms | {:.0} | {:.1} MiB |",
        median(totals),
        median(owns),
        median(calls),
        process.peak_rss_kib().unwrap_or(0) as f64 / 1024.0
    );

    // The custom resources: Create, then Delete (not timed) so that each Create starts clean.
    let sink = ResponseSink::start().await;
    let group = fixtures::auto_scaling_group(&config, "bench-asg", 1).await;
    let cases: [(&str, &str, serde_json::Value); 3] = [
        (
            "cluster",
            "Custom::DateroCluster",
            json!({"AutoScalingGroupName": group.auto_scaling_group_name(), "ClusterName": "bench", "ManagedTerminationProtection": "DISABLED"}),
        ),
        (
            "task-definition",
            "Custom::DateroTaskDefinition",
            json!({
            "Family": "bench", "PasswordSecretArn": "arn:aws:secretsmanager:us-east-1:123456789012:secret:pw-AbCdEf",
            "ExecutionRoleArn": "arn:aws:iam::123456789012:role/exec", "LogGroupName": "/datero/bench"}),
        ),
        (
            "task-runner",
            "Custom::DateroTask",
            json!({"ClusterName": CLUSTER, "CapacityProviderName": PROVIDER, "TaskDefinitionArn": revision}),
        ),
    ];
    for (binary, kind, properties) in cases {
        let env = emulator.function_env();
        let cold = cold_start(binary, &env).await;
        let api = RuntimeApi::start().await;
        let process = FunctionProcess::spawn(binary, &api, &env);
        let (mut totals, mut owns, mut calls) = (Vec::new(), Vec::new(), Vec::new());
        for run in 0..EVENT_RUNS / 2 {
            // Leave the ready cluster with no Datero task before each runner Create.
            for task in fixtures::wanted(&config).await {
                emulator
                    .crash_task(
                        CLUSTER,
                        task.task_arn().unwrap_or_default(),
                        0,
                        Duration::from_secs(3600),
                    )
                    .await;
            }
            emulator.take_stats().await;
            let started = Instant::now();
            let answer = harness::request(
                &api,
                &process,
                &sink,
                &format!("{binary}-{run}"),
                events::create(kind, properties.clone(), ""),
            )
            .await
            .expect("answered");
            let total = started.elapsed().as_secs_f64() * 1000.0;
            let (count, emulator_seconds) = emulator.take_stats().await;
            assert_eq!(answer["Status"], "SUCCESS", "{answer}");
            totals.push(total);
            owns.push(total - emulator_seconds * 1000.0);
            calls.push(count as f64);
            let id = answer["PhysicalResourceId"].as_str().unwrap_or_default();
            harness::request(
                &api,
                &process,
                &sink,
                &format!("{binary}-{run}-delete"),
                events::delete(kind, id, properties.clone(), ""),
            )
            .await
            .expect("deleted");
        }
        println!(
            "| {binary} (Create) | {cold:.1} ms | {:.1} ms | {:.2} ms | {:.0} | {:.1} MiB |",
            median(totals),
            median(owns),
            median(calls),
            process.peak_rss_kib().unwrap_or(0) as f64 / 1024.0
        );
    }
}
