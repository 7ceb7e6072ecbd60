//! EFS mount targets, one per Availability Zone (pure decisions for
//! `Custom::DateroMountTargets`).
//!
//! EFS takes one mount target per zone ("You can create one mount target in each Availability
//! Zone": EFS User Guide, "Creating and managing mount targets"), and a mount target cannot move
//! to another subnet. As template resources keyed by subnet, a subnet swapped within its zone
//! (or two subnets in one zone) collide, because CloudFormation makes a replacement before it
//! deletes the old one. So the function keys them by zone: it asks EFS for a mount target in
//! each subnet, in order, and a `MountTargetConflict` for a subnet of the stack's VPC means its
//! zone has one already. Without the zones of the subnets (an EC2 call the function avoids), the
//! conflict is how it learns them.
//!
//! An update only adds: a zone left out of `SubnetIds` keeps its mount target (free) until the
//! resource is deleted, so that a running Datero never loses its mount during an update.
//!
//! A Create that finds mount targets already (a stack made before this resource, whose
//! template's own `AWS::EFS::MountTarget`s CloudFormation deletes after the update) replaces each
//! in place, in its subnet and at its IP address, so that the mounts that use it find it again
//! at the same address, and CloudFormation's later delete finds nothing to delete.

use crate::resources::mount_targets::MountTargetsSpec;

/// A mount target's life-cycle state (`LifeCycleState`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TargetState {
    Creating,
    Available,
    Updating,
    Deleting,
    Deleted,
    Error,
}

impl TargetState {
    /// The API's spelling; anything unknown reads as still changing.
    pub fn parse(text: &str) -> Self {
        match text {
            "available" => Self::Available,
            "deleting" => Self::Deleting,
            "deleted" => Self::Deleted,
            "error" => Self::Error,
            "updating" => Self::Updating,
            _ => Self::Creating,
        }
    }

    fn going(self) -> bool {
        matches!(self, Self::Deleting | Self::Deleted)
    }
}

/// A mount target as EFS describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub id: String,
    pub subnet_id: String,
    pub zone: String,
    pub vpc_id: String,
    pub ip_address: Option<String>,
    pub state: TargetState,
}

/// Why the mount targets cannot be made as asked.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// The file system has mount targets in another VPC.
    #[error(
        "file system {file_system} has mount targets in {found}, and all of a file system's mount targets are in one VPC; VpcId is {wanted}: delete those mount targets first, or deploy into {found}"
    )]
    OtherVpc {
        file_system: String,
        found: String,
        wanted: String,
    },
    /// EFS put a mount target in its error state.
    #[error("mount target {id} in {zone} failed (LifeCycleState error); delete it and retry")]
    Failed { id: String, zone: String },
}

/// What a Create or an Update does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    /// Mount targets made before this resource, replaced in place (Create only).
    pub replace: Vec<Target>,
    /// Subnets to ask for a mount target, in order.
    pub create_in: Vec<String>,
}

/// The plan for `spec`, given the file system's mount targets now. `first` is a Create.
pub fn plan(existing: &[Target], spec: &MountTargetsSpec, first: bool) -> Result<Plan, Refusal> {
    let live: Vec<&Target> = existing.iter().filter(|t| !t.state.going()).collect();
    if let Some(other) = live.iter().find(|t| t.vpc_id != spec.vpc_id) {
        return Err(Refusal::OtherVpc {
            file_system: spec.file_system_id.clone(),
            found: other.vpc_id.clone(),
            wanted: spec.vpc_id.clone(),
        });
    }
    let replace: Vec<Target> = if first {
        live.iter().map(|t| (*t).clone()).collect()
    } else {
        Vec::new()
    };
    let create_in = spec
        .subnet_ids
        .iter()
        .filter(|subnet| !live.iter().any(|t| &t.subnet_id == *subnet))
        .cloned()
        .collect();
    Ok(Plan { replace, create_in })
}

/// Where the mount targets stand while the function waits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Progress {
    /// Every mount target is available (or, for a delete, gone).
    Done,
    /// Still changing.
    Waiting,
    /// One failed.
    Failed(Refusal),
}

/// After a Create or Update: done when every mount target that is not going is available.
pub fn ready(targets: &[Target]) -> Progress {
    if let Some(failed) = targets.iter().find(|t| t.state == TargetState::Error) {
        return Progress::Failed(Refusal::Failed {
            id: failed.id.clone(),
            zone: failed.zone.clone(),
        });
    }
    let settling = targets
        .iter()
        .any(|t| !t.state.going() && t.state != TargetState::Available);
    if settling {
        Progress::Waiting
    } else {
        Progress::Done
    }
}

