//! `Custom::DateroMountTargets`: one EFS mount target per Availability Zone of the stack's
//! subnets (the decisions and why: `datero_shared::mount_targets`). Create and Update make what
//! is missing and wait until every mount target is available; Delete removes them all and waits
//! until EFS lists none, so that the security group and the subnets can go after it.

use std::time::Duration;

use aws_sdk_efs::types::MountTargetDescription;
use datero_shared::ResourceError;
use datero_shared::aws::aws_error;
use datero_shared::custom_resource::{CustomResourceRequest, Outcome};
use datero_shared::mount_targets::{self, Progress, Target, TargetState};
use datero_shared::poll::Backoff;
use datero_shared::resources::mount_targets::{MountTargetsSpec, file_system_of};
use tokio::time::Instant;
use tracing::info;

/// EFS takes a minute or two to make or remove a mount target: look every few seconds.
fn backoff(deadline: Instant) -> Backoff {
    Backoff::new(Duration::from_secs(1), Duration::from_secs(10), deadline)
}

/// Create (`first`) or Update: make what is missing, then wait until all are available.
pub async fn ensure(
    request: &CustomResourceRequest,
    spec: &MountTargetsSpec,
    first: bool,
    efs: &aws_sdk_efs::Client,
) -> Result<Outcome, ResourceError> {
    let existing = describe(efs, &spec.file_system_id).await?;
    let plan = mount_targets::plan(&existing, spec, first)?;
    info!(decision = "plan", file_system = %spec.file_system_id, replace = ?plan.replace.iter().map(|t| &t.id).collect::<Vec<_>>(), create_in = ?plan.create_in, "mount targets");
    for old in &plan.replace {
        replace_in_place(efs, spec, old, request.deadline).await?;
    }
    for subnet in &plan.create_in {
        create_in(efs, spec, subnet).await?;
    }
    let mut wait = backoff(request.deadline);
    loop {
        let targets = describe(efs, &spec.file_system_id).await?;
        match mount_targets::ready(&targets) {
            Progress::Done => {
                let zones: Vec<&str> = targets.iter().map(|t| t.zone.as_str()).collect();
                info!(decision = "ready", file_system = %spec.file_system_id, zones = ?zones, "every mount target is available");
                break;
            }
            Progress::Failed(refusal) => return Err(refusal.into()),
            Progress::Waiting if wait.wait().await => {}
            Progress::Waiting => {
                return Err(ResourceError::Deadline {
                    what: format!(
                        "the mount targets of {} were not available",
                        spec.file_system_id
                    ),
                    then: "EFS is still making them, retry the update",
                });
            }
        }
    }
    let (region, account) = request.region_and_account();
    Ok(Outcome::new(spec.physical_id(region, account)))
}

/// Asks EFS for a mount target in `subnet`; a conflict in the stack's VPC means the subnet's
/// zone has one already (`plan` refused mount targets of another VPC).
async fn create_in(
    efs: &aws_sdk_efs::Client,
    spec: &MountTargetsSpec,
    subnet: &str,
) -> Result<(), ResourceError> {
    let made = efs
        .create_mount_target()
        .file_system_id(&spec.file_system_id)
        .subnet_id(subnet)
        .set_security_groups(Some(spec.security_group_ids.clone()))
        .send()
        .await;
    match made {
        Ok(made) => {
            info!(
                decision = "create",
                subnet,
                mount_target = made.mount_target_id(),
                zone = made.availability_zone_name(),
                "mount target made"
            );
            Ok(())
        }
        Err(error)
            if error
                .as_service_error()
                .is_some_and(|e| e.is_mount_target_conflict()) =>
        {
            info!(
                decision = "skip",
                subnet,
                reason = "zone covered",
                "the subnet's zone has a mount target already"
            );
            Ok(())
        }
        Err(error)
            if error
                .as_service_error()
                .is_some_and(|e| e.is_subnet_not_found()) =>
        {
            Err(ResourceError::NotFound {
                kind: "subnet",
                name: subnet.to_owned(),
                property: Some("SubnetIds"),
            })
        }
        Err(error) => Err(aws_error("CreateMountTarget", error)),
    }
}

