//! Backups on the emulated stack: the bucket made as template.yaml configures it, the backup and
//! restore task definitions registered as CloudFormation registers them, the schedule's firing
//! played as EventBridge Scheduler makes it (RunTask signed as the schedule's role, IAM
//! enforced), and the stack's list and restore commands run as an operator runs them.
//!
//! No container runs on the emulator. The upload and fetch scripts run here, signed as the task
//! roles, on a stand-in dump; `tests/tests/integration/backup.rs` dumps and restores a real PostgreSQL with
//! the same scripts.

use aws_config::SdkConfig;
use datero_shared::backup;
use serde_json::{Map, Value as Json, json};

use super::progress::Progress;
use super::{cluster_name, running_task, step};
use crate::aws_cli;
use crate::emulator::Emulator;
use crate::iam::Principal;
use crate::template::{Stack, Template};

/// The dump the lifecycle plays the upload with.
const STAND_IN: &str = "-- stand-in: the emulator runs no container; tests/tests/integration/backup.rs dumps a real PostgreSQL\n";

/// The two task definitions the template registers natively.
const TASK_DEFINITIONS: [&str; 2] = ["BackupTaskDefinition", "RestoreTaskDefinition"];

fn operator() -> Principal {
    Principal::unchecked("cloudformation")
}

/// The bucket, with the encryption, public access block, ownership, retention rule and policy
/// the template gives it; plain HTTP must then be refused.
pub async fn make_bucket(
    emulator: &Emulator,
    template: &Template,
    stack: &mut Stack,
    progress: &Progress,
) -> Result<(), String> {
    let name = format!("{}-backupbucket-{:x}", stack.name, std::process::id()).to_lowercase();
    stack.refs.insert("BackupBucket".into(), name.clone());
    stack
        .attributes
        .insert("BackupBucket.Arn".into(), format!("arn:aws:s3:::{name}"));
    let aws = |args: &[&str]| aws_cli::json(emulator, &operator(), args);
    aws(&["s3api", "create-bucket", "--bucket", &name])?;
    let policy = template.properties("BackupBucketPolicy", stack)?;
    let mut settings = bucket_settings(&template.properties("BackupBucket", stack)?);
    settings.push((
        "put-bucket-policy",
        "--policy",
        policy["PolicyDocument"].clone(),
    ));
    for (call, option, value) in settings {
        aws(&["s3api", call, "--bucket", &name, option, &value.to_string()])?;
    }
    // The policy refuses plain HTTP, even to a caller IAM would allow.
    let plain = aws_cli::script(
        emulator,
        &operator(),
        &[("AWS_ENDPOINT_URL".into(), emulator.endpoint().to_owned())],
        &format!("echo x | aws s3 cp - s3://{name}/datero/plain.sql"),
    )?;
    if plain.status.success() || !String::from_utf8_lossy(&plain.stderr).contains("AccessDenied") {
        return Err(format!("the bucket took a plain HTTP upload: {plain:?}"));
    }
    let kept = aws(&[
        "s3api",
        "get-bucket-lifecycle-configuration",
        "--bucket",
        &name,
    ])?;
    progress.event(
        "BackupBucket",
        "CREATE_COMPLETE",
        &format!(
            "{name}: SSE, public access blocked, plain HTTP refused, backups kept {} days",
            kept["Rules"][0]["Expiration"]["Days"]
        ),
    );
    Ok(())
}

