//! `functions/task-definition` through the local Runtime API against the tightened emulator.

use aws_sdk_ecs::types::{EfsTransitEncryption, LogDriver, NetworkMode, TaskDefinitionStatus};
use datero_testbed::emulator::Emulator;
use datero_testbed::events;
use datero_testbed::harness::{self, FunctionHarness};
use datero_testbed::seed::{EXECUTION_ROLE as EXEC_ROLE, FAMILY};
use serde_json::{Value, json};

const TYPE: &str = "Custom::DateroTaskDefinition";
const SECRET_ARN: &str = "arn:aws:secretsmanager:us-east-1:123456789012:secret:datero-pw-Xy12Ab";
const TASK_ROLE: &str = "arn:aws:iam::123456789012:role/datero-task";
const ENV_SECRETISH: &str = "do-not-log-me-7f3a";

fn properties() -> Value {
    json!({
        "Family": FAMILY,
        "Image": "chumaky/datero:1.2.0",
        "Cpu": "1024",
        "Memory": "1536",
        "HostPort": "8080",
        "PostgresHostPort": "5432",
        "PasswordSecretArn": SECRET_ARN,
        "ExecutionRoleArn": EXEC_ROLE,
        "TaskRoleArn": TASK_ROLE,
        "LogGroupName": "/datero/prod",
        "EfsFileSystemId": "fs-0123456789abcdef0",
        "Environment": {"DATERO_TOKEN": ENV_SECRETISH},
    })
}

/// The function with its template role, plus what a user's template that sets `TaskRoleArn`
/// grants (the product's template sets none).
async fn start() -> FunctionHarness {
    let principal = harness::principal("task-definition").grant(json!({
        "Effect": "Allow",
        "Action": "iam:PassRole",
        "Resource": TASK_ROLE,
        "Condition": {"StringEquals": {"iam:PassedToService": "ecs-tasks.amazonaws.com"}},
    }));
    FunctionHarness::start_as(Emulator::start().await, principal, &[]).await
}

async fn ecs(harness: &FunctionHarness) -> aws_sdk_ecs::Client {
    aws_sdk_ecs::Client::new(&harness.emulator.sdk_config().await)
}

