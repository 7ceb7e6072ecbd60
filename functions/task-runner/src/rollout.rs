//! Putting Datero on a revision: stop what runs, start the new task, wait until it is up
//! (RUNNING and HEALTHY: `datero_shared::readiness`).
//!
//! Stop first, then start: Datero binds a fixed host port on a group of one instance, so ECS
//! cannot place a second task beside the first, and two PostgreSQL servers must never share
//! one data directory. If the new task does not run, the previous revision is started again.

use std::collections::BTreeSet;
use std::time::{Duration, SystemTime};

use aws_sdk_ecs::types::{Task, TaskDefinition};
use datero_shared::ResourceError;
use datero_shared::container::CONTAINER_NAME;
use datero_shared::custom_resource::CustomResourceRequest;
use datero_shared::data_directory::{self, NewMajor};
use datero_shared::ecs_tasks::{self, RunTask};
use datero_shared::error::AfterNotUp;
use datero_shared::marks::REQUEST_TAG;
use datero_shared::postgres_major::MajorMismatch;
use datero_shared::readiness;
use datero_shared::resources::task::TaskSpec;
use tokio::time::Instant;
use tracing::{info, warn};

use crate::{Context, log_tail, new_major, wait};

/// Time kept back from the deadline to stop a task that did not start, and to answer.
const STOP_AND_ANSWER: Duration = Duration::from_secs(5);

/// Datero's task on the new revision, and the path it took there with each step's time (the
/// resource's event says it).
pub struct RolledOut {
    pub task: Task,
    pub path: String,
}

/// Runs `spec`'s revision as the only Datero task. `previous` is the revision to bring back if
/// the new one does not run (an Update's old properties).
pub async fn roll_out(
    request: &CustomResourceRequest,
    spec: &TaskSpec,
    previous: Option<&TaskSpec>,
    clients: &Context,
) -> Result<RolledOut, ResourceError> {
    let began = Instant::now();
    let limit = request
        .deadline
        .checked_sub(STOP_AND_ANSWER)
        .unwrap_or_else(Instant::now);
    // Where the data is: the folder a move to a new major recorded on the cluster, if any.
    let folder = ecs_tasks::data_folder(&clients.ecs, &spec.cluster_name)
        .await?
        .and_then(|(_, folder)| folder);
    let folder = folder.as_deref();
    let arn = adopt_or_start(request, spec, previous, folder, clients, limit).await?;
    let definition = wait::definition(&clients.ecs, &spec.task_definition_arn).await?;
    let waited =
        wait::until_ready(&clients.ecs, &spec.cluster_name, &arn, &definition, limit).await?;
    let why = match waited {
        wait::WaitResult::Ready(task) => {
            stop_others(clients, spec, previous, &arn).await?;
            let path = in_place(spec, previous.is_some(), began.elapsed());
            return Ok(RolledOut { task: *task, path });
        }
        wait::WaitResult::Stopped(why) => {
            let log = log_tail::last_lines(&clients.logs, &definition, CONTAINER_NAME, &arn).await;
            warn!(decision = "failed start", task = %arn, stopped = %why, log = ?log, "the new task stopped before it was up");
            // PostgreSQL refused an older major's data: an Update moves it by dump and restore.
            if let Some(moving) = move_to_new_major(request, spec, previous, &log, folder, limit) {
                return new_major::move_data(&moving.as_moving(), clients)
                    .await
                    .map(|(task, path)| RolledOut { task, path });
            }
            readiness::failed_start_reason(
                &format!("Datero's task stopped before it was up: {why}"),
                &log,
            )
        }
        wait::WaitResult::Unhealthy => unhealthy(spec, &definition, &arn, clients, limit).await?,
        wait::WaitResult::StillStarting(status) => {
            ecs_tasks::stop(&clients.ecs, &spec.cluster_name, &arn, "not up in time").await?;
            format!(
                "Datero's task was still {status} when time ran out, so it was stopped; check the cluster has an instance with room (ECS task events tell why)"
            )
        }
    };
    Err(failed(request, previous, folder, clients, why).await)
}

/// A new task that stayed unhealthy: why, once it has stopped. Its PostgreSQL may still hold
/// the data directory, so the previous revision starts only after (and once its memory on the
/// instance is free).
async fn unhealthy(
    spec: &TaskSpec,
    definition: &TaskDefinition,
    arn: &str,
    clients: &Context,
    limit: Instant,
) -> Result<String, ResourceError> {
    let log = log_tail::last_lines(&clients.logs, definition, CONTAINER_NAME, arn).await;
    warn!(decision = "failed start", task = %arn, log = ?log, "the new task stayed unhealthy");
    let why = readiness::failed_start_reason(
        "Datero's task ran but its health check (pg_isready) failed, so it was stopped",
        &log,
    );
    let stopped = [arn.to_owned()];
    match stop_and_wait(clients, &spec.cluster_name, &stopped, "unhealthy", limit).await {
        Ok(()) => Ok(why),
        Err(_) => Err(ResourceError::NotUp {
            why,
            after: AfterNotUp::StillStopping,
        }),
    }
}

