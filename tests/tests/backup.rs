//! The backup's dump and restore commands (`shared::backup`), run exactly as the tasks run
//! them, against real PostgreSQL servers started here: Datero-like objects survive the round
//! trip, and a restore over a server that has data replaces it.

use std::time::Instant;

use datero_shared::backup::{DUMP_SCRIPT, RESTORE_SCRIPT};
use datero_testbed::postgres::Postgres;

/// What a Datero user builds: a role, a database with postgres_fdw, a foreign server, a user
/// mapping (with its password), a foreign table, a view on it and a grant.
const DATERO_LIKE: &[(&str, &str)] = &[
    (
        "postgres",
        "CREATE ROLE analyst LOGIN PASSWORD 'analyst-pass'",
    ),
    ("postgres", "CREATE DATABASE sales"),
    ("sales", "CREATE EXTENSION postgres_fdw"),
    (
        "sales",
        "CREATE SERVER erp FOREIGN DATA WRAPPER postgres_fdw OPTIONS (host '10.0.0.5', port '5432', dbname 'erp')",
    ),
    (
        "sales",
        "CREATE USER MAPPING FOR analyst SERVER erp OPTIONS (user 'erp_reader', password 'erp-pass')",
    ),
    (
        "sales",
        "CREATE FOREIGN TABLE orders (id int, total numeric) SERVER erp OPTIONS (schema_name 'public', table_name 'orders')",
    ),
    (
        "sales",
        "CREATE VIEW big_orders AS SELECT id, total FROM orders WHERE total > 100",
    ),
    ("sales", "GRANT SELECT ON big_orders TO analyst"),
    (
        "sales",
        "CREATE TABLE notes (id int PRIMARY KEY, body text)",
    ),
    (
        "sales",
        "INSERT INTO notes SELECT g, 'note ' || g FROM generate_series(1, 1000) g",
    ),
];

/// The catalogs the round trip must keep, as sorted text.
fn catalog(server: &Postgres) -> Vec<String> {
    let queries = [
        (
            "postgres",
            "SELECT rolname || ' login=' || rolcanlogin || ' password=' || (rolpassword IS NOT NULL) FROM pg_authid WHERE rolname !~ '^pg_' AND rolname <> 'postgres'",
        ),
        ("postgres", "SELECT datname FROM pg_database"),
        ("sales", "SELECT extname FROM pg_extension"),
        (
            "sales",
            "SELECT srvname || ' ' || array_to_string(ARRAY(SELECT unnest(srvoptions) ORDER BY 1), ',') FROM pg_foreign_server",
        ),
        (
            "sales",
            "SELECT usename || '@' || srvname || ' ' || array_to_string(ARRAY(SELECT unnest(umoptions) ORDER BY 1), ',') FROM pg_user_mappings",
        ),
        (
            "sales",
            "SELECT c.relname || ' ' || array_to_string(ARRAY(SELECT unnest(ftoptions) ORDER BY 1), ',') FROM pg_foreign_table f JOIN pg_class c ON c.oid = f.ftrelid",
        ),
        (
            "sales",
            "SELECT viewname || ' ' || definition FROM pg_views WHERE schemaname = 'public'",
        ),
        (
            "sales",
            "SELECT grantee || ' ' || privilege_type || ' ' || table_name FROM information_schema.role_table_grants WHERE grantee = 'analyst'",
        ),
        ("sales", "SELECT count(*) || ' notes' FROM notes"),
    ];
    let mut rows = Vec::new();
    for (database, query) in queries {
        let out = server
            .sql(database, query)
            .unwrap_or_else(|error| panic!("{query}: {error}"));
        rows.extend(out.lines().map(str::to_owned));
    }
    rows.sort();
    rows
}

#[test]
fn a_dump_of_datero_like_objects_restores_into_an_empty_server_and_over_one_with_data() {
    let source = Postgres::start().unwrap_or_else(|error| panic!("{error}"));
    for (database, sql) in DATERO_LIKE {
        source
            .sql(database, sql)
            .unwrap_or_else(|error| panic!("{sql}: {error}"));
    }
    let expected = catalog(&source);
    assert!(
        expected.iter().any(|row| row.starts_with("analyst@erp")),
        "{expected:?}"
    );

    let dir = std::env::temp_dir().join(format!("datero-backup-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("datero.sql").display().to_string();
    let started = Instant::now();
    source
        .script(DUMP_SCRIPT, &[("BACKUP_FILE", file.clone())])
        .unwrap_or_else(|error| panic!("dump: {error}"));
    let dump_seconds = started.elapsed().as_secs_f64();
    let size = std::fs::metadata(&file).unwrap().len();
    println!("dump of the test data set: {size} bytes in {dump_seconds:.3} s");
    assert!(!dir.join("datero.sql.partial").exists() && !dir.join("datero.sql.raw").exists());

    // Into an empty server (a fresh stack).
    let target = Postgres::start().unwrap_or_else(|error| panic!("{error}"));
    target
        .script(RESTORE_SCRIPT, &[("BACKUP_FILE", file.clone())])
        .unwrap_or_else(|error| panic!("restore: {error}"));
    assert_eq!(catalog(&target), expected);

    // Over a server that has data, with a session open on the database (Datero running).
    target.sql("sales", "DROP VIEW big_orders").unwrap();
    target
        .sql("sales", "DELETE FROM notes WHERE id > 10")
        .unwrap();
    let mut busy = target.hold_session("sales").unwrap();
    target
        .script(RESTORE_SCRIPT, &[("BACKUP_FILE", file.clone())])
        .unwrap_or_else(|error| panic!("restore over data: {error}"));
    busy.kill().ok();
    busy.wait().ok();
    assert_eq!(catalog(&target), expected);
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn a_failed_dump_leaves_no_file_that_looks_like_a_backup() {
    let server = Postgres::start().unwrap_or_else(|error| panic!("{error}"));
    let dir = std::env::temp_dir().join(format!("datero-backup-fail-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("datero.sql").display().to_string();
    // A port nobody listens on: pg_dumpall fails, and so must the script.
    let refused = server.script(
        &format!("PGPORT=1; export PGPORT; {DUMP_SCRIPT}"),
        &[("BACKUP_FILE", file.clone())],
    );
    assert!(refused.is_err());
    assert!(!std::path::Path::new(&file).exists());
    std::fs::remove_dir_all(&dir).ok();
}
