//! Benchmarks of the function binaries against the local Runtime API and emulator: cold start,
//! invocation times with the emulator's own time taken out, AWS calls per event, peak memory.
//! Run through `scripts/bench` (release binaries).

use std::time::{Duration, Instant};

use datero_testbed::emulator::{Emulator, ServedCall};
use datero_testbed::runtime_api::{FunctionProcess, Invocation, RuntimeApi, Span};
use datero_testbed::seed::{self, CLUSTER, FAMILY, PROVIDER};
use datero_testbed::sink::ResponseSink;
use datero_testbed::{events, harness, workspace_root};
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

/// A function under test: one of ours, or its Python peer (a module of bench/python).
#[derive(Clone, Copy)]
enum Peer {
    Rust(&'static str),
    Python(&'static str),
}

impl Peer {
    fn spawn(self, api: &RuntimeApi, env: &[(&str, String)]) -> FunctionProcess {
        match self {
            Peer::Rust(binary) => FunctionProcess::spawn(binary, api, env),
            Peer::Python(handler) => {
                let root = workspace_root();
                let mut env = env.to_vec();
                env.push((
                    "PYTHONPATH",
                    root.join("bench/python").display().to_string(),
                ));
                env.push(("AWS_DEFAULT_REGION", "us-east-1".to_owned()));
                env.push(("PYTHONUNBUFFERED", "1".to_owned()));
                let python = root.join(".venv-bench/bin/python");
                FunctionProcess::spawn_program(
                    &python,
                    &["-m", "awslambdaric", handler],
                    handler,
                    api,
                    &env,
                )
            }
        }
    }

    fn name(self) -> String {
        match self {
            Peer::Rust(binary) => binary.to_owned(),
            Peer::Python(handler) => format!("Python peer ({handler})"),
        }
    }
}

/// The deployment package of `binary`: the zip of the arm64 `bootstrap` that cargo-lambda built
/// in `DATERO_LAMBDA_DIR`, in megabytes, sized by tools/package_size.py (as scripts/package
/// does); `None` when it is missing or not arm64.
fn package_mb(binary: &str) -> Option<f64> {
    let bootstrap = std::path::Path::new(&std::env::var("DATERO_LAMBDA_DIR").ok()?)
        .join(binary)
        .join("bootstrap");
    let python = std::env::var("DATERO_PYTHON").unwrap_or_else(|_| "python3".to_owned());
    let output = std::process::Command::new(python)
        .arg(datero_testbed::workspace_root().join("tools/package_size.py"))
        .arg(&bootstrap)
        .output()
        .ok()?;
    let line = String::from_utf8(output.stdout).ok()?;
    let fields: Vec<&str> = line.trim().split('\t').collect();
    if fields.get(3) != Some(&"arm64") {
        eprintln!(
            "{} is missing or not an arm64 ELF binary",
            bootstrap.display()
        );
        return None;
    }
    let bytes: f64 = fields.get(2)?.parse().ok()?;
    Some(bytes / 1e6)
}

/// Process start to its first `GET .../invocation/next`, in milliseconds.
async fn cold_start(peer: Peer, env: &[(&str, String)]) -> f64 {
    let mut samples = Vec::new();
    for _ in 0..COLD_RUNS {
        let api = RuntimeApi::start().await;
        let process = peer.spawn(&api, env);
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

/// One invocation measured: its span in the function's hands and the AWS calls it made.
struct Sample {
    invocation_ms: f64,
    own_ms: f64,
    cpu_ms: f64,
    calls: f64,
    to_run_task_ms: Option<f64>,
}

impl Sample {
    /// Own time is the span less the time the emulator spent serving the calls.
    fn new(span: Span, calls: &[ServedCall], cpu_seconds: f64) -> Self {
        let serving: f64 = calls.iter().map(|call| call.seconds).sum();
        let to_run_task_ms = calls
            .iter()
            .find(|call| call.action == "RunTask")
            .and_then(|call| call.arrived.duration_since(span.delivered).ok())
            .map(|elapsed| elapsed.as_secs_f64() * 1000.0);
        Self {
            invocation_ms: span.seconds() * 1000.0,
            own_ms: (span.seconds() - serving) * 1000.0,
            cpu_ms: cpu_seconds * 1000.0,
            calls: calls.len() as f64,
            to_run_task_ms,
        }
    }
}

/// One table row: medians over the samples, the cold start and the peak RSS.
struct Row {
    name: String,
    cold_ms: f64,
    invocation_ms: f64,
    own_ms: f64,
    cpu_ms: f64,
    calls: f64,
    to_run_task_ms: Option<f64>,
    peak_mib: f64,
    package_mb: Option<f64>,
}

impl Row {
    fn new(
        peer: Peer,
        what: &str,
        cold_ms: f64,
        samples: &[Sample],
        process: &FunctionProcess,
    ) -> Self {
        let of = |pick: fn(&Sample) -> f64| median(samples.iter().map(pick).collect());
        let to_run_task: Vec<f64> = samples.iter().filter_map(|s| s.to_run_task_ms).collect();
        Self {
            name: format!("{} ({what})", peer.name()),
            cold_ms,
            invocation_ms: of(|s| s.invocation_ms),
            own_ms: of(|s| s.own_ms),
            cpu_ms: of(|s| s.cpu_ms),
            calls: of(|s| s.calls),
            to_run_task_ms: (!to_run_task.is_empty()).then(|| median(to_run_task)),
            peak_mib: process.peak_rss_kib().unwrap_or(0) as f64 / 1024.0,
            package_mb: match peer {
                Peer::Rust(binary) => package_mb(binary),
                Peer::Python(_) => None,
            },
        }
    }

    fn print(&self) {
        let to_run_task = self
            .to_run_task_ms
            .map_or_else(|| "-".to_owned(), |ms| format!("{ms:.2} ms"));
        let package = self
            .package_mb
            .map_or_else(|| "-".to_owned(), |mb| format!("{mb:.2} MB"));
        println!(
            "| {} | {:.1} ms | {} | {:.2} ms | {:.2} ms | {:.2} ms | {:.0} | {:.1} MiB | {} |",
            self.name,
            self.cold_ms,
            to_run_task,
            self.invocation_ms,
            self.own_ms,
            self.cpu_ms,
            self.calls,
            self.peak_mib,
            package
        );
    }
}

/// Crash, STOPPED event, restart; `EVENT_RUNS` times.
async fn restarts(
    emulator: &Emulator,
    config: &aws_config::SdkConfig,
    peer: Peer,
    revision: &str,
) -> Row {
    let env = restarter_env(emulator);
    let cold_ms = cold_start(peer, &env).await;
    let api = RuntimeApi::start().await;
    let process = peer.spawn(&api, &env);
    let mut current = match seed::wanted(config).await.first() {
        Some(task) => task.task_arn().unwrap_or_default().to_owned(),
        None => seed::run_datero(config, revision)
            .await
            .task_arn()
            .unwrap_or_default()
            .to_owned(),
    };
    let mut samples = Vec::new();
    for run in 0..EVENT_RUNS {
        emulator
            .crash_task(CLUSTER, &current, 137, Duration::from_secs(3600))
            .await;
        let stopped = seed::describe_tasks(config, &[current.clone()]).await;
        let event = events::task_state_change(&stopped[0], &format!("bench-{run}"));
        emulator.take_calls().await;
        let cpu_before = process.cpu_seconds().unwrap_or(0.0);
        let (answer, span) = api.invoke_timed(event, Duration::from_secs(30)).await;
        let cpu = process.cpu_seconds().unwrap_or(0.0) - cpu_before;
        let calls = emulator.take_calls().await;
        assert!(
            matches!(answer, Invocation::Response(_)),
            "{answer:?}: {:?}",
            process.logs()
        );
        samples.push(Sample::new(span.expect("timed"), &calls, cpu));
        current = seed::wanted(config)
            .await
            .first()
            .and_then(|t| t.task_arn())
            .unwrap_or_default()
            .to_owned();
    }
    Row::new(
        peer,
        "STOPPED event -> restart",
        cold_ms,
        &samples,
        &process,
    )
}

/// An instance's ACTIVE event -> the Elastic IP moved onto it; `EVENT_RUNS` times (the address
/// is taken off the instance between runs, untimed).
#[expect(
    clippy::too_many_lines,
    reason = "one benchmark scenario (set-up, cold starts, timed invocations), read top to bottom"
)]
async fn address_moves(emulator: &Emulator, config: &aws_config::SdkConfig) -> Row {
    let ec2 = aws_sdk_ec2::Client::new(config);
    let allocation = ec2
        .allocate_address()
        .domain(aws_sdk_ec2::types::DomainType::Vpc)
        .send()
        .await
        .expect("allocate an address")
        .allocation_id()
        .unwrap_or_default()
        .to_owned();
    let env: Vec<(&str, String)> = emulator
        .function_env()
        .into_iter()
        .chain([
            ("CLUSTER_NAME", CLUSTER.to_owned()),
            ("ALLOCATION_ID", allocation.clone()),
        ])
        .collect();
    let peer = Peer::Rust("elastic-ip");
    let cold_ms = cold_start(peer, &env).await;
    let api = RuntimeApi::start().await;
    let process = peer.spawn(&api, &env);
    let ecs = aws_sdk_ecs::Client::new(config);
    let arns = ecs
        .list_container_instances()
        .cluster(CLUSTER)
        .send()
        .await
        .expect("list container instances")
        .container_instance_arns()
        .to_vec();
    let instance = ecs
        .describe_container_instances()
        .cluster(CLUSTER)
        .set_container_instances(Some(arns))
        .send()
        .await
        .expect("describe container instances")
        .container_instances()[0]
        .clone();
    let cluster_arn = format!("arn:aws:ecs:us-east-1:123456789012:cluster/{CLUSTER}");
    let mut samples = Vec::new();
    for run in 0..EVENT_RUNS {
        let holder = ec2
            .describe_addresses()
            .allocation_ids(&allocation)
            .send()
            .await
            .expect("describe the address");
        if let Some(association) = holder.addresses().first().and_then(|a| a.association_id()) {
            ec2.disassociate_address()
                .association_id(association)
                .send()
                .await
                .expect("take the address off");
        }
        let event = events::container_instance_state_change(
            &instance,
            &cluster_arn,
            &format!("bench-{run}"),
        );
        emulator.take_calls().await;
        let cpu_before = process.cpu_seconds().unwrap_or(0.0);
        let (answer, span) = api.invoke_timed(event, Duration::from_secs(30)).await;
        let cpu = process.cpu_seconds().unwrap_or(0.0) - cpu_before;
        let calls = emulator.take_calls().await;
        assert!(
            matches!(answer, Invocation::Response(_)),
            "{answer:?}: {:?}",
            process.logs()
        );
        samples.push(Sample::new(span.expect("timed"), &calls, cpu));
    }
    Row::new(
        peer,
        "ACTIVE event -> address moved",
        cold_ms,
        &samples,
        &process,
    )
}

/// A custom resource's Create, `EVENT_RUNS / 2` times, each followed by an untimed Delete.
async fn creates(
    emulator: &Emulator,
    config: &aws_config::SdkConfig,
    peer: Peer,
    kind: &str,
    properties: &serde_json::Value,
) -> Row {
    let sink = ResponseSink::start().await;
    let env = emulator.function_env();
    let cold_ms = cold_start(peer, &env).await;
    let api = RuntimeApi::start().await;
    let process = peer.spawn(&api, &env);
    let mut samples = Vec::new();
    for run in 0..EVENT_RUNS / 2 {
        // The runner's Create starts from a cluster with no Datero task.
        for task in seed::wanted(config).await {
            emulator
                .crash_task(
                    CLUSTER,
                    task.task_arn().unwrap_or_default(),
                    0,
                    Duration::from_secs(3600),
                )
                .await;
        }
        emulator.take_calls().await;
        let cpu_before = process.cpu_seconds().unwrap_or(0.0);
        let path = format!("{}-{run}", peer.name().replace(' ', "-"));
        let (answer, span) = harness::request_timed(
            &api,
            &process,
            &sink,
            &path,
            events::create(kind, properties.clone(), ""),
        )
        .await
        .expect("answered");
        let cpu = process.cpu_seconds().unwrap_or(0.0) - cpu_before;
        let calls = emulator.take_calls().await;
        assert_eq!(answer["Status"], "SUCCESS", "{answer}");
        samples.push(Sample::new(span.expect("timed"), &calls, cpu));
        let id = answer["PhysicalResourceId"].as_str().unwrap_or_default();
        harness::request(
            &api,
            &process,
            &sink,
            &format!("{path}-delete"),
            events::delete(kind, id, properties.clone(), ""),
        )
        .await
        .expect("deleted");
    }
    Row::new(peer, &format!("{kind} Create"), cold_ms, &samples, &process)
}
#[tokio::main]
#[expect(
    clippy::too_many_lines,
    reason = "the benchmark's runs in the order of its table, then the table and its ratios"
)]
async fn main() {
    let emulator = Emulator::start().await;
    let config = emulator.sdk_config().await;
    seed::ready_cluster(&config, 1).await;
    let revision = seed::task_definition(&config, FAMILY).await;
    let group = seed::auto_scaling_group(&config, "bench-asg", 1).await;

    let cluster = json!({"AutoScalingGroupName": group.auto_scaling_group_name(), "ClusterName": "bench", "ManagedTerminationProtection": "DISABLED"});
    let definition = json!({
        "Family": "bench", "PasswordSecretArn": "arn:aws:secretsmanager:us-east-1:123456789012:secret:pw-AbCdEf",
        "ExecutionRoleArn": "arn:aws:iam::123456789012:role/exec", "LogGroupName": "/datero/bench"});
    let task = json!({"ClusterName": CLUSTER, "CapacityProviderName": PROVIDER, "TaskDefinitionArn": revision});

    let restarter = restarts(&emulator, &config, Peer::Rust("task-restarter"), &revision).await;
    let python_restarter = restarts(
        &emulator,
        &config,
        Peer::Python("restarter.handler"),
        &revision,
    )
    .await;
    let rows = [
        creates(
            &emulator,
            &config,
            Peer::Rust("cluster"),
            "Custom::DateroCluster",
            &cluster,
        )
        .await,
        creates(
            &emulator,
            &config,
            Peer::Rust("task-definition"),
            "Custom::DateroTaskDefinition",
            &definition,
        )
        .await,
        creates(
            &emulator,
            &config,
            Peer::Rust("task-runner"),
            "Custom::DateroTask",
            &task,
        )
        .await,
    ];
    let address = address_moves(&emulator, &config).await;
    let python_definition = creates(
        &emulator,
        &config,
        Peer::Python("task_definition.handler"),
        "Custom::DateroTaskDefinition",
        &definition,
    )
    .await;

    // The floor: a function that does nothing, same runtime and profile, in this same run.
    let floor_ms = cold_start(Peer::Rust("floor"), &emulator.function_env()).await;

    print_table(
        &[&restarter, &python_restarter],
        &rows,
        &[&address, &python_definition],
    );
    print_ratios(&restarter, &python_restarter, &rows[1], &python_definition);
    print_floor(
        floor_ms,
        &[&restarter, &rows[0], &rows[1], &rows[2], &address],
    );
}