/// Each property of a resolved `AWS::S3::Bucket` as the `s3api` call, option and JSON input
/// that applies it (the API's names differ from CloudFormation's here and there).
fn bucket_settings(bucket: &Json) -> Vec<(&'static str, &'static str, Json)> {
    let encryption: Vec<Json> = bucket["BucketEncryption"]["ServerSideEncryptionConfiguration"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|rule| json!({"ApplyServerSideEncryptionByDefault": rule["ServerSideEncryptionByDefault"]}))
        .collect();
    let rules: Vec<Json> = bucket["LifecycleConfiguration"]["Rules"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|rule| {
            let abort = &rule["AbortIncompleteMultipartUpload"]["DaysAfterInitiation"];
            json!({
                "ID": rule["Id"],
                "Status": rule["Status"],
                "Filter": {"Prefix": rule["Prefix"]},
                "Expiration": {"Days": number(&rule["ExpirationInDays"])},
                "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": number(abort)},
            })
        })
        .collect();
    vec![
        (
            "put-bucket-encryption",
            "--server-side-encryption-configuration",
            json!({ "Rules": encryption }),
        ),
        (
            "put-public-access-block",
            "--public-access-block-configuration",
            typed(&bucket["PublicAccessBlockConfiguration"]),
        ),
        (
            "put-bucket-ownership-controls",
            "--ownership-controls",
            bucket["OwnershipControls"].clone(),
        ),
        (
            "put-bucket-lifecycle-configuration",
            "--lifecycle-configuration",
            json!({ "Rules": rules }),
        ),
    ]
}

/// Text CloudFormation sends as `"true"`, `"false"` or digits, as the JSON the APIs take.
fn typed(value: &Json) -> Json {
    match value {
        Json::Object(map) => Json::Object(map.iter().map(|(k, v)| (k.clone(), typed(v))).collect()),
        Json::Array(items) => Json::Array(items.iter().map(typed).collect()),
        Json::String(text) if text == "true" || text == "false" => Json::Bool(text == "true"),
        other => other.clone(),
    }
}

fn number(value: &Json) -> Json {
    value
        .as_str()
        .and_then(|text| text.parse::<i64>().ok())
        .map_or_else(|| value.clone(), Json::from)
}

/// A resolved `AWS::ECS::TaskDefinition`'s properties as RegisterTaskDefinition's input: keys
/// in lower camel case (log driver options are names, kept as they are), flags and sizes typed.
fn register_input(properties: &Json, parent: &str) -> Json {
    match properties {
        Json::Object(map) if parent == "Options" => Json::Object(map.clone()),
        Json::Object(map) => {
            let mut input = Map::new();
            for (key, value) in map {
                let mut chars = key.chars();
                let camel = chars
                    .next()
                    .map(|first| first.to_ascii_lowercase().to_string() + chars.as_str())
                    .unwrap_or_default();
                let value = match key.as_str() {
                    "Essential" | "ReadOnly" => typed(value),
                    "MemoryReservation" | "Memory" | "Cpu" if parent == "ContainerDefinitions" => {
                        number(value)
                    }
                    _ => register_input(value, key),
                };
                input.insert(camel, value);
            }
            Json::Object(input)
        }
        Json::Array(items) => Json::Array(
            items
                .iter()
                .map(|item| register_input(item, parent))
                .collect(),
        ),
        other => other.clone(),
    }
}

/// The backup and restore task definitions registered as CloudFormation registers them, then
/// the backup schedule where the stack has one.
pub async fn register_task_definitions(
    emulator: &Emulator,
    template: &Template,
    stack: &mut Stack,
    progress: &Progress,
) -> Result<(), String> {
    register_revisions(emulator, template, stack, progress)?;
    if template.condition("HasBackupSchedule", stack)? {
        create_schedule(emulator, template, stack, progress)?;
    }
    Ok(())
}

/// A revision of each of the backup and restore task definitions, as the template resolves them
/// now (CloudFormation replaces a task definition whose properties changed: a new revision);
/// returns the revisions they replace.
pub fn register_revisions(
    emulator: &Emulator,
    template: &Template,
    stack: &mut Stack,
    progress: &Progress,
) -> Result<Vec<String>, String> {
    let mut replaced = Vec::new();
    for resource in TASK_DEFINITIONS {
        let input = register_input(&template.properties(resource, stack)?, "");
        let registered = aws_cli::json(
            emulator,
            &operator(),
            &[
                "ecs",
                "register-task-definition",
                "--cli-input-json",
                &input.to_string(),
            ],
        )?;
        let arn = registered["taskDefinition"]["taskDefinitionArn"]
            .as_str()
            .ok_or_else(|| format!("{resource}: no ARN in {registered}"))?
            .to_owned();
        progress.event(resource, "CREATE_COMPLETE", &arn);
        replaced.extend(stack.refs.insert(resource.to_owned(), arn));
    }
    Ok(replaced)
}

