//! ECS calls on Datero's task, shared by the runner and the restarter.

use aws_sdk_ecs::Client;
use aws_sdk_ecs::operation::list_tasks::builders::ListTasksFluentBuilder;
use aws_sdk_ecs::types::{
    CapacityProviderStrategyItem, ClusterField, ContainerOverride, DesiredStatus, KeyValuePair,
    Task, TaskOverride,
};

use crate::aws::aws_error;
use crate::data_directory;
use crate::error::ResourceError;
use crate::image::{CONTAINER_NAME, DATA_PATH_VARIABLE};
use crate::marks::{DATA_DIRECTORY_TAG, STARTED_BY, ecs_tags, stop_reason};
use crate::poll::Backoff;
use crate::restart_policy::FinishedTask;

/// Tasks of `family` that ECS wants running on the cluster: RUNNING, PENDING or PROVISIONING
/// (ECS lists all three under desired status RUNNING).
pub async fn wanted(
    ecs: &Client,
    cluster: &str,
    family: &str,
) -> Result<Vec<String>, ResourceError> {
    list(ecs, cluster, family, DesiredStatus::Running).await
}

/// Task ARNs of `family` on the cluster with `desired` status; a missing cluster has none.
pub async fn list(
    ecs: &Client,
    cluster: &str,
    family: &str,
    desired: DesiredStatus,
) -> Result<Vec<String>, ResourceError> {
    all_arns(
        ecs.list_tasks()
            .cluster(cluster)
            .family(family)
            .desired_status(desired),
    )
    .await
}

/// Tasks of `family` that ECS wants running on one container instance.
pub async fn wanted_on(
    ecs: &Client,
    cluster: &str,
    family: &str,
    container_instance: &str,
) -> Result<Vec<String>, ResourceError> {
    all_arns(
        ecs.list_tasks()
            .cluster(cluster)
            .family(family)
            .container_instance(container_instance)
            .desired_status(DesiredStatus::Running),
    )
    .await
}

/// Tasks of `family` that are RUNNING now (wanted, and past PROVISIONING and PENDING).
pub async fn running(
    ecs: &Client,
    cluster: &str,
    family: &str,
) -> Result<Vec<String>, ResourceError> {
    let wanted = wanted(ecs, cluster, family).await?;
    Ok(describe(ecs, cluster, &wanted)
        .await?
        .iter()
        .filter(|task| task.last_status() == Some("RUNNING"))
        .filter_map(|task| task.task_arn().map(str::to_owned))
        .collect())
}

/// Every page of a ListTasks; a missing cluster has no tasks.
async fn all_arns(request: ListTasksFluentBuilder) -> Result<Vec<String>, ResourceError> {
    let listed = request
        .into_paginator()
        .items()
        .send()
        .collect::<Result<Vec<_>, _>>()
        .await;
    match listed {
        Ok(arns) => Ok(arns),
        Err(error)
            if error
                .as_service_error()
                .is_some_and(|e| e.is_cluster_not_found_exception()) =>
        {
            Ok(Vec::new())
        }
        Err(error) => Err(aws_error("ListTasks", error)),
    }
}

/// How many tasks one DescribeTasks call takes ("A list of up to 100 task IDs or full ARN
/// entries", ECS API reference, DescribeTasks).
const DESCRIBE_TASKS_MAX: usize = 100;

/// Describes the tasks, with their tags: every one of them, 100 to a call.
pub async fn describe(
    ecs: &Client,
    cluster: &str,
    arns: &[String],
) -> Result<Vec<Task>, ResourceError> {
    let mut tasks = Vec::with_capacity(arns.len());
    for batch in arns.chunks(DESCRIBE_TASKS_MAX) {
        let described = ecs
            .describe_tasks()
            .cluster(cluster)
            .include(aws_sdk_ecs::types::TaskField::Tags)
            .set_tasks(Some(batch.to_vec()))
            .send()
            .await
            .map_err(|error| aws_error("DescribeTasks", error))?;
        tasks.extend_from_slice(described.tasks());
    }
    Ok(tasks)
}

/// What to run.
#[derive(Debug, Clone)]
pub struct RunTask<'a> {
    pub cluster: &'a str,
    pub capacity_provider: &'a str,
    /// An ARN with revision, or a family (its latest ACTIVE revision).
    pub task_definition: &'a str,
    /// Makes repeated calls start one task at most.
    pub client_token: &'a str,
    /// Tags on the task (`key`, `value`).
    pub tags: Vec<(&'static str, String)>,
    /// Environment variables set on containers for this task only (`container`, `name`,
    /// `value`): a run-task override, the task definition unchanged.
    pub environment: Vec<(&'a str, &'a str, String)>,
}

impl<'a> RunTask<'a> {
    /// Datero's container runs on the data in `folder` of the data volume (the cluster's data
    /// directory mark), not where its task definition's PGDATA points: a container override's
    /// environment overrides the task definition's variables (ECS API reference,
    /// ContainerOverride, `environment`).
    pub fn on_data_folder(mut self, folder: Option<&str>) -> Self {
        if let Some(folder) = folder {
            self.environment.push((
                CONTAINER_NAME,
                DATA_PATH_VARIABLE,
                data_directory::pgdata(folder),
            ));
        }
        self
    }

