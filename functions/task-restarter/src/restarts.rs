//! A stopped Datero task, or a restart the backoff put off, back from the delay queue:
//! screen -> gather (the tasks ECS wants, office hours, the failure streak) -> decide
//! ([`restart_policy::decide`]) -> act (RunTask, or a delayed message).

use std::time::Duration;

use aws_sdk_ecs::types::DesiredStatus;
use datero_shared::aws::aws_error;
use datero_shared::ecs_event::TaskStateChange;
use datero_shared::ecs_tasks::{self, RunTask};
use datero_shared::error::EventError;
use datero_shared::metrics::{Measurement, Recorder};
use datero_shared::restart_policy::{
    self, Decision, DelayedRestart, Facts, FinishedTask, Skip, failure_streak, screen,
};
use datero_shared::schedule::restart_barred;
use datero_shared::{ResourceError, marks};
use tracing::{info, warn};

use crate::Context;
use crate::cluster::ClusterRead;

fn skipped(skip: &Skip, metrics: &Recorder) {
    metrics.record(&Measurement::SkippedRestart { reason: skip.key() });
}

/// screen -> gather -> decide -> act, for one stopped task.
pub async fn on_stopped(
    event_id: &str,
    detail: &TaskStateChange,
    context: &Context,
    metrics: &Recorder,
) -> Result<(), EventError> {
    let task = detail.task_arn.as_str();
    if let Err(reason) = screen(detail, &context.config.scope) {
        info!(event_id, task, decision = "skip", reason = %reason, "no restart");
        skipped(&reason, metrics);
        return Ok(());
    }
    let stopped = FinishedTask::from_event(detail);
    let cluster = ClusterRead::new(context);
    let facts = gather(&stopped, context, &cluster).await?;
    match restart_policy::decide(&facts) {
        Decision::Skip(reason) => {
            info!(event_id, task, decision = "skip", reason = %reason, "no restart");
            skipped(&reason, metrics);
        }
        Decision::RestartNow {
            streak,
            delay_not_queued,
        } => {
            if let Some(delay) = delay_not_queued {
                warn!(
                    event_id,
                    task,
                    streak,
                    delay_seconds = delay.as_secs(),
                    "no delay queue configured: restarting now"
                );
            }
            let started = restart(task, context, &cluster).await?;
            info!(event_id, task, decision = "restart", streak, new_task = %started, "restarted Datero");
            metrics.record(&Measurement::Restart);
        }
        Decision::RestartLater {
            streak,
            delay,
            queue,
        } => {
            let message = DelayedRestart {
                stopped_task_arn: task.to_owned(),
                streak,
                delay_seconds: delay.as_secs(),
                stopped_at_ms: stopped.stopped_at_ms,
            };
            enqueue(&queue, &message, delay, context).await?;
            info!(
                event_id,
                task,
                decision = "restart later",
                streak,
                delay_seconds = delay.as_secs(),
                "crash loop: restart delayed"
            );
            metrics.record(&Measurement::DelayedRestart { delay });
        }
    }
    Ok(())
}

/// What the decision needs: the pause switch, office hours, a task ECS already wants, and the
/// failure streak (whose history costs two calls, so it is read only when it can matter).
async fn gather(
    stopped: &FinishedTask,
    context: &Context,
    cluster: &ClusterRead<'_>,
) -> Result<Facts, ResourceError> {
    let config = &context.config;
    let mut facts = Facts {
        paused: config.paused,
        wanted: None,
        streak: 0,
        delay_queue: config.queue_url.clone(),
        after_hours: false,
    };
    if facts.paused {
        return Ok(facts);
    }
    facts.after_hours = after_hours(stopped.stopped_at_ms, cluster).await?;
    if facts.after_hours {
        return Ok(facts);
    }
    facts.wanted = already_wanted(context).await?;
    if facts.wanted.is_none() && stopped.is_quick_failure() {
        facts.streak = failure_streak(stopped, &history(context).await?);
    }
    Ok(facts)
}

async fn after_hours(
    stopped_at_ms: Option<i64>,
    cluster: &ClusterRead<'_>,
) -> Result<bool, ResourceError> {
    let mark = cluster.hours_mark().await?;
    Ok(restart_barred(mark.as_ref(), stopped_at_ms))
}

/// A restart the backoff put off, back from the queue: the same decision without a streak.
pub async fn on_delayed(
    delayed: &DelayedRestart,
    context: &Context,
    metrics: &Recorder,
) -> Result<(), EventError> {
    let task = delayed.stopped_task_arn.as_str();
    let paused = context.config.paused;
    let cluster = ClusterRead::new(context);
    let mut facts = Facts {
        paused,
        wanted: None,
        streak: 0,
        delay_queue: context.config.queue_url.clone(),
        after_hours: false,
    };
    if !paused {
        facts.after_hours = after_hours(delayed.stopped_at_ms, &cluster).await?;
        if !facts.after_hours {
            facts.wanted = already_wanted(context).await?;
        }
    }
    match restart_policy::decide(&facts) {
        Decision::Skip(reason) => {
            info!(task, decision = "skip", reason = %reason, "delayed restart not needed");
            skipped(&reason, metrics);
        }
        Decision::RestartNow { .. } | Decision::RestartLater { .. } => {
            let started = restart(task, context, &cluster).await?;
            info!(task, decision = "restart", streak = delayed.streak, waited_seconds = delayed.delay_seconds, new_task = %started, "restarted Datero after the delay");
            metrics.record(&Measurement::Restart);
        }
    }
    Ok(())
}

