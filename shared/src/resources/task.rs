//! `Custom::DateroTask`: one Datero task kept running on the cluster.

use serde_json::Value;

use super::names::{self, invalid};
use crate::error::PropertyError;
use crate::properties::Properties;
pub use crate::replacement::Policy;

/// Every property the resource accepts.
pub const ACCEPTED: [&str; 9] = [
    "ClusterName",
    "CapacityProviderName",
    "TaskDefinitionArn",
    "BackupTaskDefinitionArn",
    "RestoreTaskDefinitionArn",
    "ElasticIpAllocationId",
    "AutoScalingGroupName",
    "InstanceSettings",
    "InstanceReplacement",
];

/// What the user asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskSpec {
    pub cluster_name: String,
    pub capacity_provider_name: String,
    pub task_definition_arn: String,
    /// The stack's Elastic IP (`eipalloc-...`): put on the task's instance before answering.
    pub elastic_ip_allocation_id: Option<String>,
    /// The group whose instances run Datero: with it, an Update that changes
    /// `instance_settings` replaces the instances launched with older settings.
    pub auto_scaling_group_name: Option<String>,
    /// What the group's instances are launched with (launch template version, subnets),
    /// as the template writes it; only its changes matter.
    pub instance_settings: Option<String>,
    /// Whether an update may replace Datero's instance (`refuse` when the data is on it).
    pub instance_replacement: Policy,
    /// The stack's backup and restore task definitions (ARNs with revision): with both, a new
    /// PostgreSQL major moves Datero's data by dump and restore
    /// ([`crate::data_directory`]); without, it is refused with the way to do it by hand.
    pub backup_and_restore: Option<(String, String)>,
}

impl TaskSpec {
    /// Strict parse for Create and Update.
    pub fn parse(properties: &Value) -> Result<Self, PropertyError> {
        let props = Properties::strict(properties, &ACCEPTED)?;
        let cluster_name =
            props.required_string("ClusterName", "the name of the Datero cluster")?;
        names::ecs_name("ClusterName", &cluster_name)?;
        let capacity_provider_name = props.required_string(
            "CapacityProviderName",
            "the name of the cluster's capacity provider",
        )?;
        names::ecs_name("CapacityProviderName", &capacity_provider_name)?;
        let task_definition_arn =
            props.required_string("TaskDefinitionArn", "the ARN of a task-definition revision")?;
        revision_arn("TaskDefinitionArn", &task_definition_arn)?;
        let backup_and_restore = backup_and_restore(&props)?;
        let elastic_ip_allocation_id = props.string("ElasticIpAllocationId")?;
        if let Some(id) = &elastic_ip_allocation_id {
            let hex = id.strip_prefix("eipalloc-").unwrap_or_default();
            if hex.is_empty() || !hex.chars().all(|c| c.is_ascii_hexdigit()) {
                return Err(invalid(
                    "ElasticIpAllocationId",
                    "an Elastic IP allocation id such as eipalloc-0123456789abcdef0",
                    id,
                ));
            }
        }
        let instance_replacement = match props.string("InstanceReplacement")?.as_deref() {
            None | Some("replace") => Policy::Replace,
            Some("refuse") => Policy::Refuse,
            Some(other) => {
                return Err(invalid("InstanceReplacement", "replace or refuse", other));
            }
        };
        Ok(Self {
            cluster_name,
            capacity_provider_name,
            task_definition_arn,
            elastic_ip_allocation_id,
            auto_scaling_group_name: props.string("AutoScalingGroupName")?,
            instance_settings: props.string("InstanceSettings")?,
            instance_replacement,
            backup_and_restore,
        })
    }

    /// The family of the task definition.
    pub fn family(&self) -> &str {
        family_of(&self.task_definition_arn).unwrap_or_default()
    }
}

