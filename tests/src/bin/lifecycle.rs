//! The README's first command: plays CloudFormation against the local AWS emulator with the
//! real function binaries, and prints each step as a stack event.

use std::process::ExitCode;
use std::time::Instant;

use datero_testbed::events;
use datero_testbed::harness::FunctionHarness;
use serde_json::{Value, json};

const TYPE: &str = "Custom::DateroTaskDefinition";

#[tokio::main]
async fn main() -> ExitCode {
    let started = Instant::now();
    println!("datero-ecs local lifecycle (AWS API emulator on 127.0.0.1, real function binaries)");
    let harness = FunctionHarness::start("task-definition", &[]).await;
    println!("emulator at {}", harness.emulator.endpoint());
    let properties = json!({
        "Image": "chumaky/datero:1.2.0",
        "PasswordSecretArn": "arn:aws:secretsmanager:us-east-1:123456789012:secret:datero-pw-AbCdEf",
        "ExecutionRoleArn": "arn:aws:iam::123456789012:role/datero-execution",
    });
    let create = harness
        .request(events::create(TYPE, properties.clone(), ""))
        .await;
    report(&started, "TaskDefinition", "CREATE", &create);
    let id = create["PhysicalResourceId"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let delete = harness
        .request(events::delete(TYPE, &id, properties, ""))
        .await;
    report(&started, "TaskDefinition", "DELETE", &delete);
    let ok = create["Status"] == "SUCCESS" && delete["Status"] == "SUCCESS";
    println!(
        "{} in {:.1} s",
        if ok {
            "lifecycle OK"
        } else {
            "lifecycle FAILED"
        },
        started.elapsed().as_secs_f64()
    );
    if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

fn report(started: &Instant, resource: &str, action: &str, answer: &Value) {
    let status = if answer["Status"] == "SUCCESS" {
        "COMPLETE"
    } else {
        "FAILED"
    };
    println!(
        "{:>6.1}s  {resource:<16} {action}_{status:<9} {}",
        started.elapsed().as_secs_f64(),
        answer["Reason"].as_str().unwrap_or_default()
    );
}
