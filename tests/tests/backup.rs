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

/// The test stack's bucket on the emulator, with the template's policy, and the two task roles
/// enforced: what the backup and restore tasks meet on AWS.
struct BucketWorld {
    emulator: Emulator,
    bucket: String,
    backup_role: Principal,
    restore_role: Principal,
    /// The upload container's environment, as template.yaml gives it.
    upload_env: Vec<(String, String)>,
    /// The fetch container's environment, as template.yaml gives it.
    fetch_env: Vec<(String, String)>,
    /// A folder of the test's own, for the task volume's files.
    dir: std::path::PathBuf,
}

impl BucketWorld {
    async fn start(name: &str) -> Self {
        let template = Template::load().unwrap();
        let stack = fixtures::test_stack(&template);
        let emulator = Emulator::start().await;
        let bucket = stack.refs["BackupBucket"].clone();
        let policy = template.properties("BackupBucketPolicy", &stack).unwrap();
        let policy = policy["PolicyDocument"].to_string();
        let tester = Principal::unchecked("tester");
        for args in [
            vec!["s3api", "create-bucket", "--bucket", &bucket],
            vec![
                "s3api",
                "put-bucket-policy",
                "--bucket",
                &bucket,
                "--policy",
                &policy,
            ],
        ] {
            aws_cli::json(&emulator, &tester, &args).unwrap();
        }
        let role = |logical: &str, name: &str| {
            Principal::of_role(&template, &stack, logical, name).unwrap()
        };
        let (backup_role, restore_role) = (
            role("BackupTaskRole", "backup-task"),
            role("RestoreTaskRole", "restore-task"),
        );
        emulator.enforce_iam(&backup_role).await;
        emulator.enforce_iam(&restore_role).await;
        let env = |task: &str, container: &str| {
            aws_cli::container_env(&template, &stack, task, container).unwrap()
        };
        let dir = std::env::temp_dir().join(format!("datero-{name}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        Self {
            upload_env: env("BackupTaskDefinition", backup::UPLOAD_CONTAINER),
            fetch_env: env("RestoreTaskDefinition", backup::FETCH_CONTAINER),
            emulator,
            bucket,
            backup_role,
            restore_role,
            dir,
        }
    }

    /// A path in the test's folder, as text.
    fn file(&self, name: &str) -> String {
        self.dir.join(name).display().to_string()
    }

    /// Runs the upload container's script on `file`, as the backup task's role.
    fn upload(&self, script: &str, extra: &[(&str, &str)]) -> Output {
        self.run(&self.backup_role, &self.upload_env, script, extra)
    }

    /// Runs the fetch container's script, as `role`.
    fn fetch(&self, role: &Principal, extra: &[(&str, &str)]) -> Output {
        self.run(role, &self.fetch_env, FETCH_SCRIPT, extra)
    }

    fn run(
        &self,
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
        aws_cli::script(&self.emulator, role, &env, script).unwrap()
    }

    /// The AWS CLI as the test (not a task): unchecked by IAM.
    fn aws(&self, args: &[&str]) -> Value {
        aws_cli::json(&self.emulator, &Principal::unchecked("tester"), args).unwrap()
    }

    fn keys(&self) -> Vec<String> {
        let listed = self.aws(&["s3api", "list-objects-v2", "--bucket", &self.bucket]);
        listed["Contents"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|o| o["Key"].as_str().map(str::to_owned))
            .collect()
    }

    /// The backup metrics written for the test stack's cluster, by name.
    fn metrics(&self) -> Vec<String> {
        let listed = self.aws(&[
            "cloudwatch",
            "list-metrics",
            "--namespace",
            metrics::NAMESPACE,
        ]);
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
}

impl Drop for BucketWorld {
    fn drop(&mut self) {
        std::fs::remove_dir_all(&self.dir).ok();
    }
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[tokio::test]
async fn a_backup_goes_to_the_bucket_and_comes_back_into_an_empty_server() {
    let world = BucketWorld::start("bucket-round-trip").await;
    let source = Postgres::start().unwrap_or_else(|error| panic!("{error}"));
    for (database, sql) in DATERO_LIKE {
        source
            .sql(database, sql)
            .unwrap_or_else(|error| panic!("{sql}: {error}"));
    }
    let dumped = world.file("datero.sql");
    source
        .script(DUMP_SCRIPT, &[("BACKUP_FILE", dumped.clone())])
        .unwrap_or_else(|error| panic!("dump: {error}"));

    // The upload stores it under datero/ and reports success.
    let started = Instant::now();
    let upload = world.upload(UPLOAD_SCRIPT, &[("BACKUP_FILE", &dumped)]);
    let seconds = started.elapsed().as_secs_f64();
    assert!(
        upload.status.success(),
        "{}{}",
        text(&upload.stdout),
        text(&upload.stderr)
    );
    println!(
        "upload to the bucket: {seconds:.2} s; {}",
        text(&upload.stdout).trim()
    );
    let keys = world.keys();
    assert_eq!(keys.len(), 1, "{keys:?}");
    let key = &keys[0];
    assert!(
        key.starts_with(backup::BACKUP_PREFIX) && key.ends_with("Z.sql"),
        "{key}"
    );
    assert_eq!(world.metrics(), [metrics::BACKUP_SIZE, metrics::BACKUPS]);

    // The restore task fetches the chosen backup and loads it into an empty server.
    let fetched = world.file("fetched.sql");
    let fetch = world.fetch(
        &world.restore_role,
        &[("BACKUP_FILE", &fetched), ("BACKUP_KEY", key)],
    );
    assert!(fetch.status.success(), "{fetch:?}");
    let (fetched_bytes, dumped_bytes) = (
        std::fs::read(&fetched).unwrap(),
        std::fs::read(&dumped).unwrap(),
    );
    assert!(
        fetched_bytes == dumped_bytes,
        "fetched {} bytes of a {}-byte dump",
        fetched_bytes.len(),
        dumped_bytes.len()
    );
    let target = Postgres::start().unwrap_or_else(|error| panic!("{error}"));
    target
        .script(RESTORE_SCRIPT, &[("BACKUP_FILE", fetched)])
        .unwrap_or_else(|error| panic!("restore: {error}"));
    assert_eq!(catalog(&target), catalog(&source));
}

#[tokio::test]
async fn the_bucket_takes_tls_only_and_each_task_role_works_one_way() {
    let world = BucketWorld::start("bucket-refusals").await;
    let file = world.file("datero.sql");
    std::fs::write(&file, "-- a dump\n").unwrap();
    let stored = world.upload(UPLOAD_SCRIPT, &[("BACKUP_FILE", &file)]);
    assert!(stored.status.success(), "{stored:?}");
    let key = world.keys().remove(0);

    // The same upload over plain HTTP is refused by the bucket's policy.
    let copy = "aws s3 cp --only-show-errors \"$BACKUP_FILE\" \"s3://$BACKUP_BUCKET/${BACKUP_PREFIX}plain.sql\"";
    let plain = world.upload(
        copy,
        &[
            ("BACKUP_FILE", &file),
            ("AWS_ENDPOINT_URL", world.emulator.endpoint()),
        ],
    );
    assert!(!plain.status.success());
    assert!(text(&plain.stderr).contains("AccessDenied"), "{plain:?}");
    assert_eq!(world.keys(), [key.as_str()]);

    // The backup role cannot read a backup back; IAM refuses exactly that.
    let read_back = world.fetch(
        &world.backup_role,
        &[("BACKUP_FILE", &world.file("x.sql")), ("BACKUP_KEY", &key)],
    );
    assert!(!read_back.status.success());
    assert!(text(&read_back.stderr).contains("403"), "{read_back:?}");
    let refused = world.emulator.take_denials().await;
    assert!(!refused.is_empty());
    assert!(
        refused
            .iter()
            .all(|d| d["function"] == "backup-task" && d["action"] == "s3:GetObject"),
        "{refused:#?}"
    );

    // A restore without a key says which variable is missing, and fetches nothing.
    let no_key = world.fetch(
        &world.restore_role,
        &[("BACKUP_FILE", &world.file("y.sql"))],
    );
    assert_eq!(no_key.status.code(), Some(2));
    assert!(text(&no_key.stdout).contains("BACKUP_KEY is empty"));
    assert!(!std::path::Path::new(&world.file("y.sql")).exists());
    // Every other call was allowed: the emulator's guard checks at drop.
}

#[tokio::test]
async fn a_dump_that_failed_is_reported_as_a_backup_failure() {
    let world = BucketWorld::start("bucket-failure").await;
    // The dump script leaves no file when it fails (a_failed_dump_leaves_no_file_...).
    let missing = world.file("datero.sql");
    let failed = world.upload(UPLOAD_SCRIPT, &[("BACKUP_FILE", &missing)]);
    assert_eq!(failed.status.code(), Some(1));
    assert!(text(&failed.stdout).contains("backup failed: there is no dump"));
    assert!(world.keys().is_empty());
    assert_eq!(world.metrics(), [metrics::BACKUP_FAILURES]);
}
