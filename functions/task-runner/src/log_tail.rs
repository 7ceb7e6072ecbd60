//! The last lines a container wrote, read when Datero's new task did not come up (or a backup
//! or restore task failed), so the failure can say why in PostgreSQL's own words.
//!
//! The `awslogs` driver writes each container to the stream
//! `<awslogs-stream-prefix>/<container name>/<task id>` (ECS Developer Guide, "Send Amazon ECS
//! logs to CloudWatch"). Reading is best effort: a task with no log configuration, a stream not
//! written yet or a refused call leaves the failure without its log, never fails it otherwise.

use aws_sdk_ecs::types::TaskDefinition;
use tracing::warn;

/// How many lines are read back: PostgreSQL's refusal comes a few lines before the end, and the
/// reason quotes the last few (`readiness::QUOTED_LOG_LINES`).
const READ_LINES: i32 = 30;

/// The log group and stream of `container` in the task, from the task definition's log
/// configuration.
pub fn stream_of(
    definition: &TaskDefinition,
    container: &str,
    task_arn: &str,
) -> Option<(String, String)> {
    let name = container;
    let container = definition
        .container_definitions()
        .iter()
        .find(|container| container.name() == Some(name))?;
    let options = container.log_configuration()?.options()?;
    let group = options.get("awslogs-group")?;
    let prefix = options.get("awslogs-stream-prefix")?;
    let task_id = task_arn.rsplit('/').next()?;
    Some((group.clone(), format!("{prefix}/{name}/{task_id}")))
}

/// The stream's last lines, oldest first; none where they cannot be read.
pub async fn last_lines(
    logs: &aws_sdk_cloudwatchlogs::Client,
    definition: &TaskDefinition,
    container: &str,
    task_arn: &str,
) -> Vec<String> {
    let Some((group, stream)) = stream_of(definition, container, task_arn) else {
        return Vec::new();
    };
    let answer = logs
        .get_log_events()
        .log_group_name(&group)
        .log_stream_name(&stream)
        // The latest events ("If the value is false, the latest log events are returned
        // first", GetLogEvents API reference), in time order within the page.
        .start_from_head(false)
        .limit(READ_LINES)
        .send()
        .await;
    match answer {
        Ok(answer) => answer
            .events()
            .iter()
            .filter_map(|event| event.message().map(str::to_owned))
            .collect(),
        Err(error) => {
            warn!(group, stream, error = %datero_shared::aws::aws_error("GetLogEvents", error), "the container's log could not be read");
            Vec::new()
        }
    }
}
