//! The ECS calls the cluster resource makes, each tolerant of "already so" where that is safe.

use std::future::Future;
use std::time::Duration;

use aws_sdk_ecs::config::http::HttpResponse;
use aws_sdk_ecs::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_ecs::operation::create_capacity_provider::CreateCapacityProviderError;
use aws_sdk_ecs::operation::create_cluster::CreateClusterError;
use aws_sdk_ecs::operation::put_cluster_capacity_providers::PutClusterCapacityProvidersError;
use aws_sdk_ecs::types::{
    AutoScalingGroupProvider, AutoScalingGroupProviderUpdate, CapacityProvider,
    CapacityProviderStatus, CapacityProviderStrategyItem, Cluster, ClusterField, ClusterSetting,
    ClusterSettingName, ManagedDraining, ManagedScaling, ManagedScalingStatus,
    ManagedTerminationProtection, Tag,
};
use datero_shared::ResourceError;
use datero_shared::aws::{aws_error, error_message};
use datero_shared::custom_resource::CustomResourceRequest;
use datero_shared::poll::Backoff;
use datero_shared::refusal::{self, EcsRefusal};
use datero_shared::resources::cluster::ClusterSpec;
use tokio::time::Instant;
use tracing::{info, warn};

use crate::Context;

/// The cluster if it exists: ACTIVE, or PROVISIONING just after its creation (a deleted
/// cluster lingers as INACTIVE).
pub async fn active_cluster(
    clients: &Context,
    name: &str,
) -> Result<Option<Cluster>, ResourceError> {
    let answer = clients
        .ecs
        .describe_clusters()
        .clusters(name)
        .include(ClusterField::Tags)
        .send()
        .await
        .map_err(|error| aws_error("DescribeClusters", error))?;
    Ok(answer
        .clusters()
        .iter()
        .find(|cluster| matches!(cluster.status(), Some("ACTIVE" | "PROVISIONING")))
        .cloned())
}

/// The provider if it exists and is not being deleted (ACTIVE, or PROVISIONING just after its
/// creation).
pub async fn active_provider(
    clients: &Context,
    name: &str,
) -> Result<Option<CapacityProvider>, ResourceError> {
    Ok(providers(clients, &[name.to_owned()])
        .await?
        .into_iter()
        .find(|provider| {
            matches!(
                provider.status(),
                Some(CapacityProviderStatus::Active | CapacityProviderStatus::Provisioning)
            )
        }))
}

/// Describes the named providers; an empty list describes every provider of the account,
/// page by page (without names, ECS answers at most 10 at a time with a `nextToken`).
pub async fn providers(
    clients: &Context,
    names: &[String],
) -> Result<Vec<CapacityProvider>, ResourceError> {
    let mut found = Vec::new();
    let mut token: Option<String> = None;
    loop {
        let answer = clients
            .ecs
            .describe_capacity_providers()
            .set_capacity_providers((!names.is_empty()).then(|| names.to_vec()))
            .set_next_token(token.take())
            .send()
            .await
            .map_err(|error| aws_error("DescribeCapacityProviders", error))?;
        found.extend(answer.capacity_providers().iter().cloned());
        match answer.next_token() {
            Some(next) if !next.is_empty() => token = Some(next.to_owned()),
            _ => return Ok(found),
        }
    }
}

pub fn ownership_tags(request: &CustomResourceRequest) -> Vec<Tag> {
    datero_shared::marks::ecs_tags(request.ownership_tags())
}

/// Whether `tags` say the resource was made by this stack's custom resource.
pub fn made_by(request: &CustomResourceRequest, tags: &[Tag]) -> bool {
    request.ownership_tags().iter().all(|(key, value)| {
        tags.iter()
            .any(|tag| tag.key() == Some(key) && tag.value() == Some(value))
    })
}

fn insights(enabled: bool) -> ClusterSetting {
    ClusterSetting::builder()
        .name(ClusterSettingName::ContainerInsights)
        .value(if enabled { "enabled" } else { "disabled" })
        .build()
}

/// Sends `call` until it succeeds, ECS refuses it for good, or `deadline`: refusals that
/// [`refusal::while_creating`] calls transient are waited out.
async fn settled<T, E, F, Fut>(
    action: &'static str,
    deadline: Instant,
    refusal_of: fn(&E) -> EcsRefusal<'_>,
    mut call: F,
) -> Result<T, ResourceError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, SdkError<E, HttpResponse>>>,
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    let mut backoff = Backoff::ecs(deadline);
    loop {
        let error = match call().await {
            Ok(answer) => return Ok(answer),
            Err(error) => error,
        };
        let transient = error
            .as_service_error()
            .and_then(|service| refusal::while_creating(refusal_of(service)));
        match transient {
            Some(why) if backoff.has_time() => {
                info!(action, why = why.as_str(), error = %error_message(&error), "refused for now; retrying");
                backoff.wait().await;
            }
            _ => return Err(aws_error(action, error)),
        }
    }
}

