//! A local Lambda Runtime API (the `2018-06-01` interface) and the function processes that poll it.

use std::collections::HashMap;
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::Value;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::net::TcpListener;
use tokio::process::{Child, Command};
use tokio::sync::{Mutex as AsyncMutex, mpsc, oneshot};

use crate::emulator::ACCOUNT;
use crate::http;

const PREFIX: &str = "/2018-06-01/runtime";

/// How the function finished an invocation.
#[derive(Debug, Clone, PartialEq)]
pub enum Invocation {
    /// `POST .../response`
    Response(Value),
    /// `POST .../error`
    Error(Value),
    /// Nothing came back in time.
    NoAnswer,
}

struct Queued {
    id: String,
    event: Value,
    deadline_ms: u64,
}

/// When an invocation was in the function's hands, by the Runtime API's clock.
#[derive(Debug, Clone, Copy)]
pub struct Span {
    /// The event was written to the function's `GET .../invocation/next`.
    pub delivered: SystemTime,
    /// The function's answer was read.
    pub answered: SystemTime,
}

impl Span {
    /// Seconds between the two.
    pub fn seconds(&self) -> f64 {
        self.answered
            .duration_since(self.delivered)
            .unwrap_or_default()
            .as_secs_f64()
    }
}

#[derive(Default)]
struct Shared {
    waiting: HashMap<String, oneshot::Sender<(Invocation, SystemTime)>>,
    delivered: HashMap<String, SystemTime>,
    first_poll: Option<Instant>,
    polls: u32,
}

/// The Runtime API server; it serves until dropped.
pub struct RuntimeApi {
    address: String,
    queue: mpsc::UnboundedSender<Queued>,
    shared: Arc<Mutex<Shared>>,
    server: tokio::task::JoinHandle<()>,
    next_id: Mutex<u64>,
}

