//! The AWS CLI (the test venv's), as the backup and restore tasks and their operators run it,
//! pointed at the emulator. A task's calls are signed with its role's key, which the emulator
//! authorizes as AWS would once registered ([`crate::emulator::Emulator::enforce_iam`]).

use std::process::{Command, Output};

use serde_json::Value;

use crate::emulator::Emulator;
use crate::iam::Principal;

/// Runs `script` with `sh` as a container would: only `env` (a task definition's variables)
/// and the CLI's configuration, signing as `principal`.
pub fn script(
    emulator: &Emulator,
    principal: &Principal,
    env: &[(String, String)],
    script: &str,
) -> Result<Output, String> {
    Command::new("sh")
        .args(["-c", script])
        .env_clear()
        // No Region from the test bed: a container has only what its task definition gives it.
        .envs(emulator.task_cli_env_as(principal))
        .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .output()
        .map_err(|error| format!("sh: {error}"))
}

/// `aws <args> --output json` as `principal`; the parsed answer (`Null` when it prints none).
pub fn json(emulator: &Emulator, principal: &Principal, args: &[&str]) -> Result<Value, String> {
    let output = Command::new("aws")
        .args(args)
        .args(["--output", "json"])
        .env_clear()
        .envs(emulator.aws_cli_env_as(principal))
        .output()
        .map_err(|error| format!("aws: {error}"))?;
    if !output.status.success() {
        return Err(format!(
            "aws {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&output.stderr).trim()
        ));
    }
    Ok(serde_json::from_slice(&output.stdout).unwrap_or(Value::Null))
}

/// The environment of container `container` of task definition `task` in `template`, resolved
/// for `stack`, as (name, value) pairs.
pub fn container_env(
    template: &crate::template::Template,
    stack: &crate::template::Stack,
    task: &str,
    container: &str,
) -> Result<Vec<(String, String)>, String> {
    let definitions = template
        .resolve(
            &template.resource(task)["Properties"]["ContainerDefinitions"],
            stack,
        )?
        .unwrap_or_default();
    let definition = definitions
        .as_array()
        .into_iter()
        .flatten()
        .find(|c| c["Name"] == container)
        .ok_or_else(|| format!("{task} has no container {container}"))?;
    Ok(definition["Environment"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|pair| {
            let text = |key: &str| pair[key].as_str().unwrap_or_default().to_owned();
            (text("Name"), text("Value"))
        })
        .collect())
}
