//! Backups of Datero's own database: the exact commands the backup and restore tasks run.
//!
//! A file-level copy of a running PostgreSQL is not a backup (PostgreSQL manual, "File System
//! Level Backup": it needs a stopped server or an atomic snapshot), so the backup is logical:
//! `pg_dumpall` of every database and role, taken from the running Datero with the client
//! tools its image ships. The commands read the standard libpq variables (`PGHOST`, `PGPORT`,
//! `PGUSER`, `PGPASSWORD`) and `BACKUP_FILE`; `tests/tests/backup.rs` runs them as they are
//! against real PostgreSQL servers.

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

/// A container command that runs `script` with `sh -c`.
pub fn command(script: &str) -> Vec<String> {
    vec!["sh".to_owned(), "-c".to_owned(), script.to_owned()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_scripts_stop_at_the_first_error_and_run_under_sh() {
        for script in [DUMP_SCRIPT, RESTORE_SCRIPT] {
            assert!(script.starts_with("set -eu\n"));
            assert_eq!(command(script)[..2], ["sh", "-c"]);
        }
        assert!(RESTORE_SCRIPT.contains("ON_ERROR_STOP=1"));
        // A dump that failed half-way never takes the name of a good one.
        assert!(DUMP_SCRIPT.contains("mv \"$BACKUP_FILE.partial\" \"$BACKUP_FILE\""));
    }
}
