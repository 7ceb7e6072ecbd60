//! Where Datero's PostgreSQL keeps its data, and how Datero moves to a new PostgreSQL major.
//!
//! A new major cannot open an older major's data directory ([`crate::postgres_major`]): the
//! only way across is a dump and a restore (PostgreSQL manual, "Upgrading a PostgreSQL
//! Cluster", upgrading via pg_dumpall). So when a rollout's new task is refused that way, the
//! runner moves Datero ([`decide`]):
//! 1. the previous revision runs again on the old data, and the backup task dumps it under a key
//!    of its own ([`backup_key`]);
//! 2. the previous task stops, and the new revision starts on a fresh folder of the data volume
//!    named for its major ([`folder_for`]: `pg18`), where PostgreSQL initialises a new cluster;
//! 3. the restore task loads the dump into it.
//!
//! The old data stays where it was until the user removes it. The folder in use is recorded on
//! the cluster ([`crate::marks::DATA_DIRECTORY_TAG`]); every task the provisioner starts (the
//! runner's, the restarter's) sets PGDATA to it with a container override ([`pgdata`]), so that
//! a restart, an office-hours start and the next rollout run where the data is.

use std::fmt::Write as _;
use std::time::{Duration, SystemTime};

use chrono::{DateTime, Utc};

use crate::backup::BACKUP_PREFIX;
use crate::image::DATA_PATH;
use crate::postgres_major::MajorMismatch;

/// The folder of the data volume a major's own data directory lives in: `pg<major>`.
pub fn folder_for(major: u32) -> String {
    format!("pg{major}")
}

/// The folder a cluster tag names, if it has the shape [`folder_for`] gives (anything else is
/// not the product's and is ignored: the task definition's PGDATA applies).
pub fn parse_folder(tag_value: &str) -> Option<String> {
    let digits = tag_value.strip_prefix("pg")?;
    let valid = (1..=3).contains(&digits.len()) && digits.chars().all(|c| c.is_ascii_digit());
    valid.then(|| tag_value.to_owned())
}

/// PGDATA for data kept in `folder` of the data volume.
pub fn pgdata(folder: &str) -> String {
    format!("{DATA_PATH}/{folder}")
}

/// The key the dump before a move is stored under: in the backup prefix (so the retention rule
/// applies and the backup task's role may put it), named for the move and its UTC time.
pub fn backup_key(from: u32, to: u32, at: SystemTime) -> String {
    let at: DateTime<Utc> = at.into();
    format!(
        "{BACKUP_PREFIX}upgrade-pg{from}-to-pg{to}-{}.sql",
        at.format("%Y-%m-%dT%H%M%SZ")
    )
}

/// A move of Datero's data to a new major, decided.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Move {
    /// The major of the data and of the previous revision's server.
    pub from: u32,
    /// The new revision's major.
    pub to: u32,
    /// The fresh folder of the data volume the new revision runs on.
    pub folder: String,
    /// Where the dump is stored.
    pub backup_key: String,
}

/// What a rollout refused by another major's data does next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NewMajor {
    /// Dump, fresh folder, restore.
    Move(Move),
    /// Nothing more: the reason says why and what the user can do.
    Refuse(String),
}

/// The decision for a rollout whose new task PostgreSQL refused with `mismatch`. A move needs
/// an older major's data (a downgrade never reads a newer one's), a previous revision to dump
/// it with (an Update), and the stack's backup and restore tasks.
pub fn decide(
    mismatch: MajorMismatch,
    previous_revision: bool,
    backup_and_restore: bool,
    at: SystemTime,
) -> NewMajor {
    let MajorMismatch { data, server } = mismatch;
    if server < data || !previous_revision || !backup_and_restore {
        return NewMajor::Refuse(mismatch.advice());
    }
    NewMajor::Move(Move {
        from: data,
        to: server,
        folder: folder_for(server),
        backup_key: backup_key(data, server, at),
    })
}

/// The first container of a finished one-off task (the backup or restore task) that did not
/// exit 0, given each container's name and exit code in task-definition order; `None` when all
/// did. A container that never ran (its dependency failed) has no exit code and counts as
/// failed.
pub fn first_failed<'a>(containers: &[(&'a str, Option<i32>)]) -> Option<&'a str> {
    containers
        .iter()
        .find(|(_, code)| *code != Some(0))
        .map(|(name, _)| *name)
}

