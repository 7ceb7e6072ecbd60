//! `Custom::DateroTask`: keeps exactly one Datero task running on the cluster through the
//! capacity provider, and rolls it onto a new task-definition revision on Update.

mod address;
mod wait;

use std::collections::BTreeSet;
use std::time::Duration;

use aws_sdk_ecs::types::Task;
use datero_shared::custom_resource::{Action, CustomResourceRequest, Outcome, serve};
use datero_shared::ecs_tasks::{self, RunTask};
use datero_shared::resources::task::{TaskSpec, cluster_for_delete, family_of};
use datero_shared::{ResourceError, aws, logging};
use serde_json::Value;
use tokio::time::Instant;
use tracing::{info, warn};

/// Time kept back from the deadline to stop a task that did not start, and to answer.
const STOP_AND_ANSWER: Duration = Duration::from_secs(5);

/// Clients built once per process.
pub struct Clients {
    pub ecs: aws_sdk_ecs::Client,
    pub ec2: aws_sdk_ec2::Client,
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_runtime::Error> {
    logging::init();
    let config = aws::load_config().await;
    let clients = Clients {
        ecs: aws_sdk_ecs::Client::new(&config),
        ec2: aws_sdk_ec2::Client::new(&config),
    };
    serve(|request| handle(request, &clients)).await
}

async fn handle(
    request: CustomResourceRequest,
    clients: &Clients,
) -> Result<Outcome, ResourceError> {
    match &request.action {
        Action::Create => {
            let spec = TaskSpec::parse(&request.properties)?;
            roll_out(&request, &spec, &[], clients).await
        }
        Action::Update { old_properties, .. } => {
            let spec = TaskSpec::parse(&request.properties)?;
            update(&request, &spec, old_properties, clients).await
        }
        Action::Delete {
            physical_resource_id,
        } => delete(physical_resource_id, &request.properties, clients).await,
    }
}

async fn update(
    request: &CustomResourceRequest,
    spec: &TaskSpec,
    old_properties: &Value,
    clients: &Clients,
) -> Result<Outcome, ResourceError> {
    let old = TaskSpec::parse(old_properties).ok();
    let unchanged = old.as_ref().is_some_and(|old| {
        old.cluster_name == spec.cluster_name && old.task_definition_arn == spec.task_definition_arn
    });
    if unchanged {
        let wanted = ecs_tasks::wanted(&clients.ecs, &spec.cluster_name, spec.family()).await?;
        let current = ecs_tasks::describe(&clients.ecs, &spec.cluster_name, &wanted).await?;
        if let Some(task) = current
            .iter()
            .find(|task| task.last_status() == Some("RUNNING"))
        {
            info!(
                decision = "keep",
                task = task.task_arn().unwrap_or_default(),
                "nothing to roll out"
            );
            return Ok(outcome(spec, task, clients).await);
        }
    }
    // On another cluster, the old task is CloudFormation's to delete (the id changes).
    let old_families: Vec<String> = old
        .filter(|old| old.cluster_name == spec.cluster_name)
        .map(|old| old.family().to_owned())
        .into_iter()
        .collect();
    roll_out(request, spec, &old_families, clients).await
}

/// Starts a task of the spec's revision, waits for RUNNING, then stops every other Datero task
/// of the cluster. If the new task does not run, the others are left as they are.
async fn roll_out(
    request: &CustomResourceRequest,
    spec: &TaskSpec,
    old_families: &[String],
    clients: &Clients,
) -> Result<Outcome, ResourceError> {
    let token = format!("cfn-{}", request.request_id);
    let run = RunTask {
        cluster: &spec.cluster_name,
        capacity_provider: &spec.capacity_provider_name,
        task_definition: &spec.task_definition_arn,
        client_token: &token,
    };
    let started = ecs_tasks::run(&clients.ecs, &run).await?;
    let arn = started.task_arn().unwrap_or_default().to_owned();
    info!(decision = "start", task = %arn, task_definition = %spec.task_definition_arn, "Datero task started");
    let limit = request
        .deadline
        .checked_sub(STOP_AND_ANSWER)
        .unwrap_or_else(Instant::now);
    let task = match wait::until_running(&clients.ecs, &spec.cluster_name, &arn, limit).await? {
        wait::Outcome::Running(task) => task,
        wait::Outcome::Stopped(why) => {
            return Err(ResourceError::Failed(format!(
                "Datero's task stopped before it ran: {why}"
            )));
        }
        wait::Outcome::StillStarting(status) => {
            ecs_tasks::stop(
                &clients.ecs,
                &spec.cluster_name,
                &arn,
                "did not reach RUNNING in time",
            )
            .await?;
            return Err(ResourceError::Failed(format!(
                "Datero's task was still {status} when time ran out, so it was stopped; check the cluster has an instance with room (ECS task events tell why)"
            )));
        }
    };
    let revision = spec
        .task_definition_arn
        .rsplit('/')
        .next()
        .unwrap_or_default();
    let mut families: BTreeSet<&str> = old_families.iter().map(String::as_str).collect();
    families.insert(spec.family());
    for family in families {
        for other in ecs_tasks::wanted(&clients.ecs, &spec.cluster_name, family).await? {
            if other != arn {
                ecs_tasks::stop(
                    &clients.ecs,
                    &spec.cluster_name,
                    &other,
                    &format!("replaced by {revision}"),
                )
                .await?;
                info!(decision = "stop", task = %other, replaced_by = %arn, "older Datero task stopped");
            }
        }
    }
    Ok(outcome(spec, &task, clients).await)
}

async fn outcome(spec: &TaskSpec, task: &Task, clients: &Clients) -> Outcome {
    let arn = task.task_arn().unwrap_or_default();
    let outcome = Outcome::new(format!("{}/datero", spec.cluster_name)).with("TaskArn", arn);
    match address::url(clients, &spec.cluster_name, task).await {
        Ok(Some(url)) => outcome.with("Url", url),
        Ok(None) => {
            info!(task = arn, "the instance has no public address: no Url");
            outcome
        }
        Err(error) => {
            warn!(task = arn, %error, "could not find the instance's address: no Url");
            outcome
        }
    }
}

/// Stops every Datero task of the cluster; a cluster already gone has none.
async fn delete(
    physical_resource_id: &str,
    properties: &Value,
    clients: &Clients,
) -> Result<Outcome, ResourceError> {
    let done = Outcome::new(physical_resource_id);
    let Some(cluster) = cluster_for_delete(physical_resource_id, properties) else {
        info!(
            decision = "skip",
            physical_resource_id, "no cluster to act on: nothing to stop"
        );
        return Ok(done);
    };
    let mut tasks: BTreeSet<String> = ecs_tasks::started_by_provisioner(&clients.ecs, &cluster)
        .await?
        .into_iter()
        .collect();
    let family = datero_shared::properties::Properties::lenient(properties)
        .string("TaskDefinitionArn")
        .ok()
        .flatten()
        .and_then(|arn| family_of(&arn).map(str::to_owned));
    if let Some(family) = &family {
        tasks.extend(ecs_tasks::wanted(&clients.ecs, &cluster, family).await?);
    }
    for task in &tasks {
        ecs_tasks::stop(&clients.ecs, &cluster, task, "stack deleted").await?;
    }
    info!(
        decision = "stopped",
        cluster,
        stopped = tasks.len(),
        "Datero tasks stopped"
    );
    Ok(done)
}