#[tokio::test]
#[expect(
    clippy::too_many_lines,
    reason = "one assertion per field of the registered definition, in the API's order"
)]
async fn the_registered_definition_matches_what_was_asked_field_by_field() {
    let harness = start().await;
    let answer = harness
        .request(events::create(TYPE, properties(), ""))
        .await;
    assert_eq!(answer["Status"], "SUCCESS", "{answer}");
    let arn = answer["PhysicalResourceId"].as_str().unwrap();
    assert!(
        arn.ends_with(&format!(":task-definition/{FAMILY}:1")),
        "{arn}"
    );
    assert_eq!(
        answer["Data"],
        json!({"TaskDefinitionArn": arn, "Family": FAMILY, "Revision": "1"})
    );

    let described = ecs(&harness)
        .await
        .describe_task_definition()
        .task_definition(arn)
        .send()
        .await
        .unwrap();
    let definition = described.task_definition().unwrap();
    assert_eq!(definition.network_mode(), Some(&NetworkMode::Bridge));
    assert_eq!(definition.execution_role_arn(), Some(EXEC_ROLE));
    assert_eq!(definition.task_role_arn(), Some(TASK_ROLE));
    let container = &definition.container_definitions()[0];
    assert_eq!(container.name(), Some("datero"));
    assert_eq!(container.image(), Some("chumaky/datero:1.2.0"));
    assert_eq!(container.essential(), Some(true));
    assert_eq!((container.cpu(), container.memory()), (1024, Some(1536)));
    // The UI, and PostgreSQL for the backup and restore tasks on the same instance.
    let ports: Vec<_> = container
        .port_mappings()
        .iter()
        .map(|port| (port.container_port(), port.host_port()))
        .collect();
    assert_eq!(ports, [(Some(80), Some(8080)), (Some(5432), Some(5432))]);
    let secrets = container.secrets();
    assert_eq!(secrets.len(), 1);
    assert_eq!(
        (secrets[0].name(), secrets[0].value_from()),
        ("POSTGRES_PASSWORD", SECRET_ARN)
    );
    assert!(
        container
            .environment()
            .iter()
            .all(|pair| pair.name() != Some("POSTGRES_PASSWORD"))
    );
    // PostgreSQL's data directory is named explicitly (postgres 18+ images default elsewhere),
    // and /dev/shm is large enough for parallel queries.
    let pgdata: Vec<_> = container
        .environment()
        .iter()
        .filter(|pair| pair.name() == Some("PGDATA"))
        .map(|pair| pair.value())
        .collect();
    assert_eq!(pgdata, [Some("/var/lib/postgresql/data")]);
    let shm = container
        .linux_parameters()
        .and_then(|linux| linux.shared_memory_size());
    assert!(shm.is_some_and(|mib| mib >= 256), "{shm:?}");
    let health = container.health_check().unwrap();
    assert_eq!(health.command()[0], "CMD-SHELL");
    assert!(health.command()[1].contains("pg_isready"));
    assert!(health.start_period().unwrap() >= 60);
    assert!(container.stop_timeout().unwrap() >= 60);
    assert!(container.restart_policy().unwrap().enabled());
    let logs = container.log_configuration().unwrap();
    assert_eq!(logs.log_driver(), &LogDriver::Awslogs);
    let options = logs.options().unwrap();
    assert_eq!(options["awslogs-group"], "/datero/prod");
    assert_eq!(options["awslogs-region"], "us-east-1");
    assert_eq!(options["awslogs-stream-prefix"], "datero");
    let mount = &container.mount_points()[0];
    assert_eq!(
        (mount.source_volume(), mount.container_path()),
        (Some("pgdata"), Some("/var/lib/postgresql/data"))
    );
    let volume = &definition.volumes()[0];
    let efs = volume.efs_volume_configuration().unwrap();
    assert_eq!(efs.file_system_id(), "fs-0123456789abcdef0");
    assert_eq!(
        efs.transit_encryption(),
        Some(&EfsTransitEncryption::Enabled)
    );

    harness.assert_logs_clean(&[ENV_SECRETISH]);
    assert!(!answer.to_string().contains(ENV_SECRETISH));
}
#[tokio::test]
async fn an_update_is_a_new_revision_and_deletes_are_exact_and_repeatable() {
    let harness = start().await;
    let first = harness
        .request(events::create(TYPE, properties(), ""))
        .await;
    let old_arn = first["PhysicalResourceId"].as_str().unwrap().to_owned();
    let mut changed = properties();
    changed["Image"] = json!("chumaky/datero:1.3.0");
    let second = harness
        .request(events::update(
            TYPE,
            &old_arn,
            properties(),
            changed.clone(),
            "",
        ))
        .await;
    assert_eq!(second["Status"], "SUCCESS", "{second}");
    let new_arn = second["PhysicalResourceId"].as_str().unwrap().to_owned();
    assert!(
        new_arn.ends_with(&format!("task-definition/{FAMILY}:2")),
        "{new_arn}"
    );

    let ecs = ecs(&harness).await;
    let status = |arn: String| {
        let ecs = ecs.clone();
        async move {
            ecs.describe_task_definition()
                .task_definition(arn)
                .send()
                .await
                .unwrap()
                .task_definition()
                .unwrap()
                .status()
                .cloned()
        }
    };
    assert_eq!(
        status(old_arn.clone()).await,
        Some(TaskDefinitionStatus::Active),
        "the old revision stays until its Delete"
    );

    for _ in 0..2 {
        let deleted = harness
            .request(events::delete(TYPE, &old_arn, properties(), ""))
            .await;
        assert_eq!(deleted["Status"], "SUCCESS", "{deleted}");
    }
    assert_eq!(status(old_arn).await, Some(TaskDefinitionStatus::Inactive));
    assert_eq!(
        status(new_arn).await,
        Some(TaskDefinitionStatus::Active),
        "only the named revision is deregistered"
    );
    let unknown = format!("arn:aws:ecs:us-east-1:123456789012:task-definition/{FAMILY}:9");
    let deleted = harness
        .request(events::delete(TYPE, &unknown, json!({}), ""))
        .await;
    assert_eq!(deleted["Status"], "SUCCESS", "{deleted}");
}
#[tokio::test]
async fn bad_properties_fail_with_the_exact_reason_and_register_nothing() {
    let harness = start().await;
    let with = |key: &str, value: Value| {
        let mut properties = properties();
        properties[key] = value;
        properties
    };
    let mut both = properties();
    both["HostDataPath"] = json!("/srv/datero");
    let cases = [
        (
            with("Image", json!("")),
            "property Image is invalid: expected a container image reference such as chumaky/datero:1.2.0, got \"\"",
        ),
        (
            with("Cpu", json!("99999")),
            "property Cpu is invalid: expected a whole number from 128 to 10240, got \"99999\"",
        ),
        (
            with("Memory", json!("100")),
            "property Memory is invalid: expected a whole number from 512 to 245760, got \"100\"",
        ),
        (
            with("HostPort", json!("0")),
            "property HostPort is invalid: expected a whole number from 1 to 65535, got \"0\"",
        ),
        (
            with("ExecutionRoleArn", json!("datero-exec")),
            "property ExecutionRoleArn is invalid: expected an ARN like arn:aws:iam::<account>:role/<name>, got \"datero-exec\"",
        ),
        (
            with("Environment", json!({"POSTGRES_PASSWORD": ENV_SECRETISH})),
            "property Environment.POSTGRES_PASSWORD is invalid: expected no POSTGRES_PASSWORD: it comes only from PasswordSecretArn, got a plaintext value (not shown)",
        ),
        (
            with("Colour", json!("blue")),
            "unknown properties Colour; accepted: Family, Image, Cpu, Memory, HostPort, PostgresHostPort, PasswordSecretArn, ExecutionRoleArn, TaskRoleArn, LogGroupName, EfsFileSystemId, HostDataPath, Environment, OriginTokenSecretArn, EdgeProxyImage, DataDirectory",
        ),
        (
            both,
            "properties EfsFileSystemId and HostDataPath cannot both be set: PostgreSQL's data lives in one place; choose EFS or a path on the instance",
        ),
    ];
    for (properties, reason) in cases {
        let answer = harness.request(events::create(TYPE, properties, "")).await;
        assert_eq!(answer["Status"], "FAILED");
        assert_eq!(answer["Reason"], reason);
    }
    let listed = ecs(&harness)
        .await
        .list_task_definitions()
        .send()
        .await
        .unwrap();
    assert!(
        listed.task_definition_arns().is_empty(),
        "{:?}",
        listed.task_definition_arns()
    );
    harness.assert_logs_clean(&[ENV_SECRETISH]);
}