    fn overrides(&self) -> Option<TaskOverride> {
        if self.environment.is_empty() {
            return None;
        }
        let mut containers: Vec<ContainerOverride> = Vec::new();
        for (container, name, value) in &self.environment {
            let pair = KeyValuePair::builder().name(*name).value(value).build();
            match containers
                .iter_mut()
                .find(|found| found.name() == Some(*container))
            {
                Some(found) => found.environment.get_or_insert_with(Vec::new).push(pair),
                None => containers.push(
                    ContainerOverride::builder()
                        .name(*container)
                        .environment(pair)
                        .build(),
                ),
            }
        }
        Some(
            TaskOverride::builder()
                .set_container_overrides(Some(containers))
                .build(),
        )
    }
}

/// Runs one task through the capacity provider (never `launchType`), started by the
/// provisioner. ECS placing no task is an error that carries its reasons.
pub async fn run(ecs: &Client, run: &RunTask<'_>) -> Result<Task, ResourceError> {
    let strategy = CapacityProviderStrategyItem::builder()
        .capacity_provider(run.capacity_provider)
        .weight(1)
        .base(0)
        .build()?;
    let answer = ecs
        .run_task()
        .cluster(run.cluster)
        .task_definition(run.task_definition)
        .capacity_provider_strategy(strategy)
        .count(1)
        .started_by(STARTED_BY)
        .client_token(run.client_token)
        .set_overrides(run.overrides())
        .set_tags((!run.tags.is_empty()).then(|| ecs_tags(run.tags.iter().map(|(k, v)| (*k, v)))))
        .send()
        .await
        .map_err(|error| aws_error("RunTask", error))?;
    if let Some(task) = answer.tasks().first() {
        return Ok(task.clone());
    }
    let reasons: Vec<String> = answer
        .failures()
        .iter()
        .map(|failure| {
            let reason = failure.reason().unwrap_or("unknown reason");
            match failure.detail() {
                Some(detail) => format!("{reason} ({detail})"),
                None => reason.to_owned(),
            }
        })
        .collect();
    Err(ResourceError::NotPlaced {
        cluster: run.cluster.to_owned(),
        reasons: if reasons.is_empty() {
            "no reason given".to_owned()
        } else {
            reasons.join("; ")
        },
    })
}

/// Stops a task with the provisioner's reason; a task already stopped or gone is fine.
pub async fn stop(
    ecs: &Client,
    cluster: &str,
    task_arn: &str,
    why: &str,
) -> Result<(), ResourceError> {
    stop_with_reason(ecs, cluster, task_arn, &stop_reason(why)).await
}

/// Stops a task with `reason` as it is: not the provisioner's, so the restarter restarts it
/// when its STOPPED event arrives. ECS gives the container its stop timeout (StopTask).
pub async fn stop_for_restart(
    ecs: &Client,
    cluster: &str,
    task_arn: &str,
    reason: &str,
) -> Result<(), ResourceError> {
    stop_with_reason(ecs, cluster, task_arn, reason).await
}

async fn stop_with_reason(
    ecs: &Client,
    cluster: &str,
    task_arn: &str,
    reason: &str,
) -> Result<(), ResourceError> {
    let result = ecs
        .stop_task()
        .cluster(cluster)
        .task(task_arn)
        .reason(reason)
        .send()
        .await;
    match result {
        Ok(_) => Ok(()),
        // An unknown task (InvalidParameterException) or cluster: nothing left to stop.
        Err(error)
            if error.as_service_error().is_some_and(|e| {
                e.is_invalid_parameter_exception() || e.is_cluster_not_found_exception()
            }) =>
        {
            Ok(())
        }
        Err(error) => Err(aws_error("StopTask", error)),
    }
}

/// Waits until ECS reports every task of `arns` STOPPED (or no longer knows it), until
/// `deadline`; whether they all stopped. A stopped task keeps its host port, its data
/// directory and its capacity provider "in use" until then: PostgreSQL gets its container's
/// stop timeout to shut down (ECS API reference, StopTask; PutClusterCapacityProviders refuses
/// with ResourceInUseException meanwhile).
pub async fn wait_stopped(
    ecs: &Client,
    cluster: &str,
    arns: &[String],
    deadline: tokio::time::Instant,
) -> Result<bool, ResourceError> {
    let mut backoff = Backoff::ecs(deadline);
    loop {
        let described = describe(ecs, cluster, arns).await?;
        // A task missing from the answer was started a moment ago and is not visible yet
        // (eventual consistency): it has not stopped. ECS keeps stopped tasks for an hour.
        if described.len() == arns.len()
            && described
                .iter()
                .all(|task| task.last_status() == Some("STOPPED"))
        {
            return Ok(true);
        }
        if !backoff.wait().await {
            return Ok(false);
        }
    }
}

