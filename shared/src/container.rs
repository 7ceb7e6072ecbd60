//! Datero's containers, as ECS runs them: built from a [`TaskDefinitionSpec`] without AWS calls.
//!
//! Datero's image runs PostgreSQL and, behind nginx on port 80, Datero's web UI and API. In
//! public mode a proxy container beside it is the only way in (`crate::edge`).

use aws_sdk_ecs::error::BuildError;
use aws_sdk_ecs::types::{
    ContainerCondition, ContainerDefinition, ContainerDependency, ContainerRestartPolicy,
    EfsTransitEncryption, EfsVolumeConfiguration, HealthCheck, HostVolumeProperties, KeyValuePair,
    LinuxParameters, LogConfiguration, LogDriver, MountPoint, PortMapping, Secret,
    TransportProtocol, Volume,
};

use crate::edge;
use crate::resources::task_definition::{
    EdgeProxy, PASSWORD_VARIABLE, Persistence, TaskDefinitionSpec,
};

pub use crate::image::{
    CONTAINER_NAME, CONTAINER_PORT, DATA_PATH, DATA_PATH_VARIABLE, POSTGRES_PORT,
};
/// `/dev/shm` for PostgreSQL, in MiB. Docker's default of 64 MiB makes parallel queries fail
/// with "could not resize shared memory segment"; `linuxParameters.sharedMemorySize` sets it for
/// tasks on EC2 (ECS API reference, LinuxParameters).
pub const SHARED_MEMORY_MIB: i32 = 256;
/// Name of the task volume holding PGDATA.
pub const DATA_VOLUME: &str = "pgdata";
/// Seconds ECS waits after SIGTERM before SIGKILL: PostgreSQL needs them to checkpoint and stop
/// cleanly (120 s is the most ECS allows).
pub const STOP_TIMEOUT_SECONDS: i32 = 120;
/// A crashed container is restarted in place once it has run this long (ECS's default).
pub const RESTART_ATTEMPT_PERIOD_SECONDS: i32 = 300;

/// Every container of the task: Datero's, and in public mode the proxy in front of it.
pub fn container_definitions(
    spec: &TaskDefinitionSpec,
    region: &str,
) -> Result<Vec<ContainerDefinition>, BuildError> {
    let mut containers = vec![container_definition(spec, region)?];
    if let Some(proxy) = &spec.edge_proxy {
        containers.push(proxy_definition(
            proxy,
            spec.log_group_name.as_deref(),
            region,
        )?);
    }
    Ok(containers)
}

/// The `datero` container: essential, memory-capped, password from Secrets Manager only.
fn container_definition(
    spec: &TaskDefinitionSpec,
    region: &str,
) -> Result<ContainerDefinition, BuildError> {
    let mut container = ContainerDefinition::builder()
        .name(CONTAINER_NAME)
        .image(&spec.image)
        .essential(true)
        .cpu(spec.cpu)
        .memory(spec.memory)
        .set_port_mappings(Some(port_mappings(spec)))
        .secrets(
            Secret::builder()
                .name(PASSWORD_VARIABLE)
                .value_from(&spec.password_secret_arn)
                .build()?,
        )
        .set_environment(Some(environment(spec)))
        .linux_parameters(
            LinuxParameters::builder()
                .shared_memory_size(SHARED_MEMORY_MIB)
                .build(),
        )
        .health_check(health_check()?)
        .stop_timeout(STOP_TIMEOUT_SECONDS)
        .restart_policy(
            ContainerRestartPolicy::builder()
                .enabled(true)
                .restart_attempt_period(RESTART_ATTEMPT_PERIOD_SECONDS)
                .build()?,
        );
    if let Some(group) = &spec.log_group_name {
        container = container.log_configuration(awslogs(group, region, CONTAINER_NAME)?);
    }
    if spec.persistence != Persistence::Ephemeral {
        container = container.mount_points(
            MountPoint::builder()
                .source_volume(DATA_VOLUME)
                .container_path(DATA_PATH)
                .read_only(false)
                .build(),
        );
    }
    Ok(container.build())
}

