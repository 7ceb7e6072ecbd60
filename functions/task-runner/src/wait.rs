//! Waiting for a task to run, with backoff, never past a deadline.

use std::time::Duration;

use aws_sdk_ecs::types::Task;
use datero_shared::ResourceError;
use datero_shared::ecs_tasks;
use datero_shared::poll::Backoff;
use tokio::time::Instant;

/// How long a task RunTask just started may be missing from DescribeTasks: the RunTask API
/// reference warns that a new task may not be visible at once (eventual consistency).
const INVISIBLE_GRACE: Duration = Duration::from_secs(30);

/// How the wait ended.
pub enum Outcome {
    Running(Box<Task>),
    /// It stopped first; why, in ECS's words.
    Stopped(String),
    /// The deadline came first; the status it was in.
    StillStarting(String),
}

pub async fn until_running(
    ecs: &aws_sdk_ecs::Client,
    cluster: &str,
    task_arn: &str,
    deadline: Instant,
) -> Result<Outcome, ResourceError> {
    let started = Instant::now();
    let mut backoff = Backoff::ecs(deadline);
    loop {
        let tasks = ecs_tasks::describe(ecs, cluster, &[task_arn.to_owned()]).await?;
        let status = match tasks.into_iter().next() {
            Some(task) if task.last_status() == Some("RUNNING") => {
                return Ok(Outcome::Running(Box::new(task)));
            }
            Some(task) if task.last_status() == Some("STOPPED") => {
                return Ok(Outcome::Stopped(stop_story(&task)));
            }
            Some(task) => task.last_status().unwrap_or("UNKNOWN").to_owned(),
            None if started.elapsed() < INVISIBLE_GRACE => "not yet visible".to_owned(),
            None => return Ok(Outcome::Stopped("ECS no longer knows the task".to_owned())),
        };
        if !backoff.wait().await {
            return Ok(Outcome::StillStarting(status));
        }
    }
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
            (Some(reason), _) => story.push_str(&format!("; {name}: {reason}")),
            (None, Some(code)) => story.push_str(&format!("; {name} exited with {code}")),
            (None, None) => {}
        }
    }
    story
}
