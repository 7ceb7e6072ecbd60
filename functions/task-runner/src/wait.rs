//! Waiting for a task to be up (`datero_shared::readiness` decides), with backoff, never past
//! a deadline.

use aws_sdk_ecs::types::{Task, TaskDefinition};
use datero_shared::ResourceError;
use datero_shared::aws::aws_error;
use datero_shared::ecs_tasks;
use datero_shared::poll::Backoff;
use datero_shared::readiness::{self, Seen, Verdict};
use tokio::time::Instant;

/// How the wait ended.
pub enum WaitResult {
    /// RUNNING, and HEALTHY where its task definition has a health check.
    Ready(Box<Task>),
    /// It stopped first; why, in ECS's words.
    Stopped(String),
    /// RUNNING, and its health check fails.
    Unhealthy,
    /// The deadline came first; the state it was in.
    StillStarting(String),
}

/// Waits until the task `task_arn` of `definition` is up, stopped, unhealthy, or `deadline`.
pub async fn until_ready(
    ecs: &aws_sdk_ecs::Client,
    cluster: &str,
    task_arn: &str,
    definition: &TaskDefinition,
    deadline: Instant,
) -> Result<WaitResult, ResourceError> {
    let started = Instant::now();
    let checked = definition
        .container_definitions()
        .iter()
        .any(|container| container.health_check().is_some());
    let mut backoff = Backoff::ecs(deadline);
    loop {
        let task = ecs_tasks::describe(ecs, cluster, &[task_arn.to_owned()])
            .await?
            .into_iter()
            .next();
        let seen = task.as_ref().map(|task| Seen {
            last_status: task.last_status().unwrap_or("UNKNOWN").to_owned(),
            health: task
                .health_status()
                .map_or("UNKNOWN", |health| health.as_str())
                .to_owned(),
            stop_story: stop_story(task),
        });
        let status = match readiness::judge(seen.as_ref(), checked, started.elapsed()) {
            // (Ready is only ever said of a task seen.)
            Verdict::Ready => match task {
                Some(task) => return Ok(WaitResult::Ready(Box::new(task))),
                None => "not yet visible".to_owned(),
            },
            Verdict::Stopped(why) => return Ok(WaitResult::Stopped(why)),
            Verdict::Unhealthy => return Ok(WaitResult::Unhealthy),
            Verdict::Starting(status) => status,
        };
        if !backoff.wait().await {
            return Ok(WaitResult::StillStarting(status));
        }
    }
}

/// The task definition the new task runs: its health check and its log configuration.
pub async fn definition(
    ecs: &aws_sdk_ecs::Client,
    task_definition_arn: &str,
) -> Result<TaskDefinition, ResourceError> {
    let described = ecs
        .describe_task_definition()
        .task_definition(task_definition_arn)
        .send()
        .await
        .map_err(|error| aws_error("DescribeTaskDefinition", error))?;
    Ok(described
        .task_definition()
        .cloned()
        .unwrap_or_else(|| TaskDefinition::builder().build()))
}

/// ECS's stop reason, code and each container's reason or exit code.
fn stop_story(task: &Task) -> String {
    let mut story = task
        .stopped_reason()
        .unwrap_or("no reason given")
        .to_owned();
    if let Some(code) = task.stop_code() {
        story.push_str(&format!(" ({})", code.as_str()));
    }
    for container in task.containers() {
        let name = container.name().unwrap_or("container");
        match (container.reason(), container.exit_code()) {
            (Some(reason), Some(code)) => {
                story.push_str(&format!("; {name} exited with {code}: {reason}"));
            }
            (Some(reason), None) => story.push_str(&format!("; {name}: {reason}")),
            (None, Some(code)) => story.push_str(&format!("; {name} exited with {code}")),
            (None, None) => {}
        }
    }
    story
}

#[cfg(test)]
mod tests {
    use aws_sdk_ecs::types::{Container, TaskStopCode};

    use super::*;

    #[test]
    fn the_stop_story_has_ecss_reason_its_code_and_each_container_that_says_something() {
        let task = Task::builder()
            .stopped_reason("Essential container in task exited")
            .stop_code(TaskStopCode::EssentialContainerExited)
            .containers(
                Container::builder()
                    .name("datero")
                    .exit_code(1)
                    .reason("OutOfMemoryError")
                    .build(),
            )
            .containers(Container::builder().name("sidecar").exit_code(0).build())
            .containers(Container::builder().name("quiet").build())
            .build();
        assert_eq!(
            stop_story(&task),
            "Essential container in task exited (EssentialContainerExited); datero exited with 1: \
             OutOfMemoryError; sidecar exited with 0"
        );
        assert_eq!(stop_story(&Task::builder().build()), "no reason given");
    }
}
