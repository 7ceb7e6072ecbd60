//! `Custom::DateroTaskDefinition`: one revision of Datero's task definition.

use std::collections::BTreeMap;

use serde_json::Value;

use super::names::{self, invalid};
use crate::error::PropertyError;
use crate::properties::Properties;

/// Every property the resource accepts.
pub const ACCEPTED: [&str; 16] = [
    "Family",
    "Image",
    "Cpu",
    "Memory",
    "HostPort",
    "PostgresHostPort",
    "PasswordSecretArn",
    "ExecutionRoleArn",
    "TaskRoleArn",
    "LogGroupName",
    "EfsFileSystemId",
    "HostDataPath",
    "Environment",
    "OriginTokenSecretArn",
    "EdgeProxyImage",
    "DataDirectory",
];

/// The environment variable the password secret fills; no other source may set it.
pub const PASSWORD_VARIABLE: &str = "POSTGRES_PASSWORD";

/// Where PostgreSQL keeps its data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Persistence {
    /// On an EFS file system, with encryption in transit.
    Efs { file_system_id: String },
    /// On the instance's disk at this path.
    HostPath { path: String },
    /// In the container: lost when the task stops.
    Ephemeral,
}

/// What the user asked for, defaults applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskDefinitionSpec {
    pub family: String,
    pub image: String,
    pub cpu: i32,
    pub memory: i32,
    pub host_port: i32,
    /// Publishes PostgreSQL (container port 5432) on this port of the instance, for the backup
    /// and restore tasks; `None` keeps PostgreSQL inside the container.
    pub postgres_host_port: Option<i32>,
    pub password_secret_arn: String,
    pub execution_role_arn: String,
    pub task_role_arn: Option<String>,
    pub log_group_name: Option<String>,
    pub persistence: Persistence,
    /// The folder of the data volume that holds PostgreSQL's data; `None`: the volume itself.
    /// A new folder starts an empty PostgreSQL there, which is how a new PostgreSQL major gets
    /// a directory of its own (`postgres_major`).
    pub data_directory: Option<String>,
    /// Extra variables, never [`PASSWORD_VARIABLE`].
    pub environment: BTreeMap<String, String>,
    /// Public mode through CloudFront: a proxy in front of Datero, whose own port is then not
    /// published on the instance (`shared::edge`).
    pub edge_proxy: Option<EdgeProxy>,
}

/// The proxy container of public mode.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EdgeProxy {
    pub image: String,
    /// The secret whose whole string is the origin token CloudFront sends.
    pub origin_token_secret_arn: String,
}

/// `Image`, read raw: an empty one is a mistake to report, not "use the default".
fn image(raw: Option<&Value>) -> Result<String, PropertyError> {
    match raw {
        None => Ok("chumaky/datero:latest".to_owned()),
        Some(Value::String(image))
            if !image.is_empty() && !image.chars().any(char::is_whitespace) =>
        {
            Ok(image.clone())
        }
        Some(other) => {
            let text = other
                .as_str()
                .map_or_else(|| other.to_string(), str::to_owned);
            Err(invalid(
                "Image",
                "a container image reference such as chumaky/datero:1.2.0",
                &text,
            ))
        }
    }
}

impl TaskDefinitionSpec {
    /// Strict parse for Create and Update.
    pub fn parse(properties: &Value) -> Result<Self, PropertyError> {
        let props = Properties::strict(properties, &ACCEPTED)?;
        let family = props
            .string("Family")?
            .unwrap_or_else(|| "datero".to_owned());
        names::ecs_name("Family", &family)?;
        let image = image(props.raw("Image"))?;
        let cpu = props.integer("Cpu", 128..=10240)?.unwrap_or(1024);
        let memory = props.integer("Memory", 512..=245_760)?.unwrap_or(1536);
        let edge_proxy = edge_proxy(&props)?;
        let (host_port, postgres_host_port) = host_ports(&props, edge_proxy.is_some())?;
        let password_secret_arn = props.required_string(
            "PasswordSecretArn",
            "the ARN of the Secrets Manager secret holding the password",
        )?;
        names::arn(
            "PasswordSecretArn",
            &password_secret_arn,
            "secretsmanager",
            "secret:",
        )?;
        let execution_role_arn =
            props.required_string("ExecutionRoleArn", "the ARN of the task execution role")?;
        names::arn("ExecutionRoleArn", &execution_role_arn, "iam", "role/")?;
        let task_role_arn = props.string("TaskRoleArn")?;
        if let Some(arn) = &task_role_arn {
            names::arn("TaskRoleArn", arn, "iam", "role/")?;
        }
        let log_group_name = props.string("LogGroupName")?;
        log_group_name.as_deref().map(log_group).transpose()?;
        let persistence = persistence(
            props.string("EfsFileSystemId")?,
            props.string("HostDataPath")?,
        )?;
        let data_directory = props.string("DataDirectory")?;
        data_directory.as_deref().map(folder_name).transpose()?;
        let environment = props.string_map("Environment")?.unwrap_or_default();
        environment_names(&environment)?;
        Ok(Self {
            family,
            image,
            cpu: to_i32(cpu),
            memory: to_i32(memory),
            host_port: to_i32(host_port),
            postgres_host_port: postgres_host_port.map(to_i32),
            password_secret_arn,
            execution_role_arn,
            task_role_arn,
            log_group_name,
            persistence,
            data_directory,
            environment,
            edge_proxy,
        })
    }