/// `BackupTaskDefinitionArn` and `RestoreTaskDefinitionArn`: both or neither.
fn backup_and_restore(props: &Properties) -> Result<Option<(String, String)>, PropertyError> {
    let backup = props.string("BackupTaskDefinitionArn")?;
    let restore = props.string("RestoreTaskDefinitionArn")?;
    let pair = match (backup, restore) {
        (Some(backup), Some(restore)) => {
            revision_arn("BackupTaskDefinitionArn", &backup)?;
            revision_arn("RestoreTaskDefinitionArn", &restore)?;
            Some((backup, restore))
        }
        (None, None) => None,
        (Some(_), None) => {
            return Err(PropertyError::Missing {
                name: "RestoreTaskDefinitionArn".to_owned(),
                expected: "the restore task definition, given with BackupTaskDefinitionArn"
                    .to_owned(),
            });
        }
        (None, Some(_)) => {
            return Err(PropertyError::Missing {
                name: "BackupTaskDefinitionArn".to_owned(),
                expected: "the backup task definition, given with RestoreTaskDefinitionArn"
                    .to_owned(),
            });
        }
    };
    Ok(pair)
}

/// A task-definition ARN with its revision (`...:task-definition/<family>:<revision>`).
fn revision_arn(name: &str, arn: &str) -> Result<(), PropertyError> {
    names::arn(name, arn, "ecs", "task-definition/")?;
    if family_of(arn).is_none() {
        return Err(invalid(
            name,
            "an ARN with a revision, ending in task-definition/<family>:<revision>",
            arn,
        ));
    }
    Ok(())
}

/// What an Update of `Custom::DateroTask` does, decided from the old and new properties.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpdatePlan {
    /// Same cluster and revision: a task of it that is RUNNING already is kept as it is,
    /// unless its instance is replaced.
    pub keep_running_task: bool,
    /// The group's instance settings changed (or the old ones are unknown): instances launched
    /// with other settings are replaced, Datero stopped first.
    pub check_instances: bool,
    /// The revision to start again if the new one does not run: the old properties, when they
    /// still parse and name the same cluster (on another cluster, the old task is
    /// CloudFormation's to delete, since the physical id changes).
    pub restore: Option<TaskSpec>,
}

/// The plan for an Update from `old` (`None`: the old properties no longer parse) to `new`.
///
/// Every property is named here, so that a new one cannot be ignored on Update without a
/// decision: adding a field to [`TaskSpec`] fails to compile until it is placed below.
pub fn plan_update(old: Option<&TaskSpec>, new: &TaskSpec) -> UpdatePlan {
    let TaskSpec {
        // Another cluster: a new task there (the old one is CloudFormation's to delete).
        cluster_name,
        // Tasks started from now on go through it; the running task stays where it is.
        capacity_provider_name: _,
        // Another revision: a rollout.
        task_definition_arn,
        // Put on the task's instance with every answer, rolled out or not.
        elastic_ip_allocation_id: _,
        // The group and what it launches: outdated instances are replaced.
        auto_scaling_group_name,
        instance_settings,
        // How such a replacement may go; nothing of its own.
        instance_replacement: _,
        // Used by a move to a new major only; nothing of its own.
        backup_and_restore: _,
    } = new;
    let same_cluster = old.filter(|old| old.cluster_name == *cluster_name);
    let check_instances = auto_scaling_group_name.is_some()
        && old.is_none_or(|old| {
            old.instance_settings != *instance_settings
                || old.auto_scaling_group_name != *auto_scaling_group_name
        });
    UpdatePlan {
        keep_running_task: same_cluster
            .is_some_and(|old| old.task_definition_arn == *task_definition_arn),
        check_instances,
        restore: same_cluster.cloned(),
    }
}

/// The physical id of the resource on `cluster_name`: `<cluster>/datero`.
pub fn physical_id(cluster_name: &str) -> String {
    format!("{cluster_name}{PHYSICAL_ID_SUFFIX}")
}

const PHYSICAL_ID_SUFFIX: &str = "/datero";