/// Each Rust function's cold start as a multiple of the do-nothing floor's (issue 26 asks for
/// at most 2.0).
fn print_floor(floor_ms: f64, functions: &[&Row]) {
    println!();
    println!(
        "Cold start against the floor (a do-nothing lambda_runtime binary, same profile): {floor_ms:.1} ms"
    );
    for row in functions {
        println!(
            "- {}: {:.1} ms, {:.1}x the floor",
            row.name,
            row.cold_ms,
            row.cold_ms / floor_ms
        );
    }
}

/// The benchmark table, as docs/benchmarks.md and the README show it.
fn print_table(first: &[&Row], creates: &[Row], last: &[&Row]) {
    println!(
        "| function | cold start (median of {COLD_RUNS}) | event in -> RunTask issued | invocation | own time: invocation less the emulator's | CPU time | AWS calls | peak RSS | package (arm64, zipped) |"
    );
    println!("|---|---|---|---|---|---|---|---|---|");
    for row in first
        .iter()
        .copied()
        .chain(creates)
        .chain(last.iter().copied())
    {
        row.print();
    }
}

/// How much slower and bigger the Python peers are than the Rust functions.
fn print_ratios(
    restarter: &Row,
    python_restarter: &Row,
    rust_definition: &Row,
    python_definition: &Row,
) {
    println!();
    println!(
        "Python peer / Rust, restarter: cold start {:.0}x, invocation {:.1}x, own time {:.1}x, peak RSS {:.1}x",
        python_restarter.cold_ms / restarter.cold_ms,
        python_restarter.invocation_ms / restarter.invocation_ms,
        python_restarter.own_ms / restarter.own_ms,
        python_restarter.peak_mib / restarter.peak_mib
    );
    println!(
        "Python peer / Rust, task definition Create: cold start {:.0}x, invocation {:.1}x, own time {:.1}x, peak RSS {:.1}x",
        python_definition.cold_ms / rust_definition.cold_ms,
        python_definition.invocation_ms / rust_definition.invocation_ms,
        python_definition.own_ms / rust_definition.own_ms,
        python_definition.peak_mib / rust_definition.peak_mib
    );
}
