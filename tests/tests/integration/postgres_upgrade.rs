//! Upgrading Datero across PostgreSQL majors, on real servers of two majors (15 from Debian, 17
//! as Datero's image ships it; `tests/src/postgres.rs`).
//!
//! - Each major refuses the other's data directory, and the runner reads that refusal
//!   (`datero_shared::postgres_major`) from what the real server prints: the way to the newer
//!   major, or the downgrade refused.
//! - The way itself, as the runner moves Datero (`functions/task-runner/src/new_major.rs`): the
//!   backup task dumps the old server with the new image's tools (its revision runs the image
//!   being rolled out), the new image starts on a folder of its own in the data volume (`pg17`:
//!   an empty directory inside the old one), the restore task loads the dump. The data is there
//!   afterwards, and the old directory still holds the old server's data, untouched.

use std::time::Instant;

use datero_shared::backup::{DUMP_SCRIPT, RESTORE_SCRIPT};
use datero_shared::postgres_major::MajorMismatch;
use datero_shared::readiness::failed_start_reason;
use datero_testbed::postgres::{Major, Postgres};

use super::backup::{DATERO_LIKE, catalog};

#[test]
fn each_major_refuses_the_others_data_and_the_runner_reads_which_way_it_goes() {
    let dir = std::env::temp_dir().join(format!("datero-majors-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::process::Command::new("chown")
        .args(["postgres:postgres"])
        .arg(&dir)
        .output()
        .ok();
    let (older, newer) = (Major::Older, Major::OfTheImage);
    for (made_by, started) in [(older, newer), (newer, older)] {
        let data = dir.join(format!("made-by-{}", made_by.number()));
        made_by
            .initdb(&data)
            .unwrap_or_else(|error| panic!("{error}"));
        let printed = started
            .refusal(&data)
            .unwrap_or_else(|error| panic!("{error}"));
        println!(
            "PostgreSQL {} on {}'s data:\n{printed}",
            started.number(),
            made_by.number()
        );
        let lines: Vec<String> = printed.lines().map(str::to_owned).collect();
        let mismatch = MajorMismatch::find(lines.iter().map(String::as_str));
        assert_eq!(
            mismatch,
            Some(MajorMismatch {
                data: made_by.number(),
                server: started.number()
            }),
            "{printed}"
        );
        let reason = failed_start_reason("Datero's task stopped before it was up", &lines);
        if started == newer {
            assert!(reason.contains("DataDirectory=pg17"), "{reason}");
        } else {
            assert!(reason.starts_with("downgrade refused"), "{reason}");
        }
        // Nothing was changed: the directory is still the other major's.
        let version = std::fs::read_to_string(data.join("PG_VERSION")).unwrap_or_default();
        assert_eq!(version.trim(), made_by.number().to_string());
    }
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn a_new_major_in_a_folder_of_its_own_gets_the_data_through_dump_and_restore() {
    let old = Postgres::start_major(Major::Older).unwrap_or_else(|error| panic!("{error}"));
    for (database, sql) in DATERO_LIKE {
        old.sql(database, sql)
            .unwrap_or_else(|error| panic!("{sql}: {error}"));
    }
    let expected = catalog(&old);

    // 1. Back up (the backup task's script, with the new image's tools, as the backup task's
    //    new revision runs them against the previous revision's server).
    let dump = std::env::temp_dir().join(format!("datero-upgrade-{}.sql", std::process::id()));
    let file = dump.display().to_string();
    let started = Instant::now();
    old.script_with(
        Major::OfTheImage,
        DUMP_SCRIPT,
        &[("BACKUP_FILE", file.clone())],
    )
    .unwrap_or_else(|error| panic!("dump: {error}"));
    let dumped = started.elapsed();

    // 2. The new image on its own folder pg17 of the volume, which holds the old data at its
    //    root.
    let started = Instant::now();
    let folder = old.data().join("pg17");
    let new = Postgres::start_major_in(Major::OfTheImage, &folder)
        .unwrap_or_else(|error| panic!("{error}"));
    let initialised = started.elapsed();

    // 3. Restore (the restore task's script, with the new image's tools).
    let started = Instant::now();
    new.script(RESTORE_SCRIPT, &[("BACKUP_FILE", file.clone())])
        .unwrap_or_else(|error| panic!("restore: {error}"));
    let restored = started.elapsed();
    println!(
        "PostgreSQL 15 to 17: dump {:.2} s, new data directory {:.2} s, restore {:.2} s",
        dumped.as_secs_f64(),
        initialised.as_secs_f64(),
        restored.as_secs_f64()
    );

    let version: u32 = new
        .sql("postgres", "SHOW server_version_num")
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(version / 10_000, 17);
    // PostgreSQL 16 and later print a one-table view's columns without the table's name
    // ("total", not "orders.total"): the same view.
    let unqualified = |rows: &[String]| -> Vec<String> {
        let mut rows: Vec<String> = rows.iter().map(|row| row.replace("orders.", "")).collect();
        rows.sort();
        rows
    };
    assert_eq!(
        unqualified(&catalog(&new)),
        unqualified(&expected),
        "the data is there on PostgreSQL 17"
    );
    // The old directory is kept as it was: the old server still reads it whole.
    assert_eq!(catalog(&old), expected);
    let version = std::fs::read_to_string(old.data().join("PG_VERSION")).unwrap_or_default();
    assert_eq!(version.trim(), "15");
    std::fs::remove_file(&dump).ok();
}