    /// PGDATA: the data volume's mount point, or the folder `DataDirectory` names in it.
    pub fn pgdata(&self) -> String {
        match &self.data_directory {
            Some(folder) => format!("{}/{folder}", crate::image::DATA_PATH),
            None => crate::image::DATA_PATH.to_owned(),
        }
    }
}

/// `DataDirectory`: one folder name (no path), as the template's parameter allows.
fn folder_name(name: &str) -> Result<(), PropertyError> {
    let fits = (1..=64).contains(&name.len()) && names::name_chars(name);
    if fits {
        Ok(())
    } else {
        Err(invalid(
            "DataDirectory",
            "one folder name of 1 to 64 letters, digits, '-' or '_' (such as pg17), or empty for the volume itself",
            name,
        ))
    }
}

/// `HostPort` (none behind the edge proxy, which holds its own port) and `PostgresHostPort`,
/// which must not take the web's port.
fn host_ports(
    props: &Properties<'_>,
    behind_proxy: bool,
) -> Result<(i64, Option<i64>), PropertyError> {
    let given_host_port = props.integer("HostPort", 1..=65535)?;
    if given_host_port.is_some() && behind_proxy {
        return Err(PropertyError::Conflict {
            first: "HostPort".to_owned(),
            second: "OriginTokenSecretArn".to_owned(),
            why: format!(
                "behind CloudFront only the proxy's port {} is published; Datero's is not",
                crate::edge::PROXY_PORT
            ),
        });
    }
    let host_port = given_host_port.unwrap_or(80);
    let (web_port, holder) = if behind_proxy {
        let port = i64::from(crate::edge::PROXY_PORT);
        (port, format!("{port}, which the edge proxy holds"))
    } else {
        (
            host_port,
            format!("HostPort ({host_port}), which the web UI holds"),
        )
    };
    let postgres_host_port = props.integer("PostgresHostPort", 1..=65535)?;
    if postgres_host_port == Some(web_port) {
        return Err(PropertyError::Invalid {
            name: "PostgresHostPort".to_owned(),
            expected: format!("a port other than {holder}"),
            found: format!("\"{web_port}\""),
        });
    }
    Ok((host_port, postgres_host_port))
}

/// `OriginTokenSecretArn` turns the proxy on; `EdgeProxyImage` only chooses its image.
fn edge_proxy(props: &Properties<'_>) -> Result<Option<EdgeProxy>, PropertyError> {
    let token = props.string("OriginTokenSecretArn")?;
    let image = props.string("EdgeProxyImage")?;
    let Some(origin_token_secret_arn) = token else {
        return match image {
            Some(_) => Err(PropertyError::Missing {
                name: "OriginTokenSecretArn".to_owned(),
                expected: "the origin token's secret ARN, which EdgeProxyImage needs".to_owned(),
            }),
            None => Ok(None),
        };
    };
    names::arn(
        "OriginTokenSecretArn",
        &origin_token_secret_arn,
        "secretsmanager",
        "secret:",
    )?;
    let image = image.unwrap_or_else(|| crate::edge::PROXY_IMAGE.to_owned());
    if image.chars().any(char::is_whitespace) {
        return Err(invalid(
            "EdgeProxyImage",
            "a container image reference such as public.ecr.aws/docker/library/caddy:2.10-alpine",
            &image,
        ));
    }
    Ok(Some(EdgeProxy {
        image,
        origin_token_secret_arn,
    }))
}

fn to_i32(value: i64) -> i32 {
    // Ranges above keep every value well inside i32.
    i32::try_from(value).unwrap_or(i32::MAX)
}

