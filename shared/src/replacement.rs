//! Which of the group's instances a stack update must replace so that Datero ends up on an
//! instance with the settings the update gave the group (pure; the runner gathers and acts).
//!
//! Without an update policy, a change of the group's launch template or subnets reaches only
//! instances launched afterwards: "Existing instances continue to run with the configuration
//! that they were originally launched with" (UpdateAutoScalingGroup, Auto Scaling API
//! Reference). The ECS agent also reads its configuration (the user data) only at start.

use std::fmt;

/// The group's settings now, as DescribeAutoScalingGroups reports them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupSettings {
    /// The launch template version the group launches (`LaunchTemplate` or the mixed
    /// instances policy's), as a number.
    pub launch_template_version: Option<String>,
    /// `VPCZoneIdentifier`, split.
    pub subnets: Vec<String>,
}

/// One instance of the group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupInstance {
    pub instance_id: String,
    /// The launch template version it was launched with.
    pub launch_template_version: Option<String>,
    /// Its subnet, from EC2.
    pub subnet_id: Option<String>,
    /// Already leaving the group (`Terminating*`, `Detaching`...): not replaced again.
    pub leaving: bool,
}

/// Why an instance is replaced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outdated {
    LaunchTemplate { was: String, now: String },
    Subnet(String),
}

impl fmt::Display for Outdated {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Outdated::LaunchTemplate { was, now } => {
                write!(f, "launched from launch template version {was}, not {now}")
            }
            Outdated::Subnet(subnet) => write!(f, "in subnet {subnet}, no longer the group's"),
        }
    }
}

/// The instances of `instances` that do not have `settings`, each with why.
pub fn outdated(settings: &GroupSettings, instances: &[GroupInstance]) -> Vec<(String, Outdated)> {
    instances
        .iter()
        .filter(|instance| !instance.leaving)
        .filter_map(|instance| {
            if let (Some(was), Some(now)) = (
                &instance.launch_template_version,
                &settings.launch_template_version,
            ) && was != now
            {
                return Some((
                    instance.instance_id.clone(),
                    Outdated::LaunchTemplate {
                        was: was.clone(),
                        now: now.clone(),
                    },
                ));
            }
            match &instance.subnet_id {
                Some(subnet)
                    if !settings.subnets.is_empty() && !settings.subnets.contains(subnet) =>
                {
                    Some((
                        instance.instance_id.clone(),
                        Outdated::Subnet(subnet.clone()),
                    ))
                }
                _ => None,
            }
        })
        .collect()
}

/// Whether the stack lets an update replace Datero's instance (`InstanceReplacement`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Policy {
    /// Datero's data is on EFS: the instance can go.
    #[default]
    Replace,
    /// Datero's data is on the instance's disk and the user has not accepted losing it.
    Refuse,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> GroupSettings {
        GroupSettings {
            launch_template_version: Some("4".into()),
            subnets: vec!["subnet-a".into(), "subnet-c".into()],
        }
    }

    fn instance(id: &str, version: &str, subnet: &str) -> GroupInstance {
        GroupInstance {
            instance_id: id.into(),
            launch_template_version: Some(version.into()),
            subnet_id: Some(subnet.into()),
            leaving: false,
        }
    }

    #[test]
    fn an_instance_with_the_groups_settings_stays() {
        assert!(outdated(&settings(), &[instance("i-1", "4", "subnet-a")]).is_empty());
    }

    #[test]
    fn an_older_launch_template_or_a_dropped_subnet_is_replaced() {
        let found = outdated(
            &settings(),
            &[
                instance("i-old", "3", "subnet-a"),
                instance("i-moved", "4", "subnet-b"),
                instance("i-fine", "4", "subnet-c"),
            ],
        );
        assert_eq!(
            found,
            [
                (
                    "i-old".to_owned(),
                    Outdated::LaunchTemplate {
                        was: "3".into(),
                        now: "4".into()
                    }
                ),
                ("i-moved".to_owned(), Outdated::Subnet("subnet-b".into())),
            ]
        );
        assert_eq!(
            found[0].1.to_string(),
            "launched from launch template version 3, not 4"
        );
    }

    #[test]
    fn an_instance_already_leaving_is_not_replaced_twice() {
        let leaving = GroupInstance {
            leaving: true,
            ..instance("i-old", "3", "subnet-b")
        };
        assert!(outdated(&settings(), &[leaving]).is_empty());
    }
}
