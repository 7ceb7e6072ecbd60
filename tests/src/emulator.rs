//! The AWS API emulator: moto's server, tightened by `tests/emulator/launcher.py`.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_sdk_ecs::config::Credentials;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, BufReader};
use tokio::process::{Child, Command};

use crate::iam::Principal;
use crate::workspace_root;

/// Region and account every test works in.
pub const REGION: &str = "us-east-1";
pub const ACCOUNT: &str = "123456789012";

/// One AWS call as the emulator served it.
#[derive(Debug, Clone)]
pub struct ServedCall {
    /// The API action for JSON protocols (`RunTask`), `query` for query protocols.
    pub action: String,
    /// When its request line was read.
    pub arrived: SystemTime,
    /// From its request line read to its response written.
    pub seconds: f64,
}

/// How tasks started on the emulator behave.
#[derive(Debug, Clone)]
pub enum TaskStart {
    /// RUNNING at once (the default).
    Running,
    /// Stuck in PENDING, as when no instance has room.
    Pending,
    /// STOPPED before running, with this reason.
    Fail(&'static str),
    /// Like `Fail`, for tasks of this task-definition ARN only.
    FailRevision(&'static str, String),
    /// Tasks of this task-definition ARN run, and their health checks fail: UNHEALTHY.
    UnhealthyRevision(String),
    /// Tasks of this task-definition ARN run, then their container writes these lines (one
    /// per `\n`) to its awslogs stream, where its task definition has one, and exits with
    /// code 1 after [`Timing::health`].
    ExitsRevision(&'static str, String),
}

/// A running emulator; stopped when dropped. Dropping it fails the test (panics) if it refused
/// any call of a function for lack of permission: the function's role in `template.yaml` is
/// missing a statement, and the first deploy on AWS would fail the same way.
pub struct Emulator {
    child: Child,
    endpoint: String,
    /// The same emulator over TLS (`https://127.0.0.1:<port>`), and the certificate to trust.
    tls_endpoint: String,
    certificate: PathBuf,
    /// AWS's public DNS for the emulator's Elastic IPs, as a hosts file that function processes
    /// see as their /etc/hosts (`tests/emulator/public_dns.py`).
    public_hosts: PathBuf,
}

/// How AWS's timing is played (see `tests/emulator/launcher.py`).
#[derive(Debug, Clone, Copy, Default)]
pub struct Timing {
    /// A task stopped by StopTask stays STOPPING this long (its container's stop timeout).
    pub stop: Duration,
    /// A new task is missing from DescribeTasks, and a new cluster or provider is PROVISIONING,
    /// this long.
    pub consistency: Duration,
    /// A new account: ECS's service-linked role, made by the first CreateCluster, is not
    /// usable for this long (CreateCluster and CreateCapacityProvider are refused meanwhile).
    pub service_linked_role: Duration,
    /// A new EFS mount target is `creating`, and a deleted one still listed as `deleting` (its
    /// network interface and address held), this long.
    pub mount_target: Duration,
    /// A running task with health checks reports UNKNOWN this long before its verdict.
    pub health: Duration,
}

impl Timing {
    /// What the tests of the functions that wait on ECS run with: slow stops and eventual
    /// consistency, short enough to keep tests quick.
    pub const AWS_LIKE: Timing = Timing {
        stop: Duration::from_secs(2),
        consistency: Duration::from_millis(1500),
        service_linked_role: Duration::ZERO,
        mount_target: Duration::from_secs(2),
        health: Duration::from_secs(1),
    };
}

impl Emulator {
    /// Starts the launcher on a free loopback port with the project's Python (`DATERO_PYTHON`,
    /// else `.venv/bin/python`, else `python3`).
    pub async fn start() -> Self {
        let launcher = workspace_root().join("tests/emulator/launcher.py");
        let mut child = Command::new(python())
            .arg(launcher)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("start the emulator (is the venv set up? see README)");
        let stdout = child.stdout.take().expect("piped stdout");
        let mut first = String::new();
        let read = tokio::time::timeout(
            Duration::from_secs(60),
            BufReader::new(stdout).read_line(&mut first),
        )
        .await;
        // "<port> <TLS port> <certificate> <public-DNS hosts file>"
        let mut fields = first.split_whitespace();
        let port = fields.next().and_then(|port| port.parse::<u16>().ok());
        let tls_port = fields.next().and_then(|port| port.parse::<u16>().ok());
        let certificate = fields.next().map(PathBuf::from);
        let public_hosts = fields.next().map(PathBuf::from);
        let started = matches!(read, Ok(Ok(_)));
        let (Some(port), Some(tls_port), Some(certificate), Some(public_hosts), true) =
            (port, tls_port, certificate, public_hosts, started)
        else {
            let mut stderr = String::new();
            if let Some(mut pipe) = child.stderr.take() {
                tokio::time::timeout(Duration::from_secs(5), pipe.read_to_string(&mut stderr))
                    .await
                    .ok();
            }
            panic!("the emulator did not start: {stderr}");
        };
        // Drain stderr so a chatty emulator never blocks on a full pipe.
        if let Some(pipe) = child.stderr.take() {
            tokio::spawn(async move {
                let mut lines = BufReader::new(pipe).lines();
                while let Ok(Some(_)) = lines.next_line().await {}
            });
        }
        Self {
            child,
            endpoint: format!("http://127.0.0.1:{port}"),
            tls_endpoint: format!("https://127.0.0.1:{tls_port}"),
            certificate,
            public_hosts,
        }
    }

    /// The hosts file that plays AWS's public DNS for the emulator's Elastic IPs: every
    /// allocated address's public name, kept current by the emulator.
    pub fn public_hosts(&self) -> &std::path::Path {
        &self.public_hosts
    }

    /// CloudFront as CloudFormation makes it (`tests/emulator/cloudfront.py`): `action`
    /// (`create-function`, `create-distribution`, `disable-distribution`,
    /// `delete-distribution`, `delete-function`, `list`) with `body`; a refusal is CloudFront's
    /// error code and message.
    pub async fn cloudfront(
        &self,
        action: &str,
        body: serde_json::Value,
    ) -> Result<serde_json::Value, String> {
        let response = reqwest::Client::new()
            .post(format!("{}/_datero/cloudfront/{action}", self.endpoint))
            .body(body.to_string())
            .send()
            .await
            .map_err(|e| format!("CloudFront {action}: {e}"))?;
        let ok = response.status().is_success();
        let answer: serde_json::Value =
            serde_json::from_str(&response.text().await.unwrap_or_default()).unwrap_or_default();
        if ok {
            Ok(answer)
        } else {
            Err(format!(
                "CloudFront {action}: {}: {}",
                answer["Code"].as_str().unwrap_or_default(),
                answer["Message"].as_str().unwrap_or_default()
            ))
        }
    }

    /// The PostgreSQL major of each image (test-only control): from now on, a task whose
    /// container runs one of them checks its data directory (the volume and PGDATA's folder in
    /// it) as PostgreSQL does: an empty one takes the image's major; one of another major makes
    /// the container print PostgreSQL's refusal to its log and exit 1.
    pub async fn set_postgres_majors(&self, majors: &[(&str, u32)]) {
        let body: serde_json::Map<String, serde_json::Value> = majors
            .iter()
            .map(|(image, major)| ((*image).to_owned(), serde_json::Value::from(*major)))
            .collect();
        self.control("postgres-majors", serde_json::Value::Object(body))
            .await;
    }

    /// Plays the tasks of `family` as one-off tasks (test-only control): after `healthSeconds`
    /// each container exits with its code in `exit_codes` (0 otherwise) once its dependencies
    /// allow, writing its `lines` to its log. `role` "dump": the running Datero's data is
    /// copied to the key the upload container's `BACKUP_KEY` names; "restore": the key the
    /// fetch container's `BACKUP_KEY` names is copied into the running Datero's data directory.
    pub async fn play_one_off(
        &self,
        family: &str,
        role: &str,
        exit_codes: &[(&str, i32)],
        lines: &[(&str, &[&str])],
    ) {
        let exit_codes: serde_json::Map<String, serde_json::Value> = exit_codes
            .iter()
            .map(|(name, code)| ((*name).to_owned(), serde_json::Value::from(*code)))
            .collect();
        let lines: serde_json::Map<String, serde_json::Value> = lines
            .iter()
            .map(|(name, lines)| ((*name).to_owned(), serde_json::json!(lines)))
            .collect();
        self.control(
            "one-off",
            serde_json::json!({"family": family, "role": role, "exitCodes": exit_codes, "lines": lines}),
        )
        .await;
    }

    /// The PostgreSQL data directories the emulator knows, as `{"majors": {"<volume
    /// source>:<folder>": major}, "contents": {...: text}, "dumps": {key: text}}`; `write`
    /// puts each text into its directory first (test-only control).
    pub async fn postgres_data(&self, write: &[(&str, &str)]) -> serde_json::Value {
        let contents: serde_json::Map<String, serde_json::Value> = write
            .iter()
            .map(|(key, text)| ((*key).to_owned(), serde_json::Value::from(*text)))
            .collect();
        let response = reqwest::Client::new()
            .post(format!("{}/_datero/postgres-data", self.endpoint))
            .body(serde_json::json!({ "contents": contents }).to_string())
            .send()
            .await
            .expect("reach the emulator");
        serde_json::from_str(&response.text().await.unwrap_or_default()).unwrap_or_default()
    }

    /// Makes the public name `name` resolve to `address` (`None`: to nothing) from now on,
    /// whatever the emulator allocated (test-only control).
    pub async fn pin_public_name(&self, name: &str, address: Option<std::net::Ipv4Addr>) {
        let address = address.map(|address| address.to_string());
        self.control(
            "public-dns",
            serde_json::json!({"name": name, "address": address}),
        )
        .await;
    }

    /// `http://127.0.0.1:<port>`
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// `https://127.0.0.1:<port>`: the same emulator over TLS.
    pub fn tls_endpoint(&self) -> &str {
        &self.tls_endpoint
    }

    /// The authority that signed the TLS endpoint's certificate (PEM), which only a test trusts.
    pub fn certificate(&self) -> &std::path::Path {
        &self.certificate
    }

    /// SDK configuration for clients in the test process.
    pub async fn sdk_config(&self) -> SdkConfig {
        aws_config::defaults(BehaviorVersion::latest())
            .region(Region::new(REGION))
            .endpoint_url(&self.endpoint)
            .credentials_provider(Credentials::new(
                "testing", "testing", None, None, "emulator",
            ))
            .load()
            .await
    }

    /// SDK configuration signing as `principal`: what the Lambda service does with a function's
    /// role (an on-failure destination, an event source).
    pub async fn sdk_config_as(&self, principal: &Principal) -> SdkConfig {
        aws_config::defaults(BehaviorVersion::latest())
            .region(Region::new(REGION))
            .endpoint_url(&self.endpoint)
            .credentials_provider(Credentials::new(
                principal.access_key_id.clone(),
                "testing",
                None,
                None,
                "emulator",
            ))
            .load()
            .await
    }

    /// Environment that points a function process at the emulator.
    pub fn function_env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("AWS_ENDPOINT_URL", self.endpoint.clone()),
            ("AWS_ACCESS_KEY_ID", "testing".to_owned()),
            ("AWS_SECRET_ACCESS_KEY", "testing".to_owned()),
            ("AWS_REGION", REGION.to_owned()),
            ("AWS_EC2_METADATA_DISABLED", "true".to_owned()),
        ]
    }

    /// Stops a task as if its essential container exited with `exit_code` after running for
    /// `ran_for` (test-only control).
    pub async fn crash_task(
        &self,
        cluster: &str,
        task_arn: &str,
        exit_code: i32,
        ran_for: Duration,
    ) {
        let body = serde_json::json!({
            "cluster": cluster, "task": task_arn, "exitCode": exit_code,
            "stopCode": "EssentialContainerExited", "reason": "Essential container in task exited",
            "ranForSeconds": ran_for.as_secs_f64(),
        });
        self.control("stop-task", body).await;
    }

    /// How tasks started from now on behave (test-only control).
    pub async fn set_task_start(&self, start: TaskStart) {
        let body = match start {
            TaskStart::Running => serde_json::json!({"mode": "running"}),
            TaskStart::Pending => serde_json::json!({"mode": "pending"}),
            TaskStart::Fail(reason) => serde_json::json!({"mode": "fail", "reason": reason}),
            TaskStart::FailRevision(reason, task_definition) => {
                serde_json::json!({"mode": "fail", "reason": reason, "taskDefinition": task_definition})
            }
            TaskStart::UnhealthyRevision(task_definition) => {
                serde_json::json!({"mode": "unhealthy", "taskDefinition": task_definition})
            }
            TaskStart::ExitsRevision(reason, task_definition) => {
                serde_json::json!({"mode": "exits", "reason": reason, "taskDefinition": task_definition})
            }
        };
        self.control("task-start", body).await;
    }

    /// The AWS calls served since the last reset, in order of arrival; resets.
    pub async fn take_calls(&self) -> Vec<ServedCall> {
        let response = reqwest::Client::new()
            .post(format!("{}/_datero/stats", self.endpoint))
            .send()
            .await
            .expect("reach the emulator");
        let text = response.text().await.unwrap_or_default();
        let stats: serde_json::Value = serde_json::from_str(&text).unwrap_or_default();
        let requests = stats["requests"].as_array().cloned().unwrap_or_default();
        requests
            .iter()
            .map(|call| ServedCall {
                action: call["action"].as_str().unwrap_or_default().to_owned(),
                arrived: UNIX_EPOCH
                    + Duration::from_secs_f64(call["arrived"].as_f64().unwrap_or(0.0)),
                seconds: call["seconds"].as_f64().unwrap_or(0.0),
            })
            .collect()
    }

    async fn control(&self, action: &str, body: serde_json::Value) {
        let response = reqwest::Client::new()
            .post(format!("{}/_datero/{action}", self.endpoint))
            .body(body.to_string())
            .send()
            .await
            .expect("reach the emulator");
        assert!(
            response.status().is_success(),
            "{action}: {}",
            response.status()
        );
    }

    /// Authorizes every call signed with `principal`'s key against its role from now on.
    pub async fn enforce_iam(&self, principal: &Principal) {
        let body = serde_json::json!({
            "accessKeyId": principal.access_key_id,
            "name": principal.name,
            "role": principal.role,
            "policies": principal.policies,
        });
        self.control("iam/principal", body).await;
    }

    /// Environment that points a function process at the emulator, signing as `principal`.
    pub fn function_env_as(&self, principal: &Principal) -> Vec<(&'static str, String)> {
        let mut env = self.function_env();
        for (key, value) in &mut env {
            if *key == "AWS_ACCESS_KEY_ID" {
                *value = principal.access_key_id.clone();
            }
        }
        env
    }

    /// Environment for the AWS CLI (the test venv's, first on PATH) signing as `principal`,
    /// as a task signs with its task role: what the backup and restore scripts run with. It
    /// speaks TLS, as the CLI does on AWS (the backup bucket refuses anything else).
    pub fn aws_cli_env_as(&self, principal: &Principal) -> Vec<(&'static str, String)> {
        let venv_bin = python().parent().map(PathBuf::from).unwrap_or_default();
        let path = format!(
            "{}:{}",
            venv_bin.display(),
            std::env::var("PATH").unwrap_or_default()
        );
        let mut env = self.function_env_as(principal);
        for (key, value) in &mut env {
            if *key == "AWS_ENDPOINT_URL" {
                value.clone_from(&self.tls_endpoint);
            }
        }
        env.push(("AWS_CA_BUNDLE", self.certificate.display().to_string()));
        env.push(("AWS_DEFAULT_REGION", REGION.to_owned()));
        env.push(("PATH", path));
        env
    }

    /// Like [`aws_cli_env_as`](Self::aws_cli_env_as) without a Region: what a container of a
    /// task has before its task definition's variables (the ECS agent on EC2 set none for
    /// years: aws/containers-roadmap#1611), so that a task definition missing one fails here.
    pub fn task_cli_env_as(&self, principal: &Principal) -> Vec<(&'static str, String)> {
        self.aws_cli_env_as(principal)
            .into_iter()
            .filter(|(key, _)| !matches!(*key, "AWS_REGION" | "AWS_DEFAULT_REGION"))
            .collect()
    }

    /// Plays AWS's timing: slow stops, eventual consistency, a new account's first ECS use, EFS
    /// mount targets that take a while to come and go.
    pub async fn set_timing(&self, timing: Timing) {
        let body = serde_json::json!({
            "stopSeconds": timing.stop.as_secs_f64(),
            "consistencySeconds": timing.consistency.as_secs_f64(),
            "serviceLinkedRoleSeconds": timing.service_linked_role.as_secs_f64(),
            "mountTargetSeconds": timing.mount_target.as_secs_f64(),
            "healthSeconds": timing.health.as_secs_f64(),
        });
        self.control("settings", body).await;
    }

    /// The CloudWatch alarm calls served since the last call of this (SetAlarmState,
    /// Enable/DisableAlarmActions, in order, each with its `operation`, `at` in epoch seconds,
    /// and its parameters); resets.
    pub async fn take_alarm_calls(&self) -> Vec<serde_json::Value> {
        self.take_json("cloudwatch/alarm-calls").await
    }

    /// The calls IAM refused so far: function, action, resource and why.
    pub async fn denials(&self) -> Vec<serde_json::Value> {
        self.get_json("iam/denials").await
    }

    /// The calls IAM refused so far; resets, so that a test that provokes a refusal on purpose
    /// can check it and leave the rest to the guard at drop.
    pub async fn take_denials(&self) -> Vec<serde_json::Value> {
        self.take_json("iam/denials").await
    }

    /// A control endpoint's records, read and reset (POST).
    async fn take_json(&self, path: &str) -> Vec<serde_json::Value> {
        let response = reqwest::Client::new()
            .post(format!("{}/_datero/{path}", self.endpoint))
            .send()
            .await
            .expect("reach the emulator");
        serde_json::from_str(&response.text().await.unwrap_or_default()).unwrap_or_default()
    }

    async fn get_json(&self, path: &str) -> Vec<serde_json::Value> {
        let response = reqwest::get(format!("{}/_datero/{path}", self.endpoint))
            .await
            .expect("reach the emulator");
        serde_json::from_str(&response.text().await.unwrap_or_default()).unwrap_or_default()
    }

    /// The process id, for diagnostics.
    pub fn pid(&self) -> Option<u32> {
        self.child.id()
    }
}

impl Drop for Emulator {
    fn drop(&mut self) {
        // The launcher's per-run certificate folder (it cannot remove it itself: it is killed).
        if let Some(folder) = self.certificate.parent().filter(|folder| {
            folder
                .file_name()
                .is_some_and(|name| name.to_string_lossy().starts_with("datero-emulator-tls-"))
        }) {
            let _ = std::fs::remove_dir_all(folder);
        }
        if std::thread::panicking() {
            return;
        }
        // `DATERO_IAM_RECORD`: a file that collects every allowed call (scripts/permissions).
        if let Ok(path) = std::env::var("DATERO_IAM_RECORD") {
            record_decisions(&self.endpoint, &path);
        }
        let denials = control_now(&self.endpoint, "iam/denials");
        if !denials.is_empty() {
            let lines: Vec<String> = denials
                .iter()
                .map(|denial| {
                    format!(
                        "- {} called {} ({} on {}): {}",
                        denial["function"].as_str().unwrap_or("?"),
                        denial["operation"].as_str().unwrap_or("?"),
                        denial["action"].as_str().unwrap_or("?"),
                        denial["resource"].as_str().unwrap_or("?"),
                        denial["message"].as_str().unwrap_or("?"),
                    )
                })
                .collect();
            panic!(
                "AWS would refuse these calls (the function's role in template.yaml lacks them):\n{}",
                lines.join("\n")
            );
        }
    }
}

/// Appends the calls IAM allowed, one JSON line each, to the file at `path`.
fn record_decisions(endpoint: &str, path: &str) {
    use std::io::Write;
    let decisions = control_now(endpoint, "iam/decisions");
    if let Ok(mut file) = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
    {
        let lines: String = decisions.iter().map(|d| format!("{d}\n")).collect();
        file.write_all(lines.as_bytes()).ok();
    }
}

/// A control endpoint's JSON list, read without an async runtime (from `Drop`).
fn control_now(endpoint: &str, path: &str) -> Vec<serde_json::Value> {
    use std::io::{Read, Write};
    let address = endpoint.trim_start_matches("http://");
    let Ok(mut stream) = std::net::TcpStream::connect(address) else {
        return Vec::new();
    };
    stream.set_read_timeout(Some(Duration::from_secs(5))).ok();
    let request = format!("GET /_datero/{path} HTTP/1.0\r\nHost: {address}\r\n\r\n");
    if stream.write_all(request.as_bytes()).is_err() {
        return Vec::new();
    }
    let mut answer = String::new();
    stream.read_to_string(&mut answer).ok();
    answer
        .split_once("\r\n\r\n")
        .and_then(|(_, body)| serde_json::from_str(body).ok())
        .unwrap_or_default()
}

pub fn python() -> PathBuf {
    if let Ok(python) = std::env::var("DATERO_PYTHON") {
        return PathBuf::from(python);
    }
    let venv = workspace_root().join(".venv/bin/python");
    if venv.exists() {
        venv
    } else {
        PathBuf::from("python3")
    }
}