/// The proxy of public mode: essential (without it Datero is unreachable), reached on
/// [`edge::PROXY_PORT`], Datero through a Docker link (bridge mode: "links", ContainerDefinition,
/// ECS API Reference), the origin token from Secrets Manager when the container starts.
fn proxy_definition(
    proxy: &EdgeProxy,
    log_group: Option<&str>,
    region: &str,
) -> Result<ContainerDefinition, BuildError> {
    let variable =
        |name: &str, value: &str| KeyValuePair::builder().name(name).value(value).build();
    let mut container = ContainerDefinition::builder()
        .name(edge::PROXY_CONTAINER)
        .image(&proxy.image)
        .essential(true)
        .memory_reservation(edge::PROXY_MEMORY_RESERVATION_MIB)
        .memory(edge::PROXY_MEMORY_MIB)
        .port_mappings(tcp(edge::PROXY_PORT, edge::PROXY_PORT))
        .links(CONTAINER_NAME)
        .depends_on(
            ContainerDependency::builder()
                .container_name(CONTAINER_NAME)
                .condition(ContainerCondition::Start)
                .build()?,
        )
        .secrets(
            Secret::builder()
                .name(edge::ORIGIN_TOKEN_VARIABLE)
                .value_from(&proxy.origin_token_secret_arn)
                .build()?,
        )
        .environment(variable(edge::CADDYFILE_VARIABLE, edge::CADDYFILE))
        .environment(variable(
            edge::UPSTREAM_VARIABLE,
            &format!("{CONTAINER_NAME}:{CONTAINER_PORT}"),
        ))
        .entry_point("sh")
        .entry_point("-c")
        .command(edge::proxy_start_script())
        // Listening is all the proxy's health is: a request without the token gets 403.
        .health_check(
            HealthCheck::builder()
                .command("CMD-SHELL")
                .command(format!("nc -z 127.0.0.1 {} || exit 1", edge::PROXY_PORT))
                .interval(30)
                .timeout(5)
                .retries(3)
                .start_period(30)
                .build()?,
        );
    if let Some(group) = log_group {
        container = container.log_configuration(awslogs(group, region, edge::PROXY_CONTAINER)?);
    }
    Ok(container.build())
}

fn tcp(container_port: i32, host_port: i32) -> PortMapping {
    PortMapping::builder()
        .container_port(container_port)
        .host_port(host_port)
        .protocol(TransportProtocol::Tcp)
        .build()
}

/// The web UI on `HostPort`, except in public mode, where only the proxy reaches it; with
/// `PostgresHostPort`, PostgreSQL too, so that the backup and restore tasks (host network mode,
/// on the same instance) reach it on 127.0.0.1. The instance's security group never opens that
/// port.
fn port_mappings(spec: &TaskDefinitionSpec) -> Vec<PortMapping> {
    let web = spec
        .edge_proxy
        .is_none()
        .then(|| tcp(CONTAINER_PORT, spec.host_port));
    web.into_iter()
        .chain(spec.postgres_host_port.map(|port| tcp(POSTGRES_PORT, port)))
        .collect()
}

/// PGDATA first (it cannot be overridden: the parser refuses it), then the user's variables.
fn environment(spec: &TaskDefinitionSpec) -> Vec<KeyValuePair> {
    let pgdata = spec.pgdata();
    std::iter::once((DATA_PATH_VARIABLE, pgdata.as_str()))
        .chain(
            spec.environment
                .iter()
                .map(|(name, value)| (name.as_str(), value.as_str())),
        )
        .map(|(name, value)| KeyValuePair::builder().name(name).value(value).build())
        .collect()
}

/// A container's logs in the stack's log group, one stream per task under `prefix`.
fn awslogs(group: &str, region: &str, prefix: &str) -> Result<LogConfiguration, BuildError> {
    LogConfiguration::builder()
        .log_driver(LogDriver::Awslogs)
        .options("awslogs-group", group)
        .options("awslogs-region", region)
        .options("awslogs-stream-prefix", prefix)
        .build()
}

