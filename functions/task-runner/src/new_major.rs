//! Moving Datero to a new PostgreSQL major: the previous revision dumps the data, the new one
//! starts on a fresh folder of the data volume, the dump is restored into it
//! (`datero_shared::data_directory` decides and names; this module acts, timing each step).
//!
//! Whatever fails, the old data is never touched: until the restore has succeeded, a failure
//! stops what runs on the new folder, puts the cluster's mark back and starts the previous
//! revision on the old data again.

use std::time::Duration;

use aws_sdk_ecs::types::{Task, TaskDefinition};
use datero_shared::ResourceError;
use datero_shared::backup::{FETCH_CONTAINER, UPLOAD_CONTAINER};
use datero_shared::custom_resource::CustomResourceRequest;
use datero_shared::data_directory::{self, Move, Steps};
use datero_shared::ecs_tasks::{self, RunTask};
use datero_shared::error::AfterFailedMove;
use datero_shared::postgres_major::MajorMismatch;
use datero_shared::readiness;
use datero_shared::resources::task::TaskSpec;
use tokio::time::Instant;
use tracing::{info, warn};

use crate::rollout::{start, stop_and_wait};
use crate::{Context, log_tail, wait};

/// The variable the backup task's upload and the restore task's fetch take the dump's key from.
const BACKUP_KEY_VARIABLE: &str = "BACKUP_KEY";

/// A move under way: the request, the two revisions, what was decided, and where the data was.
pub struct Moving<'a> {
    pub request: &'a CustomResourceRequest,
    pub spec: &'a TaskSpec,
    pub previous: &'a TaskSpec,
    pub change: &'a Move,
    /// The data folder the previous revision runs on (the cluster's mark before the move).
    pub old_folder: Option<&'a str>,
    /// No wait goes past this.
    pub limit: Instant,
}

/// Kept back from the limit for going back after a failure (the new task's clean stop, within
/// PostgreSQL's stop timeout, and the previous revision's start): at most this, and a quarter of
/// the time left when a wait begins under a shorter deadline.
const GOING_BACK: Duration = Duration::from_secs(90);

impl Moving<'_> {
    /// Where the move's own waits stop, so that going back still has its share.
    fn work_limit(&self) -> Instant {
        let now = Instant::now();
        let left = self.limit.saturating_duration_since(now);
        now + left.saturating_sub(GOING_BACK.min(left / 4))
    }
}

/// Dump with the previous revision, start the new one on its own folder, restore: Datero's
/// task on the new major, with its data. The new task that PostgreSQL refused has stopped.
pub async fn move_data(
    moving: &Moving<'_>,
    clients: &Context,
) -> Result<(Task, String), ResourceError> {
    let Moving { spec, change, .. } = moving;
    let Some((backup, restore)) = spec.backup_and_restore.as_ref() else {
        // (decide() moves only with both task definitions.)
        return Err(ResourceError::OtherMajor(MajorMismatch {
            data: change.from,
            server: change.to,
        }));
    };
    let (from, to) = (change.from, change.to);
    info!(decision = "move data", from, to, folder = %change.folder, key = %change.backup_key, "PostgreSQL refused the older major's data: dump, fresh folder, restore");
    let mut steps = Steps::default();
    dump(moving, backup, &mut steps, clients).await?;
    let began = Instant::now();
    let (cluster_arn, new_task, task) = start_on_new_folder(moving, clients).await?;
    steps.record("new folder up", began.elapsed());

    // 4. The dump into it.
    let began = Instant::now();
    if let Err(why) = one_off(moving, restore, "-restore", FETCH_CONTAINER, clients).await {
        let why = format!("the restore into PostgreSQL {to} failed: {why}");
        return Err(back(moving, &cluster_arn, Some(&new_task), why, clients).await);
    }
    steps.record("restore", began.elapsed());
    let summary = steps.summary(change);
    info!(decision = "moved", summary = %summary, "Datero runs the new major with its data");
    Ok((task, summary))
}

