//! Datero's instance goes DRAINING (a Spot interruption notice with spot draining on, a
//! scale-in, an instance replacement). ECS drains service tasks only: "Any PENDING or RUNNING
//! tasks that do not belong to a service aren't affected" (UpdateContainerInstancesState, ECS
//! API Reference; ECS guide, "Draining Amazon ECS container instances"). Datero is a RunTask
//! task, so the restarter stops it itself, at once, with its stop timeout for PostgreSQL, and
//! with a reason that is not the provisioner's: its STOPPED event is then a restart like any
//! other, which ECS places on capacity that is not draining.

use datero_shared::ecs_event::ContainerInstanceStateChange;
use datero_shared::ecs_tasks;
use datero_shared::error::EventError;
use datero_shared::metrics::{Measurement, Recorder};
use datero_shared::restart_policy::{DRAINING_STOP_REASON, screen_draining};
use tracing::info;

use crate::Context;

/// screen -> gather (Datero's tasks on that instance) -> act (stop each for a restart).
pub async fn on_draining(
    detail: &ContainerInstanceStateChange,
    context: &Context,
    metrics: &Recorder,
) -> Result<(), EventError> {
    let instance = detail.ec2_instance_id.as_str();
    if let Err(reason) = screen_draining(detail, &context.config.scope) {
        info!(instance, decision = "skip", reason = %reason, "no Datero task to move");
        metrics.record(&Measurement::SkippedRestart {
            reason: reason.key(),
        });
        return Ok(());
    }
    let scope = &context.config.scope;
    let tasks = ecs_tasks::wanted_on(
        &context.ecs,
        &scope.cluster_name,
        &scope.family,
        &detail.container_instance_arn,
    )
    .await?;
    for task in &tasks {
        ecs_tasks::stop_for_restart(
            &context.ecs,
            &scope.cluster_name,
            task,
            DRAINING_STOP_REASON,
        )
        .await?;
    }
    info!(instance, decision = "stop for restart", tasks = ?tasks, "instance draining: Datero stopped cleanly, to start on other capacity");
    Ok(())
}
