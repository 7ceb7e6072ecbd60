//! `Custom::DateroEdge` (the cluster function) against the emulator, with the function's role
//! from template.yaml enforced: the Region's CloudFront origin-facing prefix list found by name,
//! the Elastic IP's public DNS name as origin once the VPC's DNS attributes allow it, and the
//! sign-in password's hash, never the password, in the answer and the logs.

use datero_shared::edge::{ORIGIN_FACING_PREFIX_LIST, credential_sha256};
use datero_testbed::emulator::Emulator;
use datero_testbed::events;
use datero_testbed::fixtures;
use datero_testbed::harness::FunctionHarness;
use datero_testbed::iam::Principal;
use datero_testbed::raw_aws;
use datero_testbed::template::Template;
use serde_json::{Value, json};

const TYPE: &str = "Custom::DateroEdge";
const PASSWORD: &str = "p8VQw2LrT6yN0bKz4XsD1mHc9JfA3eGu";

struct Bed {
    harness: FunctionHarness,
    config: aws_config::SdkConfig,
    endpoint: String,
    vpc: String,
    secret: String,
    prefix_list: String,
}

async fn bed() -> Bed {
    let emulator = Emulator::start().await;
    let config = emulator.sdk_config().await;
    let endpoint = emulator.endpoint().to_owned();
    let vpc = fixtures::default_vpc(&config).await;
    let created = raw_aws::json_target(
        &endpoint,
        "secretsmanager",
        "secretsmanager.CreateSecret",
        &json!({
            "Name": "datero-sign-in",
            "SecretString": json!({"username": "datero", "password": PASSWORD}).to_string()
        }),
    )
    .await
    .unwrap();
    let secret = created["ARN"].as_str().unwrap().to_owned();
    let lists = aws_sdk_ec2::Client::new(&config)
        .describe_managed_prefix_lists()
        .send()
        .await
        .unwrap();
    let prefix_list = lists
        .prefix_lists()
        .iter()
        .find(|list| list.prefix_list_name() == Some(ORIGIN_FACING_PREFIX_LIST))
        .and_then(|list| list.prefix_list_id())
        .expect("the emulator models CloudFront's origin-facing prefix list")
        .to_owned();
    // The cluster function's role for a public stack whose sign-in secret is this one.
    let template = Template::load().unwrap();
    let mut stack = fixtures::test_stack(&template);
    stack.refs.insert("SignInSecret".into(), secret.clone());
    let principal = Principal::of_function(&template, &stack, "cluster").unwrap();
    let harness = FunctionHarness::start_as(emulator, principal, &[]).await;
    Bed {
        harness,
        config,
        endpoint,
        vpc,
        secret,
        prefix_list,
    }
}

impl Bed {
    fn properties(&self) -> Value {
        json!({"PublicIp": "203.0.113.10", "VpcId": self.vpc, "SignInSecretArn": self.secret})
    }

    async fn dns_hostnames(&self, on: bool) {
        aws_sdk_ec2::Client::new(&self.config)
            .modify_vpc_attribute()
            .vpc_id(&self.vpc)
            .enable_dns_hostnames(
                aws_sdk_ec2::types::AttributeBooleanValue::builder()
                    .value(on)
                    .build(),
            )
            .send()
            .await
            .unwrap();
    }
}

#[tokio::test]
async fn the_edge_names_the_prefix_list_the_origin_and_the_hash_and_deletes_as_nothing() {
    let bed = bed().await;
    bed.dns_hostnames(true).await;
    let created = bed
        .harness
        .request(events::create(TYPE, bed.properties(), ""))
        .await;
    assert_eq!(created["Status"], "SUCCESS", "{created}");
    let origin = "ec2-203-0-113-10.compute-1.amazonaws.com";
    assert_eq!(created["PhysicalResourceId"], origin);
    assert_eq!(created["Data"]["OriginDomain"], origin);
    assert_eq!(created["Data"]["PrefixListId"], bed.prefix_list.as_str());
    assert_eq!(
        created["Data"]["CredentialSha256"],
        credential_sha256(PASSWORD).as_str()
    );
    assert!(!created.to_string().contains(PASSWORD));

    // An update to a new address: a new origin; Delete of either makes no call and succeeds.
    let mut moved = bed.properties();
    moved["PublicIp"] = json!("198.51.100.4");
    let updated = bed
        .harness
        .request(events::update(TYPE, origin, bed.properties(), moved, ""))
        .await;
    assert_eq!(updated["Status"], "SUCCESS", "{updated}");
    assert_eq!(
        updated["Data"]["OriginDomain"],
        "ec2-198-51-100-4.compute-1.amazonaws.com"
    );
    let deleted = bed
        .harness
        .request(events::delete(TYPE, origin, bed.properties(), ""))
        .await;
    assert_eq!(deleted["Status"], "SUCCESS", "{deleted}");
    bed.harness.assert_logs_clean(&[PASSWORD]);
}

#[tokio::test]
async fn a_vpc_without_dns_hostnames_is_refused_with_the_command_that_fixes_it() {
    let bed = bed().await;
    bed.dns_hostnames(false).await;
    let created = bed
        .harness
        .request(events::create(TYPE, bed.properties(), ""))
        .await;
    assert_eq!(created["Status"], "FAILED", "{created}");
    let reason = created["Reason"].as_str().unwrap();
    assert!(
        reason.contains(&format!(
            "aws ec2 modify-vpc-attribute --vpc-id {} --enable-dns-hostnames",
            bed.vpc
        )),
        "{reason}"
    );
    // A sign-in secret that is not the template's JSON: refused, without showing what it holds.
    bed.dns_hostnames(true).await;
    raw_aws::json_target(
        &bed.endpoint,
        "secretsmanager",
        "secretsmanager.PutSecretValue",
        &json!({"SecretId": bed.secret, "SecretString": "hunter2-not-json"}),
    )
    .await
    .unwrap();
    let refused = bed
        .harness
        .request(events::create(TYPE, bed.properties(), ""))
        .await;
    assert_eq!(refused["Status"], "FAILED", "{refused}");
    let reason = refused["Reason"].as_str().unwrap();
    assert!(
        reason.contains("must be JSON with a \"password\""),
        "{reason}"
    );
    assert!(!reason.contains("hunter2"), "{reason}");
    bed.harness.assert_logs_clean(&["hunter2"]);
}
