//! Office hours: a scheduled start or stop from EventBridge Scheduler, and the down alarm's
//! check [`CHECK_DELAY`] after a start.
//!
//! Each firing leaves a mark on the cluster (a tag, [`marks::OFFICE_HOURS_TAG`]): once the
//! hours have closed, no restart of a task that stopped before the close is made, whether it
//! was decided before the stop and waited in the delay queue, or arrives just after it.

use aws_sdk_cloudwatch::types::{AlarmType, MetricAlarm, StateValue};
use datero_shared::aws::aws_error;
use datero_shared::down_alarm::{self, CHECK_DELAY, Found, MorningCheck, Step};
use datero_shared::ecs_tasks;
use datero_shared::error::EventError;
use datero_shared::metrics::{Measurement, Recorder};
use datero_shared::schedule::{self, Action, HoursMark, ScheduledEvent};
use datero_shared::{ResourceError, marks};
use tracing::{info, warn};

use crate::Context;
use crate::cluster::ClusterRead;
use crate::restarts::{enqueue, start_one};

/// An office-hours start or stop: mark the hours, gather the wanted tasks, decide, act. A stop
/// carries the provisioner's reason, so the STOPPED events that follow are skipped, not
/// restarted. A start (made or not needed) queues the down alarm's check.
pub async fn on_scheduled(
    event: &ScheduledEvent,
    context: &Context,
    metrics: &Recorder,
) -> Result<(), EventError> {
    let scope = &context.config.scope;
    let time = event.scheduled_time.as_str();
    // The mark first: a crash racing the stop then finds the hours closed. A start by hand
    // (README: its time is not a timestamp) leaves the hours and the down alarm as they are.
    let in_alarm = event.schedule == Action::Stop && down_alarm_in_alarm(context).await;
    let mark = HoursMark::of(event, in_alarm);
    let cluster = ClusterRead::new(context);
    let previous = match &mark {
        Some(mark) => write_mark(&cluster, context, mark).await?,
        None => None,
    };
    let wanted = ecs_tasks::wanted(&context.ecs, &scope.cluster_name, &scope.family).await?;
    let decision = schedule::decide(event, context.config.paused, &wanted);
    match &decision {
        schedule::Decision::Skip(reason) => {
            info!(scheduled_time = time, decision = "skip", reason = %reason, "schedule changes nothing");
            metrics.record(&Measurement::SkippedSchedule {
                reason: reason.key(),
            });
        }
        schedule::Decision::Start { client_token } => {
            let started = start_one(client_token, context, &cluster).await?;
            info!(scheduled_time = time, decision = "scheduled start", new_task = %started, "office hours begin: Datero started");
            metrics.record(&Measurement::ScheduledStart);
        }
        schedule::Decision::Stop { tasks } => {
            for task in tasks {
                ecs_tasks::stop(&context.ecs, &scope.cluster_name, task, schedule::STOP_WHY)
                    .await?;
            }
            info!(scheduled_time = time, decision = "scheduled stop", tasks = ?tasks, "office hours end: Datero stopped");
            metrics.record(&Measurement::ScheduledStop { tasks: tasks.len() });
        }
    }
    if mark.is_some() && schedule::checks_down_alarm(&decision) {
        let owes_recovery = HoursMark::owes_recovery(previous.as_ref());
        queue_morning_check(event, owes_recovery, context).await?;
    }
    Ok(())
}

/// Whether the down alarm is in ALARM now (at a close: its subscribers were last told "down").
/// A failure to read it is logged and taken as no: it must not keep Datero from stopping.
async fn down_alarm_in_alarm(context: &Context) -> bool {
    let Some(alarm) = context.config.down_alarm_name.as_deref() else {
        return false;
    };
    match describe_alarm(alarm, context).await {
        Ok(found) => found.is_some_and(|found| found.state_value() == Some(&StateValue::Alarm)),
        Err(error) => {
            warn!(alarm, error = %error, "the down alarm's state is unknown: tomorrow's check will not announce a recovery");
            false
        }
    }
}

