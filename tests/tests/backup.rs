//! The backup's scripts (`shared::backup`), run exactly as the tasks run them: the dump and
//! restore against real PostgreSQL servers started here, the upload and fetch with the AWS CLI
//! against the emulator's S3 and CloudWatch, signed as the task roles of template.yaml with IAM
//! enforced. Datero-like objects survive the round trip through the bucket, and a restore over
//! a server that has data replaces it.

use std::process::Output;
use std::time::Instant;

use datero_shared::backup::{self, DUMP_SCRIPT, FETCH_SCRIPT, RESTORE_SCRIPT, UPLOAD_SCRIPT};
use datero_shared::metrics;
use datero_testbed::aws_cli;
use datero_testbed::emulator::Emulator;
use datero_testbed::fixtures;
use datero_testbed::iam::Principal;
use datero_testbed::postgres::Postgres;
use datero_testbed::template::Template;
use serde_json::Value;

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

/// Runs `script` as a container whose environment is `env`, with `extra` on top (the test's
/// file paths), signing as `role`.
fn run_as_task(
    emulator: &Emulator,
    role: &Principal,
    env: &[(String, String)],
    script: &str,
    extra: &[(&str, &str)],
) -> Output {
    let mut env = env.to_vec();
    env.extend(
        extra
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned())),
    );
    aws_cli::script(emulator, role, &env, script).unwrap()
}

/// The AWS CLI as the test (not a task): unchecked by IAM.
fn aws(emulator: &Emulator, args: &[&str]) -> Value {
    aws_cli::json(emulator, &Principal::unchecked("tester"), args).unwrap()
}

fn backup_metrics(emulator: &Emulator) -> Vec<String> {
    let listed = aws(
        emulator,
        &[
            "cloudwatch",
            "list-metrics",
            "--namespace",
            metrics::NAMESPACE,
        ],
    );
    let mut names: Vec<String> = listed["Metrics"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|m| m["Dimensions"][0]["Value"] == fixtures::CLUSTER)
        .filter_map(|m| m["MetricName"].as_str().map(str::to_owned))
        .collect();
    names.sort();
    names
}