/// The functions' SDK client trusts the roots compiled into the binary (`datero_shared::tls`),
/// not the platform's store, which `SSL_CERT_FILE` points at here: over TLS to the emulator,
/// whose certificate is its own, the call is refused for its certificate, and the function
/// answers FAILED without a panic (every compiled-in root parsed).
#[tokio::test]
async fn the_sdk_trusts_only_the_compiled_in_roots() {
    let emulator = Emulator::start().await;
    let env = [
        ("AWS_ENDPOINT_URL", emulator.tls_endpoint().to_owned()),
        (
            "SSL_CERT_FILE",
            emulator.certificate().display().to_string(),
        ),
    ];
    let principal = harness::principal("task-definition").grant(json!({
        "Effect": "Allow",
        "Action": "iam:PassRole",
        "Resource": TASK_ROLE,
        "Condition": {"StringEquals": {"iam:PassedToService": "ecs-tasks.amazonaws.com"}},
    }));
    let mut harness = FunctionHarness::start_as(emulator, principal, &env).await;
    let answer = harness
        .request(events::create(TYPE, properties(), ""))
        .await;
    assert_eq!(answer["Status"], "FAILED", "{answer}");
    let reason = answer["Reason"].as_str().unwrap();
    assert!(
        reason.starts_with("RegisterTaskDefinition failed") && reason.contains("UnknownIssuer"),
        "{reason}"
    );
    assert!(harness.process.is_running(), "the function survives");
}