async fn already_wanted(context: &Context) -> Result<Option<String>, ResourceError> {
    let scope = &context.config.scope;
    Ok(
        ecs_tasks::wanted(&context.ecs, &scope.cluster_name, &scope.family)
            .await?
            .into_iter()
            .next(),
    )
}

/// Recently stopped tasks of the family, as ECS keeps them (about an hour).
async fn history(context: &Context) -> Result<Vec<FinishedTask>, ResourceError> {
    let scope = &context.config.scope;
    let arns = ecs_tasks::list(
        &context.ecs,
        &scope.cluster_name,
        &scope.family,
        DesiredStatus::Stopped,
    )
    .await?;
    let tasks = ecs_tasks::describe(&context.ecs, &scope.cluster_name, &arns).await?;
    Ok(tasks.iter().map(ecs_tasks::finished).collect())
}

/// Runs the family's latest ACTIVE revision; the token makes every delivery about the same
/// stopped task start one task at most.
async fn restart(
    stopped_task_arn: &str,
    context: &Context,
    cluster: &ClusterRead<'_>,
) -> Result<String, ResourceError> {
    start_one(
        &restart_policy::client_token(stopped_task_arn),
        context,
        cluster,
    )
    .await
}

/// Runs one task of the family's latest ACTIVE revision with `token`, then settles a race with
/// any other wanted task: exactly one survives.
pub async fn start_one(
    token: &str,
    context: &Context,
    cluster: &ClusterRead<'_>,
) -> Result<String, ResourceError> {
    let config = &context.config;
    // Where the data is since a move to a new major: PGDATA follows the cluster's mark.
    let folder = cluster.data_folder().await?;
    let run = RunTask {
        cluster: &config.scope.cluster_name,
        capacity_provider: &config.capacity_provider_name,
        task_definition: &config.scope.family,
        client_token: token,
        tags: Vec::new(),
        environment: Vec::new(),
    }
    .on_data_folder(folder.as_deref());
    let started = ecs_tasks::run(&context.ecs, &run).await?;
    let started = started.task_arn().unwrap_or_default().to_owned();
    // Someone else may have started a task between our check and our RunTask: the runner
    // rolling out a revision (its tasks carry the request tag, and it keeps its own), or a
    // restart for another event (every restart keeps the same one). All converge on one.
    let wanted = ecs_tasks::wanted(
        &context.ecs,
        &config.scope.cluster_name,
        &config.scope.family,
    )
    .await?;
    let others: Vec<String> = wanted
        .iter()
        .filter(|arn| **arn != started)
        .cloned()
        .collect();
    if others.is_empty() {
        return Ok(started);
    }
    let described = ecs_tasks::describe(&context.ecs, &config.scope.cluster_name, &others).await?;
    let rolled_out: Vec<&str> = described
        .iter()
        .filter(|task| {
            task.tags()
                .iter()
                .any(|tag| tag.key() == Some(marks::REQUEST_TAG))
        })
        .filter_map(|task| task.task_arn())
        .collect();
    let keeper = restart_policy::survivor(&started, &wanted, &rolled_out).to_owned();
    if keeper != started {
        ecs_tasks::stop(
            &context.ecs,
            &config.scope.cluster_name,
            &started,
            &format!("duplicate of {keeper}"),
        )
        .await?;
        info!(task = %started, keeper = %keeper, decision = "stop duplicate", "another Datero task is wanted; ours was stopped");
        return Ok(keeper);
    }
    Ok(started)
}

/// Sends `message` to the delay queue, delivered after `delay` (at most
/// [`restart_policy::SQS_MAX_DELAY`]).
pub async fn enqueue<T: serde::Serialize>(
    queue: &str,
    message: &T,
    delay: Duration,
    context: &Context,
) -> Result<(), ResourceError> {
    let body = serde_json::to_string(message).map_err(|source| ResourceError::Encode {
        what: "the delayed message",
        source,
    })?;
    let seconds = delay.min(restart_policy::SQS_MAX_DELAY).as_secs();
    context
        .sqs
        .send_message()
        .queue_url(queue)
        .message_body(body)
        .delay_seconds(i32::try_from(seconds).unwrap_or(i32::MAX))
        .send()
        .await
        .map_err(|error| aws_error("SendMessage", error))?;
    Ok(())
}
