//! One function binary under test: the emulator, a ResponseURL sink, a Runtime API, the process.

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use serde_json::{Value, json};

use crate::emulator::{Emulator, Timing};
use crate::iam::Principal;
use crate::runtime_api::{FunctionProcess, Invocation, RuntimeApi, Span};
use crate::seed;
use crate::sink::ResponseSink;
use crate::template::Template;

/// A running function wired to a fresh emulator.
pub struct FunctionHarness {
    pub emulator: Emulator,
    pub sink: ResponseSink,
    pub api: RuntimeApi,
    pub process: FunctionProcess,
    calls: AtomicU32,
}

impl FunctionHarness {
    /// Starts a fresh emulator and the workspace binary `name` against it.
    pub async fn start(name: &str, extra_env: &[(&str, String)]) -> Self {
        let emulator = Emulator::start().await;
        Self::start_on(emulator, name, extra_env).await
    }

    /// Starts the binary `name` against an emulator already running, with its role from
    /// `template.yaml` for the test stack ([`seed::test_stack`]) enforced, and AWS's timing
    /// played ([`Timing::AWS_LIKE`]).
    pub async fn start_on(emulator: Emulator, name: &str, extra_env: &[(&str, String)]) -> Self {
        Self::start_as(emulator, principal(name), extra_env).await
    }

    /// Like [`start_on`](Self::start_on), signing as `principal`.
    pub async fn start_as(
        emulator: Emulator,
        principal: Principal,
        extra_env: &[(&str, String)],
    ) -> Self {
        let sink = ResponseSink::start().await;
        let api = RuntimeApi::start().await;
        emulator.enforce_iam(&principal).await;
        emulator.set_timing(Timing::AWS_LIKE).await;
        let mut env = emulator.function_env_as(&principal);
        env.extend(extra_env.iter().map(|(key, value)| (*key, value.clone())));
        let process =
            FunctionProcess::spawn_resolving(&principal.name, &api, &env, emulator.public_hosts());
        Self {
            emulator,
            sink,
            api,
            process,
            calls: AtomicU32::new(0),
        }
    }

    /// Sends a custom-resource request with its own ResponseURL and returns the answer
    /// CloudFormation received; panics (failing the test) where [`request`] reports an error.
    pub async fn request(&self, event: Value) -> Value {
        let call = self.calls.fetch_add(1, Ordering::SeqCst);
        request(
            &self.api,
            &self.process,
            &self.sink,
            &format!("answer-{call}"),
            event,
        )
        .await
        .unwrap_or_else(|error| panic!("{error}"))
    }

    /// The function's decision log lines (JSON objects carrying a `decision`), in order.
    pub fn decision_lines(&self) -> Vec<Value> {
        self.process
            .logs()
            .iter()
            .filter_map(|line| serde_json::from_str::<Value>(line).ok())
            .filter(|line| line.get("decision").is_some())
            .collect()
    }

    /// The function's embedded-metric-format lines (JSON objects carrying `_aws`), in order.
    pub fn metric_lines(&self) -> Vec<Value> {
        metric_lines(&self.process.logs())
    }

    /// Asserts every log line is JSON and none contains the ResponseURL's signature or any of
    /// `secrets`.
    pub fn assert_logs_clean(&self, secrets: &[&str]) {
        let logs = self.process.logs();
        assert!(!logs.is_empty(), "the function logged nothing");
        for line in &logs {
            let parsed = serde_json::from_str::<Value>(line);
            assert!(parsed.is_ok(), "not a JSON log line: {line}");
            // Every line logged while handling a request carries its request id.
            if parsed.is_ok_and(|line| line.get("decision").is_some()) {
                let value: Value = serde_json::from_str(line).unwrap_or_default();
                assert!(
                    value["span"]["requestId"]
                        .as_str()
                        .is_some_and(|id| !id.is_empty()),
                    "a decision without the request id: {line}"
                );
            }
            assert!(
                !line.contains(ResponseSink::SIGNATURE),
                "signature leaked: {line}"
            );
            for secret in secrets {
                assert!(!line.contains(secret), "secret leaked: {line}");
            }
        }
    }
}

