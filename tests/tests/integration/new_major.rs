//! A rollout onto an image of a newer PostgreSQL major: `functions/task-runner` moves Datero's
//! data by dump and restore, on the emulator's model of PostgreSQL's data-directory check and of
//! the backup and restore tasks (`Emulator::set_postgres_majors`, `Emulator::play_one_off`),
//! the runner's role enforced. `postgres_upgrade.rs` runs the same path on real servers.

use aws_config::SdkConfig;
use datero_testbed::emulator::{Emulator, TaskStart};
use datero_testbed::events;
use datero_testbed::harness::FunctionHarness;
use datero_testbed::seed::{self, BACKUP_FAMILY, CLUSTER, PROVIDER, RESTORE_FAMILY};
use serde_json::{Value, json};

const TYPE: &str = "Custom::DateroTask";
const OLD_IMAGE: &str = "chumaky/datero:1.2.0";
const NEW_IMAGE: &str = "chumaky/datero:2.0.0";
/// The data directory at the volume's root, and the new major's folder, as the emulator keys
/// them (`<volume source>:<folder>`).
const ROOT: &str = "/var/lib/datero:";
const PG18: &str = "/var/lib/datero:/pg18";
const ROWS: &str = "Datero's servers and foreign tables, made on PostgreSQL 17";

struct Bed {
    harness: FunctionHarness,
    config: SdkConfig,
    /// Datero on PostgreSQL 17, then 18.
    revisions: [String; 2],
    backup: String,
    restore: String,
}

async fn bed() -> Bed {
    let emulator = Emulator::start().await;
    let config = emulator.sdk_config().await;
    seed::ready_cluster(&config, 1).await;
    emulator
        .set_postgres_majors(&[(OLD_IMAGE, 17), (NEW_IMAGE, 18)])
        .await;
    let revisions = [
        seed::datero_on_data_volume(&config, OLD_IMAGE).await,
        seed::datero_on_data_volume(&config, NEW_IMAGE).await,
    ];
    let (backup, restore) = seed::backup_and_restore(&config).await;
    emulator.play_one_off(BACKUP_FAMILY, "dump", &[], &[]).await;
    emulator
        .play_one_off(RESTORE_FAMILY, "restore", &[], &[])
        .await;
    let harness = FunctionHarness::start_on(emulator, "task-runner", &[]).await;
    Bed {
        harness,
        config,
        revisions,
        backup,
        restore,
    }
}

impl Bed {
    fn properties(&self, revision: usize) -> Value {
        json!({"ClusterName": CLUSTER, "CapacityProviderName": PROVIDER,
            "TaskDefinitionArn": self.revisions[revision],
            "BackupTaskDefinitionArn": self.backup, "RestoreTaskDefinitionArn": self.restore})
    }

    async fn update(&self, from: usize, to: usize) -> Value {
        self.harness
            .request(events::update(
                TYPE,
                &format!("{CLUSTER}/datero"),
                self.properties(from),
                self.properties(to),
                "",
            ))
            .await
    }

    /// The one Datero task ECS wants running: its revision and the PGDATA it was started with
    /// (none: the task definition's).
    async fn running(&self) -> (String, Option<String>) {
        let wanted = seed::wanted(&self.config).await;
        assert_eq!(wanted.len(), 1, "{wanted:?}");
        let task = &wanted[0];
        let pgdata = task
            .overrides()
            .into_iter()
            .flat_map(|overrides| overrides.container_overrides())
            .filter(|container| container.name() == Some("datero"))
            .flat_map(|container| container.environment())
            .find(|pair| pair.name() == Some("PGDATA"))
            .and_then(|pair| pair.value())
            .map(str::to_owned);
        (
            task.task_definition_arn().unwrap_or_default().to_owned(),
            pgdata,
        )
    }

    async fn data_folder_mark(&self) -> Option<String> {
        let described = aws_sdk_ecs::Client::new(&self.config)
            .describe_clusters()
            .clusters(CLUSTER)
            .include(aws_sdk_ecs::types::ClusterField::Tags)
            .send()
            .await
            .expect("describe the cluster");
        described
            .clusters()
            .first()?
            .tags()
            .iter()
            .find(|tag| tag.key() == Some("datero-ecs:data-directory"))
            .and_then(|tag| tag.value())
            .map(str::to_owned)
    }
}

/// Datero created on PostgreSQL 17, with [`ROWS`] in its data directory at the volume's root.
async fn running_17() -> Bed {
    let bed = bed().await;
    let created = bed
        .harness
        .request(events::create(TYPE, bed.properties(0), ""))
        .await;
    assert_eq!(created["Status"], "SUCCESS", "{created}");
    let before = bed.harness.emulator.postgres_data(&[(ROOT, ROWS)]).await;
    assert_eq!(before["majors"][ROOT], 17, "{before}");
    bed
}

