//! Moving Datero to an image of a new PostgreSQL major, on the emulator's model of PostgreSQL's
//! data-directory check and of the backup and restore tasks ([`Emulator::set_postgres_majors`],
//! [`Emulator::play_one_off`]).
//!
//! The image alone: its PostgreSQL refuses the old data, and the runner moves it (the previous
//! revision dumps it, the new one starts on a folder of its own, the dump is restored there),
//! each step's time in the resource's event. Then back to the old major: refused, and
//! CloudFormation's rollback leaves the new major running.

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

/// What Datero's database holds before the move, in the emulator's model.
const ROWS: &str = "Datero's connections and foreign tables, made on PostgreSQL 17";

/// The image alone moves the data; going back is refused and rolled back.
pub async fn new_major(
    template: &Template,
    cloudformation: &CloudFormation,
    emulator: &Emulator,
    config: &SdkConfig,
    stack: &mut Stack,
    progress: &Progress,
) -> Result<(), String> {
    let old_image = stack.parameters["DateroImage"].clone();
    // The README's advice before any upgrade: a backup by hand (BackupNowCommand).
    let key = backups::backup_now(emulator, template, stack, progress).await?;
    progress.event("upgrade", "BACKED_UP", &key);
    let old_folder = data_of(emulator, CURRENT_MAJOR).await?;
    emulator.postgres_data(&[(&old_folder, ROWS)]).await;
    for (family, role) in [("backup", "dump"), ("restore", "restore")] {
        let family = format!("{}-datero-{family}", stack.name);
        emulator.play_one_off(&family, role, &[], &[]).await;
    }
    moved_by_dump_and_restore(template, cloudformation, emulator, config, stack, progress).await?;
    let data = emulator.postgres_data(&[]).await;
    let new_folder = format!("{old_folder}/pg{NEW_MAJOR}");
    if data["contents"][&new_folder] != ROWS || data["majors"][&new_folder] != NEW_MAJOR {
        return Err(format!(
            "the new major's folder does not hold the data: {data}"
        ));
    }
    if data["contents"][&old_folder] != ROWS || data["majors"][&old_folder] != CURRENT_MAJOR {
        return Err(format!("the old data was touched: {data}"));
    }
    progress.event(
        "upgrade",
        "DATA",
        &format!("{old_folder} kept (PostgreSQL {CURRENT_MAJOR}); {new_folder} holds the same data on PostgreSQL {NEW_MAJOR}"),
    );
    refused_then_rolled_back(
        template,
        cloudformation,
        config,
        stack,
        &old_image,
        progress,
    )
    .await
}

/// The one data directory of `major` the emulator knows (`<volume>:<folder>`).
async fn data_of(emulator: &Emulator, major: u32) -> Result<String, String> {
    let data = emulator.postgres_data(&[]).await;
    let found: Vec<&String> = data["majors"]
        .as_object()
        .into_iter()
        .flatten()
        .filter(|(_, of)| **of == major)
        .map(|(key, _)| key)
        .collect();
    match found.as_slice() {
        [one] => Ok((*one).clone()),
        _ => Err(format!(
            "not one data directory of PostgreSQL {major}: {data}"
        )),
    }
}

/// `DateroImage` alone: the task definition and the backup and restore ones get revisions of
/// the new image, then the runner moves Datero; its event says the path and each step's time.
async fn moved_by_dump_and_restore(
    template: &Template,
    cloudformation: &CloudFormation,
    emulator: &Emulator,
    config: &SdkConfig,
    stack: &mut Stack,
    progress: &Progress,
) -> Result<(), String> {
    let old_definition = template.properties("TaskDefinition", stack)?;
    let old_task = template.properties("DateroTask", stack)?;
    let old_arn = stack.refs["TaskDefinition"].clone();
    stack
        .parameters
        .insert("DateroImage".into(), json!(NEW_MAJOR_IMAGE));
    cloudformation
        .update(
            template,
            "TaskDefinition",
            old_definition.clone(),
            stack,
            progress,
        )
        .await?;
    let replaced = backups::register_revisions(emulator, template, stack, progress)?;
    let said = cloudformation
        .update_saying(template, "DateroTask", old_task, stack, progress)
        .await?;
    let path = format!(
        "PostgreSQL {CURRENT_MAJOR} to {NEW_MAJOR}: dump and restore into pg{NEW_MAJOR}: previous revision up "
    );
    if !said.starts_with(&path) {
        return Err(format!("the update does not say the move: {said}"));
    }
    progress.event("upgrade", "TIMED", &said);
    let new_arn = stack.refs["TaskDefinition"].clone();
    only_running(config, stack, &new_arn).await?;
    // CloudFormation's clean-up: the replaced revisions go.
    cloudformation
        .delete_revision(template, &old_arn, old_definition, progress)
        .await?;
    backups::deregister(emulator, &replaced, progress)
}

/// `DateroImage` back to the old major: the update fails with PostgreSQL's refusal, and
/// CloudFormation's rollback leaves the new major running; the failed revision is deleted.
async fn refused_then_rolled_back(
    template: &Template,
    cloudformation: &CloudFormation,
    config: &SdkConfig,
    stack: &mut Stack,
    old_image: &serde_json::Value,
    progress: &Progress,
) -> Result<(), String> {
    let before = stack.clone();
    let old_definition = template.properties("TaskDefinition", stack)?;
    let old_task = template.properties("DateroTask", stack)?;
    let clock = Instant::now();
    stack
        .parameters
        .insert("DateroImage".into(), old_image.clone());
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
        Ok(()) => return Err("the old major's image ran on the new major's data".into()),
        Err(reason) => reason,
    };
    let refusal = format!(
        "downgrade refused: PostgreSQL {CURRENT_MAJOR} cannot read the data of PostgreSQL {NEW_MAJOR}"
    );
    if !reason.contains(&refusal) {
        return Err(format!("the failed update does not say why: {reason}"));
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
            "the old major refused in {:.1} s, rolled back in {:.1} s",
            refused.as_secs_f64(),
            clock.elapsed().as_secs_f64()
        ),
    );
    Ok(())
}