/// The schedule's name on the emulator (CloudFormation makes one up from the stack's).
fn schedule_name(stack: &Stack) -> String {
    format!("{}-DateroBackupSchedule", stack.name)
}

/// The backup schedule, created on the emulator from its properties in template.yaml (in the
/// API's casing: the strategy's keys are lower camel case there).
fn create_schedule(
    emulator: &Emulator,
    template: &Template,
    stack: &Stack,
    progress: &Progress,
) -> Result<(), String> {
    let schedule = template.properties("DateroBackupSchedule", stack)?;
    let mut target = schedule["Target"].clone();
    let ecs = &mut target["EcsParameters"];
    ecs["TaskCount"] = number(&ecs["TaskCount"]);
    let strategy: Vec<Json> = ecs["CapacityProviderStrategy"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|item| json!({"capacityProvider": item["CapacityProvider"], "weight": number(&item["Weight"])}))
        .collect();
    ecs["CapacityProviderStrategy"] = Json::Array(strategy);
    for key in ["MaximumRetryAttempts", "MaximumEventAgeInSeconds"] {
        target["RetryPolicy"][key] = number(&target["RetryPolicy"][key]);
    }
    let text = |key: &str| schedule[key].as_str().unwrap_or_default().to_owned();
    aws_cli::json(
        emulator,
        &operator(),
        &[
            "scheduler",
            "create-schedule",
            "--name",
            &schedule_name(stack),
            "--schedule-expression",
            &text("ScheduleExpression"),
            "--schedule-expression-timezone",
            &text("ScheduleExpressionTimezone"),
            "--flexible-time-window",
            "Mode=OFF",
            "--target",
            &target.to_string(),
        ],
    )?;
    progress.event(
        "DateroBackupSchedule",
        "CREATE_COMPLETE",
        &format!(
            "{} ({})",
            text("ScheduleExpression"),
            text("ScheduleExpressionTimezone")
        ),
    );
    Ok(())
}

/// CloudFormation deregisters them with the stack.
pub async fn deregister_task_definitions(
    emulator: &Emulator,
    stack: &Stack,
    progress: &Progress,
) -> Result<(), String> {
    let current: Vec<String> = TASK_DEFINITIONS
        .iter()
        .map(|resource| stack.refs[*resource].clone())
        .collect();
    deregister(emulator, &current, progress)
}

/// Deregisters these backup or restore revisions (CloudFormation's clean-up of replaced ones,
/// or the stack's delete).
pub fn deregister(emulator: &Emulator, arns: &[String], progress: &Progress) -> Result<(), String> {
    for arn in arns {
        aws_cli::json(
            emulator,
            &operator(),
            &[
                "ecs",
                "deregister-task-definition",
                "--task-definition",
                arn,
            ],
        )?;
        progress.event("one-off task definition", "DELETE_COMPLETE", arn);
    }
    Ok(())
}

/// Backups: the schedule starts the backup task, its upload stores a dump and the outputs'
/// commands list it and start a restore that fetches it. Without a schedule, nothing fires.
pub async fn backup_and_restore(
    emulator: &Emulator,
    config: &SdkConfig,
    template: &Template,
    stack: &Stack,
    progress: &Progress,
) -> Result<(), String> {
    if !template.condition("HasBackupSchedule", stack)? {
        progress.event("DateroBackupSchedule", "SKIPPED", "BackupSchedule is empty");
        return Ok(());
    }
    let datero_task = running_task(config, stack).await?;
    let datero_task = datero_task.as_str();
    step(
        progress,
        "the backup schedule starts the backup task through the capacity provider, beside Datero",
        scheduled_backup(emulator, config, template, stack, datero_task, progress),
    )
    .await?;
    let key = step(
        progress,
        "the backup's upload stores the dump in the bucket; ListBackupsCommand lists it",
        upload_and_list(emulator, template, stack, progress),
    )
    .await?;
    step(
        progress,
        "RestoreCommand starts the restore task; its fetch brings that backup back",
        restore(emulator, template, stack, &key, progress),
    )
    .await
    .map(|_| ())?;
    // Both tasks are left RUNNING: deleting the stack must stop them (the cluster function
    // stops every task of the cluster).
    Ok(())
}

