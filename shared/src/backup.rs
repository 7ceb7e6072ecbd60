//! Backups of Datero's own database: the exact commands the backup and restore tasks run.
//!
//! A file-level copy of a running PostgreSQL is not a backup (PostgreSQL manual, "File System
//! Level Backup": it needs a stopped server or an atomic snapshot), so the backup is logical:
//! `pg_dumpall` of every database and role, taken from the running Datero with the client
//! tools its image ships, so that the dump tool always matches the server's version.
//!
//! The containers of a task share a task volume and start in order (ECS guide, "Container
//! dependency"):
//! - backup: [`DUMP_CONTAINER`] (Datero's image) writes the dump; [`UPLOAD_CONTAINER`] (the AWS
//!   CLI's image) starts when it has exited (`COMPLETE`), stores the dump in the bucket and
//!   writes the success or failure metric, whatever the dump did;
//! - restore: a restore drops every database in the backup first, so the state it replaces is
//!   kept before anything is dropped. [`KEEP_DUMP_CONTAINER`] (Datero's image) runs the dump
//!   script into [`BEFORE_RESTORE_FILE`]; [`FETCH_CONTAINER`] (the AWS CLI) starts only when
//!   that succeeded (`SUCCESS`), stores it under [`BEFORE_RESTORE_PREFIX`]`<UTC time>.sql`,
//!   prints that key (restoring it goes back), and only then brings the chosen backup;
//!   [`RESTORE_CONTAINER`] (Datero's image) starts only when that succeeded and loads it.
//!
//! The PostgreSQL commands read the libpq variables (`PGHOST`, `PGPORT`, `PGUSER`,
//! `PGPASSWORD`); every script reads [`BACKUP_FILE`]'s variable (the keep-dump's points at
//! [`BEFORE_RESTORE_FILE`], which the fetch reads as `BEFORE_RESTORE_FILE`).
//! `tests/tests/integration/backup.rs` runs them as they are against real PostgreSQL servers and the
//! emulator's S3 and CloudWatch, and the template contract test checks that `template.yaml`
//! runs exactly these.

/// Where the dump lives in the task volume (the `BACKUP_FILE` variable).
pub const BACKUP_FILE: &str = "/backup/datero.sql";
/// The key prefix of backups in the bucket; the retention rule applies to it.
pub const BACKUP_PREFIX: &str = "datero/";
/// The backup task's container that dumps.
pub const DUMP_CONTAINER: &str = "dump";
/// The backup task's container that uploads and reports.
pub const UPLOAD_CONTAINER: &str = "upload";
/// Where the restore task's dump of the current state lives in the task volume (the
/// `BEFORE_RESTORE_FILE` variable of the fetch container, `BACKUP_FILE` of the keep-dump one).
pub const BEFORE_RESTORE_FILE: &str = "/backup/before-restore.sql";
/// The key prefix of the states a restore replaced (`<prefix><UTC time>.sql`): under
/// [`BACKUP_PREFIX`], so the retention rule applies, and the only keys the restore task may put.
pub const BEFORE_RESTORE_PREFIX: &str = "datero/before-restore-";
/// The restore task's first container: dumps the current state before anything is replaced.
pub const KEEP_DUMP_CONTAINER: &str = "keep-dump";
/// The restore task's container that stores that dump and downloads the chosen backup
/// (`BACKUP_KEY`).
pub const FETCH_CONTAINER: &str = "fetch";
/// The restore task's container that loads it.
pub const RESTORE_CONTAINER: &str = "restore";

/// Dumps every database and role into `$BACKUP_FILE`, with `DROP ... IF EXISTS` before each
/// `CREATE` so that a restore also overwrites a Datero that has data. The bootstrap superuser
/// (`postgres`) is left out: the target already has it, a restore cannot drop the role it runs
/// as, and its password belongs to the target stack's own secret.
pub const DUMP_SCRIPT: &str = r#"set -eu
pg_dumpall --clean --if-exists --file "$BACKUP_FILE.raw"
sed -E '/^(DROP ROLE IF EXISTS|CREATE ROLE|ALTER ROLE) "?postgres"?[ ;]/d' "$BACKUP_FILE.raw" > "$BACKUP_FILE.partial"
rm "$BACKUP_FILE.raw"
mv "$BACKUP_FILE.partial" "$BACKUP_FILE""#;

/// Restores `$BACKUP_FILE` into the server, stopping at the first error. Databases are dropped
/// `WITH (FORCE)` (PostgreSQL 13 and later): Datero's own connections must not stop a restore
/// into the running Datero. No pipes: `sh` has no `pipefail` everywhere, and a failure on the
/// left of a pipe would go unnoticed.
pub const RESTORE_SCRIPT: &str = r#"set -eu
sed -E 's/^(DROP DATABASE( IF EXISTS)? [^;]+);$/\1 WITH (FORCE);/' "$BACKUP_FILE" > "$BACKUP_FILE.restore"
psql -X -q -v ON_ERROR_STOP=1 -d postgres -f "$BACKUP_FILE.restore"
rm "$BACKUP_FILE.restore""#;