/// `family` of `arn:...:task-definition/<family>:<revision>`, if it has that shape.
pub fn family_of(task_definition_arn: &str) -> Option<&str> {
    let (_, tail) = task_definition_arn.split_once(":task-definition/")?;
    let (family, revision) = tail.rsplit_once(':')?;
    let numbered = !revision.is_empty() && revision.chars().all(|c| c.is_ascii_digit());
    (numbered && !family.is_empty()).then_some(family)
}

/// The cluster name a Delete can act on: the physical id `<cluster>/datero`, else the property.
pub fn cluster_for_delete(physical_resource_id: &str, properties: &Value) -> Option<String> {
    physical_resource_id
        .strip_suffix(PHYSICAL_ID_SUFFIX)
        .map(str::to_owned)
        .or_else(|| {
            Properties::lenient(properties)
                .string("ClusterName")
                .ok()
                .flatten()
        })
}

/// The attributes the resource returns (`Fn::GetAtt`), as `Custom::DateroTask` answers them (`Url` only where the instance has a public address).
pub mod returned {
    pub const TASK_ARN: &str = "TaskArn";
    pub const URL: &str = "Url";
    /// Every one of them.
    pub const ALL: &[&str] = &[TASK_ARN, URL];
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const ARN: &str = "arn:aws:ecs:us-east-1:111122223333:task-definition/datero:3";

    #[test]
    fn parses_and_knows_the_family() {
        let spec = TaskSpec::parse(
            &json!({"ClusterName": "c", "CapacityProviderName": "c-ec2", "TaskDefinitionArn": ARN}),
        )
        .unwrap();
        assert_eq!(spec.family(), "datero");
    }

    #[test]
    fn the_elastic_ip_is_optional_and_checked() {
        let with = |id: &str| {
            TaskSpec::parse(&json!({"ClusterName": "c", "CapacityProviderName": "p",
                "TaskDefinitionArn": ARN, "ElasticIpAllocationId": id}))
        };
        assert_eq!(
            with("eipalloc-0a1b2c3d")
                .unwrap()
                .elastic_ip_allocation_id
                .as_deref(),
            Some("eipalloc-0a1b2c3d")
        );
        assert_eq!(
            with("203.0.113.7").unwrap_err().to_string(),
            "property ElasticIpAllocationId is invalid: expected an Elastic IP allocation id such as eipalloc-0123456789abcdef0, got \"203.0.113.7\""
        );
    }

    #[test]
    fn a_revisionless_arn_is_refused() {
        let error = TaskSpec::parse(&json!({"ClusterName": "c", "CapacityProviderName": "p",
            "TaskDefinitionArn": "arn:aws:ecs:us-east-1:111122223333:task-definition/datero"}))
        .unwrap_err()
        .to_string();
        assert!(
            error.starts_with(
                "property TaskDefinitionArn is invalid: expected an ARN with a revision"
            ),
            "{error}"
        );
    }

    #[test]
    fn an_update_keeps_an_unchanged_task_and_restores_only_on_the_same_cluster() {
        let spec = |cluster: &str, revision: u32| {
            TaskSpec::parse(&json!({"ClusterName": cluster, "CapacityProviderName": "p",
                "TaskDefinitionArn": format!("arn:aws:ecs:us-east-1:111122223333:task-definition/datero:{revision}")}))
            .unwrap()
        };
        let same = plan_update(Some(&spec("c", 1)), &spec("c", 1));
        assert_eq!(
            same,
            UpdatePlan {
                keep_running_task: true,
                check_instances: false,
                restore: Some(spec("c", 1))
            }
        );
        let new_revision = plan_update(Some(&spec("c", 1)), &spec("c", 2));
        assert_eq!(
            new_revision,
            UpdatePlan {
                keep_running_task: false,
                check_instances: false,
                restore: Some(spec("c", 1))
            }
        );
        let other_cluster = plan_update(Some(&spec("c", 1)), &spec("d", 1));
        assert_eq!(
            other_cluster,
            UpdatePlan {
                keep_running_task: false,
                check_instances: false,
                restore: None
            }
        );
        assert_eq!(
            plan_update(None, &spec("c", 1)),
            UpdatePlan {
                keep_running_task: false,
                check_instances: false,
                restore: None
            }
        );
        assert_eq!(physical_id("c"), "c/datero");
        assert_eq!(
            cluster_for_delete(&physical_id("c"), &json!(null)).as_deref(),
            Some("c")
        );
    }

