//! Where a function's start-up time goes (issue 26): each step a function takes before its
//! first request to the Runtime API, timed in its own fresh process. `startup STEP...` runs the
//! steps in order and prints each one's microseconds; `bench`'s cold start is the sum plus what
//! happens before `main`.

use std::time::Instant;

use aws_config::BehaviorVersion;
use datero_shared::custom_resource::{ResponseSender, SenderSettings};

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let mut config = None;
    for step in std::env::args().skip(1) {
        let started = Instant::now();
        match step.as_str() {
            "logging" => datero_shared::logging::init(),
            "config" => config = Some(datero_shared::aws::load_config()),
            "config-default-client" => {
                config = Some(aws_config::defaults(BehaviorVersion::latest()).load().await);
            }
            "config-env-credentials" => {
                config = Some(
                    aws_config::defaults(BehaviorVersion::latest())
                        .credentials_provider(
                            aws_config::environment::EnvironmentVariableCredentialsProvider::new(),
                        )
                        .load()
                        .await,
                );
            }
            "ecs" => drop(aws_sdk_ecs::Client::new(
                config.as_ref().expect("config first"),
            )),
            "ec2" => drop(datero_shared::ec2::Ec2::new(
                config.as_ref().expect("config first"),
            )),
            "sender" => drop(ResponseSender::new(SenderSettings::default())),
            other => panic!("unknown step {other}"),
        }
        println!("{step}\t{}", started.elapsed().as_micros());
    }
}