#[tokio::test]
async fn a_new_major_moves_the_data_by_dump_and_restore_and_going_back_is_refused() {
    let bed = running_17().await;

    let updated = bed.update(0, 1).await;
    assert_eq!(updated["Status"], "SUCCESS", "{updated}");
    let reason = updated["Reason"].as_str().unwrap();
    assert!(
        reason
            .starts_with("PostgreSQL 17 to 18: dump and restore into pg18: previous revision up ")
            && reason.contains(" s, dump ")
            && reason.contains(" s, new folder up ")
            && reason.contains(" s, restore ")
            && reason.ends_with(
                "the data of PostgreSQL 17 stays where it was (README: Upgrading PostgreSQL)"
            ),
        "{reason}"
    );
    // Datero runs 18 on its own folder, with the data made on 17; 17's data is untouched.
    let after = bed.harness.emulator.postgres_data(&[]).await;
    assert_eq!(after["majors"][PG18], 18, "{after}");
    assert_eq!(after["contents"][PG18], ROWS, "{after}");
    assert_eq!(after["majors"][ROOT], 17, "{after}");
    assert_eq!(after["contents"][ROOT], ROWS, "{after}");
    let dumps: Vec<&String> = after["dumps"].as_object().unwrap().keys().collect();
    assert!(
        dumps.len() == 1 && dumps[0].starts_with("datero/upgrade-pg17-to-pg18-"),
        "{dumps:?}"
    );
    assert_eq!(
        bed.running().await,
        (
            bed.revisions[1].clone(),
            Some(format!("{}/pg18", datero_shared::container::DATA_PATH))
        )
    );
    assert_eq!(bed.data_folder_mark().await.as_deref(), Some("pg18"));

    // Back to 17: its server cannot read 18's data, and nothing is moved back.
    let back = bed.update(1, 0).await;
    assert_eq!(back["Status"], "FAILED", "{back}");
    let reason = back["Reason"].as_str().unwrap();
    assert!(
        reason
            .starts_with("downgrade refused: PostgreSQL 17 cannot read the data of PostgreSQL 18")
            && reason.ends_with("the previous revision was started again"),
        "{reason}"
    );
    assert_eq!(
        bed.running().await.1.as_deref(),
        Some("/var/lib/postgresql/data/pg18")
    );
}

#[tokio::test]
#[expect(
    clippy::too_many_lines,
    reason = "one scenario: each step of the move failing in turn, 17 back each time"
)]
async fn a_move_that_fails_at_any_step_leaves_17_running_on_its_data() {
    let bed = running_17().await;
    let emulator = &bed.harness.emulator;

    emulator
        .play_one_off(
            BACKUP_FAMILY,
            "dump",
            &[("dump", 1), ("upload", 1)],
            &[(
                "dump",
                &["pg_dumpall: error: query failed: ERROR:  out of shared memory"],
            )],
        )
        .await;
    let failed = bed.update(0, 1).await;
    assert_eq!(failed["Status"], "FAILED", "{failed}");
    let reason = failed["Reason"].as_str().unwrap();
    assert!(
        reason.starts_with("the dump before PostgreSQL 18 failed: its dump container did not succeed; its log ends: pg_dumpall: error: query failed")
            && reason.ends_with("; Datero runs PostgreSQL 17 on its data, unchanged"),
        "{reason}"
    );
    assert_eq!(bed.running().await, (bed.revisions[0].clone(), None));
    assert_eq!(bed.data_folder_mark().await, None);

    emulator.play_one_off(BACKUP_FAMILY, "dump", &[], &[]).await;
    emulator
        .play_one_off(
            RESTORE_FAMILY,
            "restore",
            &[("restore", 3)],
            &[("restore", &["psql:/backup/datero.sql.restore:41: ERROR:  extension \"mysql_fdw\" is not available"])],
        )
        .await;
    let failed = bed.update(0, 1).await;
    assert_eq!(failed["Status"], "FAILED", "{failed}");
    let reason = failed["Reason"].as_str().unwrap();
    assert!(
        reason.starts_with("the restore into PostgreSQL 18 failed: its restore container did not succeed; its log ends: psql:")
            && reason.contains("mysql_fdw")
            && reason.ends_with("; PostgreSQL 17 runs on its data again"),
        "{reason}"
    );
    assert_eq!(bed.running().await, (bed.revisions[0].clone(), None));
    assert_eq!(bed.data_folder_mark().await, None);

    // The new major starts on its fresh folder but never turns healthy: it is stopped before 17
    // starts again, so only 17 runs.
    emulator
        .play_one_off(RESTORE_FAMILY, "restore", &[], &[])
        .await;
    emulator
        .set_task_start(TaskStart::UnhealthyRevision(bed.revisions[1].clone()))
        .await;
    let failed = bed.update(0, 1).await;
    assert_eq!(failed["Status"], "FAILED", "{failed}");
    let reason = failed["Reason"].as_str().unwrap();
    assert!(
        reason.starts_with(
            "PostgreSQL 18 did not come up on a fresh pg18: its health check (pg_isready) failed"
        ) && reason.ends_with("; PostgreSQL 17 runs on its data again"),
        "{reason}"
    );
    assert_eq!(bed.running().await, (bed.revisions[0].clone(), None));
    assert_eq!(bed.data_folder_mark().await, None);
    let data = emulator.postgres_data(&[]).await;
    assert_eq!(data["contents"][ROOT], ROWS, "{data}");
}