/// The path of a rollout that needed no move, for the resource's event.
fn in_place(spec: &TaskSpec, update: bool, took: Duration) -> String {
    let revision = revision_of(&spec.task_definition_arn);
    let seconds = took.as_secs_f64().round();
    if update {
        format!("rolled onto {revision} in place (same PostgreSQL major): up in {seconds} s")
    } else {
        format!("started {revision}: up in {seconds} s")
    }
}

/// A move decided: what [`new_major::Moving`] borrows.
struct MoveDecided<'a> {
    request: &'a CustomResourceRequest,
    spec: &'a TaskSpec,
    previous: &'a TaskSpec,
    change: data_directory::Move,
    old_folder: Option<&'a str>,
    limit: Instant,
}

impl MoveDecided<'_> {
    fn as_moving(&self) -> new_major::Moving<'_> {
        new_major::Moving {
            request: self.request,
            spec: self.spec,
            previous: self.previous,
            change: &self.change,
            old_folder: self.old_folder,
            limit: self.limit,
        }
    }
}

/// Whether the new task's `log` has PostgreSQL refusing an older major's data, and this
/// rollout can move it ([`data_directory::decide`]); the refusal's reason says why not.
fn move_to_new_major<'a>(
    request: &'a CustomResourceRequest,
    spec: &'a TaskSpec,
    previous: Option<&'a TaskSpec>,
    log: &[String],
    old_folder: Option<&'a str>,
    limit: Instant,
) -> Option<MoveDecided<'a>> {
    let mismatch = MajorMismatch::find(log.iter().map(String::as_str))?;
    let decided = data_directory::decide(
        mismatch,
        previous.is_some(),
        spec.backup_and_restore.is_some(),
        SystemTime::now(),
    );
    match (decided, previous) {
        (NewMajor::Move(change), Some(previous)) => Some(MoveDecided {
            request,
            spec,
            previous,
            change,
            old_folder,
            limit,
        }),
        (decided, _) => {
            info!(
                decision = "no move",
                ?decided,
                "PostgreSQL refused the data; the update fails"
            );
            None
        }
    }
}

/// The task this request runs: the one a repeated delivery of it started already, or a new
/// one once the current tasks have stopped (one data directory, one host port).
async fn adopt_or_start(
    request: &CustomResourceRequest,
    spec: &TaskSpec,
    previous: Option<&TaskSpec>,
    folder: Option<&str>,
    clients: &Context,
    limit: Instant,
) -> Result<String, ResourceError> {
    let (current, described) = current_tasks(spec, previous, clients).await?;
    // A repeated delivery of this request finds the task it started: adopt it.
    let adopted = described
        .iter()
        .find(|task| tagged_with(task, &request.request_id));
    let arn = match adopted {
        Some(task) => {
            let arn = task.task_arn().unwrap_or_default().to_owned();
            info!(decision = "adopt", task = %arn, "this request already started a task");
            arn
        }
        None => {
            let revision = revision_of(&spec.task_definition_arn);
            stop_and_wait(
                clients,
                &spec.cluster_name,
                &current,
                &format!("replaced by {revision}"),
                limit,
            )
            .await?;
            start(request, spec, "", folder, clients).await?
        }
    };
    Ok(arn)
}

/// Datero tasks ECS wants running now, of the new and the previous family: every listed ARN,
/// and those DescribeTasks shows already (a task started a moment ago may be listed but not
/// described yet: RunTask API reference, eventual consistency).
pub(crate) async fn current_tasks(
    spec: &TaskSpec,
    previous: Option<&TaskSpec>,
    clients: &Context,
) -> Result<(Vec<String>, Vec<Task>), ResourceError> {
    let mut arns = BTreeSet::new();
    for family in families(spec, previous) {
        arns.extend(ecs_tasks::wanted(&clients.ecs, &spec.cluster_name, &family).await?);
    }
    let arns: Vec<String> = arns.into_iter().collect();
    let described = ecs_tasks::describe(&clients.ecs, &spec.cluster_name, &arns).await?;
    Ok((arns, described))
}

fn families(spec: &TaskSpec, previous: Option<&TaskSpec>) -> BTreeSet<String> {
    let mut families = BTreeSet::from([spec.family().to_owned()]);
    families.extend(
        previous
            .filter(|old| old.cluster_name == spec.cluster_name)
            .map(|old| old.family().to_owned()),
    );
    families
}

fn tagged_with(task: &Task, request_id: &str) -> bool {
    task.tags()
        .iter()
        .any(|tag| tag.key() == Some(REQUEST_TAG) && tag.value() == Some(request_id))
}