/// PostgreSQL answers `pg_isready` once it accepts connections; a first start initialises the
/// database, hence the long start period.
fn health_check() -> Result<HealthCheck, BuildError> {
    HealthCheck::builder()
        .command("CMD-SHELL")
        .command("pg_isready -U postgres -h 127.0.0.1 || exit 1")
        .interval(30)
        .timeout(5)
        .retries(5)
        .start_period(180)
        .build()
}

/// The task's volumes: the PGDATA volume where data persists, nothing otherwise.
pub fn volumes(spec: &TaskDefinitionSpec) -> Result<Vec<Volume>, BuildError> {
    let volume = match &spec.persistence {
        Persistence::Ephemeral => return Ok(Vec::new()),
        Persistence::Efs { file_system_id } => Volume::builder()
            .name(DATA_VOLUME)
            .efs_volume_configuration(
                EfsVolumeConfiguration::builder()
                    .file_system_id(file_system_id)
                    .root_directory("/")
                    .transit_encryption(EfsTransitEncryption::Enabled)
                    .build()?,
            ),
        Persistence::HostPath { path } => Volume::builder()
            .name(DATA_VOLUME)
            .host(HostVolumeProperties::builder().source_path(path).build()),
    };
    Ok(vec![volume.build()])
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn spec(extra: serde_json::Value) -> TaskDefinitionSpec {
        let mut properties = json!({
            "PasswordSecretArn": "arn:aws:secretsmanager:us-east-1:111122223333:secret:pw-AbC123",
            "ExecutionRoleArn": "arn:aws:iam::111122223333:role/exec",
            "LogGroupName": "/datero/app",
        });
        for (key, value) in extra.as_object().unwrap() {
            properties[key] = value.clone();
        }
        TaskDefinitionSpec::parse(&properties).unwrap()
    }

    #[test]
    fn the_password_is_a_secret_reference_never_an_environment_value() {
        let container =
            container_definition(&spec(json!({"Environment": {"A": "b"}})), "eu-west-1").unwrap();
        let secrets = container.secrets();
        assert_eq!(secrets.len(), 1);
        assert_eq!(secrets[0].name(), PASSWORD_VARIABLE);
        assert!(
            container
                .environment()
                .iter()
                .all(|pair| pair.name() != Some(PASSWORD_VARIABLE))
        );
        let logs = container.log_configuration().unwrap();
        assert_eq!(logs.options().unwrap()["awslogs-region"], "eu-west-1");
    }

    #[test]
    fn a_clean_postgres_shutdown_and_in_place_restarts() {
        let container = container_definition(&spec(json!({})), "us-east-1").unwrap();
        assert!(container.stop_timeout().unwrap() >= 60);
        assert!(container.restart_policy().unwrap().enabled());
        assert!(
            container
                .health_check()
                .unwrap()
                .command()
                .join(" ")
                .contains("pg_isready")
        );
        assert_eq!(container.essential(), Some(true));
    }

    #[test]
    fn pgdata_is_explicit_and_shared_memory_is_large_enough() {
        let container = container_definition(&spec(json!({})), "us-east-1").unwrap();
        let pgdata: Vec<_> = container
            .environment()
            .iter()
            .filter(|pair| pair.name() == Some("PGDATA"))
            .collect();
        assert_eq!(pgdata.len(), 1);
        assert_eq!(pgdata[0].value(), Some(DATA_PATH));
        // A data directory of its own: PGDATA is that folder of the volume, which stays mounted
        // where it was.
        let own = container_definition(
            &spec(json!({"EfsFileSystemId": "fs-0123abcd", "DataDirectory": "pg17"})),
            "us-east-1",
        )
        .unwrap();
        let pgdata = own
            .environment()
            .iter()
            .find(|pair| pair.name() == Some("PGDATA"))
            .and_then(|pair| pair.value());
        assert_eq!(pgdata, Some("/var/lib/postgresql/data/pg17"));
        assert_eq!(own.mount_points()[0].container_path(), Some(DATA_PATH));
        for wrong in ["../etc", "pg 17", "a/b", "."] {
            let error = TaskDefinitionSpec::parse(&json!({
                "PasswordSecretArn": "arn:aws:secretsmanager:us-east-1:111122223333:secret:pw-AbC123",
                "ExecutionRoleArn": "arn:aws:iam::111122223333:role/exec",
                "DataDirectory": wrong,
            }))
            .unwrap_err()
            .to_string();
            assert!(
                error.contains("DataDirectory") && error.contains("one folder name"),
                "{error}"
            );
        }
        let shm = container.linux_parameters().unwrap().shared_memory_size();
        assert!(shm.unwrap() >= 256, "{shm:?}");
    }

    #[test]
    fn data_lives_where_the_spec_says() {
        assert!(volumes(&spec(json!({}))).unwrap().is_empty());
        let efs = volumes(&spec(json!({"EfsFileSystemId": "fs-0123abcd"}))).unwrap();
        let config = efs[0].efs_volume_configuration().unwrap();
        assert_eq!(
            config.transit_encryption(),
            Some(&EfsTransitEncryption::Enabled)
        );
        let host = volumes(&spec(json!({"HostDataPath": "/srv/pg"}))).unwrap();
        assert_eq!(host[0].host().unwrap().source_path(), Some("/srv/pg"));
        let container =
            container_definition(&spec(json!({"HostDataPath": "/srv/pg"})), "us-east-1").unwrap();
        assert_eq!(
            container.mount_points()[0].container_path(),
            Some(DATA_PATH)
        );
    }

    #[test]
    fn postgres_is_published_only_when_asked() {
        let ports = |extra| {
            container_definition(&spec(extra), "us-east-1")
                .unwrap()
                .port_mappings()
                .iter()
                .map(|m| (m.container_port().unwrap(), m.host_port().unwrap()))
                .collect::<Vec<_>>()
        };
        assert_eq!(ports(json!({})), [(80, 80)]);
        assert_eq!(
            ports(json!({"PostgresHostPort": "5432"})),
            [(80, 80), (POSTGRES_PORT, 5432)]
        );
    }

    const TOKEN: &str = "arn:aws:secretsmanager:us-east-1:111122223333:secret:origin-AbC123";

    #[test]
    fn in_public_mode_only_the_proxy_is_published_and_it_holds_the_token_as_a_secret() {
        let spec = spec(json!({"OriginTokenSecretArn": TOKEN, "PostgresHostPort": "5432"}));
        let containers = container_definitions(&spec, "us-east-1").unwrap();
        let [datero, proxy] = containers.as_slice() else {
            panic!("two containers expected: {containers:?}")
        };
        let published = |container: &ContainerDefinition| {
            container
                .port_mappings()
                .iter()
                .map(|m| (m.container_port().unwrap(), m.host_port().unwrap()))
                .collect::<Vec<_>>()
        };
        assert_eq!(published(datero), [(POSTGRES_PORT, 5432)]);
        assert_eq!(published(proxy), [(8080, 8080)]);
        assert_eq!(proxy.image(), Some(edge::PROXY_IMAGE));
        assert_eq!(proxy.links(), [CONTAINER_NAME]);
        assert_eq!(proxy.essential(), Some(true));
        assert_eq!(proxy.secrets()[0].name(), edge::ORIGIN_TOKEN_VARIABLE);
        assert_eq!(proxy.secrets()[0].value_from(), TOKEN);
        let environment: Vec<_> = proxy
            .environment()
            .iter()
            .map(|pair| (pair.name().unwrap(), pair.value().unwrap()))
            .collect();
        assert_eq!(
            environment,
            [
                (edge::CADDYFILE_VARIABLE, edge::CADDYFILE),
                (edge::UPSTREAM_VARIABLE, "datero:80")
            ]
        );
        let logs = proxy.log_configuration().unwrap().options().unwrap();
        assert_eq!(logs["awslogs-stream-prefix"], edge::PROXY_CONTAINER);
        // Without the token, one container as before.
        let private = container_definitions(&super::tests::spec(json!({})), "us-east-1").unwrap();
        assert_eq!(private.len(), 1);
    }
}