// Longer than 60 lines: one story, a backup and its restore through the bucket, told in order.
#[tokio::test]
async fn a_backup_goes_to_the_bucket_and_comes_back_as_the_task_roles_allow() {
    let template = Template::load().unwrap();
    let stack = fixtures::test_stack(&template);
    let emulator = Emulator::start().await;
    let bucket = stack.refs["BackupBucket"].clone();
    aws(&emulator, &["s3api", "create-bucket", "--bucket", &bucket]);
    let policy = template.properties("BackupBucketPolicy", &stack).unwrap();
    let policy = policy["PolicyDocument"].to_string();
    aws(
        &emulator,
        &[
            "s3api",
            "put-bucket-policy",
            "--bucket",
            &bucket,
            "--policy",
            &policy,
        ],
    );
    let backup_role =
        Principal::of_role(&template, &stack, "BackupTaskRole", "backup-task").unwrap();
    let restore_role =
        Principal::of_role(&template, &stack, "RestoreTaskRole", "restore-task").unwrap();
    emulator.enforce_iam(&backup_role).await;
    emulator.enforce_iam(&restore_role).await;
    let upload_env = aws_cli::container_env(
        &template,
        &stack,
        "BackupTaskDefinition",
        backup::UPLOAD_CONTAINER,
    )
    .unwrap();
    let fetch_env = aws_cli::container_env(
        &template,
        &stack,
        "RestoreTaskDefinition",
        backup::FETCH_CONTAINER,
    )
    .unwrap();

    let source = Postgres::start().unwrap_or_else(|error| panic!("{error}"));
    for (database, sql) in DATERO_LIKE {
        source
            .sql(database, sql)
            .unwrap_or_else(|error| panic!("{sql}: {error}"));
    }
    let expected = catalog(&source);
    let dir = std::env::temp_dir().join(format!("datero-bucket-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("datero.sql").display().to_string();
    source
        .script(DUMP_SCRIPT, &[("BACKUP_FILE", file.clone())])
        .unwrap_or_else(|error| panic!("dump: {error}"));

    // The upload stores it under datero/ and reports success.
    let started = Instant::now();
    let upload = run_as_task(
        &emulator,
        &backup_role,
        &upload_env,
        UPLOAD_SCRIPT,
        &[("BACKUP_FILE", &file)],
    );
    let upload_seconds = started.elapsed().as_secs_f64();
    let log = String::from_utf8_lossy(&upload.stdout).into_owned();
    assert!(
        upload.status.success(),
        "{log}{}",
        String::from_utf8_lossy(&upload.stderr)
    );
    println!(
        "upload to the bucket: {upload_seconds:.2} s; {}",
        log.trim()
    );
    let listed = aws(
        &emulator,
        &["s3api", "list-objects-v2", "--bucket", &bucket],
    );
    let keys: Vec<&str> = listed["Contents"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|o| o["Key"].as_str())
        .collect();
    assert_eq!(keys.len(), 1, "{keys:?}");
    let key = keys[0].to_owned();
    assert!(
        key.starts_with(backup::BACKUP_PREFIX) && key.ends_with("Z.sql"),
        "{key}"
    );
    assert_eq!(
        backup_metrics(&emulator),
        [metrics::BACKUP_SIZE, metrics::BACKUPS]
    );
    // The bucket takes TLS only: the same upload over plain HTTP is refused by its policy.
    let plain = run_as_task(
        &emulator,
        &backup_role,
        &upload_env,
        "aws s3 cp --only-show-errors \"$BACKUP_FILE\" \"s3://$BACKUP_BUCKET/${BACKUP_PREFIX}plain.sql\"",
        &[
            ("BACKUP_FILE", &file),
            ("AWS_ENDPOINT_URL", emulator.endpoint()),
        ],
    );
    assert!(!plain.status.success());
    assert!(
        String::from_utf8_lossy(&plain.stderr).contains("AccessDenied"),
        "{plain:?}"
    );

    // Least privilege: the backup role cannot read a backup back.
    let read_back = run_as_task(
        &emulator,
        &backup_role,
        &fetch_env,
        FETCH_SCRIPT,
        &[("BACKUP_FILE", &file), ("BACKUP_KEY", &key)],
    );
    assert!(!read_back.status.success());
    assert!(
        String::from_utf8_lossy(&read_back.stderr).contains("403"),
        "{read_back:?}"
    );
    let refused = emulator.take_denials().await;
    assert!(!refused.is_empty());
    assert!(
        refused
            .iter()
            .all(|d| d["function"] == "backup-task" && d["action"] == "s3:GetObject"),
        "{refused:#?}"
    );
    // A restore without a key says which variable is missing.
    let no_key = run_as_task(
        &emulator,
        &restore_role,
        &fetch_env,
        FETCH_SCRIPT,
        &[("BACKUP_FILE", &file)],
    );
    assert_eq!(no_key.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&no_key.stdout).contains("BACKUP_KEY is empty"));

    // The restore task fetches the chosen backup and loads it into an empty server.
    let fetched = dir.join("fetched.sql").display().to_string();
    let fetch = run_as_task(
        &emulator,
        &restore_role,
        &fetch_env,
        FETCH_SCRIPT,
        &[("BACKUP_FILE", &fetched), ("BACKUP_KEY", &key)],
    );
    assert!(fetch.status.success(), "{fetch:?}");
    let (fetched_bytes, dumped_bytes) = (
        std::fs::read(&fetched).unwrap(),
        std::fs::read(&file).unwrap(),
    );
    assert!(
        fetched_bytes == dumped_bytes,
        "fetched {} bytes of a {}-byte dump",
        fetched_bytes.len(),
        dumped_bytes.len()
    );
    let target = Postgres::start().unwrap_or_else(|error| panic!("{error}"));
    target
        .script(RESTORE_SCRIPT, &[("BACKUP_FILE", fetched.clone())])
        .unwrap_or_else(|error| panic!("restore: {error}"));
    assert_eq!(catalog(&target), expected);

    // A dump that failed leaves no file: the upload reports the failure and fails the task.
    std::fs::remove_file(&file).unwrap();
    let failed = run_as_task(
        &emulator,
        &backup_role,
        &upload_env,
        UPLOAD_SCRIPT,
        &[("BACKUP_FILE", &file)],
    );
    assert_eq!(failed.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&failed.stdout).contains("backup failed: there is no dump"));
    assert_eq!(
        backup_metrics(&emulator),
        [
            metrics::BACKUP_FAILURES,
            metrics::BACKUP_SIZE,
            metrics::BACKUPS
        ]
    );
    // Every other call was allowed: the emulator's guard checks at drop.
    std::fs::remove_dir_all(&dir).ok();
}
