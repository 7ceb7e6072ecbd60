//! The stack's Elastic IP on the instance that runs Datero: the decision (pure, here), and the
//! calls the runner and the elastic-ip function share ([`calls`]).
//!
//! The address follows the instance by events, not by the instance's user data: the
//! ECS-optimized AL2023 AMI ships no AWS CLI (aws/amazon-ecs-ami, `al2023.pkr.hcl`), and
//! nothing in the product may depend on software inside the image beyond the ECS agent.

pub mod calls;

use std::fmt;

use crate::ecs_event::ContainerInstanceStateChange;

/// A container instance as ECS describes it now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegisteredInstance {
    pub status: String,
    pub agent_connected: bool,
    pub ec2_instance_id: String,
}

/// Why the address stays where it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Skip {
    OtherCluster(String),
    NotActive(String),
    AgentDisconnected,
    /// ECS no longer has the instance registered and ACTIVE: a late or out-of-order event.
    NoLongerRegistered,
    AlreadyThere,
    /// Datero's task runs on another registered instance: the address stays with it (during a
    /// replacement two instances can be ACTIVE at once).
    DateroElsewhere,
}

impl Skip {
    /// A short stable name for the reason: the `Reason` dimension of the skip metric.
    pub fn key(&self) -> &'static str {
        match self {
            Skip::OtherCluster(_) => "other-cluster",
            Skip::NotActive(_) => "not-active",
            Skip::AgentDisconnected => "agent-disconnected",
            Skip::NoLongerRegistered => "no-longer-registered",
            Skip::AlreadyThere => "already-there",
            Skip::DateroElsewhere => "datero-elsewhere",
        }
    }
}

impl fmt::Display for Skip {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Skip::OtherCluster(arn) => write!(f, "the instance joined another cluster ({arn})"),
            Skip::NotActive(status) => write!(f, "the instance is {status}, not ACTIVE"),
            Skip::AgentDisconnected => write!(f, "the instance's ECS agent is not connected"),
            Skip::NoLongerRegistered => write!(
                f,
                "the instance is no longer registered and ACTIVE in the cluster (a late event)"
            ),
            Skip::AlreadyThere => write!(f, "the address is already on this instance"),
            Skip::DateroElsewhere => write!(
                f,
                "Datero's task runs on another instance, which keeps the address"
            ),
        }
    }
}

/// What to do with an instance's event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Associate the address with this EC2 instance.
    Associate(String),
    Skip(Skip),
}

/// Whether the event alone is about an instance of `cluster_name` that is ready; the checks
/// that need no AWS call.
pub fn screen(event: &ContainerInstanceStateChange, cluster_name: &str) -> Result<(), Skip> {
    let cluster = event.cluster_arn.rsplit('/').next().unwrap_or_default();
    if cluster != cluster_name {
        return Err(Skip::OtherCluster(event.cluster_arn.clone()));
    }
    if event.status != "ACTIVE" {
        return Err(Skip::NotActive(event.status.clone()));
    }
    if !event.agent_connected {
        return Err(Skip::AgentDisconnected);
    }
    Ok(())
}

/// The decision for a screened event, from the instance as ECS has it now (`None`: not
/// registered any more), the container instances where ECS wants Datero's task running
/// (`datero_on`), and the instance that holds the address now. The invariant (CONTRACT,
/// Elastic IP keeper): while Datero's task runs, the address is on its instance; while none
/// runs, on the newest ACTIVE instance.
pub fn decide(
    event: &ContainerInstanceStateChange,
    now: Option<&RegisteredInstance>,
    datero_on: &[String],
    holder: Option<&str>,
) -> Decision {
    match now {
        Some(instance)
            if instance.status == "ACTIVE"
                && instance.agent_connected
                && instance.ec2_instance_id == event.ec2_instance_id => {}
        _ => return Decision::Skip(Skip::NoLongerRegistered),
    }
    if !datero_on.is_empty() && !datero_on.contains(&event.container_instance_arn) {
        return Decision::Skip(Skip::DateroElsewhere);
    }
    if holder == Some(event.ec2_instance_id.as_str()) {
        return Decision::Skip(Skip::AlreadyThere);
    }
    Decision::Associate(event.ec2_instance_id.clone())
}

/// The address as EC2 has it: its public IPv4 and the instance holding it, if any.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Address {
    pub public_ip: String,
    pub instance_id: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event() -> ContainerInstanceStateChange {
        ContainerInstanceStateChange {
            cluster_arn: "arn:aws:ecs:us-east-1:123456789012:cluster/prod-datero".into(),
            container_instance_arn:
                "arn:aws:ecs:us-east-1:123456789012:container-instance/prod-datero/ab".into(),
            ec2_instance_id: "i-new".into(),
            status: "ACTIVE".into(),
            agent_connected: true,
        }
    }

    fn registered(status: &str, id: &str) -> RegisteredInstance {
        RegisteredInstance {
            status: status.into(),
            agent_connected: true,
            ec2_instance_id: id.into(),
        }
    }

    #[test]
    fn the_screen_keeps_ready_instances_of_our_cluster() {
        assert_eq!(screen(&event(), "prod-datero"), Ok(()));
        assert!(matches!(
            screen(&event(), "other"),
            Err(Skip::OtherCluster(_))
        ));
        let draining = ContainerInstanceStateChange {
            status: "DRAINING".into(),
            ..event()
        };
        assert_eq!(
            screen(&draining, "prod-datero"),
            Err(Skip::NotActive("DRAINING".into()))
        );
        let disconnected = ContainerInstanceStateChange {
            agent_connected: false,
            ..event()
        };
        assert_eq!(
            screen(&disconnected, "prod-datero"),
            Err(Skip::AgentDisconnected)
        );
    }

    #[test]
    fn the_address_moves_only_to_a_live_instance_that_lacks_it() {
        let live = registered("ACTIVE", "i-new");
        assert_eq!(
            decide(&event(), Some(&live), &[], Some("i-old")),
            Decision::Associate("i-new".into())
        );
        assert_eq!(
            decide(&event(), Some(&live), &[], None),
            Decision::Associate("i-new".into())
        );
        assert_eq!(
            decide(&event(), Some(&live), &[], Some("i-new")),
            Decision::Skip(Skip::AlreadyThere)
        );
        // A late event about an instance ECS has deregistered, or that is going away.
        for now in [
            None,
            Some(registered("INACTIVE", "i-new")),
            Some(registered("DRAINING", "i-new")),
        ] {
            assert_eq!(
                decide(&event(), now.as_ref(), &[], Some("i-old")),
                Decision::Skip(Skip::NoLongerRegistered)
            );
        }
    }

    #[test]
    fn the_address_stays_with_the_instance_that_runs_datero() {
        let live = registered("ACTIVE", "i-new");
        let old_instance =
            "arn:aws:ecs:us-east-1:123456789012:container-instance/prod-datero/old".to_owned();
        // A replacement joins while Datero still runs on the old instance.
        assert_eq!(
            decide(
                &event(),
                Some(&live),
                std::slice::from_ref(&old_instance),
                Some("i-old")
            ),
            Decision::Skip(Skip::DateroElsewhere)
        );
        // Datero was started on the new instance (the event of its placement): the address follows.
        assert_eq!(
            decide(
                &event(),
                Some(&live),
                &[old_instance, event().container_instance_arn],
                Some("i-old")
            ),
            Decision::Associate("i-new".into())
        );
    }
}
