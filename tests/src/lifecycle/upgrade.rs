//! Moving Datero to an image of a new PostgreSQL major, as the README's "Upgrading PostgreSQL"
//! has a user do it, on the emulator's model of PostgreSQL's data-directory check
//! ([`Emulator::set_postgres_majors`]).
//!
//! First the image alone: its PostgreSQL refuses the old data, the runner fails the update with
//! the way in the reason, and CloudFormation's rollback puts the previous revision back. Then
//! the way: a backup, the image in a folder of its own (`DataDirectory`), the restore.

use std::time::Instant;

use aws_config::SdkConfig;
use serde_json::json;

use super::cloudformation::CloudFormation;
use super::progress::Progress;
use super::{backups, only_running};
use crate::emulator::Emulator;
use crate::template::{Stack, Template};

/// An image of the next PostgreSQL major (the emulator is told its major).
pub const NEW_MAJOR_IMAGE: &str = "chumaky/datero:2.0.0";
/// Its major, and the major of the images before it.
pub const NEW_MAJOR: u32 = 18;
pub const CURRENT_MAJOR: u32 = 17;

/// The image alone is refused and rolled back; then backup, `DataDirectory`, restore.
pub async fn new_major(
    template: &Template,
    cloudformation: &CloudFormation,
    emulator: &Emulator,
    config: &SdkConfig,
    stack: &mut Stack,
    progress: &Progress,
) -> Result<(), String> {
    refused_then_rolled_back(template, cloudformation, config, stack, progress).await?;

    let old_definition = template.properties("TaskDefinition", stack)?;
    let old_arn = stack.refs["TaskDefinition"].clone();
    let clock = Instant::now();
    let key = backups::backup_now(emulator, template, stack, progress).await?;
    let backed_up = clock.elapsed();

    let clock = Instant::now();
    let folder = format!("pg{NEW_MAJOR}");
    into_own_folder(template, cloudformation, config, stack, &folder, progress).await?;
    let moved = clock.elapsed();

    let clock = Instant::now();
    backups::restore_backup(emulator, template, stack, &key, progress).await?;
    let restored = clock.elapsed();
    cloudformation
        .delete_revision(template, &old_arn, old_definition, progress)
        .await?;
    progress.event(
        "upgrade",
        "TIMED",
        &format!(
            "backup {:.1} s, new image in {folder} {:.1} s, restore {:.1} s",
            backed_up.as_secs_f64(),
            moved.as_secs_f64(),
            restored.as_secs_f64()
        ),
    );
    Ok(())
}

/// The new image with `DataDirectory=<folder>`: Datero runs on the new revision, with PGDATA in
/// that folder of the data volume.
async fn into_own_folder(
    template: &Template,
    cloudformation: &CloudFormation,
    config: &SdkConfig,
    stack: &mut Stack,
    folder: &str,
    progress: &Progress,
) -> Result<(), String> {
    let old_definition = template.properties("TaskDefinition", stack)?;
    let old_task = template.properties("DateroTask", stack)?;
    stack
        .parameters
        .insert("DateroImage".into(), json!(NEW_MAJOR_IMAGE));
    stack
        .parameters
        .insert("DataDirectory".into(), json!(folder));
    cloudformation
        .update_revision(template, old_definition, old_task, stack, progress)
        .await?;
    let new_arn = stack.refs["TaskDefinition"].clone();
    only_running(config, stack, &new_arn).await?;
    let pgdata = pgdata_of(config, &new_arn).await?;
    progress.event("DateroTask", "PGDATA", &pgdata);
    if pgdata == format!("/var/lib/postgresql/data/{folder}") {
        Ok(())
    } else {
        Err(format!("the new major runs on PGDATA={pgdata}"))
    }
}

/// `DateroImage` alone moves to the new major: the update fails with PostgreSQL's refusal and
/// the way, and CloudFormation's rollback leaves the previous revision running; the failed
/// revision is deleted.
async fn refused_then_rolled_back(
    template: &Template,
    cloudformation: &CloudFormation,
    config: &SdkConfig,
    stack: &mut Stack,
    progress: &Progress,
) -> Result<(), String> {
    let before = stack.clone();
    let old_definition = template.properties("TaskDefinition", stack)?;
    let old_task = template.properties("DateroTask", stack)?;
    let clock = Instant::now();
    stack
        .parameters
        .insert("DateroImage".into(), json!(NEW_MAJOR_IMAGE));
    cloudformation
        .update(template, "TaskDefinition", old_definition, stack, progress)
        .await?;
    let failed_definition = template.properties("TaskDefinition", stack)?;
    let failed_task = template.properties("DateroTask", stack)?;
    let failed_arn = stack.refs["TaskDefinition"].clone();
    let reason = match cloudformation
        .update(template, "DateroTask", old_task, stack, progress)
        .await
    {
        Ok(()) => return Err("the new major's image ran on the old data directory".into()),
        Err(reason) => reason,
    };
    let way = format!(
        "PostgreSQL {NEW_MAJOR} cannot open the data of PostgreSQL {CURRENT_MAJOR} (left untouched): back up, deploy with DataDirectory=pg{NEW_MAJOR}"
    );
    if !reason.contains(&way) {
        return Err(format!("the failed update does not say the way: {reason}"));
    }
    let refused = clock.elapsed();
    // UPDATE_ROLLBACK: the task runner goes back to the previous revision's properties; the
    // failed revision is deleted in the clean-up.
    let clock = Instant::now();
    *stack = before;
    cloudformation
        .update(template, "DateroTask", failed_task, stack, progress)
        .await?;
    cloudformation
        .delete_revision(template, &failed_arn, failed_definition, progress)
        .await?;
    only_running(config, stack, &stack.refs["TaskDefinition"])
        .await
        .map_err(|error| format!("after the rollback: {error}"))?;
    progress.event(
        "upgrade",
        "TIMED",
        &format!(
            "image alone refused in {:.1} s, rolled back in {:.1} s",
            refused.as_secs_f64(),
            clock.elapsed().as_secs_f64()
        ),
    );
    Ok(())
}

/// PGDATA of Datero's container in a task-definition revision.
async fn pgdata_of(config: &SdkConfig, arn: &str) -> Result<String, String> {
    let described = aws_sdk_ecs::Client::new(config)
        .describe_task_definition()
        .task_definition(arn)
        .send()
        .await
        .map_err(|e| format!("DescribeTaskDefinition: {e}"))?;
    Ok(described
        .task_definition()
        .into_iter()
        .flat_map(|definition| definition.container_definitions())
        .flat_map(|container| container.environment())
        .find(|pair| pair.name() == Some("PGDATA"))
        .and_then(|pair| pair.value())
        .unwrap_or_default()
        .to_owned())
}