/// Deletes `old`, waits until EFS lists it no more, and makes it again in its subnet at its
/// address, with the spec's security groups.
async fn replace_in_place(
    efs: &aws_sdk_efs::Client,
    spec: &MountTargetsSpec,
    old: &Target,
    deadline: Instant,
) -> Result<(), ResourceError> {
    delete_one(efs, &old.id).await?;
    let mut wait = backoff(deadline);
    loop {
        let targets = describe(efs, &spec.file_system_id).await?;
        if !targets.iter().any(|t| t.id == old.id) {
            break;
        }
        if !wait.wait().await {
            return Err(ResourceError::Deadline {
                what: format!("mount target {} was still being deleted", old.id),
                then: "retry the update",
            });
        }
    }
    // The old network interface may hold the address a little longer.
    let mut wait = backoff(deadline);
    loop {
        let made = efs
            .create_mount_target()
            .file_system_id(&spec.file_system_id)
            .subnet_id(&old.subnet_id)
            .set_ip_address(old.ip_address.clone())
            .set_security_groups(Some(spec.security_group_ids.clone()))
            .send()
            .await;
        match made {
            Ok(made) => {
                info!(decision = "replace", old = %old.id, new = made.mount_target_id(), zone = %old.zone, ip_address = ?old.ip_address, "mount target made before this resource replaced in place");
                return Ok(());
            }
            Err(error)
                if error
                    .as_service_error()
                    .is_some_and(|e| e.is_ip_address_in_use())
                    && wait.wait().await => {}
            Err(error) => return Err(aws_error("CreateMountTarget", error)),
        }
    }
}

/// Delete: every mount target of the file system, then wait until EFS lists none.
pub async fn delete(
    physical_id: &str,
    deadline: Instant,
    efs: &aws_sdk_efs::Client,
) -> Result<Outcome, ResourceError> {
    let done = Outcome::new(physical_id);
    let Some(file_system) = file_system_of(physical_id) else {
        info!(
            decision = "skip",
            physical_resource_id = physical_id,
            "not a file system's ARN: nothing to delete"
        );
        return Ok(done);
    };
    let targets = describe(efs, file_system).await?;
    let ids = mount_targets::to_delete(&targets);
    info!(decision = "delete", file_system, mount_targets = ?ids, "removing the mount targets");
    for id in &ids {
        delete_one(efs, id).await?;
    }
    let mut wait = backoff(deadline);
    loop {
        let targets = describe(efs, file_system).await?;
        if mount_targets::gone(&targets) == Progress::Done {
            info!(decision = "deleted", file_system, "no mount target left");
            return Ok(done);
        }
        if !wait.wait().await {
            return Err(ResourceError::Deadline {
                what: format!("the mount targets of {file_system} were still being deleted"),
                then: "retry the delete",
            });
        }
    }
}

async fn delete_one(efs: &aws_sdk_efs::Client, id: &str) -> Result<(), ResourceError> {
    match efs.delete_mount_target().mount_target_id(id).send().await {
        Ok(_) => Ok(()),
        Err(error)
            if error
                .as_service_error()
                .is_some_and(|e| e.is_mount_target_not_found()) =>
        {
            Ok(())
        }
        Err(error) => Err(aws_error("DeleteMountTarget", error)),
    }
}

/// The file system's mount targets; none when the file system is gone.
async fn describe(
    efs: &aws_sdk_efs::Client,
    file_system: &str,
) -> Result<Vec<Target>, ResourceError> {
    let mut targets = Vec::new();
    let mut marker = None;
    loop {
        let page = efs
            .describe_mount_targets()
            .file_system_id(file_system)
            .set_marker(marker)
            .send()
            .await;
        let page = match page {
            Ok(page) => page,
            Err(error)
                if error
                    .as_service_error()
                    .is_some_and(|e| e.is_file_system_not_found()) =>
            {
                return Ok(Vec::new());
            }
            Err(error) => return Err(aws_error("DescribeMountTargets", error)),
        };
        targets.extend(page.mount_targets().iter().map(target));
        marker = page.next_marker().map(str::to_owned);
        if marker.is_none() {
            return Ok(targets);
        }
    }
}

fn target(found: &MountTargetDescription) -> Target {
    Target {
        id: found.mount_target_id().to_owned(),
        subnet_id: found.subnet_id().to_owned(),
        zone: found
            .availability_zone_name()
            .unwrap_or_default()
            .to_owned(),
        vpc_id: found.vpc_id().unwrap_or_default().to_owned(),
        ip_address: found.ip_address().map(str::to_owned),
        state: TargetState::parse(found.life_cycle_state().as_str()),
    }
}