    #[test]
    fn new_instance_settings_replace_the_instances_even_with_the_same_revision() {
        let spec = |settings: &str| {
            TaskSpec::parse(&json!({"ClusterName": "c", "CapacityProviderName": "p",
                "TaskDefinitionArn": ARN, "AutoScalingGroupName": "c", "InstanceSettings": settings}))
            .unwrap()
        };
        let changed = plan_update(Some(&spec("lt 3; subnet-a")), &spec("lt 4; subnet-a"));
        assert!(changed.check_instances);
        let same = plan_update(Some(&spec("lt 3; subnet-a")), &spec("lt 3; subnet-a"));
        assert!(!same.check_instances);
        assert!(same.keep_running_task);
        // Unknown old properties: the group is looked at.
        assert!(plan_update(None, &spec("lt 3")).check_instances);
    }

    #[test]
    fn properties_that_need_no_new_task_keep_the_running_one() {
        let base =
            json!({"ClusterName": "c", "CapacityProviderName": "p", "TaskDefinitionArn": ARN});
        let old = TaskSpec::parse(&base).unwrap();
        for (name, value) in [
            ("CapacityProviderName", "p2"),
            ("ElasticIpAllocationId", "eipalloc-0a1b2c3d"),
            ("InstanceReplacement", "refuse"),
        ] {
            let mut changed = base.clone();
            changed[name] = json!(value);
            let plan = plan_update(Some(&old), &TaskSpec::parse(&changed).unwrap());
            assert!(
                plan.keep_running_task && !plan.check_instances,
                "{name}: {plan:?}"
            );
        }
        let mut moved = base.clone();
        moved["BackupTaskDefinitionArn"] =
            json!("arn:aws:ecs:us-east-1:111122223333:task-definition/datero-backup:2");
        moved["RestoreTaskDefinitionArn"] =
            json!("arn:aws:ecs:us-east-1:111122223333:task-definition/datero-restore:2");
        let plan = plan_update(Some(&old), &TaskSpec::parse(&moved).unwrap());
        assert!(plan.keep_running_task, "{plan:?}");
        // Given one without the other, the property missing is named.
        let mut half = base.clone();
        half["BackupTaskDefinitionArn"] = moved["BackupTaskDefinitionArn"].clone();
        assert_eq!(
            TaskSpec::parse(&half).unwrap_err().to_string(),
            "property RestoreTaskDefinitionArn is required: expected the restore task definition, given with BackupTaskDefinitionArn"
        );
    }

    #[test]
    fn instance_replacement_is_replace_or_refuse() {
        let with = |policy: &str| {
            TaskSpec::parse(&json!({"ClusterName": "c", "CapacityProviderName": "p",
                "TaskDefinitionArn": ARN, "InstanceReplacement": policy}))
        };
        assert_eq!(with("refuse").unwrap().instance_replacement, Policy::Refuse);
        assert_eq!(
            with("replace").unwrap().instance_replacement,
            Policy::Replace
        );
        assert_eq!(
            with("yes").unwrap_err().to_string(),
            "property InstanceReplacement is invalid: expected replace or refuse, got \"yes\""
        );
    }

    #[test]
    fn delete_finds_the_cluster_from_the_id_first() {
        assert_eq!(
            cluster_for_delete("prod-datero/datero", &json!(null)).as_deref(),
            Some("prod-datero")
        );
        assert_eq!(
            cluster_for_delete("junk", &json!({"ClusterName": "c"})).as_deref(),
            Some("c")
        );
        assert_eq!(cluster_for_delete("junk", &json!([])), None);
    }
}
