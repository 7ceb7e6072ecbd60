//! Which refusals of ECS are worth waiting out while the cluster resource creates.
//!
//! The caller maps the SDK's typed error (its `is_*_exception()` checks) to an [`EcsRefusal`];
//! [`while_creating`] decides, on that plain data, whether the same call can succeed a moment
//! later.

/// An ECS refusal, as its typed error says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EcsRefusal<'a> {
    /// `ClientException` or `InvalidParameterException`, with the service's message.
    Client { message: &'a str },
    /// `UpdateInProgressException`.
    UpdateInProgress,
    /// Anything else (throttling is retried by the SDK itself).
    Other,
}

/// Why a refusal is only a matter of time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transient {
    /// A cluster or provider just created is not ACTIVE yet ("Cluster was not ACTIVE", "... is
    /// not in an ACTIVE state": hashicorp/terraform-provider-aws#11285, #45693).
    NotActiveYet,
    /// The account's first CreateCluster makes the ECS service-linked role, which IAM takes a
    /// few seconds to make usable: "Unable to assume the service linked role. Please verify
    /// that the ECS service linked role exists." on CreateCluster, "ECS Service Linked Role
    /// does not exist" on CreateCapacityProvider ("Using service-linked roles for Amazon ECS",
    /// ECS developer guide).
    ServiceLinkedRoleNotReady,
    /// Another change of the same cluster or provider is still being applied.
    UpdateInProgress,
}

impl Transient {
    /// A short name for logs.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::NotActiveYet => "not ACTIVE yet",
            Self::ServiceLinkedRoleNotReady => "ECS service-linked role not usable yet",
            Self::UpdateInProgress => "update in progress",
        }
    }
}

/// Whether a refusal of CreateCluster, CreateCapacityProvider or PutClusterCapacityProviders,
/// made while the cluster resource creates, is transient; `None` when it is final.
pub fn while_creating(refusal: EcsRefusal<'_>) -> Option<Transient> {
    match refusal {
        EcsRefusal::UpdateInProgress => Some(Transient::UpdateInProgress),
        EcsRefusal::Client { message } => {
            let message = message.to_ascii_lowercase();
            if message.contains("service linked role") || message.contains("service-linked role") {
                Some(Transient::ServiceLinkedRoleNotReady)
            } else if message.contains("not active") || message.contains("not in an active state") {
                Some(Transient::NotActiveYet)
            } else {
                None
            }
        }
        EcsRefusal::Other => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn client(message: &str) -> Option<Transient> {
        while_creating(EcsRefusal::Client { message })
    }

    #[test]
    fn a_service_linked_role_not_usable_yet_is_waited_out() {
        assert_eq!(
            client(
                "Unable to assume the service linked role. Please verify that the ECS service linked role exists."
            ),
            Some(Transient::ServiceLinkedRoleNotReady)
        );
        assert_eq!(
            client("ECS Service Linked Role does not exist"),
            Some(Transient::ServiceLinkedRoleNotReady)
        );
    }

    #[test]
    fn a_resource_not_active_yet_is_waited_out() {
        assert_eq!(
            client("Cluster was not ACTIVE"),
            Some(Transient::NotActiveYet)
        );
        assert_eq!(
            client("The specified capacity provider is not in an ACTIVE state."),
            Some(Transient::NotActiveYet)
        );
        assert_eq!(
            while_creating(EcsRefusal::UpdateInProgress),
            Some(Transient::UpdateInProgress)
        );
    }

    #[test]
    fn other_refusals_are_final() {
        // A bad input stays bad however long one waits.
        assert_eq!(
            client("The specified capacity provider name is invalid: it must not start with aws"),
            None
        );
        assert_eq!(
            client(
                "The specified Auto Scaling group ARN is already being used by another capacity provider."
            ),
            None
        );
        assert_eq!(while_creating(EcsRefusal::Other), None);
    }
}
