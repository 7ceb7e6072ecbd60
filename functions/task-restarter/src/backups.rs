//! The backup schedule fired: [`CHECK_EVERY`] later, look at the backup tasks ECS created since
//! and count a failure when none of them got as far as its upload (`shared/src/backup_watch.rs`).
//! A task that is never placed, cannot pull its image or read its secret reports nothing
//! itself; this is what makes it an alarm.

use aws_sdk_ecs::types::{DesiredStatus, Task};
use datero_shared::backup::UPLOAD_CONTAINER;
use datero_shared::backup_watch::{self, BackupCheck, BackupRun, CHECK_EVERY, Verdict};
use datero_shared::ecs_tasks;
use datero_shared::error::EventError;
use datero_shared::metrics::{Measurement, Recorder};
use tracing::{info, warn};

use crate::Context;
use crate::restarts::enqueue;

/// The schedule's firing: queue the first check.
pub async fn on_due(check: &BackupCheck, context: &Context) -> Result<(), EventError> {
    let Some(queue) = context.config.queue_url.as_deref() else {
        warn!(
            decision = "no backup check",
            "RESTART_QUEUE_URL is not set: nothing checks this backup"
        );
        return Ok(());
    };
    let first = BackupCheck {
        checks: 0,
        ..check.clone()
    };
    enqueue(queue, &first, CHECK_EVERY, context).await?;
    info!(backup_due = %check.backup_due, delay_seconds = CHECK_EVERY.as_secs(), decision = "check backup later", "a backup is due: its outcome is checked later");
    Ok(())
}

/// gather (the backup family's tasks) -> decide ([`backup_watch::judge`]) -> act (look again
/// later, or count the failure).
pub async fn on_check(
    check: &BackupCheck,
    context: &Context,
    metrics: &Recorder,
) -> Result<(), EventError> {
    let (Some(family), Some(due_ms)) = (
        context.config.backup_family.as_deref(),
        backup_watch::due_ms(check),
    ) else {
        warn!(backup_due = %check.backup_due, decision = "skip", "no BACKUP_FAMILY, or the due time is not a time: nothing to check");
        return Ok(());
    };
    let cluster = context.config.scope.cluster_name.as_str();
    let mut arns = ecs_tasks::list(&context.ecs, cluster, family, DesiredStatus::Running).await?;
    arns.extend(ecs_tasks::list(&context.ecs, cluster, family, DesiredStatus::Stopped).await?);
    let runs: Vec<BackupRun> = ecs_tasks::describe(&context.ecs, cluster, &arns)
        .await?
        .iter()
        .map(run)
        .collect();
    let verdict = backup_watch::judge(due_ms, &runs, check.checks);
    match &verdict {
        Verdict::Stored | Verdict::ReportedItself => {
            info!(backup_due = %check.backup_due, decision = verdict.key(), "the backup's outcome is on record");
        }
        Verdict::StillRunning => {
            let queue = context.config.queue_url.as_deref().unwrap_or_default();
            let next = BackupCheck {
                backup_due: check.backup_due.clone(),
                checks: check.checks + 1,
            };
            enqueue(queue, &next, CHECK_EVERY, context).await?;
            info!(backup_due = %check.backup_due, checks = next.checks, decision = verdict.key(), "the backup task still runs: checked again later");
        }
        Verdict::Missed(why) => {
            warn!(backup_due = %check.backup_due, decision = verdict.key(), reason = %why, "a scheduled backup did not happen: counted as a backup failure");
            metrics.record(&Measurement::BackupMissed);
        }
    }
    Ok(())
}

fn run(task: &Task) -> BackupRun {
    BackupRun {
        created_at_ms: task.created_at().and_then(|at| at.to_millis().ok()),
        stopped: task.last_status() == Some("STOPPED"),
        upload_exit_code: task
            .containers()
            .iter()
            .find(|container| container.name() == Some(UPLOAD_CONTAINER))
            .and_then(|container| container.exit_code()),
    }
}
