//! Restarts Datero when its task stops: the target of the EventBridge rule on ECS Task State
//! Change (STOPPED), and of the delay queue that brings back restarts put off by the backoff.
//!
//! parse ([`Incoming`]) -> screen and gather (the tasks ECS wants, the failure streak) ->
//! decide ([`restart_policy::decide`]) -> act (RunTask, or a delayed message) -> answer (Ok,
//! or an error that Lambda retries and then keeps in the function's failure destination).
//! Every decision is a log line and an embedded metric ([`metrics`]).

mod config;
mod event;

use std::time::Duration;

use aws_sdk_ecs::types::DesiredStatus;
use datero_shared::aws::{aws_error, load_config};
use datero_shared::ecs_event::TaskStateChange;
use datero_shared::ecs_tasks::{self, RunTask};
use datero_shared::metrics::{Measurement, Recorder};
use datero_shared::restart_policy::{
    self, Decision, DelayedRestart, Facts, FinishedTask, Skip, failure_streak, screen,
};
use datero_shared::schedule::{self, ScheduledEvent};
use datero_shared::{ResourceError, logging};
use lambda_runtime::{Error, LambdaEvent, service_fn};
use serde_json::Value;
use tracing::{info, warn};

use config::Config;
use event::Incoming;

struct Context {
    config: Config,
    ecs: aws_sdk_ecs::Client,
    sqs: aws_sdk_sqs::Client,
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    logging::init();
    let config = Config::from_env()?;
    let sdk = load_config().await;
    let context = Context {
        config,
        ecs: aws_sdk_ecs::Client::new(&sdk),
        sqs: aws_sdk_sqs::Client::new(&sdk),
    };
    let context = &context;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| async move {
        let metrics = Recorder::new(
            &context.config.scope.cluster_name,
            &event.context.request_id,
        );
        let answer = handle(event.payload, context, &metrics).await;
        if answer.is_err() {
            metrics.record(&Measurement::RestartFailure);
        }
        answer
    }))
    .await
}

/// An `Err` makes Lambda retry and, in the end, keeps the event in the failure destination: it
/// is returned only when the event cannot be read or a restart that should happen could not be
/// made.
async fn handle(payload: Value, context: &Context, metrics: &Recorder) -> Result<(), Error> {
    let incoming = Incoming::parse(payload).map_err(|message| {
        warn!(decision = "reject", error = %message, "event not understood");
        Error::from(message)
    })?;
    match incoming {
        Incoming::Stopped(event) => {
            let event_id = event.id.as_deref().unwrap_or_default();
            on_stopped(event_id, &event.detail, context, metrics).await
        }
        Incoming::Scheduled(event) => on_scheduled(&event, context, metrics).await,
        Incoming::Delayed(batch) => {
            for record in &batch.records {
                on_delayed(&record.body, context, metrics).await?;
            }
            Ok(())
        }
    }
}

fn skipped(skip: &Skip, metrics: &Recorder) {
    metrics.record(&Measurement::SkippedRestart { reason: skip.key() });
}