/// A client or invalid-parameter refusal with its message, from any ECS error.
macro_rules! client_refusal {
    ($name:ident, $error:ty) => {
        fn $name(error: &$error) -> EcsRefusal<'_> {
            if error.is_client_exception() || error.is_invalid_parameter_exception() {
                EcsRefusal::Client {
                    message: error.meta().message().unwrap_or_default(),
                }
            } else {
                EcsRefusal::Other
            }
        }
    };
}
client_refusal!(create_cluster_refusal, CreateClusterError);
client_refusal!(create_provider_refusal, CreateCapacityProviderError);

fn attach_refusal(error: &PutClusterCapacityProvidersError) -> EcsRefusal<'_> {
    if error.is_update_in_progress_exception() {
        EcsRefusal::UpdateInProgress
    } else if error.is_client_exception() || error.is_invalid_parameter_exception() {
        EcsRefusal::Client {
            message: error.meta().message().unwrap_or_default(),
        }
    } else {
        EcsRefusal::Other
    }
}

/// Creates the cluster; the account's first one may meet an ECS service-linked role that IAM
/// has not made usable yet, which is waited out until the request's deadline.
pub async fn create_cluster(
    clients: &Context,
    request: &CustomResourceRequest,
    spec: &ClusterSpec,
) -> Result<Cluster, ResourceError> {
    let answer = settled(
        "CreateCluster",
        request.deadline,
        create_cluster_refusal,
        || {
            clients
                .ecs
                .create_cluster()
                .cluster_name(&spec.cluster_name)
                .settings(insights(spec.container_insights))
                .set_tags(Some(ownership_tags(request)))
                .send()
        },
    )
    .await?;
    answer.cluster().cloned().ok_or(ResourceError::EmptyAnswer {
        action: "CreateCluster",
        missing: "cluster",
    })
}

pub async fn set_insights(
    clients: &Context,
    cluster: &str,
    enabled: bool,
) -> Result<(), ResourceError> {
    clients
        .ecs
        .update_cluster()
        .cluster(cluster)
        .settings(insights(enabled))
        .send()
        .await
        .map_err(|error| aws_error("UpdateCluster", error))?;
    Ok(())
}

fn managed_scaling(spec: &ClusterSpec) -> ManagedScaling {
    ManagedScaling::builder()
        .status(ManagedScalingStatus::Enabled)
        .target_capacity(spec.target_capacity)
        .build()
}

fn termination_protection(spec: &ClusterSpec) -> ManagedTerminationProtection {
    if spec.managed_termination_protection {
        ManagedTerminationProtection::Enabled
    } else {
        ManagedTerminationProtection::Disabled
    }
}

pub async fn create_provider(
    clients: &Context,
    request: &CustomResourceRequest,
    spec: &ClusterSpec,
    group_arn: &str,
) -> Result<(), ResourceError> {
    // Managed draining off: a group of one instance gains nothing from it, and the termination
    // lifecycle hook it adds to the group can hold the group's deletion (CONTRACT, cluster).
    let provider = AutoScalingGroupProvider::builder()
        .auto_scaling_group_arn(group_arn)
        .managed_scaling(managed_scaling(spec))
        .managed_termination_protection(termination_protection(spec))
        .managed_draining(ManagedDraining::Disabled)
        .build()?;
    settled(
        "CreateCapacityProvider",
        request.deadline,
        create_provider_refusal,
        || {
            clients
                .ecs
                .create_capacity_provider()
                .name(&spec.capacity_provider_name)
                .auto_scaling_group_provider(provider.clone())
                .set_tags(Some(ownership_tags(request)))
                .send()
        },
    )
    .await?;
    Ok(())
}

pub async fn update_provider(clients: &Context, spec: &ClusterSpec) -> Result<(), ResourceError> {
    clients
        .ecs
        .update_capacity_provider()
        .name(&spec.capacity_provider_name)
        .auto_scaling_group_provider(
            AutoScalingGroupProviderUpdate::builder()
                .managed_scaling(managed_scaling(spec))
                .managed_termination_protection(termination_protection(spec))
                .build(),
        )
        .send()
        .await
        .map_err(|error| aws_error("UpdateCapacityProvider", error))?;
    Ok(())
}

/// Makes `provider` the cluster's only provider and its default strategy. A cluster or provider
/// just created may not be ACTIVE yet: that is waited out until `deadline`.
pub async fn attach(
    clients: &Context,
    cluster: &str,
    provider: &str,
    deadline: Instant,
) -> Result<(), ResourceError> {
    let strategy = CapacityProviderStrategyItem::builder()
        .capacity_provider(provider)
        .weight(1)
        .base(0)
        .build()?;
    settled(
        "PutClusterCapacityProviders",
        deadline,
        attach_refusal,
        || {
            clients
                .ecs
                .put_cluster_capacity_providers()
                .cluster(cluster)
                .capacity_providers(provider)
                .default_capacity_provider_strategy(strategy.clone())
                .send()
        },
    )
    .await?;
    Ok(())
}