/// The embedded-metric-format lines among `logs`: `(metric name, value, reason)` are read with
/// [`metric_values`].
pub fn metric_lines(logs: &[String]) -> Vec<Value> {
    logs.iter()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .filter(|line| line.get("_aws").is_some())
        .collect()
}

/// Every metric value in `lines`, as `(name, value)`, in order.
pub fn metric_values(lines: &[Value]) -> Vec<(String, f64)> {
    let mut values = Vec::new();
    for line in lines {
        for directive in line["_aws"]["CloudWatchMetrics"]
            .as_array()
            .into_iter()
            .flatten()
        {
            for metric in directive["Metrics"].as_array().into_iter().flatten() {
                let name = metric["Name"].as_str().unwrap_or_default();
                values.push((name.to_owned(), line[name].as_f64().unwrap_or(f64::NAN)));
            }
        }
    }
    values
}

/// The role of the function built as `binary`, from `template.yaml` for the test stack.
pub fn principal(binary: &str) -> Principal {
    let template = Template::load().unwrap_or_else(|error| panic!("{error}"));
    Principal::of_function(&template, &seed::test_stack(&template), binary)
        .unwrap_or_else(|error| panic!("{error}"))
}

/// Like [`principal`], for a test stack deployed with `parameters` (office hours, say).
pub fn principal_with(binary: &str, parameters: &[(&str, &str)]) -> Principal {
    let template = Template::load().unwrap_or_else(|error| panic!("{error}"));
    let stack = seed::test_stack(&template).with(parameters);
    Principal::of_function(&template, &stack, binary).unwrap_or_else(|error| panic!("{error}"))
}

/// Like [`principal`], for a test stack whose Elastic IP is `allocation_id`, in the VPC
/// `vpc_id` (the emulator's, where the instances are: the address's grants name it).
pub fn principal_with_address(binary: &str, allocation_id: &str, vpc_id: &str) -> Principal {
    let template = Template::load().unwrap_or_else(|error| panic!("{error}"));
    let mut stack = seed::test_stack(&template);
    stack
        .attributes
        .insert("Eip.AllocationId".to_owned(), allocation_id.to_owned());
    stack
        .parameters
        .insert("VpcId".to_owned(), serde_json::json!(vpc_id));
    Principal::of_function(&template, &stack, binary).unwrap_or_else(|error| panic!("{error}"))
}

/// Sends `event` to the function behind `api` with a ResponseURL on `sink` at `path`, and
/// returns the one answer CloudFormation received. The invocation itself must succeed (an `Err`
/// would make Lambda invoke again) and exactly one answer must come.
pub async fn request(
    api: &RuntimeApi,
    process: &FunctionProcess,
    sink: &ResponseSink,
    path: &str,
    event: Value,
) -> Result<Value, String> {
    Ok(request_timed(api, process, sink, path, event).await?.0)
}

/// Like [`request`], with when the event was delivered and the function's answer read.
pub async fn request_timed(
    api: &RuntimeApi,
    process: &FunctionProcess,
    sink: &ResponseSink,
    path: &str,
    mut event: Value,
) -> Result<(Value, Option<Span>), String> {
    event["ResponseURL"] = json!(sink.response_url(path));
    let (invocation, span) = api.invoke_timed(event, Duration::from_secs(60)).await;
    if !matches!(invocation, Invocation::Response(_)) {
        return Err(format!(
            "the invocation must end Ok, got {invocation:?}; logs:\n{}",
            process.logs().join("\n")
        ));
    }
    let answers: Vec<_> = sink
        .received()
        .into_iter()
        .filter(|put| put.request.target.starts_with(&format!("/{path}?")))
        .collect();
    match answers.as_slice() {
        [one] => Ok((one.json(), span)),
        other => Err(format!("expected exactly one answer, got {}", other.len())),
    }
}