/// Steps 1 and 2: the previous revision on the old data, as before the update, and the dump
/// from it under a key of its own.
async fn dump(
    moving: &Moving<'_>,
    backup: &str,
    steps: &mut Steps,
    clients: &Context,
) -> Result<(), ResourceError> {
    let (from, to) = (moving.change.from, moving.change.to);
    let began = Instant::now();
    let old_task = start(
        moving.request,
        moving.previous,
        "-dump-from",
        moving.old_folder,
        clients,
    )
    .await?;
    if let Err(why) = until_up(moving, moving.previous, &old_task, clients).await {
        return Err(ResourceError::MoveFailed {
            why: format!(
                "PostgreSQL {to} needs a dump of PostgreSQL {from}'s data, but the previous revision did not come back: {why}"
            ),
            after: AfterFailedMove::Untouched,
        });
    }
    steps.record("previous revision up", began.elapsed());
    let began = Instant::now();
    if let Err(why) = one_off(moving, backup, "-dump", UPLOAD_CONTAINER, clients).await {
        return Err(ResourceError::MoveFailed {
            why: format!("the dump before PostgreSQL {to} failed: {why}"),
            after: AfterFailedMove::OldMajorRuns { from },
        });
    }
    steps.record("dump", began.elapsed());
    stop_and_wait(
        clients,
        &moving.spec.cluster_name,
        &[old_task],
        &format!("moving to PostgreSQL {to}"),
        moving.work_limit(),
    )
    .await
}

/// Step 3: the new revision on a fresh folder, once the cluster's mark names it (a restart
/// meanwhile runs there too, never on the old data). The cluster's ARN, the task's and the task.
async fn start_on_new_folder(
    moving: &Moving<'_>,
    clients: &Context,
) -> Result<(String, String, Task), ResourceError> {
    let Moving { spec, change, .. } = moving;
    let cluster_arn = mark(clients, spec, Some(&change.folder)).await?;
    let new_task = match start(
        moving.request,
        spec,
        "-new-major",
        Some(&change.folder),
        clients,
    )
    .await
    {
        Ok(arn) => arn,
        Err(error) => {
            let why = format!(
                "PostgreSQL {} did not start on a fresh {}: {error}",
                change.to, change.folder
            );
            return Err(back(moving, &cluster_arn, None, why, clients).await);
        }
    };
    match until_up(moving, spec, &new_task, clients).await {
        Ok(task) => Ok((cluster_arn, new_task, task)),
        Err(why) => {
            let why = format!(
                "PostgreSQL {} did not come up on a fresh {}: {why}",
                change.to, change.folder
            );
            // Unhealthy or late, it may still run: it stops before the previous revision starts.
            Err(back(moving, &cluster_arn, Some(&new_task), why, clients).await)
        }
    }
}

/// Waits until the task is up; why not, otherwise (stopped with its log, unhealthy, late).
async fn until_up(
    moving: &Moving<'_>,
    spec: &TaskSpec,
    arn: &str,
    clients: &Context,
) -> Result<Task, String> {
    let definition = wait::definition(&clients.ecs, &spec.task_definition_arn)
        .await
        .map_err(|error| error.to_string())?;
    let waited = wait::until_ready(
        &clients.ecs,
        &spec.cluster_name,
        arn,
        &definition,
        moving.work_limit(),
    )
    .await
    .map_err(|error| error.to_string())?;
    match waited {
        wait::WaitResult::Ready(task) => Ok(*task),
        wait::WaitResult::Stopped(why) => {
            let log = log_tail::last_lines(
                &clients.logs,
                &definition,
                datero_shared::container::CONTAINER_NAME,
                arn,
            )
            .await;
            Err(readiness::failed_start_reason(
                &format!("it stopped: {why}"),
                &log,
            ))
        }
        wait::WaitResult::Unhealthy => Err("its health check (pg_isready) failed".to_owned()),
        wait::WaitResult::StillStarting(status) => {
            Err(format!("it was still {status} when time ran out"))
        }
    }
}

