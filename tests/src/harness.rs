//! One function binary under test: the emulator, a ResponseURL sink, a Runtime API, the process.

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use serde_json::{Value, json};

use crate::emulator::Emulator;
use crate::runtime_api::{FunctionProcess, Invocation, RuntimeApi};
use crate::sink::ResponseSink;

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

    /// Starts the binary `name` against an emulator already running.
    pub async fn start_on(emulator: Emulator, name: &str, extra_env: &[(&str, String)]) -> Self {
        let sink = ResponseSink::start().await;
        let api = RuntimeApi::start().await;
        let mut env = emulator.function_env();
        env.extend(extra_env.iter().map(|(key, value)| (*key, value.clone())));
        let process = FunctionProcess::spawn(name, &api, &env);
        Self {
            emulator,
            sink,
            api,
            process,
            calls: AtomicU32::new(0),
        }
    }

    /// Sends a custom-resource request with its own ResponseURL and returns the answer
    /// CloudFormation received. Asserts that the invocation itself succeeded (an `Err` would
    /// make Lambda invoke again) and that exactly one answer came.
    pub async fn request(&self, mut event: Value) -> Value {
        let call = self.calls.fetch_add(1, Ordering::SeqCst);
        let path = format!("answer-{call}");
        event["ResponseURL"] = json!(self.sink.response_url(&path));
        let invocation = self.api.invoke(event, Duration::from_secs(60)).await;
        assert!(
            matches!(invocation, Invocation::Response(_)),
            "the invocation must end Ok, got {invocation:?}; logs:\n{}",
            self.process.logs().join("\n")
        );
        let answers: Vec<_> = self
            .sink
            .received()
            .into_iter()
            .filter(|put| put.request.target.starts_with(&format!("/{path}?")))
            .collect();
        assert_eq!(answers.len(), 1, "exactly one answer per request");
        answers[0].json()
    }

    /// Asserts every log line is JSON and none contains the ResponseURL's signature or any of
    /// `secrets`.
    pub fn assert_logs_clean(&self, secrets: &[&str]) {
        let logs = self.process.logs();
        assert!(!logs.is_empty(), "the function logged nothing");
        for line in &logs {
            assert!(
                serde_json::from_str::<Value>(line).is_ok(),
                "not a JSON log line: {line}"
            );
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
