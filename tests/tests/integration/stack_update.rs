//! A stack update as CloudFormation performs it, resource by resource, from the resource
//! provider schemas (`datero_testbed::cfn_update`): what the update (a new image tag, a
//! new instance type, one subnet swapped within its zone and a zone added) does to each part of
//! the stack, and why the task runner must replace the instance itself.

use datero_testbed::cfn_update::{Change, Schemas, plan};
use datero_testbed::template::{Stack, Template};
use serde_json::json;

fn stack(template: &Template, subnets: &[&str], image: &str, instance_type: &str) -> Stack {
    let mut stack = Stack::placeholder(template, "datero-prod");
    for (key, value) in [
        ("SubnetIds", json!(subnets)),
        ("DateroImage", json!(image)),
        ("InstanceType", json!(instance_type)),
        ("DataPersistence", json!("efs")),
    ] {
        stack.parameters.insert(key.to_owned(), value);
    }
    stack
}

#[test]
fn image_instance_type_and_subnets_at_once() {
    let template = Template::load().unwrap();
    let schemas = Schemas::load().unwrap();
    // subnet-1a2 is another subnet of subnet-1a's zone; subnet-1c adds a zone.
    let old = stack(
        &template,
        &["subnet-1a", "subnet-1b"],
        "chumaky/datero:1.2.0",
        "t3.small",
    );
    let new = stack(
        &template,
        &["subnet-1a2", "subnet-1b", "subnet-1c"],
        "chumaky/datero:1.3.0",
        "t3.medium",
    );
    let changes = plan(&template, &schemas, &old, &new).unwrap();
    let change = |name: &str| changes.get(name).cloned().unwrap_or(Change::Unchanged);
    // The launch template gets a new version; the group is updated in place, which leaves its
    // running instance as it was (no UpdatePolicy): only the task runner, whose
    // InstanceSettings changed, moves Datero to an instance with the new settings.
    assert!(
        matches!(change("LaunchTemplate"), Change::Update(_)),
        "{changes:?}"
    );
    let Change::Update(group) = change("Instances") else {
        panic!("the group is not updated in place: {changes:?}")
    };
    assert!(
        group.contains(&"LaunchTemplate".to_owned())
            && group.contains(&"VPCZoneIdentifier".to_owned()),
        "{group:?}"
    );
    let Change::Update(task) = change("DateroTask") else {
        panic!("the task runner gets no Update: {changes:?}")
    };
    assert!(task.contains(&"InstanceSettings".to_owned()), "{task:?}");
    assert!(task.contains(&"TaskDefinitionArn".to_owned()), "{task:?}");
    assert!(matches!(change("TaskDefinition"), Change::Update(_)));
    // The cluster and its provider, the file system and the address are untouched.
    for kept in ["Cluster", "FileSystem", "Eip"] {
        assert_eq!(change(kept), Change::Unchanged, "{kept}: {changes:?}");
    }
    // EFS: no mount target is replaced (a replacement is made before the old one goes, and
    // EFS refuses a second one in a zone with MountTargetConflict): the mount targets are one
    // custom resource, updated in place, which adds the new zone's and keeps the others
    // (tests/tests/mount_targets.rs plays it against EFS's rules).
    assert_eq!(
        change("MountTargets"),
        Change::Update(vec!["SubnetIds".into()])
    );
    assert!(
        template.resources_of("AWS::EFS::MountTarget").is_empty(),
        "a mount target keyed by subnet collides with its replacement"
    );
}

#[test]
fn a_new_image_leaves_the_instance_the_cluster_and_the_data_alone() {
    let template = Template::load().unwrap();
    let schemas = Schemas::load().unwrap();
    let old = stack(
        &template,
        &["subnet-1a"],
        "chumaky/datero:1.2.0",
        "t3.small",
    );
    let new = stack(
        &template,
        &["subnet-1a"],
        "chumaky/datero:1.3.0",
        "t3.small",
    );
    let changes = plan(&template, &schemas, &old, &new).unwrap();
    let touched: Vec<&String> = changes
        .iter()
        .filter(|(_, change)| **change != Change::Unchanged)
        .map(|(name, _)| name)
        .collect();
    assert_eq!(
        touched,
        [
            "BackupTaskDefinition",
            "DateroBackupSchedule",
            "DateroTask",
            "RestoreTaskDefinition",
            "TaskDefinition",
            // TASK_FAMILY reads the task definition's Data, which the planner takes as changed
            // (the family stays the same, so the function's update changes nothing).
            "TaskRestarterFunction"
        ],
        "{changes:?}"
    );
    // The backup and restore tasks run Datero's image: new revisions, the schedule follows.
    assert_eq!(
        changes["BackupTaskDefinition"],
        Change::Replace(vec!["ContainerDefinitions".into()])
    );
    let Change::Update(task) = &changes["DateroTask"] else {
        panic!()
    };
    // The runner is told the new backup and restore revisions too (a move to a new major runs
    // them); the instance settings did not change.
    assert_eq!(
        task,
        &[
            "BackupTaskDefinitionArn".to_owned(),
            "RestoreTaskDefinitionArn".to_owned(),
            "TaskDefinitionArn".to_owned()
        ],
        "the instance settings did not change"
    );
}