/// Runs a backup or restore task with the dump's key set on `key_container`, and waits until it
/// has finished: `Ok` when every container exited 0, else why, with the log of the container
/// that failed.
async fn one_off(
    moving: &Moving<'_>,
    task_definition: &str,
    token_suffix: &str,
    key_container: &str,
    clients: &Context,
) -> Result<(), String> {
    let spec = moving.spec;
    let token = format!("cfn-{}{token_suffix}", moving.request.request_id);
    let run = RunTask {
        cluster: &spec.cluster_name,
        capacity_provider: &spec.capacity_provider_name,
        task_definition,
        client_token: &token,
        tags: Vec::new(),
        environment: vec![(
            key_container,
            BACKUP_KEY_VARIABLE,
            moving.change.backup_key.clone(),
        )],
    };
    let task = ecs_tasks::run(&clients.ecs, &run)
        .await
        .map_err(|error| error.to_string())?;
    let arn = task.task_arn().unwrap_or_default().to_owned();
    info!(decision = "one-off", task = %arn, task_definition, key = %moving.change.backup_key, "started");
    let stopped = ecs_tasks::wait_stopped(
        &clients.ecs,
        &spec.cluster_name,
        std::slice::from_ref(&arn),
        moving.work_limit(),
    )
    .await
    .map_err(|error| error.to_string())?;
    if !stopped {
        return Err(format!("{arn} was still running when time ran out"));
    }
    let finished =
        ecs_tasks::describe(&clients.ecs, &spec.cluster_name, std::slice::from_ref(&arn))
            .await
            .map_err(|error| error.to_string())?;
    let definition = wait::definition(&clients.ecs, task_definition)
        .await
        .map_err(|error| error.to_string())?;
    let exits = exit_codes(&definition, &finished);
    let Some(failed) = data_directory::first_failed(&exits) else {
        info!(decision = "one-off", task = %arn, "every container exited 0");
        return Ok(());
    };
    let log = log_tail::last_lines(&clients.logs, &definition, failed, &arn).await;
    warn!(decision = "one-off", task = %arn, container = failed, log = ?log, "failed");
    Err(readiness::quote_log(
        &format!("its {failed} container did not succeed"),
        "its log",
        &log,
    ))
}

/// Each container's exit code, in the task definition's order (none: it never ran).
fn exit_codes<'a>(
    definition: &'a TaskDefinition,
    finished: &[Task],
) -> Vec<(&'a str, Option<i32>)> {
    definition
        .container_definitions()
        .iter()
        .filter_map(|container| container.name())
        .map(|name| {
            let code = finished
                .iter()
                .flat_map(|task| task.containers())
                .find(|container| container.name() == Some(name))
                .and_then(|container| container.exit_code());
            (name, code)
        })
        .collect()
}

/// Records `folder` as where the data is; the cluster's ARN.
async fn mark(
    clients: &Context,
    spec: &TaskSpec,
    folder: Option<&str>,
) -> Result<String, ResourceError> {
    let (arn, _) = ecs_tasks::data_folder(&clients.ecs, &spec.cluster_name)
        .await?
        .ok_or_else(|| ResourceError::Gone {
            kind: "cluster",
            name: spec.cluster_name.clone(),
            then: "deploy again once the stack's cluster exists",
        })?;
    ecs_tasks::set_data_folder(&clients.ecs, &arn, folder).await?;
    info!(decision = "data folder", folder = ?folder, "recorded on the cluster");
    Ok(arn)
}

/// The move failed after the old task stopped: what runs on the new folder stops, the mark goes
/// back, and the previous revision starts on the old data again.
async fn back(
    moving: &Moving<'_>,
    cluster_arn: &str,
    new_task: Option<&str>,
    why: String,
    clients: &Context,
) -> ResourceError {
    let spec = moving.spec;
    let from = moving.change.from;
    if let Some(task) = new_task {
        let stopped = [task.to_owned()];
        if let Err(error) = stop_and_wait(
            clients,
            &spec.cluster_name,
            &stopped,
            "move to a new major failed",
            moving.limit,
        )
        .await
        {
            return ResourceError::MoveFailed {
                why,
                after: AfterFailedMove::NewTaskNotStopped {
                    from,
                    error: error.to_string(),
                },
            };
        }
    }
    let restarted =
        match ecs_tasks::set_data_folder(&clients.ecs, cluster_arn, moving.old_folder).await {
            Ok(()) => {
                start(
                    moving.request,
                    moving.previous,
                    "-moved-back",
                    moving.old_folder,
                    clients,
                )
                .await
            }
            Err(error) => Err(error),
        };
    match restarted {
        Ok(arn) => {
            warn!(decision = "restore", task = %arn, "the move failed; the previous revision runs on the old data again");
            ResourceError::MoveFailed {
                why,
                after: AfterFailedMove::OldMajorAgain { from },
            }
        }
        Err(error) => ResourceError::MoveFailed {
            why,
            after: AfterFailedMove::OldMajorNotStarted {
                from,
                error: error.to_string(),
            },
        },
    }
}
