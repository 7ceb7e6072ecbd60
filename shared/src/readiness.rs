//! When a Datero task the runner started counts as up (pure decisions).
//!
//! RUNNING is not enough: a PostgreSQL that refuses its data directory (a data directory of
//! another major, say) starts its container, so the task is RUNNING for a moment, then exits.
//! So a task with a health check (Datero's runs `pg_isready`) is ready once ECS reports its
//! `healthStatus` HEALTHY; ECS reports it for a task RunTask started, though only services act
//! on it (ECS Developer Guide, "Determine Amazon ECS task health using container health
//! checks"). A task without a health check reports UNKNOWN for ever, so RUNNING is all there is.

use std::time::Duration;

use crate::postgres_major::MajorMismatch;

/// How long a task RunTask just started may be missing from DescribeTasks: the RunTask API
/// reference warns that a new task may not be visible at once (eventual consistency).
pub const INVISIBLE_GRACE: Duration = Duration::from_secs(30);

/// What DescribeTasks says of the task.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Seen {
    /// `lastStatus`.
    pub last_status: String,
    /// `healthStatus`: HEALTHY, UNHEALTHY or UNKNOWN.
    pub health: String,
    /// ECS's account of a stop (reason, code, containers' reasons and exit codes).
    pub stop_story: String,
}

/// Where the task stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Up: RUNNING, and HEALTHY where it has a health check.
    Ready,
    /// Not yet; the state to quote if time runs out.
    Starting(String),
    /// It stopped; why, in ECS's words.
    Stopped(String),
    /// RUNNING, and its health check fails.
    Unhealthy,
}

/// The verdict on a task seen (or not yet visible) `since_start` after RunTask; `checked`: its
/// task definition gives a container a health check.
pub fn judge(seen: Option<&Seen>, checked: bool, since_start: Duration) -> Verdict {
    let Some(seen) = seen else {
        return if since_start < INVISIBLE_GRACE {
            Verdict::Starting("not yet visible".to_owned())
        } else {
            Verdict::Stopped("ECS no longer knows the task".to_owned())
        };
    };
    match (seen.last_status.as_str(), seen.health.as_str()) {
        ("STOPPED", _) => Verdict::Stopped(seen.stop_story.clone()),
        ("RUNNING", _) if !checked => Verdict::Ready,
        ("RUNNING", "HEALTHY") => Verdict::Ready,
        ("RUNNING", "UNHEALTHY") => Verdict::Unhealthy,
        ("RUNNING", _) => Verdict::Starting("RUNNING, its health check not yet passed".to_owned()),
        (status, _) => Verdict::Starting(status.to_owned()),
    }
}

/// How many of the container's last log lines a failed start quotes, and how much of each.
pub const QUOTED_LOG_LINES: usize = 3;
const QUOTED_LINE_CHARS: usize = 160;

/// Why a new task did not come up, for CloudFormation: PostgreSQL's refusal of another major's
/// data when the container's log (`log`, oldest first) has it (`postgres_major`), which says
/// what to do; otherwise `what` (ECS's account) and the log's last lines. The runner logs the
/// whole log tail beside it; CloudFormation's reason is short.
pub fn failed_start_reason(what: &str, log: &[String]) -> String {
    if let Some(mismatch) = MajorMismatch::find(log.iter().map(String::as_str)) {
        return mismatch.advice();
    }
    quote_log(what, "Datero's log", log)
}

/// `what`, then the last lines of `whose` log (`log`, oldest first, blank lines skipped), each
/// cut short: `<what>; <whose> ends: a | b | c`; `what` alone when the log is empty.
pub fn quote_log(what: &str, whose: &str, log: &[String]) -> String {
    let lines: Vec<&str> = log
        .iter()
        .map(|line| line.trim())
        .filter(|line| !line.is_empty())
        .collect();
    let last: Vec<String> = lines[lines.len().saturating_sub(QUOTED_LOG_LINES)..]
        .iter()
        .map(|line| line.chars().take(QUOTED_LINE_CHARS).collect())
        .collect();
    if last.is_empty() {
        what.to_owned()
    } else {
        format!("{what}; {whose} ends: {}", last.join(" | "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seen(status: &str, health: &str) -> Seen {
        Seen {
            last_status: status.into(),
            health: health.into(),
            stop_story: "Essential container in task exited; datero exited with 1".into(),
        }
    }

    #[test]
    fn a_checked_task_is_ready_only_once_healthy() {
        let second = Duration::from_secs(1);
        assert_eq!(
            judge(Some(&seen("RUNNING", "UNKNOWN")), true, second),
            Verdict::Starting("RUNNING, its health check not yet passed".into())
        );
        assert_eq!(
            judge(Some(&seen("RUNNING", "HEALTHY")), true, second),
            Verdict::Ready
        );
        assert_eq!(
            judge(Some(&seen("RUNNING", "UNHEALTHY")), true, second),
            Verdict::Unhealthy
        );
        assert_eq!(
            judge(Some(&seen("PENDING", "UNKNOWN")), true, second),
            Verdict::Starting("PENDING".into())
        );
    }

    #[test]
    fn an_unchecked_task_is_ready_when_running() {
        let second = Duration::from_secs(1);
        assert_eq!(
            judge(Some(&seen("RUNNING", "UNKNOWN")), false, second),
            Verdict::Ready
        );
    }

    #[test]
    fn a_stop_is_told_in_ecs_words_and_an_invisible_task_gets_its_grace() {
        let stopped = judge(Some(&seen("STOPPED", "UNKNOWN")), true, Duration::ZERO);
        assert!(matches!(stopped, Verdict::Stopped(ref why) if why.contains("exited with 1")));
        assert!(matches!(
            judge(None, true, Duration::from_secs(5)),
            Verdict::Starting(_)
        ));
        assert!(matches!(
            judge(None, true, INVISIBLE_GRACE),
            Verdict::Stopped(_)
        ));
    }

    #[test]
    fn a_failed_start_says_what_to_do_about_another_major_or_quotes_the_log_tail() {
        let what = "Datero's task stopped before it was up: Essential container in task exited";
        let refusal: Vec<String> = [
            "2026-11-30 11:25:23.129 UTC [1] FATAL:  database files are incompatible with server",
            "2026-11-30 11:25:23.129 UTC [1] DETAIL:  The data directory was initialized by PostgreSQL version 15, which is not compatible with this version 17.6.",
        ]
        .map(String::from)
        .to_vec();
        let reason = failed_start_reason(what, &refusal);
        assert!(
            reason.starts_with("PostgreSQL 17 cannot open the data of PostgreSQL 15"),
            "{reason}"
        );
        let log: Vec<String> = ["starting", "", "one", "two", "exiting"]
            .map(String::from)
            .to_vec();
        let reason = failed_start_reason(what, &log);
        assert_eq!(
            reason,
            format!("{what}; Datero's log ends: one | two | exiting")
        );
        assert_eq!(failed_start_reason(what, &[]), what);
    }
}