fn persistence(
    efs: Option<String>,
    host_path: Option<String>,
) -> Result<Persistence, PropertyError> {
    match (efs, host_path) {
        (Some(_), Some(_)) => Err(PropertyError::Conflict {
            first: "EfsFileSystemId".to_owned(),
            second: "HostDataPath".to_owned(),
            why: "PostgreSQL's data lives in one place; choose EFS or a path on the instance"
                .to_owned(),
        }),
        (Some(id), None) => {
            let hex = id.strip_prefix("fs-").unwrap_or("");
            if (8..=17).contains(&hex.len()) && hex.chars().all(|c| c.is_ascii_hexdigit()) {
                Ok(Persistence::Efs { file_system_id: id })
            } else {
                Err(invalid(
                    "EfsFileSystemId",
                    "an EFS file system id like fs-0123456789abcdef0",
                    &id,
                ))
            }
        }
        (None, Some(path)) => {
            if path.starts_with('/') && path != "/" && !path.split('/').any(|part| part == "..") {
                Ok(Persistence::HostPath { path })
            } else {
                Err(invalid(
                    "HostDataPath",
                    "an absolute path on the instance such as /var/lib/datero",
                    &path,
                ))
            }
        }
        (None, None) => Ok(Persistence::Ephemeral),
    }
}

fn log_group(name: &str) -> Result<(), PropertyError> {
    let fits = name.len() <= 512
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '/' | '.' | '#'));
    if fits {
        Ok(())
    } else {
        Err(invalid(
            "LogGroupName",
            "a CloudWatch Logs group name (letters, digits, _-/.#)",
            name,
        ))
    }
}

fn environment_names(environment: &BTreeMap<String, String>) -> Result<(), PropertyError> {
    for name in environment.keys() {
        if name == crate::image::DATA_PATH_VARIABLE {
            return Err(PropertyError::Invalid {
                name: format!("Environment.{name}"),
                expected: format!(
                    "no PGDATA: the data directory is fixed at {}, where the data volume is mounted",
                    crate::image::DATA_PATH
                ),
                found: format!("{:?}", environment[name]),
            });
        }
        if name.eq_ignore_ascii_case(PASSWORD_VARIABLE) {
            return Err(PropertyError::Invalid {
                name: format!("Environment.{name}"),
                expected: "no POSTGRES_PASSWORD: it comes only from PasswordSecretArn".to_owned(),
                found: "a plaintext value (not shown)".to_owned(),
            });
        }
        let valid = name
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
            && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
        if !valid {
            return Err(invalid(
                "Environment",
                "variable names of letters, digits and underscores",
                name,
            ));
        }
    }
    Ok(())
}

/// The attributes the resource returns (`Fn::GetAtt`), as `Custom::DateroTaskDefinition` answers them.
pub mod returned {
    pub const TASK_DEFINITION_ARN: &str = "TaskDefinitionArn";
    pub const FAMILY: &str = "Family";
    pub const REVISION: &str = "Revision";
    /// Every one of them.
    pub const ALL: &[&str] = &[TASK_DEFINITION_ARN, FAMILY, REVISION];
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const SECRET: &str = "arn:aws:secretsmanager:us-east-1:111122223333:secret:datero-pw-AbC123";
    const ROLE: &str = "arn:aws:iam::111122223333:role/datero-exec";

    fn minimal() -> Value {
        json!({"PasswordSecretArn": SECRET, "ExecutionRoleArn": ROLE})
    }

    fn with(key: &str, value: Value) -> Value {
        let mut properties = minimal();
        properties[key] = value;
        properties
    }

    #[test]
    fn defaults_follow_the_contract() {
        let spec = TaskDefinitionSpec::parse(&minimal()).unwrap();
        assert_eq!(spec.family, "datero");
        assert_eq!(spec.image, "chumaky/datero:latest");
        assert_eq!((spec.cpu, spec.memory, spec.host_port), (1024, 1536, 80));
        assert_eq!(spec.postgres_host_port, None);
        assert_eq!(spec.persistence, Persistence::Ephemeral);
        assert!(spec.environment.is_empty());
    }