/// After deletes: done when EFS lists none. A mount target still listed, even `deleted`, may
/// hold its network interface, which keeps its IP address taken and its security group and
/// subnet from being deleted (DeleteMountTarget, EFS API Reference: "check ... by calling
/// DescribeMountTargets").
pub fn gone(targets: &[Target]) -> Progress {
    if targets.is_empty() {
        Progress::Done
    } else {
        Progress::Waiting
    }
}

/// The mount targets to delete: every one not already going.
pub fn to_delete(targets: &[Target]) -> Vec<String> {
    targets
        .iter()
        .filter(|t| !t.state.going())
        .map(|t| t.id.clone())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(subnets: &[&str]) -> MountTargetsSpec {
        MountTargetsSpec {
            file_system_id: "fs-1".into(),
            vpc_id: "vpc-1".into(),
            subnet_ids: subnets.iter().map(|s| (*s).to_owned()).collect(),
            security_group_ids: vec!["sg-1".into()],
        }
    }

    fn target(id: &str, subnet: &str, zone: &str, state: TargetState) -> Target {
        Target {
            id: id.into(),
            subnet_id: subnet.into(),
            zone: zone.into(),
            vpc_id: "vpc-1".into(),
            ip_address: Some("10.0.0.9".into()),
            state,
        }
    }

    #[test]
    fn a_first_create_asks_for_every_subnet_in_order() {
        let plan = plan(&[], &spec(&["subnet-a", "subnet-b"]), true).unwrap();
        assert!(plan.replace.is_empty());
        assert_eq!(plan.create_in, ["subnet-a", "subnet-b"]);
    }

    #[test]
    fn an_update_adds_only_and_skips_subnets_that_hold_one() {
        let existing = [target("fsmt-a", "subnet-a", "z1", TargetState::Available)];
        // subnet-a2 is in z1 too: asked for, the conflict says z1 is covered.
        let plan = plan(
            &existing,
            &spec(&["subnet-a2", "subnet-a", "subnet-c"]),
            false,
        )
        .unwrap();
        assert!(plan.replace.is_empty());
        assert_eq!(plan.create_in, ["subnet-a2", "subnet-c"]);
    }

    #[test]
    fn a_create_replaces_mount_targets_made_before_it_in_place() {
        let existing = [
            target("fsmt-a", "subnet-a", "z1", TargetState::Available),
            target("fsmt-x", "subnet-x", "z2", TargetState::Deleting),
        ];
        let plan = plan(&existing, &spec(&["subnet-a", "subnet-b"]), true).unwrap();
        assert_eq!(plan.replace, [existing[0].clone()]);
        assert_eq!(plan.create_in, ["subnet-b"]);
    }

    #[test]
    fn mount_targets_in_another_vpc_are_refused_with_both_vpcs_named() {
        let mut elsewhere = target("fsmt-a", "subnet-q", "z1", TargetState::Available);
        elsewhere.vpc_id = "vpc-9".into();
        let refused = plan(&[elsewhere], &spec(&["subnet-a"]), false).unwrap_err();
        let text = refused.to_string();
        assert!(text.contains("vpc-9") && text.contains("vpc-1"), "{text}");
    }

    #[test]
    fn ready_waits_for_every_live_target_and_fails_on_error() {
        let available = target("a", "s", "z", TargetState::Available);
        let creating = target("b", "s2", "z2", TargetState::Creating);
        let deleting = target("c", "s3", "z3", TargetState::Deleting);
        assert_eq!(
            ready(&[available.clone(), deleting.clone()]),
            Progress::Done
        );
        assert_eq!(ready(&[available.clone(), creating]), Progress::Waiting);
        let failed = target("d", "s4", "z4", TargetState::Error);
        assert!(matches!(ready(&[available, failed]), Progress::Failed(_)));
        assert_eq!(gone(std::slice::from_ref(&deleting)), Progress::Waiting);
        assert_eq!(
            gone(&[target("f", "s", "z", TargetState::Deleted)]),
            Progress::Waiting
        );
        assert_eq!(gone(&[]), Progress::Done);
        assert_eq!(
            to_delete(&[deleting, target("e", "s", "z", TargetState::Available)]),
            ["e"]
        );
    }

    #[test]
    fn states_read_as_efs_spells_them() {
        for (text, state) in [
            ("creating", TargetState::Creating),
            ("available", TargetState::Available),
            ("updating", TargetState::Updating),
            ("deleting", TargetState::Deleting),
            ("deleted", TargetState::Deleted),
            ("error", TargetState::Error),
        ] {
            assert_eq!(TargetState::parse(text), state);
        }
    }
}