/// A backup by hand, as the README's major upgrade starts: `BackupNowCommand` run as an operator
/// starts the backup task; its upload stores the dump. Returns the backup's key.
pub async fn backup_now(
    emulator: &Emulator,
    template: &Template,
    stack: &Stack,
    progress: &Progress,
) -> Result<String, String> {
    let command = output_command(template, stack, "BackupNowCommand")?;
    let answer = run_task_command(emulator, "BackupNowCommand", &command)?;
    let arn = answer["tasks"][0]["taskArn"].as_str().unwrap_or_default();
    progress.event("BackupNowCommand", "RUN_TASK", arn);
    let key = upload_and_list(emulator, template, stack, progress).await?;
    finished(emulator, stack, arn).await;
    Ok(key)
}

/// A one-off task whose containers have done their work: it stops, as ECS stops a task whose
/// essential containers have exited (here with 0).
async fn finished(emulator: &Emulator, stack: &Stack, arn: &str) {
    let cluster = &stack.attributes["Cluster.ClusterName"];
    emulator
        .crash_task(cluster, arn, 0, std::time::Duration::from_secs(5))
        .await;
}

/// The schedule fires: the backup task runs through the capacity provider, beside Datero.
async fn scheduled_backup(
    emulator: &Emulator,
    config: &SdkConfig,
    template: &Template,
    stack: &Stack,
    datero_task: &str,
    progress: &Progress,
) -> Result<(), String> {
    let task = run_as_scheduler(emulator, template, stack).await?;
    let arn = task.task_arn().unwrap_or_default().to_owned();
    let provider = stack.attributes["Cluster.CapacityProviderName"].as_str();
    progress.event(
        "DateroBackupSchedule",
        "FIRED",
        &format!(
            "{arn} on {}",
            task.capacity_provider_name()
                .unwrap_or("no capacity provider")
        ),
    );
    if task.capacity_provider_name() != Some(provider) {
        return Err(format!("the backup task is not on {provider}: {task:?}"));
    }
    // One instance in the group: the backup runs where Datero runs, so 127.0.0.1 reaches it.
    let described = aws_sdk_ecs::Client::new(config)
        .describe_tasks()
        .cluster(cluster_name(stack))
        .tasks(&arn)
        .tasks(datero_task)
        .send()
        .await
        .map_err(|e| format!("DescribeTasks: {e}"))?;
    let instances: Vec<Option<&str>> = described
        .tasks()
        .iter()
        .map(|t| t.container_instance_arn())
        .collect();
    match instances.as_slice() {
        [Some(a), Some(b)] if a == b => Ok(()),
        other => Err(format!(
            "the backup task and Datero are not on one instance: {other:?}"
        )),
    }
}

