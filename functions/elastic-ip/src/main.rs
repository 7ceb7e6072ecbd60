//! Keeps the stack's Elastic IP on the instance that runs Datero: the target of the EventBridge
//! rule on ECS Container Instance State Change (ACTIVE) for the stack's cluster. An instance
//! that joins the cluster (a new one after a replacement) gets the address, so the stack's URL
//! survives instance replacement.
//!
//! parse (the event) -> gather (the instance as ECS has it now, the address's holder) ->
//! decide ([`elastic_ip::decide`]) -> act (AssociateAddress) -> answer (Ok, or an error that
//! Lambda retries and then sends to the function's on-failure destination). Every decision is a
//! log line and an embedded metric ([`datero_shared::metrics`]).

use aws_lambda_events::eventbridge::EventBridgeEvent;
use datero_shared::ecs_event::ContainerInstanceStateChange;
use datero_shared::elastic_ip::{self, Decision};
use datero_shared::error::{EventError, MissingVariable};
use datero_shared::metrics::{Measurement, Recorder};
use datero_shared::{aws, event_function, logging};
use serde_json::Value;
use tracing::{info, warn};

/// The function's environment, read once at start-up.
struct Config {
    cluster_name: String,
    allocation_id: String,
}

impl Config {
    fn from_env() -> Result<Self, MissingVariable> {
        use datero_shared::config::required;
        Ok(Self {
            cluster_name: required("CLUSTER_NAME")?,
            allocation_id: required("ALLOCATION_ID")?,
        })
    }
}

struct Context {
    config: Config,
    ecs: aws_sdk_ecs::Client,
    ec2: datero_shared::ec2::Ec2,
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_runtime::Error> {
    logging::init();
    let config = Config::from_env()?;
    let sdk = aws::load_config();
    let context = Context {
        config,
        ecs: aws_sdk_ecs::Client::new(&sdk),
        ec2: datero_shared::ec2::Ec2::new(&sdk),
    };
    let context = &context;
    event_function::serve(
        &context.config.cluster_name,
        Measurement::AddressMoveFailure,
        |payload, metrics| async move { handle(payload, context, &metrics).await },
    )
    .await
}

/// How long a just-started Datero task may stay invisible to DescribeTasks before the keeper
/// decides on what it sees: well within the function's 30 s timeout.
fn visibility_deadline() -> tokio::time::Instant {
    tokio::time::Instant::now() + std::time::Duration::from_secs(15)
}

async fn handle(payload: Value, context: &Context, metrics: &Recorder) -> Result<(), EventError> {
    let event: EventBridgeEvent<ContainerInstanceStateChange> = serde_json::from_value(payload)
        .map_err(|source| EventError::Malformed {
            shape: "ECS Container Instance State Change event",
            source,
        })
        .inspect_err(|error| warn!(decision = "reject", error = %error, "event not understood"))?;
    let event_id = event.id.as_deref().unwrap_or_default();
    let detail = &event.detail;
    let instance = detail.ec2_instance_id.as_str();
    let config = &context.config;
    if let Err(reason) = elastic_ip::screen(detail, &config.cluster_name) {
        info!(event_id, instance, decision = "skip", reason = %reason, "address left where it is");
        metrics.record(&Measurement::SkippedAddressMove {
            reason: reason.key(),
        });
        return Ok(());
    }
    let now = elastic_ip::calls::registered_instance(
        &context.ecs,
        &config.cluster_name,
        &detail.container_instance_arn,
    )
    .await?;
    let datero_on = elastic_ip::calls::datero_instances(
        &context.ecs,
        &config.cluster_name,
        visibility_deadline(),
    )
    .await?;
    let address = elastic_ip::calls::describe(&context.ec2, &config.allocation_id).await?;
    match elastic_ip::decide(
        detail,
        now.as_ref(),
        &datero_on,
        address.instance_id.as_deref(),
    ) {
        Decision::Skip(reason) => {
            info!(event_id, instance, datero_on = ?datero_on, decision = "skip", reason = %reason, "address left where it is");
            metrics.record(&Measurement::SkippedAddressMove {
                reason: reason.key(),
            });
        }
        Decision::Associate(target) => {
            elastic_ip::calls::associate(&context.ec2, &config.allocation_id, &target).await?;
            info!(
                event_id,
                instance = %target,
                previous = address.instance_id.as_deref().unwrap_or("none"),
                datero_on = ?datero_on,
                address = %address.public_ip,
                decision = "associate",
                "Elastic IP moved to the instance that runs (or will run) Datero"
            );
            metrics.record(&Measurement::AddressMove);
        }
    }
    Ok(())
}