/// Stores the dump under `$BACKUP_PREFIX<UTC time>.sql` (or `$BACKUP_KEY` where a run-task
/// override sets it: the runner's dump before a new major) in `$BACKUP_BUCKET` and reports the
/// outcome as metrics of namespace `DateroEcs`, dimension `ClusterName=$CLUSTER_NAME`
/// (`metrics::BACKUPS`, `BACKUP_SIZE`, `BACKUP_FAILURES`). A missing dump means the dump
/// container failed: that is reported here too, since it cannot report itself.
pub const UPLOAD_SCRIPT: &str = r#"set -u
metric() {
  aws cloudwatch put-metric-data --namespace DateroEcs --dimensions "ClusterName=$CLUSTER_NAME" --metric-name "$1" --unit "$2" --value "$3"
}
if [ ! -s "$BACKUP_FILE" ]; then
  echo "backup failed: there is no dump (the dump container's log says why)"
  metric BackupFailures Count 1
  exit 1
fi
key="${BACKUP_KEY:-$BACKUP_PREFIX$(date -u +%Y-%m-%dT%H%M%SZ).sql}"
if ! aws s3 cp --only-show-errors "$BACKUP_FILE" "s3://$BACKUP_BUCKET/$key"; then
  echo "backup failed: the upload to s3://$BACKUP_BUCKET/$key did not complete"
  metric BackupFailures Count 1
  exit 1
fi
echo "backup stored: s3://$BACKUP_BUCKET/$key"
metric BackupSize Bytes "$(wc -c < "$BACKUP_FILE")" && metric Backups Count 1"#;

/// Refuses an empty key (exit 2). Then stores the keep-dump's `$BEFORE_RESTORE_FILE` under
/// `${BACKUP_PREFIX}before-restore-<UTC time>.sql` ([`BEFORE_RESTORE_PREFIX`]) and prints that
/// key and how to go back; if that upload fails it exits 3 before fetching anything, so nothing
/// is restored. Only then downloads `s3://$BACKUP_BUCKET/$BACKUP_KEY` to `$BACKUP_FILE`.
pub const FETCH_SCRIPT: &str = r#"set -eu
if [ -z "${BACKUP_KEY:-}" ]; then
  echo "restore refused: BACKUP_KEY is empty; give the key of a backup (aws s3 ls s3://$BACKUP_BUCKET/$BACKUP_PREFIX) in the run-task overrides"
  exit 2
fi
kept="${BACKUP_PREFIX}before-restore-$(date -u +%Y-%m-%dT%H%M%SZ).sql"
if ! aws s3 cp --only-show-errors "$BEFORE_RESTORE_FILE" "s3://$BACKUP_BUCKET/$kept"; then
  echo "restore refused: the current state could not be stored at s3://$BACKUP_BUCKET/$kept; nothing was fetched or restored"
  exit 3
fi
echo "current state stored: s3://$BACKUP_BUCKET/$kept; to go back, run RestoreCommand with KEY=$kept"
aws s3 cp --only-show-errors "s3://$BACKUP_BUCKET/$BACKUP_KEY" "$BACKUP_FILE"
echo "fetched s3://$BACKUP_BUCKET/$BACKUP_KEY""#;

/// A container command that runs `script` with `sh -c`.
pub fn command(script: &str) -> Vec<String> {
    vec!["sh".to_owned(), "-c".to_owned(), script.to_owned()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_scripts_stop_at_the_first_error_and_run_under_sh() {
        for script in [DUMP_SCRIPT, RESTORE_SCRIPT, FETCH_SCRIPT] {
            assert!(script.starts_with("set -eu\n"));
            assert_eq!(command(script)[..2], ["sh", "-c"]);
        }
        assert!(RESTORE_SCRIPT.contains("ON_ERROR_STOP=1"));
        // A dump that failed half-way never takes the name of a good one.
        assert!(DUMP_SCRIPT.contains("mv \"$BACKUP_FILE.partial\" \"$BACKUP_FILE\""));
    }

    #[test]
    fn the_fetch_stores_the_current_state_under_the_prefix_the_restore_role_may_put_before_fetching()
     {
        assert_eq!(
            BEFORE_RESTORE_PREFIX,
            format!("{BACKUP_PREFIX}before-restore-")
        );
        assert_ne!(BEFORE_RESTORE_FILE, BACKUP_FILE);
        let kept = FETCH_SCRIPT
            .find("kept=\"${BACKUP_PREFIX}before-restore-")
            .unwrap();
        let stored = FETCH_SCRIPT.find("\"$BEFORE_RESTORE_FILE\"").unwrap();
        let refused = FETCH_SCRIPT.find("exit 3").unwrap();
        let fetched = FETCH_SCRIPT.find("\"$BACKUP_FILE\"").unwrap();
        assert!(FETCH_SCRIPT.find("exit 2").unwrap() < kept);
        assert!(kept < stored && stored < refused && refused < fetched);
    }

    #[test]
    fn the_upload_reports_the_metrics_the_alarm_and_the_readme_name() {
        use crate::metrics::{BACKUP_FAILURES, BACKUP_SIZE, BACKUPS, NAMESPACE};
        // Not `set -e`: a failed upload must still be reported.
        assert!(UPLOAD_SCRIPT.starts_with("set -u\n"));
        assert!(UPLOAD_SCRIPT.contains(&format!("--namespace {NAMESPACE} ")));
        for name in [BACKUPS, BACKUP_SIZE, BACKUP_FAILURES] {
            assert!(UPLOAD_SCRIPT.contains(&format!("metric {name} ")), "{name}");
        }
        assert!(UPLOAD_SCRIPT.contains("--dimensions \"ClusterName=$CLUSTER_NAME\""));
    }
}
