//! `Custom::DateroTask`: keeps exactly one Datero task running on the cluster through the
//! capacity provider, and rolls it onto a new task-definition revision on Update.

mod address;
mod instances;
mod log_tail;
mod new_major;
mod rollout;
mod wait;

use std::collections::BTreeSet;

use aws_sdk_ecs::types::Task;
use datero_shared::custom_resource::{Action, CustomResourceRequest, Outcome, serve};
use datero_shared::ecs_tasks;
use datero_shared::resources::task::returned;
use datero_shared::resources::task::{
    TaskSpec, cluster_for_delete, family_of, physical_id, plan_update,
};
use datero_shared::{ResourceError, aws, logging};
use serde_json::Value;
use tracing::{info, warn};

/// The AWS clients, built once per process.
pub struct Context {
    pub ecs: aws_sdk_ecs::Client,
    pub ec2: datero_shared::ec2::Ec2,
    pub autoscaling: aws_sdk_autoscaling::Client,
    pub logs: aws_sdk_cloudwatchlogs::Client,
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_runtime::Error> {
    logging::init();
    let config = aws::load_config();
    let clients = Context {
        ecs: aws_sdk_ecs::Client::new(&config),
        ec2: datero_shared::ec2::Ec2::new(&config),
        autoscaling: aws_sdk_autoscaling::Client::new(&config),
        logs: aws_sdk_cloudwatchlogs::Client::new(&config),
    };
    serve(|request| handle(request, &clients)).await
}

async fn handle(
    request: CustomResourceRequest,
    clients: &Context,
) -> Result<Outcome, ResourceError> {
    match &request.action {
        Action::Create => {
            let spec = TaskSpec::parse(&request.properties)?;
            let rolled = rollout::roll_out(&request, &spec, None, clients).await?;
            let answer = outcome(&spec, &rolled.task, clients).await?;
            Ok(answer.with_reason(rolled.path))
        }
        Action::Update { old_properties, .. } => {
            let spec = TaskSpec::parse(&request.properties)?;
            update(&request, &spec, old_properties, clients).await
        }
        Action::Delete {
            physical_resource_id,
        } => delete(physical_resource_id, &request, clients).await,
    }
}

/// parse (done) -> decide ([`plan_update`]) -> replace outdated instances where the instance
/// settings changed ([`instances`]) -> gather the running task if it may be kept -> act (roll
/// out) -> answer.
async fn update(
    request: &CustomResourceRequest,
    spec: &TaskSpec,
    old_properties: &Value,
    clients: &Context,
) -> Result<Outcome, ResourceError> {
    let old = TaskSpec::parse(old_properties).ok();
    let plan = plan_update(old.as_ref(), spec);
    let replaced = if plan.check_instances {
        instances::replace_outdated(spec, plan.restore.as_ref(), clients, request.deadline).await?
    } else {
        0
    };
    if plan.keep_running_task && replaced == 0 {
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
            return outcome(spec, task, clients).await;
        }
    }
    let rolled = rollout::roll_out(request, spec, plan.restore.as_ref(), clients).await?;
    let answer = outcome(spec, &rolled.task, clients).await?;
    Ok(answer.with_reason(rolled.path))
}

/// The answer: the task, and where Datero answers. With an Elastic IP, a failure to put it on
/// the instance fails the request (the stack's URL would point at nothing); without one, a
/// missing address only leaves `Url` out.
async fn outcome(
    spec: &TaskSpec,
    task: &Task,
    clients: &Context,
) -> Result<Outcome, ResourceError> {
    let arn = task.task_arn().unwrap_or_default();
    let outcome = Outcome::new(physical_id(&spec.cluster_name)).with(returned::TASK_ARN, arn);
    match address::url(clients, spec, task).await {
        Ok(Some(url)) => Ok(outcome.with(returned::URL, url)),
        Ok(None) => {
            info!(task = arn, "the instance has no public address: no Url");
            Ok(outcome)
        }
        Err(error) if spec.elastic_ip_allocation_id.is_some() => Err(error),
        Err(error) => {
            warn!(task = arn, %error, "could not find the instance's address: no Url");
            Ok(outcome)
        }
    }
}

/// Stops every Datero task of the cluster and waits until they are STOPPED; a cluster already
/// gone has none. The wait matters: CloudFormation deletes what Datero's task depends on (the
/// EFS mount targets) once this answers, and PostgreSQL needs its stop timeout to shut down
/// cleanly ("deleting a mount target breaks any existing file system mounts", EFS guide,
/// "Managing mount targets").
async fn delete(
    physical_resource_id: &str,
    request: &CustomResourceRequest,
    clients: &Context,
) -> Result<Outcome, ResourceError> {
    let properties = &request.properties;
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
    let tasks: Vec<String> = tasks.into_iter().collect();
    if ecs_tasks::wait_stopped(&clients.ecs, &cluster, &tasks, request.deadline).await? {
        info!(
            decision = "stopped",
            cluster,
            stopped = tasks.len(),
            "Datero tasks STOPPED"
        );
    } else {
        // A Delete that fails leaves the stack in DELETE_FAILED; the stop is on its way.
        warn!(
            decision = "stopped",
            cluster,
            stopping = tasks.len(),
            "Datero tasks still stopping at the deadline; going on"
        );
    }
    Ok(done)
}