fn revision_of(task_definition_arn: &str) -> &str {
    task_definition_arn.rsplit('/').next().unwrap_or_default()
}

/// Starts a task of `spec`'s revision on the data in `folder` (none: where its PGDATA points),
/// tagged with the request; `token_suffix` tells this request's starts apart.
pub(crate) async fn start(
    request: &CustomResourceRequest,
    spec: &TaskSpec,
    token_suffix: &str,
    folder: Option<&str>,
    clients: &Context,
) -> Result<String, ResourceError> {
    let token = format!("cfn-{}{token_suffix}", request.request_id);
    let run = RunTask {
        cluster: &spec.cluster_name,
        capacity_provider: &spec.capacity_provider_name,
        task_definition: &spec.task_definition_arn,
        client_token: &token,
        tags: vec![(REQUEST_TAG, request.request_id.clone())],
        environment: Vec::new(),
    }
    .on_data_folder(folder);
    let task = ecs_tasks::run(&clients.ecs, &run).await?;
    let arn = task.task_arn().unwrap_or_default().to_owned();
    info!(decision = "start", task = %arn, task_definition = %spec.task_definition_arn, data_folder = ?folder, "Datero task started");
    Ok(arn)
}

/// Stops the tasks and waits until ECS reports them STOPPED (PostgreSQL's clean shutdown takes
/// up to the container's stop timeout), so that the port and the data are free.
pub(crate) async fn stop_and_wait(
    clients: &Context,
    cluster: &str,
    arns: &[String],
    why: &str,
    limit: Instant,
) -> Result<(), ResourceError> {
    for arn in arns {
        ecs_tasks::stop(&clients.ecs, cluster, arn, why).await?;
        info!(decision = "stop", task = %arn, reason = why, "Datero task stopped");
    }
    if ecs_tasks::wait_stopped(&clients.ecs, cluster, arns, limit).await? {
        Ok(())
    } else {
        Err(ResourceError::NotStopped {
            what: "the previous Datero task".to_owned(),
            then: "",
        })
    }
}

/// After the new task runs, any other Datero task (one the restarter started meanwhile) goes.
async fn stop_others(
    clients: &Context,
    spec: &TaskSpec,
    previous: Option<&TaskSpec>,
    keep: &str,
) -> Result<(), ResourceError> {
    let revision = revision_of(&spec.task_definition_arn);
    for family in families(spec, previous) {
        for other in ecs_tasks::wanted(&clients.ecs, &spec.cluster_name, &family).await? {
            if other != keep {
                ecs_tasks::stop(
                    &clients.ecs,
                    &spec.cluster_name,
                    &other,
                    &format!("replaced by {revision}"),
                )
                .await?;
                info!(decision = "stop", task = %other, replaced_by = %keep, "another Datero task stopped");
            }
        }
    }
    Ok(())
}

/// The failure to answer; on an Update, the previous revision is started again first so that
/// Datero keeps running while CloudFormation rolls back.
async fn failed(
    request: &CustomResourceRequest,
    previous: Option<&TaskSpec>,
    folder: Option<&str>,
    clients: &Context,
    why: String,
) -> ResourceError {
    let Some(previous) = previous else {
        return ResourceError::NotUp {
            why,
            after: AfterNotUp::Nothing,
        };
    };
    let after = match start(request, previous, "-restore", folder, clients).await {
        Ok(arn) => {
            warn!(decision = "restore", task = %arn, "the new revision did not run; the previous one was started again");
            AfterNotUp::PreviousStarted
        }
        Err(error) => AfterNotUp::PreviousNotStarted(error.to_string()),
    };
    ResourceError::NotUp { why, after }
}

#[cfg(test)]
mod tests {
    use aws_sdk_ecs::types::Tag;

    use super::*;

    fn task_tagged(pairs: &[(&str, &str)]) -> Task {
        Task::builder()
            .set_tags(Some(
                pairs
                    .iter()
                    .map(|(key, value)| Tag::builder().key(*key).value(*value).build())
                    .collect(),
            ))
            .build()
    }

    #[test]
    fn a_task_is_this_requests_only_with_the_request_tag_of_its_id() {
        assert!(tagged_with(
            &task_tagged(&[(REQUEST_TAG, "req-1")]),
            "req-1"
        ));
        assert!(!tagged_with(
            &task_tagged(&[(REQUEST_TAG, "req-2")]),
            "req-1"
        ));
        assert!(!tagged_with(&task_tagged(&[("other", "req-1")]), "req-1"));
        assert!(!tagged_with(&task_tagged(&[]), "req-1"));
    }

    #[test]
    fn the_revision_is_what_follows_the_last_slash_of_the_arn() {
        assert_eq!(
            revision_of("arn:aws:ecs:eu-west-1:123456789012:task-definition/datero:7"),
            "datero:7"
        );
        assert_eq!(revision_of("datero:7"), "datero:7");
    }
}
