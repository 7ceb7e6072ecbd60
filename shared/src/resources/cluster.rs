//! `Custom::DateroCluster`: an ECS cluster with an EC2 capacity provider over an Auto Scaling group.

use serde_json::Value;

use super::names::{self, invalid};
use crate::error::{PropertyError, ResourceError};
use crate::properties::Properties;

/// Every property the resource accepts.
pub const ACCEPTED: [&str; 6] = [
    "AutoScalingGroupName",
    "ClusterName",
    "CapacityProviderName",
    "TargetCapacity",
    "ManagedTerminationProtection",
    "ContainerInsights",
];

/// What the user asked for, defaults applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClusterSpec {
    /// The group's name (an ARN given by the user is reduced to its name).
    pub auto_scaling_group: String,
    pub cluster_name: String,
    pub capacity_provider_name: String,
    /// Managed scaling's target utilisation, 1..=100.
    pub target_capacity: i32,
    pub managed_termination_protection: bool,
    pub container_insights: bool,
}

impl ClusterSpec {
    /// Strict parse for Create and Update; `stack_name` gives the default cluster name.
    pub fn parse(properties: &Value, stack_name: &str) -> Result<Self, PropertyError> {
        let props = Properties::strict(properties, &ACCEPTED)?;
        let group = props.required_string(
            "AutoScalingGroupName",
            "the name or ARN of the Auto Scaling group",
        )?;
        let auto_scaling_group = group_name(&group).to_owned();
        if auto_scaling_group.is_empty() || auto_scaling_group.len() > 255 {
            return Err(invalid(
                "AutoScalingGroupName",
                "an Auto Scaling group name or ARN",
                &group,
            ));
        }
        let cluster_name = props
            .string("ClusterName")?
            .unwrap_or_else(|| format!("{stack_name}-datero"));
        names::ecs_name("ClusterName", &cluster_name)?;
        let capacity_provider_name = props
            .string("CapacityProviderName")?
            .unwrap_or_else(|| default_provider_name(&cluster_name));
        names::ecs_name("CapacityProviderName", &capacity_provider_name)?;
        if ["aws", "ecs", "fargate"].iter().any(|reserved| {
            capacity_provider_name
                .to_ascii_lowercase()
                .starts_with(reserved)
        }) {
            return Err(invalid(
                "CapacityProviderName",
                "a name that does not start with aws, ecs or fargate (reserved by ECS)",
                &capacity_provider_name,
            ));
        }
        let target_capacity = props.integer("TargetCapacity", 1..=100)?.unwrap_or(100);
        let protection = props
            .choice("ManagedTerminationProtection", &["ENABLED", "DISABLED"])?
            .unwrap_or("ENABLED");
        let insights = props
            .choice("ContainerInsights", &["enabled", "disabled"])?
            .unwrap_or("disabled");
        Ok(Self {
            auto_scaling_group,
            cluster_name,
            capacity_provider_name,
            target_capacity: i32::try_from(target_capacity).unwrap_or(100),
            managed_termination_protection: protection == "ENABLED",
            container_insights: insights == "enabled",
        })
    }

    /// What Delete can still learn from properties it must not reject.
    pub fn lenient(properties: &Value) -> LenientCluster {
        let props = Properties::lenient(properties);
        LenientCluster {
            auto_scaling_group: props
                .string("AutoScalingGroupName")
                .ok()
                .flatten()
                .map(|group| group_name(&group).to_owned()),
            capacity_provider_name: props.string("CapacityProviderName").ok().flatten(),
        }
    }

    /// What an Update from `self` to `new` has to do.
    pub fn plan_update(&self, new: &Self) -> UpdatePlan {
        if self.cluster_name != new.cluster_name {
            return UpdatePlan::NewCluster;
        }
        let provider = if self.auto_scaling_group != new.auto_scaling_group
            || self.capacity_provider_name != new.capacity_provider_name
        {
            ProviderChange::Replace
        } else if self.target_capacity != new.target_capacity
            || self.managed_termination_protection != new.managed_termination_protection
        {
            ProviderChange::Update
        } else {
            ProviderChange::None
        };
        UpdatePlan::InPlace {
            provider,
            protection: self.plan_protection(new),
            insights_changed: self.container_insights != new.container_insights,
        }
    }