impl RuntimeApi {
    /// Starts on a free loopback port.
    pub async fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind a loopback port");
        let address = listener.local_addr().expect("local address").to_string();
        let (queue, receiver) = mpsc::unbounded_channel();
        let receiver = Arc::new(AsyncMutex::new(receiver));
        let shared = Arc::new(Mutex::new(Shared::default()));
        let state = Arc::clone(&shared);
        let server = tokio::spawn(http::serve(listener, move |request| {
            let receiver = Arc::clone(&receiver);
            let state = Arc::clone(&state);
            async move { serve_request(request, &receiver, &state).await }
        }));
        Self {
            address,
            queue,
            shared,
            server,
            next_id: Mutex::new(0),
        }
    }

    /// `host:port`, the value of `AWS_LAMBDA_RUNTIME_API`.
    pub fn address(&self) -> &str {
        &self.address
    }

    /// Queues `event` with a deadline `timeout` from now and waits for the function's answer
    /// (a little past the deadline, as Lambda would before it kills the process).
    pub async fn invoke(&self, event: Value, timeout: Duration) -> Invocation {
        self.invoke_timed(event, timeout).await.0
    }

    /// Like [`RuntimeApi::invoke`], with when the event was delivered and the answer read
    /// (`None` without an answer).
    pub async fn invoke_timed(
        &self,
        event: Value,
        timeout: Duration,
    ) -> (Invocation, Option<Span>) {
        let id = {
            let mut next = self.next_id.lock().unwrap_or_else(PoisonError::into_inner);
            *next += 1;
            format!("invocation-{next}")
        };
        let deadline_ms = epoch_ms() + u64::try_from(timeout.as_millis()).unwrap_or(u64::MAX);
        let (done, answer) = oneshot::channel();
        self.lock().waiting.insert(id.clone(), done);
        if self
            .queue
            .send(Queued {
                id: id.clone(),
                event,
                deadline_ms,
            })
            .is_err()
        {
            return (Invocation::NoAnswer, None);
        }
        let answer = tokio::time::timeout(timeout + Duration::from_secs(2), answer)
            .await
            .ok()
            .and_then(Result::ok);
        let delivered = self.lock().delivered.remove(&id);
        match (answer, delivered) {
            (Some((invocation, answered)), Some(delivered)) => (
                invocation,
                Some(Span {
                    delivered,
                    answered,
                }),
            ),
            (Some((invocation, _)), None) => (invocation, None),
            (None, _) => (Invocation::NoAnswer, None),
        }
    }

    /// When the first `GET .../invocation/next` arrived.
    pub fn first_poll(&self) -> Option<Instant> {
        self.lock().first_poll
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Shared> {
        self.shared.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Drop for RuntimeApi {
    fn drop(&mut self) {
        self.server.abort();
    }
}

fn epoch_ms() -> u64 {
    let since = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    u64::try_from(since.as_millis()).unwrap_or(u64::MAX)
}

/// Answers one request of the function: `/next` waits for an invocation (the long poll of
/// Lambda's Runtime API); a response or an error is handed to the waiting invoker. `None` (the
/// API is shutting down) closes the connection.
async fn serve_request(
    request: http::Request,
    queue: &AsyncMutex<mpsc::UnboundedReceiver<Queued>>,
    shared: &Mutex<Shared>,
) -> Option<http::Response> {
    let path = request
        .target
        .strip_prefix(PREFIX)
        .unwrap_or(&request.target)
        .to_owned();
    let lock = || shared.lock().unwrap_or_else(PoisonError::into_inner);
    if request.method == "GET" && path == "/invocation/next" {
        {
            let mut state = lock();
            state.polls += 1;
            state.first_poll.get_or_insert_with(Instant::now);
        }
        let queued = queue.lock().await.recv().await?;
        let id = queued.id.clone();
        let headers = vec![
            ("lambda-runtime-aws-request-id", queued.id),
            ("lambda-runtime-deadline-ms", queued.deadline_ms.to_string()),
            (
                "lambda-runtime-invoked-function-arn",
                format!("arn:aws:lambda:us-east-1:{ACCOUNT}:function:datero-test"),
            ),
            (
                "lambda-runtime-trace-id",
                "Root=1-00000000-000000000000000000000000".to_owned(),
            ),
            ("content-type", "application/json".to_owned()),
        ];
        let body = serde_json::to_vec(&queued.event).unwrap_or_default();
        // Recorded before the answer goes: it may come back before this task runs again.
        lock().delivered.insert(id, SystemTime::now());
        return Some(http::Response {
            status: 200,
            headers,
            body,
        });
    }
    let read = SystemTime::now();
    let body: Value = serde_json::from_slice(&request.body).unwrap_or(Value::Null);
    let finished = path
        .strip_prefix("/invocation/")
        .and_then(|rest| rest.rsplit_once('/'))
        .map(|(id, kind)| (id.to_owned(), kind.to_owned()));
    if let Some((id, kind)) = finished {
        let answer = if kind == "response" {
            Invocation::Response(body)
        } else {
            Invocation::Error(body)
        };
        if let Some(waiter) = lock().waiting.remove(&id) {
            waiter.send((answer, read)).ok();
        }
    }
    Some(http::Response::new(202, b"{}".to_vec()))
}

fn running_as_root() -> bool {
    std::fs::read_to_string("/proc/self/status").is_ok_and(|status| {
        status
            .lines()
            .find(|line| line.starts_with("Uid:"))
            .and_then(|line| line.split_whitespace().nth(1))
            == Some("0")
    })
}

/// A function binary running against a [`RuntimeApi`]; killed when dropped.
pub struct FunctionProcess {
    child: Child,
    logs: Arc<Mutex<Vec<String>>>,
    /// When the process was spawned.
    pub spawned: Instant,
}

impl FunctionProcess {
    /// Spawns the workspace's binary `name` (built by `cargo build --bins`) with the Lambda
    /// environment and `env` on top.
    pub fn spawn(name: &str, api: &RuntimeApi, env: &[(&str, String)]) -> Self {
        let path = binary(name);
        assert!(
            path.exists(),
            "{} is missing: run `cargo build --bins` first",
            path.display()
        );
        Self::spawn_program(&path, &[], name, api, env)
    }

    /// Like [`spawn`](Self::spawn), in a mount namespace of its own where `hosts` is
    /// /etc/hosts: the process resolves public names as the emulator's public DNS says
    /// ([`Emulator::public_hosts`](crate::emulator::Emulator::public_hosts)), not as this
    /// machine does (which, offline, resolves none).
    pub fn spawn_resolving(
        name: &str,
        api: &RuntimeApi,
        env: &[(&str, String)],
        hosts: &std::path::Path,
    ) -> Self {
        let path = binary(name);
        assert!(
            path.exists(),
            "{} is missing: run `cargo build --bins` first",
            path.display()
        );
        let mut args = vec!["--mount".to_owned()];
        // Root makes mount namespaces itself; anyone else through a user namespace.
        if !running_as_root() {
            args.push("--map-root-user".to_owned());
        }
        args.extend([
            "sh".to_owned(),
            "-c".to_owned(),
            r#"mount --bind "$0" /etc/hosts && exec "$@""#.to_owned(),
            hosts.display().to_string(),
            path.display().to_string(),
        ]);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        Self::spawn_program(std::path::Path::new("unshare"), &args, name, api, env)
    }

    /// Spawns any program that speaks the Runtime API (for example a Python runtime client),
    /// as the function `name`.
    pub fn spawn_program(
        program: &std::path::Path,
        args: &[&str],
        name: &str,
        api: &RuntimeApi,
        env: &[(&str, String)],
    ) -> Self {
        let mut command = Command::new(program);
        command
            .args(args)
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("AWS_LAMBDA_RUNTIME_API", api.address())
            .env("AWS_LAMBDA_FUNCTION_NAME", name)
            .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
            .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128")
            .env("AWS_LAMBDA_LOG_GROUP_NAME", format!("/aws/lambda/{name}"))
            .env("AWS_LAMBDA_LOG_STREAM_NAME", "local")
            .env("AWS_REGION", "us-east-1")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        for (key, value) in env {
            command.env(key, value);
        }
        let spawned = Instant::now();
        let mut child = command.spawn().expect("spawn the function binary");
        let logs = Arc::new(Mutex::new(Vec::new()));
        if let Some(stdout) = child.stdout.take() {
            collect_lines(stdout, Arc::clone(&logs));
        }
        if let Some(stderr) = child.stderr.take() {
            collect_lines(stderr, Arc::clone(&logs));
        }
        Self {
            child,
            logs,
            spawned,
        }
    }

    /// Every line the process printed so far, stdout and stderr.
    pub fn logs(&self) -> Vec<String> {
        self.logs
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// The process id.
    pub fn pid(&self) -> Option<u32> {
        self.child.id()
    }

    /// Peak resident memory so far (`VmHWM`), in KiB; Linux only.
    pub fn peak_rss_kib(&self) -> Option<u64> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid()?)).ok()?;
        let line = status.lines().find(|line| line.starts_with("VmHWM:"))?;
        line.split_whitespace().nth(1)?.parse().ok()
    }

    /// CPU time the process has used so far, all its threads, in seconds (the scheduler's
    /// nanosecond count from `/proc/<pid>/task/*/schedstat`); Linux only.
    pub fn cpu_seconds(&self) -> Option<f64> {
        let threads = std::fs::read_dir(format!("/proc/{}/task", self.pid()?)).ok()?;
        let nanos: u64 = threads
            .filter_map(Result::ok)
            .filter_map(|thread| std::fs::read_to_string(thread.path().join("schedstat")).ok())
            .filter_map(|stat| stat.split_whitespace().next()?.parse::<u64>().ok())
            .sum();
        Some(nanos as f64 / 1e9)
    }

    /// Whether the process is still alive.
    pub fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }
}

fn collect_lines(
    stream: impl tokio::io::AsyncRead + Unpin + Send + 'static,
    logs: Arc<Mutex<Vec<String>>>,
) {
    tokio::spawn(async move {
        let mut lines = BufReader::new(stream).lines();
        while let Ok(Some(line)) = lines.next_line().await {
            logs.lock()
                .unwrap_or_else(PoisonError::into_inner)
                .push(line);
        }
    });
}

/// Where cargo put the workspace's binaries: `DATERO_BIN_DIR`, or the profile folder of the
/// running test executable (`target/<profile>/deps/..`).
pub fn binary(name: &str) -> PathBuf {
    if let Ok(dir) = std::env::var("DATERO_BIN_DIR") {
        return PathBuf::from(dir).join(name);
    }
    let exe = std::env::current_exe().expect("the test executable's path");
    let profile_dir = exe
        .ancestors()
        .find(|dir| dir.file_name().is_some_and(|name| name == "deps"))
        .and_then(|deps| deps.parent())
        .or_else(|| exe.parent())
        .expect("a folder above the executable")
        .to_path_buf();
    profile_dir.join(name)
}