/// A described task as the restart policy sees it.
pub fn finished(task: &Task) -> FinishedTask {
    let millis =
        |at: Option<&aws_sdk_ecs::primitives::DateTime>| at.and_then(|at| at.to_millis().ok());
    FinishedTask {
        task_arn: task.task_arn().unwrap_or_default().to_owned(),
        started_at_ms: millis(task.started_at()),
        stopped_at_ms: millis(task.stopped_at()),
        stopped_by_provisioner: crate::marks::is_provisioner_stop(task.stopped_reason()),
    }
}

/// Tasks the provisioner started on the cluster that ECS still wants running.
pub async fn started_by_provisioner(
    ecs: &Client,
    cluster: &str,
) -> Result<Vec<String>, ResourceError> {
    all_arns(
        ecs.list_tasks()
            .cluster(cluster)
            .started_by(STARTED_BY)
            .desired_status(DesiredStatus::Running),
    )
    .await
}

/// A cluster's ARN and its tags, as one DescribeClusters returns them: the marks the
/// functions keep there ([`crate::marks::OFFICE_HOURS_TAG`], [`DATA_DIRECTORY_TAG`]) come from
/// one read.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClusterTags {
    /// The cluster's ARN (what TagResource names).
    pub arn: String,
    tags: Vec<(String, String)>,
}

impl ClusterTags {
    /// The cluster `arn` with `tags` (`key`, `value`).
    pub fn new(arn: impl Into<String>, tags: Vec<(String, String)>) -> Self {
        Self {
            arn: arn.into(),
            tags,
        }
    }

    /// The value of the tag `key`.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.tags
            .iter()
            .find(|(found, _)| found == key)
            .map(|(_, value)| value.as_str())
    }

    /// The data folder the cluster's mark names (`None`: the task definition's PGDATA).
    pub fn data_folder(&self) -> Option<String> {
        self.get(DATA_DIRECTORY_TAG)
            .and_then(data_directory::parse_folder)
    }
}

/// The cluster's ARN and tags; `None` when the cluster is gone.
pub async fn cluster_tags(
    ecs: &Client,
    cluster: &str,
) -> Result<Option<ClusterTags>, ResourceError> {
    let described = ecs
        .describe_clusters()
        .clusters(cluster)
        .include(ClusterField::Tags)
        .send()
        .await
        .map_err(|error| aws_error("DescribeClusters", error))?;
    Ok(described.clusters().first().and_then(|cluster| {
        let tags = cluster
            .tags()
            .iter()
            .filter_map(|tag| Some((tag.key()?.to_owned(), tag.value()?.to_owned())))
            .collect();
        Some(ClusterTags::new(cluster.cluster_arn()?, tags))
    }))
}

/// The cluster's ARN and the data folder its mark names ([`DATA_DIRECTORY_TAG`]); `None` when
/// the cluster is gone.
pub async fn data_folder(
    ecs: &Client,
    cluster: &str,
) -> Result<Option<(String, Option<String>)>, ResourceError> {
    Ok(cluster_tags(ecs, cluster).await?.map(|tags| {
        let folder = tags.data_folder();
        (tags.arn, folder)
    }))
}

/// Records `folder` as where Datero's data is (`None`: the task definition's PGDATA).
pub async fn set_data_folder(
    ecs: &Client,
    cluster_arn: &str,
    folder: Option<&str>,
) -> Result<(), ResourceError> {
    match folder {
        Some(folder) => ecs
            .tag_resource()
            .resource_arn(cluster_arn)
            .set_tags(Some(ecs_tags([(DATA_DIRECTORY_TAG, folder)])))
            .send()
            .await
            .map(|_| ())
            .map_err(|error| aws_error("TagResource", error)),
        None => ecs
            .untag_resource()
            .resource_arn(cluster_arn)
            .tag_keys(DATA_DIRECTORY_TAG)
            .send()
            .await
            .map(|_| ())
            .map_err(|error| aws_error("UntagResource", error)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_read_of_the_clusters_tags_answers_for_each_mark() {
        let tags = ClusterTags::new(
            "arn:aws:ecs:eu-west-1:123456789012:cluster/datero",
            vec![
                (
                    crate::marks::OFFICE_HOURS_TAG.to_owned(),
                    "open 2026-11-30T08:00:00Z".to_owned(),
                ),
                (DATA_DIRECTORY_TAG.to_owned(), "pg18".to_owned()),
            ],
        );
        assert_eq!(
            tags.get(crate::marks::OFFICE_HOURS_TAG),
            Some("open 2026-11-30T08:00:00Z")
        );
        assert_eq!(tags.data_folder().as_deref(), Some("pg18"));
        assert_eq!(tags.get("absent"), None);

        let unmarked = ClusterTags::new("arn", Vec::new());
        assert_eq!(unmarked.data_folder(), None);
        // A folder mark that is not pgN (edited by hand) is no folder: PGDATA stays.
        let edited = ClusterTags::new(
            "arn",
            vec![(DATA_DIRECTORY_TAG.to_owned(), "../etc".to_owned())],
        );
        assert_eq!(edited.data_folder(), None);
    }
}