/// The down alarm as CloudWatch describes it; none when it does not exist.
async fn describe_alarm(
    alarm: &str,
    context: &Context,
) -> Result<Option<MetricAlarm>, ResourceError> {
    let described = context
        .cloudwatch
        .describe_alarms()
        .alarm_names(alarm)
        .alarm_types(AlarmType::MetricAlarm)
        .send()
        .await
        .map_err(|error| aws_error("DescribeAlarms", error))?;
    Ok(described.metric_alarms().first().cloned())
}

async fn queue_morning_check(
    event: &ScheduledEvent,
    owes_recovery: bool,
    context: &Context,
) -> Result<(), EventError> {
    let (Some(queue), Some(alarm)) = (
        context.config.queue_url.as_deref(),
        context.config.down_alarm_name.as_deref(),
    ) else {
        // No office hours with restarts on in the template: no alarm to bring back.
        info!(
            "DOWN_ALARM_NAME or RESTART_QUEUE_URL is not set: the down alarm's actions stay as they are"
        );
        return Ok(());
    };
    let check = MorningCheck {
        office_hours_began: event.scheduled_time.clone(),
        owes_recovery,
    };
    enqueue(queue, &check, CHECK_DELAY, context).await?;
    info!(
        alarm,
        delay_seconds = CHECK_DELAY.as_secs(),
        owes_recovery,
        decision = "check down alarm later",
        "the down alarm's actions come back once Datero has had time to start"
    );
    Ok(())
}

/// The down alarm's check: gather (is Datero running? are the alarm's actions on already?) ->
/// decide ([`down_alarm::after_start`]) -> act (the calls on the alarm, in order).
pub async fn on_morning_check(check: &MorningCheck, context: &Context) -> Result<(), EventError> {
    let Some(alarm) = context.config.down_alarm_name.as_deref() else {
        warn!(
            decision = "skip",
            "DOWN_ALARM_NAME is not set: no down alarm to bring back"
        );
        return Ok(());
    };
    let scope = &context.config.scope;
    let running = ecs_tasks::running(&context.ecs, &scope.cluster_name, &scope.family).await?;
    let found = Found {
        datero_running: !running.is_empty(),
        actions_enabled: describe_alarm(alarm, context)
            .await?
            .and_then(|found| found.actions_enabled())
            .unwrap_or(false),
    };
    let steps = down_alarm::after_start(found, check);
    for step in &steps {
        apply(alarm, step, context).await?;
    }
    if steps.is_empty() {
        info!(alarm, office_hours_began = %check.office_hours_began, decision = "skip", reason = "actions already on", "the down alarm's check was done already (a second delivery)");
    } else {
        info!(alarm, datero_running = found.datero_running, office_hours_began = %check.office_hours_began, steps = ?steps, decision = "down alarm back on", "office hours: the down alarm watches Datero again");
    }
    Ok(())
}

async fn apply(alarm: &str, step: &Step, context: &Context) -> Result<(), ResourceError> {
    match step {
        Step::EnableActions => context
            .cloudwatch
            .enable_alarm_actions()
            .alarm_names(alarm)
            .send()
            .await
            .map(|_| ())
            .map_err(|error| aws_error("EnableAlarmActions", error)),
        Step::SetState { state, reason } => context
            .cloudwatch
            .set_alarm_state()
            .alarm_name(alarm)
            .state_value(StateValue::from(state.as_str()))
            .state_reason(reason)
            .send()
            .await
            .map(|_| ())
            .map_err(|error| aws_error("SetAlarmState", error)),
    }
}

/// Writes the mark; returns the one it replaced.
async fn write_mark(
    cluster: &ClusterRead<'_>,
    context: &Context,
    mark: &HoursMark,
) -> Result<Option<HoursMark>, ResourceError> {
    let Some(tags) = cluster.tags().await? else {
        return Ok(None);
    };
    let previous = cluster.hours_mark().await?;
    context
        .ecs
        .tag_resource()
        .resource_arn(&tags.arn)
        .set_tags(Some(marks::ecs_tags([(
            marks::OFFICE_HOURS_TAG,
            mark.tag_value(),
        )])))
        .send()
        .await
        .map_err(|error| aws_error("TagResource", error))?;
    Ok(previous)
}