/// Removes every provider from the cluster; a cluster already gone is fine. A provider still
/// used by a task that is not STOPPED yet is "in use" (ResourceInUseException), and an update
/// may be in progress: both are waited out until `deadline`.
pub async fn detach_all(
    clients: &Context,
    cluster: &str,
    deadline: Instant,
) -> Result<(), ResourceError> {
    let mut backoff = Backoff::new(Duration::from_millis(500), Duration::from_secs(5), deadline);
    loop {
        let result = clients
            .ecs
            .put_cluster_capacity_providers()
            .cluster(cluster)
            .set_capacity_providers(Some(Vec::new()))
            .set_default_capacity_provider_strategy(Some(Vec::new()))
            .send()
            .await;
        let error = match result {
            Ok(_) => return Ok(()),
            Err(error) => error,
        };
        let service = error.as_service_error();
        if service.is_some_and(|e| e.is_cluster_not_found_exception()) {
            return Ok(());
        }
        let busy = service.is_some_and(|e| {
            e.is_resource_in_use_exception() || e.is_update_in_progress_exception()
        });
        if !busy || !backoff.has_time() {
            return Err(aws_error("PutClusterCapacityProviders", error));
        }
        warn!(cluster, error = %error_message(&error), "capacity provider still in use; retrying");
        backoff.wait().await;
    }
}

/// Deletes the provider and waits until ECS no longer lists it as ACTIVE, until `deadline`.
/// A provider that does not exist is already deleted.
pub async fn delete_provider(
    clients: &Context,
    name: &str,
    deadline: Instant,
) -> Result<(), ResourceError> {
    match clients
        .ecs
        .delete_capacity_provider()
        .capacity_provider(name)
        .send()
        .await
    {
        Ok(_) => info!(provider = name, "capacity provider deletion requested"),
        Err(error) if active_provider(clients, name).await?.is_none() => {
            info!(provider = name, error = %error_message(&error), "capacity provider already gone");
            return Ok(());
        }
        Err(error) => return Err(aws_error("DeleteCapacityProvider", error)),
    }
    let mut backoff = Backoff::new(Duration::from_millis(500), Duration::from_secs(5), deadline);
    while active_provider(clients, name).await?.is_some() {
        if !backoff.wait().await {
            warn!(
                provider = name,
                "capacity provider still deleting at the deadline; going on"
            );
            return Ok(());
        }
    }
    Ok(())
}

/// Deletes the cluster, waiting out tasks that are still stopping, until `deadline`.
pub async fn delete_cluster(
    clients: &Context,
    cluster: &str,
    deadline: Instant,
) -> Result<(), ResourceError> {
    let mut backoff = Backoff::new(Duration::from_secs(1), Duration::from_secs(10), deadline);
    loop {
        let error = match clients.ecs.delete_cluster().cluster(cluster).send().await {
            Ok(_) => return Ok(()),
            Err(error) => error,
        };
        let service = error.as_service_error();
        if service.is_some_and(|e| e.is_cluster_not_found_exception()) {
            return Ok(());
        }
        let not_yet = service.is_some_and(|e| {
            e.is_cluster_contains_tasks_exception()
                || e.is_update_in_progress_exception()
                || e.is_cluster_contains_container_instances_exception()
        });
        if !not_yet || !backoff.has_time() {
            return Err(aws_error("DeleteCluster", error));
        }
        warn!(cluster, error = %datero_shared::aws::error_message(&error), "cluster not deletable yet; retrying");
        backoff.wait().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request() -> CustomResourceRequest {
        let event: serde_json::Value = serde_json::from_str(include_str!(
            "../../../shared/fixtures/cfn-create-cluster.json"
        ))
        .expect("the fixture is JSON");
        CustomResourceRequest::from_event(event, tokio::time::Instant::now())
            .expect("the fixture is a request")
    }

    #[test]
    fn a_resource_is_ours_only_when_it_carries_every_ownership_tag_with_its_value() {
        let request = request();
        let ours = ownership_tags(&request);
        assert!(ours.len() >= 2, "{ours:?}");
        assert!(made_by(&request, &ours));

        let mut with_more = ours.clone();
        with_more.push(Tag::builder().key("team").value("data").build());
        assert!(made_by(&request, &with_more));

        let missing_one = &ours[1..];
        assert!(!made_by(&request, missing_one));

        let mut another_stack = ours.clone();
        another_stack[0] = Tag::builder()
            .key(ours[0].key().unwrap_or_default())
            .value("another")
            .build();
        assert!(!made_by(&request, &another_stack));
        assert!(!made_by(&request, &[]));
    }
}