/// Plays EventBridge Scheduler: RunTask with the schedule's ECS parameters, signed as its role.
async fn run_as_scheduler(
    emulator: &Emulator,
    template: &Template,
    stack: &Stack,
) -> Result<aws_sdk_ecs::types::Task, String> {
    let stored = aws_cli::json(
        emulator,
        &operator(),
        &["scheduler", "get-schedule", "--name", &schedule_name(stack)],
    )?;
    let target = &stored["Target"];
    let parameters = &target["EcsParameters"];
    // Scheduler signs as the schedule's role.
    let role = Principal::of_role(template, stack, "BackupSchedulerRole", "scheduler")?;
    let role_arn = &stack.attributes["BackupSchedulerRole.Arn"];
    if target["RoleArn"].as_str() != Some(role_arn) {
        return Err(format!("the schedule's role is not {role_arn}: {target}"));
    }
    emulator.enforce_iam(&role).await;
    let whole = |value: &Json| {
        number(value)
            .as_i64()
            .and_then(|n| i32::try_from(n).ok())
            .unwrap_or(1)
    };
    let mut run = aws_sdk_ecs::Client::new(&emulator.sdk_config_as(&role).await)
        .run_task()
        .cluster(target["Arn"].as_str().unwrap_or_default())
        .task_definition(parameters["TaskDefinitionArn"].as_str().unwrap_or_default())
        .count(whole(&parameters["TaskCount"]));
    for item in parameters["CapacityProviderStrategy"]
        .as_array()
        .into_iter()
        .flatten()
    {
        run = run.capacity_provider_strategy(
            aws_sdk_ecs::types::CapacityProviderStrategyItem::builder()
                .capacity_provider(item["capacityProvider"].as_str().unwrap_or_default())
                .weight(whole(&item["weight"]))
                .build()
                .map_err(|e| e.to_string())?,
        );
    }
    let started = run
        .send()
        .await
        .map_err(|e| format!("RunTask as the schedule's role: {e}"))?;
    started
        .tasks()
        .first()
        .cloned()
        .ok_or_else(|| format!("RunTask started no task: {:?}", started.failures()))
}

/// Plays the backup task's upload container (signed as the backup task's role) on a stand-in
/// dump, then runs ListBackupsCommand; returns the stored key.
async fn upload_and_list(
    emulator: &Emulator,
    template: &Template,
    stack: &Stack,
    progress: &Progress,
) -> Result<String, String> {
    let role = Principal::of_role(template, stack, "BackupTaskRole", "backup-task")?;
    emulator.enforce_iam(&role).await;
    let dir = std::env::temp_dir().join(format!("datero-lifecycle-backup-{}", std::process::id()));
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    let file = dir.join("datero.sql");
    std::fs::write(&file, STAND_IN).map_err(|e| e.to_string())?;
    let mut env = aws_cli::container_env(
        template,
        stack,
        "BackupTaskDefinition",
        backup::UPLOAD_CONTAINER,
    )?;
    env.push(("BACKUP_FILE".into(), file.display().to_string()));
    let upload = aws_cli::script(emulator, &role, &env, backup::UPLOAD_SCRIPT)?;
    std::fs::remove_dir_all(&dir).ok();
    let said = String::from_utf8_lossy(&upload.stdout).trim().to_owned();
    if !upload.status.success() {
        return Err(format!(
            "upload: {said} {}",
            String::from_utf8_lossy(&upload.stderr)
        ));
    }
    progress.event("upload", "EXITED 0", &said);
    let list = output_command(template, stack, "ListBackupsCommand")?;
    let listed = aws_cli::script(emulator, &operator(), &[], &list)?;
    let listing = String::from_utf8_lossy(&listed.stdout).trim().to_owned();
    progress.event("ListBackupsCommand", "LISTED", &listing);
    // The key the upload says it stored (the listing also holds earlier backups and the states
    // restores replaced), which the listing must show.
    let key = said
        .rsplit_once("backup stored: s3://")
        .and_then(|(_, stored)| stored.split_once('/'))
        .map(|(_, key)| key.to_owned())
        .ok_or_else(|| format!("the upload did not say where it stored the dump: {said:?}"))?;
    let name = key.strip_prefix(backup::BACKUP_PREFIX).unwrap_or(&key);
    if !listing.split_whitespace().any(|listed| listed == name) {
        return Err(format!(
            "ListBackupsCommand does not list {key}: {listing:?}"
        ));
    }
    Ok(key)
}