    /// The scale-in protection steps of an in-place Update from `self` to `new`. ECS refuses
    /// managed termination protection on a group whose new instances are not protected from
    /// scale-in (CreateCapacityProvider, UpdateCapacityProvider: `managedTerminationProtection`),
    /// so protection goes on before the provider changes and comes off only after.
    fn plan_protection(&self, new: &Self) -> ProtectionSteps {
        let group_left = self.auto_scaling_group != new.auto_scaling_group;
        ProtectionSteps {
            protect_new_group: new.managed_termination_protection,
            release_old_group: self.managed_termination_protection && group_left,
            release_new_group: self.managed_termination_protection
                && !new.managed_termination_protection,
        }
    }

    /// What a Create does, given what it found under the names it is about to use; a name
    /// that someone else holds is refused before anything is made.
    pub fn plan_create(&self, found: &CreateFacts) -> Result<CreatePlan, ResourceError> {
        if found.cluster == Found::Taken {
            return Err(ResourceError::NameTaken {
                kind: "cluster",
                name: self.cluster_name.clone(),
                property: "ClusterName",
            });
        }
        if found.provider == Found::Taken {
            return Err(ResourceError::NameTaken {
                kind: "capacity provider",
                name: self.capacity_provider_name.clone(),
                property: "CapacityProviderName",
            });
        }
        Ok(CreatePlan {
            protect_group: self.managed_termination_protection && !found.group_protected,
            make_cluster: found.cluster == Found::Absent,
            make_provider: found.provider == Found::Absent,
        })
    }
}

/// What a Create finds before it makes anything.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CreateFacts {
    /// The group protects its new instances from scale-in already.
    pub group_protected: bool,
    /// What holds the cluster's name.
    pub cluster: Found,
    /// What holds the capacity provider's name.
    pub provider: Found,
}

/// What holds a name a Create wants.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Found {
    /// Nothing active.
    Absent,
    /// This resource's own (tagged with its stack and logical id; a provider also on the
    /// group asked for): a repeated delivery of the same Create, adopted.
    Ours,
    /// Something else: the name is taken.
    Taken,
}

/// What a Create makes; whatever it does not make, it adopts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CreatePlan {
    /// Turn on the group's scale-in protection first (managed termination protection needs it).
    pub protect_group: bool,
    pub make_cluster: bool,
    pub make_provider: bool,
}

/// Scale-in protection around an in-place Update's provider change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProtectionSteps {
    /// Before the provider changes: protect the new group.
    pub protect_new_group: bool,
    /// After: lift the old group's protection, since the provider no longer uses it.
    pub release_old_group: bool,
    /// After: lift the new group's protection, since managed termination protection is off.
    pub release_new_group: bool,
}

/// What an Update does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UpdatePlan {
    /// A new cluster under a new physical id; CloudFormation deletes the old one afterwards.
    NewCluster,
    /// The same cluster (same physical id), changed where it stands.
    InPlace {
        provider: ProviderChange,
        protection: ProtectionSteps,
        insights_changed: bool,
    },
}

/// What happens to the capacity provider in an in-place Update.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProviderChange {
    None,
    /// Target capacity or termination protection: UpdateCapacityProvider.
    Update,
    /// A new group or name: a provider cannot change either, so it is made anew (and the old
    /// one removed by this Update, since the cluster's id does not change).
    Replace,
}

/// Properties read leniently for Delete; `None` where they cannot be known.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LenientCluster {
    pub auto_scaling_group: Option<String>,
    pub capacity_provider_name: Option<String>,
}

/// The capacity provider's name when the properties give none: `<cluster>-ec2`.
pub fn default_provider_name(cluster_name: &str) -> String {
    format!("{cluster_name}-ec2")
}

/// A capacity provider as the teardown sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProviderFacts {
    pub name: String,
    /// The name of the Auto Scaling group it wraps.
    pub group: String,
    pub termination_protection: bool,
    pub active: bool,
}