    #[test]
    #[expect(
        clippy::too_many_lines,
        reason = "a table of bad inputs and the reason each must get"
    )]
    fn every_bad_property_is_named() {
        let cases = [
            (
                json!({"ExecutionRoleArn": ROLE}),
                "property PasswordSecretArn is required: expected the ARN of the Secrets Manager secret holding the password",
            ),
            (
                json!({"PasswordSecretArn": SECRET}),
                "property ExecutionRoleArn is required: expected the ARN of the task execution role",
            ),
            (
                with("Cpu", json!("64")),
                "property Cpu is invalid: expected a whole number from 128 to 10240, got \"64\"",
            ),
            (
                with("Memory", json!(256)),
                "property Memory is invalid: expected a whole number from 512 to 245760, got 256",
            ),
            (
                with("HostPort", json!("70000")),
                "property HostPort is invalid: expected a whole number from 1 to 65535, got \"70000\"",
            ),
            (
                with("PostgresHostPort", json!("0")),
                "property PostgresHostPort is invalid: expected a whole number from 1 to 65535, got \"0\"",
            ),
            (
                with("PostgresHostPort", json!("80")),
                "property PostgresHostPort is invalid: expected a port other than HostPort (80), which the web UI holds, got \"80\"",
            ),
            (
                with("Image", json!("")),
                "property Image is invalid: expected a container image reference such as chumaky/datero:1.2.0, got \"\"",
            ),
            (
                with("PasswordSecretArn", json!("my-secret")),
                "property PasswordSecretArn is invalid: expected an ARN like arn:aws:secretsmanager:<region>:<account>:secret:<name>, got \"my-secret\"",
            ),
            (
                with("ExecutionRoleArn", json!(SECRET)),
                "property ExecutionRoleArn is invalid: expected an ARN like arn:aws:iam::<account>:role/<name>",
            ),
            (
                with("EfsFileSystemId", json!("efs-1")),
                "property EfsFileSystemId is invalid",
            ),
            (
                with("HostDataPath", json!("data")),
                "property HostDataPath is invalid",
            ),
            (
                with("Environment", json!({"PGDATA": "/elsewhere"})),
                "property Environment.PGDATA is invalid: expected no PGDATA: the data directory is fixed at /var/lib/postgresql/data, where the data volume is mounted, got \"/elsewhere\"",
            ),
            (
                with("Environment", json!({"POSTGRES_PASSWORD": "hunter2"})),
                "property Environment.POSTGRES_PASSWORD is invalid: expected no POSTGRES_PASSWORD: it comes only from PasswordSecretArn, got a plaintext value (not shown)",
            ),
            (
                with("Family", json!("bad family")),
                "property Family is invalid",
            ),
        ];
        for (properties, expected) in cases {
            let error = TaskDefinitionSpec::parse(&properties)
                .unwrap_err()
                .to_string();
            assert!(
                error.starts_with(expected),
                "{error}\n  expected: {expected}"
            );
            assert!(!error.contains("hunter2"));
        }
    }

    #[test]
    fn efs_and_host_path_exclude_each_other() {
        let mut properties = with("EfsFileSystemId", json!("fs-0123456789abcdef0"));
        properties["HostDataPath"] = json!("/var/lib/datero");
        let error = TaskDefinitionSpec::parse(&properties)
            .unwrap_err()
            .to_string();
        assert!(
            error.starts_with("properties EfsFileSystemId and HostDataPath cannot both be set"),
            "{error}"
        );
    }

    const TOKEN: &str = "arn:aws:secretsmanager:us-east-1:111122223333:secret:origin-AbC123";

    #[test]
    fn the_origin_token_turns_the_edge_proxy_on_and_datero_s_port_off() {
        let spec = TaskDefinitionSpec::parse(&with("OriginTokenSecretArn", json!(TOKEN))).unwrap();
        assert_eq!(
            spec.edge_proxy,
            Some(EdgeProxy {
                image: crate::edge::PROXY_IMAGE.to_owned(),
                origin_token_secret_arn: TOKEN.to_owned()
            })
        );
        let behind_proxy = |extra: Value| {
            let mut properties = with("OriginTokenSecretArn", json!(TOKEN));
            for (key, value) in extra.as_object().unwrap() {
                properties[key] = value.clone();
            }
            properties
        };
        let cases = [
            (
                behind_proxy(json!({"HostPort": "80"})),
                "properties HostPort and OriginTokenSecretArn cannot both be set: behind CloudFront only the proxy's port 8080 is published",
            ),
            (
                behind_proxy(json!({"PostgresHostPort": "8080"})),
                "property PostgresHostPort is invalid: expected a port other than 8080, which the edge proxy holds",
            ),
            (
                behind_proxy(json!({"EdgeProxyImage": "caddy latest"})),
                "property EdgeProxyImage is invalid",
            ),
            (
                with("EdgeProxyImage", json!("caddy:2")),
                "property OriginTokenSecretArn is required",
            ),
            (
                with("OriginTokenSecretArn", json!("token")),
                "property OriginTokenSecretArn is invalid",
            ),
        ];
        for (properties, expected) in cases {
            let error = TaskDefinitionSpec::parse(&properties)
                .unwrap_err()
                .to_string();
            assert!(
                error.starts_with(expected),
                "{error}\n  expected: {expected}"
            );
        }
    }

    #[test]
    fn persistence_and_environment_are_read() {
        let spec =
            TaskDefinitionSpec::parse(&with("EfsFileSystemId", json!("fs-0123abcd"))).unwrap();
        assert_eq!(
            spec.persistence,
            Persistence::Efs {
                file_system_id: "fs-0123abcd".into()
            }
        );
        let spec =
            TaskDefinitionSpec::parse(&with("Environment", json!("{\"DATERO_MODE\":\"demo\"}")))
                .unwrap();
        assert_eq!(
            spec.environment.get("DATERO_MODE").map(String::as_str),
            Some("demo")
        );
    }
}