/// Runs RestoreCommand with `key`, checks the task it starts, and plays its fetch container.
async fn restore(
    emulator: &Emulator,
    template: &Template,
    stack: &Stack,
    key: &str,
    progress: &Progress,
) -> Result<String, String> {
    let task = run_restore_command(emulator, template, stack, key)?;
    let arn = task["taskArn"].as_str().unwrap_or_default().to_owned();
    progress.event(
        "RestoreCommand",
        "RUN_TASK",
        &format!("{arn} with BACKUP_KEY={key}"),
    );
    let role = Principal::of_role(template, stack, "RestoreTaskRole", "restore-task")?;
    emulator.enforce_iam(&role).await;
    let dir = std::env::temp_dir().join(format!("datero-lifecycle-restore-{}", std::process::id()));
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    let file = dir.join("datero.sql");
    // The keep-dump's dump of the state the restore replaces, which the fetch stores first.
    let kept = dir.join("before-restore.sql");
    std::fs::write(&kept, STAND_IN).map_err(|e| e.to_string())?;
    let mut env = aws_cli::container_env(
        template,
        stack,
        "RestoreTaskDefinition",
        backup::FETCH_CONTAINER,
    )?;
    // The run-task override, as ECS applies it.
    env.retain(|(name, _)| name != "BACKUP_KEY");
    env.push(("BACKUP_KEY".into(), key.to_owned()));
    env.push(("BACKUP_FILE".into(), file.display().to_string()));
    env.push(("BEFORE_RESTORE_FILE".into(), kept.display().to_string()));
    let fetch = aws_cli::script(emulator, &role, &env, backup::FETCH_SCRIPT)?;
    let fetched = std::fs::read_to_string(&file).unwrap_or_default();
    std::fs::remove_dir_all(&dir).ok();
    if !fetch.status.success() || !fetched.starts_with(STAND_IN) {
        return Err(format!("fetch: {}", String::from_utf8_lossy(&fetch.stderr)));
    }
    progress.event(
        "fetch",
        "EXITED 0",
        String::from_utf8_lossy(&fetch.stdout).trim(),
    );
    Ok(arn)
}

/// The stack's RestoreCommand output with `key` in place of KEY, run as an operator; the task
/// it started, checked: through the cluster's capacity provider, with BACKUP_KEY on `fetch`.
fn run_restore_command(
    emulator: &Emulator,
    template: &Template,
    stack: &Stack,
    key: &str,
) -> Result<Json, String> {
    let command = output_command(template, stack, "RestoreCommand")?
        .replace("\"value\":\"KEY\"", &format!("\"value\":\"{key}\""));
    let answer = run_task_command(emulator, "RestoreCommand", &command)?;
    let task = answer["tasks"][0].clone();
    let provider = &stack.attributes["Cluster.CapacityProviderName"];
    if task["capacityProviderName"].as_str() != Some(provider) {
        return Err(format!(
            "the restore task did not use the cluster's capacity provider: {task}"
        ));
    }
    let fetch = &task["overrides"]["containerOverrides"][0];
    if fetch["name"] != backup::FETCH_CONTAINER || fetch["environment"][0]["value"] != key {
        return Err(format!(
            "the restore task does not carry BACKUP_KEY={key}: {fetch}"
        ));
    }
    Ok(task)
}

/// An `aws ecs run-task` command of the stack's outputs (`output`), run as an operator; RunTask's
/// answer.
fn run_task_command(emulator: &Emulator, output: &str, command: &str) -> Result<Json, String> {
    let started = aws_cli::script(
        emulator,
        &operator(),
        &[],
        &format!("{command} --output json"),
    )?;
    serde_json::from_slice(&started.stdout)
        .map_err(|_| format!("{output}: {}", String::from_utf8_lossy(&started.stderr)))
}

/// An output of the template, resolved for the stack: a command for the operator.
fn output_command(template: &Template, stack: &Stack, output: &str) -> Result<String, String> {
    template
        .resolve(&template.yaml()["Outputs"][output]["Value"], stack)?
        .and_then(|value| value.as_str().map(str::to_owned))
        .ok_or_else(|| format!("no output {output}"))
}

/// The bucket outlives the stack, as the data does.
pub async fn bucket_is_kept(emulator: &Emulator, stack: &Stack) -> Result<(), String> {
    let name = &stack.refs["BackupBucket"];
    aws_cli::json(
        emulator,
        &operator(),
        &["s3api", "head-bucket", "--bucket", name],
    )
    .map(|_| ())
    .map_err(|error| format!("the backup bucket {name} was not kept: {error}"))
}