/// What a Delete removes, decided from what it found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TeardownPlan {
    /// The providers to detach and delete: those that exist among the ones attached now and the
    /// one the properties name (or its default), in case an earlier attempt detached it.
    pub providers: Vec<String>,
    /// The groups whose scale-in protection to lift once the providers are gone; a group that
    /// another protected provider still uses keeps it.
    pub release: Vec<String>,
    /// Groups left protected, for the log.
    pub keep_protected: Vec<String>,
}

/// The teardown of cluster `cluster_name`: `attached` are its providers now, `named` the one
/// its properties name, `known_group` the group they name, `providers` every provider of the
/// account as described (those named above among them).
pub fn plan_teardown(
    cluster_name: &str,
    attached: &[String],
    named: Option<&str>,
    known_group: Option<&str>,
    providers: &[ProviderFacts],
) -> TeardownPlan {
    let mut wanted: Vec<String> = attached.to_vec();
    wanted.push(named.map_or_else(|| default_provider_name(cluster_name), str::to_owned));
    let removing: Vec<&ProviderFacts> = providers
        .iter()
        .filter(|provider| wanted.contains(&provider.name))
        .collect();
    let mut groups: Vec<String> = removing.iter().map(|p| p.group.clone()).collect();
    groups.extend(known_group.map(|group| group_name(group).to_owned()));
    groups.sort();
    groups.dedup();
    let still_protected = |group: &str| {
        providers.iter().any(|provider| {
            provider.active
                && provider.termination_protection
                && provider.group == group
                && !removing.iter().any(|removed| removed.name == provider.name)
        })
    };
    let (keep_protected, release) = groups.into_iter().partition(|group| still_protected(group));
    let mut providers: Vec<String> = removing.iter().map(|p| p.name.clone()).collect();
    providers.sort();
    providers.dedup();
    TeardownPlan {
        providers,
        release,
        keep_protected,
    }
}

/// The cluster's name from its ARN (`arn:...:cluster/<name>`); `None` for anything else.
pub fn cluster_name_of(cluster_arn: &str) -> Option<&str> {
    let (prefix, name) = cluster_arn.split_once(":cluster/")?;
    (prefix.starts_with("arn:") && names::ecs_name("", name).is_ok()).then_some(name)
}

/// The group's name from a name or an ARN (`...:autoScalingGroupName/<name>`).
pub fn group_name(name_or_arn: &str) -> &str {
    name_or_arn
        .rsplit_once("autoScalingGroupName/")
        .map_or(name_or_arn, |(_, name)| name)
}

/// The attributes the resource returns (`Fn::GetAtt`), as `Custom::DateroCluster` answers them.
pub mod returned {
    pub const CLUSTER_NAME: &str = "ClusterName";
    pub const CLUSTER_ARN: &str = "ClusterArn";
    pub const CAPACITY_PROVIDER_NAME: &str = "CapacityProviderName";
    /// Every one of them.
    pub const ALL: &[&str] = &[CLUSTER_NAME, CLUSTER_ARN, CAPACITY_PROVIDER_NAME];
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn defaults_follow_the_contract() {
        let spec =
            ClusterSpec::parse(&json!({"AutoScalingGroupName": "asg"}), "datero-prod").unwrap();
        assert_eq!(spec.cluster_name, "datero-prod-datero");
        assert_eq!(spec.capacity_provider_name, "datero-prod-datero-ec2");
        assert_eq!(spec.target_capacity, 100);
        assert!(spec.managed_termination_protection);
        assert!(!spec.container_insights);
    }

    #[test]
    fn the_sample_event_parses() {
        let event: Value =
            serde_json::from_str(include_str!("../../fixtures/cfn-create-cluster.json")).unwrap();
        let spec = ClusterSpec::parse(&event["ResourceProperties"], "datero-prod").unwrap();
        assert_eq!(spec.auto_scaling_group, "datero-prod-Instances-7XyZ");
    }