/// The steps of a move and how long each took, in order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Steps(Vec<(&'static str, Duration)>);

impl Steps {
    /// Records that `step` took `took`.
    pub fn record(&mut self, step: &'static str, took: Duration) {
        self.0.push((step, took));
    }

    /// One line for the log and the user: the path taken and each step's time, in whole
    /// seconds (`PostgreSQL 17 to 18: dump and restore; previous revision up 3 s, ...`).
    pub fn summary(&self, change: &Move) -> String {
        let mut line = format!(
            "PostgreSQL {} to {}: dump and restore into {}",
            change.from, change.to, change.folder
        );
        for (index, (step, took)) in self.0.iter().enumerate() {
            let separator = if index == 0 { ": " } else { ", " };
            let _ = write!(line, "{separator}{step} {} s", took.as_secs_f64().round());
        }
        let _ = write!(
            line,
            "; the data of PostgreSQL {} stays where it was (README: Upgrading PostgreSQL)",
            change.from
        );
        line
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const AT: u64 = 1_796_040_000; // 2026-11-30T12:00:00Z

    fn at() -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_secs(AT)
    }

    #[test]
    fn an_older_majors_data_moves_to_a_folder_of_the_new_major() {
        let decided = decide(
            MajorMismatch {
                data: 17,
                server: 18,
            },
            true,
            true,
            at(),
        );
        assert_eq!(
            decided,
            NewMajor::Move(Move {
                from: 17,
                to: 18,
                folder: "pg18".to_owned(),
                backup_key: "datero/upgrade-pg17-to-pg18-2026-11-30T120000Z.sql".to_owned(),
            })
        );
        assert_eq!(pgdata("pg18"), "/var/lib/postgresql/data/pg18");
    }

    #[test]
    fn a_downgrade_a_create_or_a_stack_without_backups_is_refused_with_the_way() {
        let downgrade = decide(
            MajorMismatch {
                data: 18,
                server: 17,
            },
            true,
            true,
            at(),
        );
        let NewMajor::Refuse(why) = downgrade else {
            panic!("a downgrade moved: {downgrade:?}");
        };
        assert!(why.starts_with("downgrade refused"), "{why}");
        for (previous, tasks) in [(false, true), (true, false)] {
            let decided = decide(
                MajorMismatch {
                    data: 17,
                    server: 18,
                },
                previous,
                tasks,
                at(),
            );
            let NewMajor::Refuse(why) = decided else {
                panic!("moved without previous={previous} tasks={tasks}");
            };
            assert!(why.contains("DataDirectory=pg18"), "{why}");
        }
    }

    #[test]
    fn a_one_off_task_succeeded_only_if_every_container_exited_0() {
        assert_eq!(
            first_failed(&[("dump", Some(0)), ("upload", Some(0))]),
            None
        );
        assert_eq!(
            first_failed(&[("dump", Some(1)), ("upload", Some(1))]),
            Some("dump")
        );
        assert_eq!(
            first_failed(&[
                ("keep-dump", Some(0)),
                ("fetch", Some(3)),
                ("restore", None)
            ]),
            Some("fetch")
        );
        assert_eq!(
            first_failed(&[
                ("keep-dump", Some(0)),
                ("fetch", Some(0)),
                ("restore", None)
            ]),
            Some("restore")
        );
    }

    #[test]
    fn only_the_products_folder_names_are_read_from_the_tag() {
        assert_eq!(parse_folder("pg18").as_deref(), Some("pg18"));
        for other in ["", "pg", "pg1234", "18", "pg18/..", "../pg18", "pgx"] {
            assert_eq!(parse_folder(other), None, "{other}");
        }
    }

    #[test]
    fn the_summary_gives_the_path_and_each_steps_seconds() {
        let change = Move {
            from: 17,
            to: 18,
            folder: "pg18".to_owned(),
            backup_key: backup_key(17, 18, at()),
        };
        let mut steps = Steps::default();
        steps.record("dump", Duration::from_millis(4_400));
        steps.record("pg18 up", Duration::from_millis(30_600));
        steps.record("restore", Duration::from_secs(6));
        assert_eq!(
            steps.summary(&change),
            "PostgreSQL 17 to 18: dump and restore into pg18: dump 4 s, pg18 up 31 s, restore 6 s; the data of PostgreSQL 17 stays where it was (README: Upgrading PostgreSQL)"
        );
    }
}
