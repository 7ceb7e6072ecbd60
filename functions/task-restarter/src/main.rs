//! Restarts Datero when its task stops, and keeps office hours: the target of the EventBridge
//! rules on ECS Task State Change (STOPPED) and Container Instance State Change (DRAINING), of
//! the office-hours schedules, and of the delay queue that brings back restarts put off by the
//! backoff and the down alarm's check after office hours begin.
//!
//! One module per flow, each parse -> gather -> decide (pure, in `datero_shared`) -> act ->
//! answer (Ok, or an error that Lambda retries and then keeps in the function's failure
//! destination):
//! - [`restarts`]: a stopped task, or a restart back from the delay queue;
//! - [`office_hours`]: a scheduled start or stop, and the down alarm's check after a start;
//! - [`draining`]: Datero's instance going DRAINING;
//! - [`backups`]: a firing of the backup schedule, and the check that a backup happened.
//!
//! Every decision is a log line and an embedded metric ([`datero_shared::metrics`]).

mod backups;
mod cluster;
mod config;
mod draining;
mod event;
mod office_hours;
mod restarts;

use datero_shared::aws::load_config;
use datero_shared::error::EventError;
use datero_shared::metrics::{Measurement, Recorder};
use datero_shared::{event_function, logging};
use serde_json::Value;
use tracing::warn;

use config::Config;
use event::{Incoming, Queued};

/// The clients and settings every flow uses, built once per process.
struct Context {
    config: Config,
    ecs: aws_sdk_ecs::Client,
    sqs: aws_sdk_sqs::Client,
    cloudwatch: aws_sdk_cloudwatch::Client,
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_runtime::Error> {
    logging::init();
    let config = Config::from_env()?;
    let sdk = load_config();
    let context = Context {
        config,
        ecs: aws_sdk_ecs::Client::new(&sdk),
        sqs: aws_sdk_sqs::Client::new(&sdk),
        cloudwatch: aws_sdk_cloudwatch::Client::new(&sdk),
    };
    let context = &context;
    event_function::serve(
        &context.config.scope.cluster_name,
        Measurement::RestartFailure,
        |payload, metrics| async move { handle(payload, context, &metrics).await },
    )
    .await
}

/// An `Err` makes Lambda retry and, in the end, keeps the event in the failure destination: it
/// is returned only when the event cannot be read or an action that should happen could not be
/// made.
async fn handle(payload: Value, context: &Context, metrics: &Recorder) -> Result<(), EventError> {
    let incoming = Incoming::parse(payload).inspect_err(|error| {
        warn!(decision = "reject", error = %error, "event not understood");
    })?;
    match incoming {
        Incoming::Stopped(event) => {
            let event_id = event.id.as_deref().unwrap_or_default();
            restarts::on_stopped(event_id, &event.detail, context, metrics).await
        }
        Incoming::Draining(event) => draining::on_draining(&event.detail, context, metrics).await,
        Incoming::Scheduled(event) => office_hours::on_scheduled(&event, context, metrics).await,
        Incoming::BackupDue(check) => backups::on_due(&check, context).await,
        Incoming::Delayed(batch) => {
            for record in &batch.records {
                match &record.body {
                    Queued::Restart(delayed) => {
                        restarts::on_delayed(delayed, context, metrics).await?;
                    }
                    Queued::MorningCheck(check) => {
                        office_hours::on_morning_check(check, context).await?;
                    }
                    Queued::BackupCheck(check) => {
                        backups::on_check(check, context, metrics).await?;
                    }
                }
            }
            Ok(())
        }
    }
}