    #[test]
    fn a_group_arn_is_reduced_to_its_name() {
        let arn = "arn:aws:autoscaling:us-east-1:111122223333:autoScalingGroup:1a2b:autoScalingGroupName/my-asg";
        let spec = ClusterSpec::parse(&json!({"AutoScalingGroupName": arn}), "s").unwrap();
        assert_eq!(spec.auto_scaling_group, "my-asg");
    }

    #[test]
    fn bad_values_name_the_property() {
        let cases = [
            (json!({}), "property AutoScalingGroupName is required"),
            (
                json!({"AutoScalingGroupName": "a", "TargetCapacity": "0"}),
                "property TargetCapacity is invalid",
            ),
            (
                json!({"AutoScalingGroupName": "a", "CapacityProviderName": "ecs-x"}),
                "property CapacityProviderName is invalid: expected a name that does not start with aws, ecs or fargate",
            ),
            (
                json!({"AutoScalingGroupName": "a", "ManagedTerminationProtection": "yes"}),
                "property ManagedTerminationProtection is invalid: expected one of ENABLED, DISABLED",
            ),
            (
                json!({"AutoScalingGroupName": "a", "ContainerInsights": "on"}),
                "property ContainerInsights is invalid",
            ),
            (
                json!({"AutoScalingGroupName": "a", "ClusterName": "bad name"}),
                "property ClusterName is invalid",
            ),
        ];
        for (properties, expected) in cases {
            let error = ClusterSpec::parse(&properties, "s")
                .unwrap_err()
                .to_string();
            assert!(error.starts_with(expected), "{error}");
        }
    }

    #[test]
    fn update_plans() {
        let spec = |properties: Value| ClusterSpec::parse(&properties, "s").unwrap();
        let old = spec(json!({"AutoScalingGroupName": "a"}));
        let plan = |new: Value| old.plan_update(&spec(new));
        // Protection as it stays on group a.
        let kept = ProtectionSteps {
            protect_new_group: true,
            release_old_group: false,
            release_new_group: false,
        };
        let in_place = |provider, insights_changed| UpdatePlan::InPlace {
            provider,
            protection: kept,
            insights_changed,
        };
        assert_eq!(
            plan(json!({"AutoScalingGroupName": "a", "ClusterName": "other"})),
            UpdatePlan::NewCluster
        );
        assert_eq!(
            plan(json!({"AutoScalingGroupName": "a", "TargetCapacity": 50})),
            in_place(ProviderChange::Update, false)
        );
        assert_eq!(
            plan(json!({"AutoScalingGroupName": "a", "ManagedTerminationProtection": "DISABLED"})),
            UpdatePlan::InPlace {
                provider: ProviderChange::Update,
                protection: ProtectionSteps {
                    protect_new_group: false,
                    release_old_group: false,
                    release_new_group: true,
                },
                insights_changed: false,
            }
        );
        assert_eq!(
            plan(json!({"AutoScalingGroupName": "b"})),
            UpdatePlan::InPlace {
                provider: ProviderChange::Replace,
                protection: ProtectionSteps {
                    protect_new_group: true,
                    release_old_group: true,
                    release_new_group: false,
                },
                insights_changed: false,
            }
        );
        assert_eq!(
            plan(json!({"AutoScalingGroupName": "a", "ContainerInsights": "enabled"})),
            in_place(ProviderChange::None, true)
        );
        assert_eq!(
            plan(json!({"AutoScalingGroupName": "a"})),
            in_place(ProviderChange::None, false)
        );
    }