/// screen -> gather -> decide -> act, for one stopped task.
async fn on_stopped(
    event_id: &str,
    detail: &TaskStateChange,
    context: &Context,
    metrics: &Recorder,
) -> Result<(), Error> {
    let task = detail.task_arn.as_str();
    if let Err(reason) = screen(detail, &context.config.scope) {
        info!(event_id, task, decision = "skip", reason = %reason, "no restart");
        skipped(&reason, metrics);
        return Ok(());
    }
    let facts = gather(detail, context).await?;
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
            let started = restart(task, context).await?;
            info!(event_id, task, decision = "restart", streak, new_task = %started, "restarted Datero");
            metrics.record(&Measurement::Restart);
        }
        Decision::RestartLater { streak, delay } => {
            let queue = context.config.queue_url.as_deref().unwrap_or_default();
            enqueue(queue, task, streak, delay, context).await?;
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

/// An office-hours start or stop: gather the wanted tasks, decide, act. A stop carries the
/// provisioner's reason, so the STOPPED events that follow are skipped, not restarted.
async fn on_scheduled(
    event: &ScheduledEvent,
    context: &Context,
    metrics: &Recorder,
) -> Result<(), Error> {
    let scope = &context.config.scope;
    let wanted = ecs_tasks::wanted(&context.ecs, &scope.cluster_name, &scope.family).await?;
    let time = event.scheduled_time.as_str();
    match schedule::decide(event, context.config.paused, &wanted) {
        schedule::Decision::Skip(reason) => {
            info!(scheduled_time = time, decision = "skip", reason = %reason, "schedule changes nothing");
            metrics.record(&Measurement::SkippedSchedule {
                reason: reason.key(),
            });
        }
        schedule::Decision::Start { client_token } => {
            let started = start_one(&client_token, context).await?;
            info!(scheduled_time = time, decision = "scheduled start", new_task = %started, "office hours begin: Datero started");
            metrics.record(&Measurement::ScheduledStart);
        }
        schedule::Decision::Stop { tasks } => {
            for task in &tasks {
                ecs_tasks::stop(&context.ecs, &scope.cluster_name, task, schedule::STOP_WHY)
                    .await?;
            }
            info!(scheduled_time = time, decision = "scheduled stop", tasks = ?tasks, "office hours end: Datero stopped");
            metrics.record(&Measurement::ScheduledStop { tasks: tasks.len() });
        }
    }
    Ok(())
}

/// What the decision needs: the pause switch, a task ECS already wants, and the failure streak
/// (whose history costs two calls, so it is read only when it can matter).
async fn gather(detail: &TaskStateChange, context: &Context) -> Result<Facts, ResourceError> {
    let config = &context.config;
    let mut facts = Facts {
        paused: config.paused,
        wanted: None,
        streak: 0,
        has_delay_queue: config.queue_url.is_some(),
    };
    if facts.paused {
        return Ok(facts);
    }
    facts.wanted = already_wanted(context).await?;
    let stopped = FinishedTask::from_event(detail);
    if facts.wanted.is_none() && stopped.is_quick_failure() {
        facts.streak = failure_streak(&stopped, &history(context).await?);
    }
    Ok(facts)
}

/// A restart the backoff put off, back from the queue: the same decision without a streak.
async fn on_delayed(
    delayed: &DelayedRestart,
    context: &Context,
    metrics: &Recorder,
) -> Result<(), Error> {
    let task = delayed.stopped_task_arn.as_str();
    let paused = context.config.paused;
    let facts = Facts {
        paused,
        wanted: if paused {
            None
        } else {
            already_wanted(context).await?
        },
        streak: 0,
        has_delay_queue: context.config.queue_url.is_some(),
    };
    match restart_policy::decide(&facts) {
        Decision::Skip(reason) => {
            info!(task, decision = "skip", reason = %reason, "delayed restart not needed");
            skipped(&reason, metrics);
        }
        Decision::RestartNow { .. } | Decision::RestartLater { .. } => {
            let started = restart(task, context).await?;
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
async fn restart(stopped_task_arn: &str, context: &Context) -> Result<String, ResourceError> {
    start_one(&restart_policy::client_token(stopped_task_arn), context).await
}

/// Runs one task of the family's latest ACTIVE revision with `token`, then settles a race with
/// any other wanted task: exactly one survives.
async fn start_one(token: &str, context: &Context) -> Result<String, ResourceError> {
    let config = &context.config;
    let run = RunTask {
        cluster: &config.scope.cluster_name,
        capacity_provider: &config.capacity_provider_name,
        task_definition: &config.scope.family,
        client_token: token,
        tags: Vec::new(),
    };
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
                .any(|tag| tag.key() == Some(datero_shared::marks::REQUEST_TAG))
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

async fn enqueue(
    queue: &str,
    task: &str,
    streak: u32,
    delay: Duration,
    context: &Context,
) -> Result<(), ResourceError> {
    let message = DelayedRestart {
        stopped_task_arn: task.to_owned(),
        streak,
        delay_seconds: delay.as_secs(),
    };
    let body = serde_json::to_string(&message).map_err(|source| ResourceError::Encode {
        what: "the delayed restart",
        source,
    })?;
    context
        .sqs
        .send_message()
        .queue_url(queue)
        .message_body(body)
        .delay_seconds(i32::try_from(delay.as_secs()).unwrap_or(900))
        .send()
        .await
        .map_err(|error| aws_error("SendMessage", error))?;
    Ok(())
}
