//! Whether a scheduled backup happened: the restarter's check after each firing of the backup
//! schedule (pure decisions).
//!
//! The upload container reports the backups it stores (`Backups`) and the dumps or uploads that
//! fail (`BackupFailures`). A task that never runs reports nothing: one that is never placed,
//! whose image cannot be pulled, whose secret cannot be read, or that stops before its upload
//! container starts. So each firing of `BackupSchedule` also sends the restarter
//! `{"backupDue": "<scheduled time>"}`; [`CHECK_EVERY`] later it looks at the backup tasks that
//! ECS created since then and, when none of them got as far as its upload, counts a backup
//! failure itself (the same `BackupFailures` metric, so the same `backup-failed` alarm). A day
//! without a scheduled backup has no firing, hence no check and no message.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::restart_policy::MAX_DELAY;

/// How long after the due time, and between checks while a backup task still runs.
pub const CHECK_EVERY: Duration = MAX_DELAY;
/// Checks before a backup task that still has not finished counts as failed (two hours).
pub const MAX_CHECKS: u32 = 8;
/// A backup task created this long before the due time still counts as the firing's (clocks).
const CLOCK_SLACK_MS: i64 = 60_000;

/// The schedule's event and the delayed message that brings the check back.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct BackupCheck {
    /// The firing's scheduled time (ISO 8601, UTC).
    pub backup_due: String,
    /// Checks made so far (absent in the schedule's own event).
    #[serde(default)]
    pub checks: u32,
}

/// One backup task as far as the check cares.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackupRun {
    /// When ECS created the task (ms since the epoch).
    pub created_at_ms: Option<i64>,
    /// Whether ECS reports it STOPPED.
    pub stopped: bool,
    /// The upload container's exit code, once it ran.
    pub upload_exit_code: Option<i32>,
}

/// What the check concludes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// A backup task stored its dump (the upload exited 0).
    Stored,
    /// A backup task's upload ran and failed: it reported the failure itself.
    ReportedItself,
    /// A backup task is still placed or running: look again later.
    StillRunning,
    /// Nothing reported this firing: count a failure, with why.
    Missed(String),
}

impl Verdict {
    /// A short stable name (log lines).
    pub fn key(&self) -> &'static str {
        match self {
            Self::Stored => "stored",
            Self::ReportedItself => "reported-by-the-task",
            Self::StillRunning => "still-running",
            Self::Missed(_) => "missed",
        }
    }
}

/// The verdict on the firing due at `due_ms`, from the backup family's tasks ECS still knows
/// (it keeps stopped tasks for about an hour), after `checks` earlier checks.
pub fn judge(due_ms: i64, runs: &[BackupRun], checks: u32) -> Verdict {
    let ours: Vec<&BackupRun> = runs
        .iter()
        .filter(|run| {
            run.created_at_ms
                .is_some_and(|created| created >= due_ms - CLOCK_SLACK_MS)
        })
        .collect();
    if ours.iter().any(|run| run.upload_exit_code == Some(0)) {
        return Verdict::Stored;
    }
    if ours
        .iter()
        .any(|run| run.upload_exit_code.is_some_and(|code| code != 0))
    {
        return Verdict::ReportedItself;
    }
    if ours.iter().any(|run| !run.stopped) {
        if checks + 1 < MAX_CHECKS {
            return Verdict::StillRunning;
        }
        return Verdict::Missed(format!(
            "the backup task due at {} has not finished after {} minutes",
            due_label(due_ms),
            u64::from(MAX_CHECKS) * CHECK_EVERY.as_secs() / 60
        ));
    }
    if ours.is_empty() {
        return Verdict::Missed(format!(
            "no backup task ran for the firing due at {} (never placed, or RunTask refused)",
            due_label(due_ms)
        ));
    }
    Verdict::Missed(format!(
        "the backup task due at {} stopped before its upload ran (image, secret or dump failure: see its stopped reason)",
        due_label(due_ms)
    ))
}

/// The due time of `check` in ms since the epoch; `None` when it is not an RFC 3339 time.
pub fn due_ms(check: &BackupCheck) -> Option<i64> {
    chrono::DateTime::parse_from_rfc3339(&check.backup_due)
        .ok()
        .map(|due| due.timestamp_millis())
}

fn due_label(due_ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(due_ms)
        .map_or_else(|| due_ms.to_string(), |due| due.to_rfc3339())
}

#[cfg(test)]
mod tests {
    use super::*;

    const DUE: i64 = 1_764_504_000_000;

    fn run(created_s_after_due: i64, stopped: bool, upload: Option<i32>) -> BackupRun {
        BackupRun {
            created_at_ms: Some(DUE + created_s_after_due * 1000),
            stopped,
            upload_exit_code: upload,
        }
    }

    #[test]
    fn a_stored_or_self_reported_backup_needs_nothing_more() {
        assert_eq!(judge(DUE, &[run(5, true, Some(0))], 0), Verdict::Stored);
        assert_eq!(
            judge(DUE, &[run(5, true, Some(1))], 0),
            Verdict::ReportedItself
        );
    }

    #[test]
    fn a_task_still_running_is_looked_at_again_until_two_hours() {
        assert_eq!(judge(DUE, &[run(5, false, None)], 0), Verdict::StillRunning);
        assert_eq!(
            judge(DUE, &[run(5, false, None)], MAX_CHECKS - 2),
            Verdict::StillRunning
        );
        let Verdict::Missed(why) = judge(DUE, &[run(5, false, None)], MAX_CHECKS - 1) else {
            panic!("a backup that never ends is a failure")
        };
        assert!(why.contains("120 minutes"), "{why}");
    }

    #[test]
    fn no_task_or_a_task_that_stopped_before_its_upload_is_a_missed_backup() {
        let Verdict::Missed(why) = judge(DUE, &[], 0) else {
            panic!()
        };
        assert!(why.contains("never placed"), "{why}");
        let Verdict::Missed(why) = judge(DUE, &[run(5, true, None)], 0) else {
            panic!()
        };
        assert!(why.contains("before its upload"), "{why}");
        // Yesterday's stored backup does not answer for today's firing.
        assert!(matches!(
            judge(DUE, &[run(-86_400, true, Some(0))], 0),
            Verdict::Missed(_)
        ));
    }

    #[test]
    fn the_schedule_event_and_the_queued_check_are_one_shape() {
        let event: BackupCheck =
            serde_json::from_str(r#"{"backupDue": "2026-11-30T12:00:00Z"}"#).unwrap();
        assert_eq!(event.checks, 0);
        let queued = serde_json::to_string(&BackupCheck { checks: 2, ..event }).unwrap();
        assert_eq!(queued, r#"{"backupDue":"2026-11-30T12:00:00Z","checks":2}"#);
        assert!(serde_json::from_str::<BackupCheck>(r#"{"officeHoursBegan": "x"}"#).is_err());
    }
}