    #[test]
    fn protection_steps_follow_both_groups() {
        let spec = |properties: Value| ClusterSpec::parse(&properties, "s").unwrap();
        let unprotected =
            spec(json!({"AutoScalingGroupName": "a", "ManagedTerminationProtection": "DISABLED"}));
        // Turned on: protect first, release nothing.
        assert_eq!(
            unprotected.plan_protection(&spec(json!({"AutoScalingGroupName": "a"}))),
            ProtectionSteps {
                protect_new_group: true,
                release_old_group: false,
                release_new_group: false,
            }
        );
        // Off before and after, to another group: nothing to do on either.
        assert_eq!(
            unprotected.plan_protection(&spec(
                json!({"AutoScalingGroupName": "b", "ManagedTerminationProtection": "DISABLED"})
            )),
            ProtectionSteps {
                protect_new_group: false,
                release_old_group: false,
                release_new_group: false,
            }
        );
        // On, then off on another group: both groups come out of protection.
        let protected = spec(json!({"AutoScalingGroupName": "a"}));
        assert_eq!(
            protected.plan_protection(&spec(
                json!({"AutoScalingGroupName": "b", "ManagedTerminationProtection": "DISABLED"})
            )),
            ProtectionSteps {
                protect_new_group: false,
                release_old_group: true,
                release_new_group: true,
            }
        );
    }

    #[test]
    fn create_plans_make_adopt_or_refuse() {
        let spec = |properties: Value| ClusterSpec::parse(&properties, "s").unwrap();
        let protected = spec(json!({"AutoScalingGroupName": "a"}));
        let facts = |group_protected, cluster, provider| CreateFacts {
            group_protected,
            cluster,
            provider,
        };
        assert_eq!(
            protected
                .plan_create(&facts(false, Found::Absent, Found::Absent))
                .unwrap(),
            CreatePlan {
                protect_group: true,
                make_cluster: true,
                make_provider: true,
            }
        );
        // A repeated delivery that got as far as the cluster: adopt it, make the provider.
        assert_eq!(
            protected
                .plan_create(&facts(true, Found::Ours, Found::Absent))
                .unwrap(),
            CreatePlan {
                protect_group: false,
                make_cluster: false,
                make_provider: true,
            }
        );
        let unprotected =
            spec(json!({"AutoScalingGroupName": "a", "ManagedTerminationProtection": "DISABLED"}));
        assert!(
            !unprotected
                .plan_create(&facts(false, Found::Absent, Found::Absent))
                .unwrap()
                .protect_group
        );
        let refused = |found| protected.plan_create(&found).unwrap_err().to_string();
        assert!(
            refused(facts(false, Found::Taken, Found::Absent))
                .starts_with("cluster s-datero already exists")
        );
        assert!(
            refused(facts(false, Found::Ours, Found::Taken))
                .starts_with("capacity provider s-datero-ec2 already exists")
        );
    }

    #[test]
    fn delete_reads_what_it_can() {
        let lenient = ClusterSpec::lenient(
            &json!({"AutoScalingGroupName": "g", "TargetCapacity": "junk", "X": 1}),
        );
        assert_eq!(lenient.auto_scaling_group.as_deref(), Some("g"));
        assert_eq!(
            ClusterSpec::lenient(&json!(null)),
            LenientCluster::default()
        );
    }

    fn provider(name: &str, group: &str, protected: bool) -> ProviderFacts {
        ProviderFacts {
            name: name.into(),
            group: group.into(),
            termination_protection: protected,
            active: true,
        }
    }

    #[test]
    fn teardown_removes_our_providers_and_releases_groups_no_one_else_protects() {
        let all = [
            provider("prod-datero-ec2", "prod-group", true),
            provider("other-ec2", "shared-group", true),
            provider("old-ec2", "shared-group", false),
        ];
        // Attached now, and a name from the properties that was detached by an earlier try.
        let plan = plan_teardown(
            "prod-datero",
            &["old-ec2".into()],
            Some("prod-datero-ec2"),
            Some(
                "arn:aws:autoscaling:us-east-1:1:autoScalingGroup:x:autoScalingGroupName/prod-group",
            ),
            &all,
        );
        assert_eq!(plan.providers, ["old-ec2", "prod-datero-ec2"]);
        assert_eq!(plan.release, ["prod-group"]);
        assert_eq!(
            plan.keep_protected,
            ["shared-group"],
            "other-ec2 still protects it"
        );
        // Nothing named, nothing found: the default name is looked for, nothing is removed.
        let plan = plan_teardown("gone", &[], None, None, &[]);
        assert!(plan.providers.is_empty() && plan.release.is_empty());
        assert_eq!(default_provider_name("gone"), "gone-ec2");
    }
}
