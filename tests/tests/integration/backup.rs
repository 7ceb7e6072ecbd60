//! The backup's scripts (`shared::backup`), run exactly as the tasks run them: the dump and
//! restore against real PostgreSQL servers started here, the upload and fetch with the AWS CLI
//! against the emulator's S3 and CloudWatch, signed as the task roles of template.yaml with IAM
//! enforced. Datero-like objects survive the round trip through the bucket, a restore over a
//! server that has data replaces it, and the state it replaced is stored first and can be
//! restored back.

use std::process::Output;
use std::time::Instant;

use datero_shared::backup::{self, DUMP_SCRIPT, FETCH_SCRIPT, RESTORE_SCRIPT, UPLOAD_SCRIPT};
use datero_shared::metrics;
use datero_testbed::aws_cli;
use datero_testbed::emulator::Emulator;
use datero_testbed::iam::{self, Principal};
use datero_testbed::postgres::{Major, Postgres};
use datero_testbed::seed;
use datero_testbed::template::Template;
use serde_json::Value;

/// What a Datero user builds: a role, a database with postgres_fdw, a foreign server, a user
/// mapping (with its password), a foreign table, a view on it and a grant.
pub(crate) const DATERO_LIKE: &[(&str, &str)] = &[
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
pub(crate) fn catalog(server: &Postgres) -> Vec<String> {
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

/// The round trip on the major of Datero's pinned image, and on the older one the tests keep.
#[test]
fn a_dump_of_datero_like_objects_restores_into_an_empty_server_and_over_one_with_data() {
    for major in Major::ALL {
        round_trip(major);
    }
}

fn round_trip(major: Major) {
    let source = Postgres::start_major(major).unwrap_or_else(|error| panic!("{error}"));
    let version: u32 = source
        .sql("postgres", "SHOW server_version_num")
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(version / 10_000, major.number(), "{major:?}");
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

    let dir = std::env::temp_dir().join(format!(
        "datero-backup-{}-{}",
        std::process::id(),
        major.number()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("datero.sql").display().to_string();
    let started = Instant::now();
    source
        .script(DUMP_SCRIPT, &[("BACKUP_FILE", file.clone())])
        .unwrap_or_else(|error| panic!("dump: {error}"));
    let dump_seconds = started.elapsed().as_secs_f64();
    let size = std::fs::metadata(&file).unwrap().len();
    println!(
        "PostgreSQL {}: dump of the test data set: {size} bytes in {dump_seconds:.3} s",
        major.number()
    );
    assert!(!dir.join("datero.sql.partial").exists() && !dir.join("datero.sql.raw").exists());

    // Into an empty server (a fresh stack).
    let target = Postgres::start_major(major).unwrap_or_else(|error| panic!("{error}"));
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
        let stack = seed::test_stack(&template);
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

    /// Plays the restore task over `target` with `BACKUP_KEY=key`, as ECS runs its containers:
    /// the keep-dump, then (on its success) the fetch as the restore role, then (on its success)
    /// the restore. `run` names its task volume's files. Panics if a container fails.
    fn restore_task(&self, target: &Postgres, key: &str, run: &str) -> RestoreRun {
        let kept_file = self.file(&format!("{run}-before-restore.sql"));
        let fetched = self.file(&format!("{run}-datero.sql"));
        target
            .script(DUMP_SCRIPT, &[("BACKUP_FILE", kept_file.clone())])
            .unwrap_or_else(|error| panic!("keep-dump: {error}"));
        let fetch = self.fetch(
            &self.restore_role,
            &[
                ("BACKUP_FILE", &fetched),
                ("BEFORE_RESTORE_FILE", &kept_file),
                ("BACKUP_KEY", key),
            ],
        );
        assert!(
            fetch.status.success(),
            "{}{}",
            text(&fetch.stdout),
            text(&fetch.stderr)
        );
        target
            .script(RESTORE_SCRIPT, &[("BACKUP_FILE", fetched.clone())])
            .unwrap_or_else(|error| panic!("restore: {error}"));
        RestoreRun {
            log: text(&fetch.stdout),
            fetched,
            kept_file,
        }
    }

    /// An object's bytes, read as the test.
    fn object(&self, key: &str) -> Vec<u8> {
        let file = self.file("object.read");
        self.aws(&[
            "s3api",
            "get-object",
            "--bucket",
            &self.bucket,
            "--key",
            key,
            &file,
        ]);
        let bytes = std::fs::read(&file).unwrap();
        std::fs::remove_file(&file).ok();
        bytes
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
            .filter(|m| m["Dimensions"][0]["Value"] == seed::CLUSTER)
            .filter_map(|m| m["MetricName"].as_str().map(str::to_owned))
            .collect();
        names.sort();
        names
    }
}

/// What a run of the restore task left: the fetch container's log, and the task volume's files.
struct RestoreRun {
    log: String,
    /// The chosen backup, as fetched.
    fetched: String,
    /// The keep-dump's dump of the state the restore replaced.
    kept_file: String,
}

impl RestoreRun {
    /// The key the fetch container's log names for the state the restore replaced.
    fn kept_key(&self, bucket: &str) -> String {
        let stored = format!("current state stored: s3://{bucket}/");
        let line = self
            .log
            .lines()
            .find_map(|line| line.strip_prefix(&stored))
            .unwrap_or_else(|| panic!("the fetch log names no stored state: {}", self.log));
        line.split(';').next().unwrap_or_default().to_owned()
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
#[expect(
    clippy::too_many_lines,
    reason = "one scenario: back up, restore, keep the replaced state and restore it, in order"
)]
async fn a_backup_goes_to_the_bucket_and_back_and_the_state_it_replaced_can_be_restored() {
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
    let key = keys[0].clone();
    assert!(
        key.starts_with(backup::BACKUP_PREFIX) && key.ends_with("Z.sql"),
        "{key}"
    );
    assert_eq!(world.metrics(), [metrics::BACKUP_SIZE, metrics::BACKUPS]);

    // A Datero that has moved on since that backup: a view dropped, most notes deleted.
    let target = Postgres::start().unwrap_or_else(|error| panic!("{error}"));
    for (database, sql) in DATERO_LIKE {
        target
            .sql(database, sql)
            .unwrap_or_else(|error| panic!("{sql}: {error}"));
    }
    target.sql("sales", "DROP VIEW big_orders").unwrap();
    target
        .sql("sales", "DELETE FROM notes WHERE id > 10")
        .unwrap();
    let before = catalog(&target);
    assert_ne!(before, catalog(&source));

    // The restore task stores the current state first and names its key, then fetches the
    // chosen backup byte for byte and loads it.
    let restored = world.restore_task(&target, &key, "restore");
    let kept = restored.kept_key(&world.bucket);
    println!("{}", restored.log.trim());
    assert!(
        kept.starts_with(backup::BEFORE_RESTORE_PREFIX) && kept.ends_with("Z.sql"),
        "{kept}"
    );
    assert!(
        restored
            .log
            .contains(&format!("run RestoreCommand with KEY={kept}")),
        "{}",
        restored.log
    );
    assert_eq!(world.keys(), [key.clone(), kept.clone()]);
    let stored = world.object(&kept);
    assert!(
        stored == std::fs::read(&restored.kept_file).unwrap(),
        "the stored state is not the keep-dump's dump"
    );
    let (fetched_bytes, dumped_bytes) = (
        std::fs::read(&restored.fetched).unwrap(),
        std::fs::read(&dumped).unwrap(),
    );
    assert!(
        fetched_bytes == dumped_bytes,
        "fetched {} bytes of a {}-byte dump",
        fetched_bytes.len(),
        dumped_bytes.len()
    );
    assert_eq!(catalog(&target), catalog(&source));

    // Going back: RestoreCommand with the stored key brings the replaced state back (and keeps
    // the state it replaces in turn, under a later key: the names have seconds).
    std::thread::sleep(std::time::Duration::from_millis(1100));
    let back = world.restore_task(&target, &kept, "go-back");
    let kept_again = back.kept_key(&world.bucket);
    assert!(kept_again > kept, "{kept_again} after {kept}");
    assert_eq!(world.keys(), [key, kept, kept_again]);
    assert_eq!(catalog(&target), before);
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
    let read_back = world.run(
        &world.backup_role,
        &world.fetch_env,
        "aws s3 cp --only-show-errors \"s3://$BACKUP_BUCKET/$BACKUP_KEY\" \"$BACKUP_FILE\"",
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

    // A restore without a key says which variable is missing, and stores and fetches nothing.
    let state = world.file("state.sql");
    std::fs::write(&state, "-- the current state\n").unwrap();
    let no_key = world.fetch(
        &world.restore_role,
        &[
            ("BACKUP_FILE", &world.file("y.sql")),
            ("BEFORE_RESTORE_FILE", &state),
        ],
    );
    assert_eq!(no_key.status.code(), Some(2));
    assert!(text(&no_key.stdout).contains("BACKUP_KEY is empty"));
    assert!(!std::path::Path::new(&world.file("y.sql")).exists());
    assert_eq!(world.keys(), [key.as_str()]);
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

#[tokio::test]
#[expect(
    clippy::too_many_lines,
    reason = "one scenario per object the role may or may not put"
)]
async fn the_restore_role_may_put_only_the_state_a_restore_replaces() {
    let world = BucketWorld::start("restore-role").await;
    let body = world.file("state.sql");
    std::fs::write(&body, "-- the current state\n").unwrap();
    let as_restore = |script: &str, key: &str| {
        world.run(
            &world.restore_role,
            &world.fetch_env,
            script,
            &[("KEY", key), ("BODY", &body)],
        )
    };
    let put = "aws s3api put-object --bucket \"$BACKUP_BUCKET\" --key \"$KEY\" --body \"$BODY\"";
    let kept = format!("{}2026-11-26T101500Z.sql", backup::BEFORE_RESTORE_PREFIX);
    let stored = as_restore(put, &kept);
    assert!(stored.status.success(), "{}", text(&stored.stderr));
    assert_eq!(world.keys(), [kept.as_str()]);

    // Nowhere else: not over a backup, not outside datero/ (where the retention rule does not
    // reach).
    let elsewhere = [
        "datero/2026-11-26T030000Z.sql",
        "before-restore-2026-11-26T101500Z.sql",
        "other/datero/before-restore-2026-11-26T101500Z.sql",
    ];
    for key in elsewhere {
        let refused = as_restore(put, key);
        assert!(!refused.status.success(), "{key} was stored");
        assert!(
            text(&refused.stderr).contains("AccessDenied"),
            "{key}: {}",
            text(&refused.stderr)
        );
    }
    // And it cannot delete what it stored.
    let delete = "aws s3api delete-object --bucket \"$BACKUP_BUCKET\" --key \"$KEY\"";
    let refused = as_restore(delete, &kept);
    assert!(!refused.status.success());
    assert!(
        text(&refused.stderr).contains("AccessDenied"),
        "{}",
        text(&refused.stderr)
    );
    assert_eq!(world.keys(), [kept.as_str()]);

    let denials = world.emulator.take_denials().await;
    let refused: Vec<(String, String)> = denials
        .iter()
        .map(|d| {
            assert_eq!(d["function"], "restore-task", "{d:#?}");
            let resource = d["resource"].as_str().unwrap_or_default();
            let key = resource
                .split_once('/')
                .map(|(_, key)| key)
                .unwrap_or_default();
            (
                d["action"].as_str().unwrap_or_default().to_owned(),
                key.to_owned(),
            )
        })
        .collect();
    let expected: Vec<(String, String)> = elsewhere
        .iter()
        .map(|key| ("s3:PutObject".to_owned(), (*key).to_owned()))
        .chain([("s3:DeleteObject".to_owned(), kept.clone())])
        .collect();
    assert_eq!(refused, expected);
}

#[tokio::test]
async fn a_restore_whose_current_state_cannot_be_stored_fetches_nothing() {
    let world = BucketWorld::start("restore-keep-fails").await;
    let dump = world.file("datero.sql");
    std::fs::write(&dump, "-- a dump\n").unwrap();
    let stored = world.upload(UPLOAD_SCRIPT, &[("BACKUP_FILE", &dump)]);
    assert!(stored.status.success(), "{stored:?}");
    let key = world.keys().remove(0);
    let state = world.file("before-restore.sql");
    std::fs::write(&state, "-- the current state\n").unwrap();
    let fetched = world.file("fetched.sql");
    let volume = [
        ("BACKUP_FILE", fetched.as_str()),
        ("BEFORE_RESTORE_FILE", state.as_str()),
        ("BACKUP_KEY", key.as_str()),
    ];
    let refused_before_fetching = |fetch: &Output| {
        assert_eq!(
            fetch.status.code(),
            Some(3),
            "{}{}",
            text(&fetch.stdout),
            text(&fetch.stderr)
        );
        assert!(
            text(&fetch.stdout).contains("nothing was fetched or restored"),
            "{}",
            text(&fetch.stdout)
        );
        assert!(
            text(&fetch.stderr).contains("upload failed"),
            "{}",
            text(&fetch.stderr)
        );
        assert!(!std::path::Path::new(&fetched).exists(), "fetched");
        assert_eq!(world.keys(), [key.as_str()]);
    };

    // The bucket refuses the upload (here: plain HTTP, which its policy denies).
    let mut plain = volume.to_vec();
    plain.push(("AWS_ENDPOINT_URL", world.emulator.endpoint()));
    let fetch = world.fetch(&world.restore_role, &plain);
    refused_before_fetching(&fetch);
    assert!(text(&fetch.stderr).contains("AccessDenied"));

    // IAM refuses the upload (a role that lost its put) though the backup could be read: the
    // chosen backup is still not downloaded.
    let mut no_put = world.restore_role.clone();
    no_put.name = "restore-task-no-put".to_owned();
    no_put.access_key_id = iam::access_key_id(&no_put.name);
    for policy in &mut no_put.policies {
        if let Some(statements) = policy["Statement"].as_array_mut() {
            statements.retain(|statement| statement["Action"] != "s3:PutObject");
        }
    }
    world.emulator.enforce_iam(&no_put).await;
    let fetch = world.fetch(&no_put, &volume);
    refused_before_fetching(&fetch);
    let denials = world.emulator.take_denials().await;
    assert_eq!(denials.len(), 1, "{denials:#?}");
    assert_eq!(denials[0]["action"], "s3:PutObject");
    let resource = denials[0]["resource"].as_str().unwrap_or_default();
    assert!(
        resource.contains(&format!("/{}", backup::BEFORE_RESTORE_PREFIX)),
        "{resource}"
    );
}
