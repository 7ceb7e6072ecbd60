//! `Custom::DateroEdge` (the cluster function) against the emulator, with the function's role
//! from template.yaml enforced: the Region's CloudFront origin-facing prefix list found by name,
//! the Elastic IP's public DNS name as origin once the VPC's DNS attributes allow it, and the
//! sign-in password and origin token generated into the edge secret on Create and on each new
//! rotation, answered as the password's hash (never the password) and the secret's version.

use datero_shared::edge::{EdgeSecret, ORIGIN_FACING_PREFIX_LIST, credential_sha256};
use datero_testbed::emulator::Emulator;
use datero_testbed::events;
use datero_testbed::harness::FunctionHarness;
use datero_testbed::iam::Principal;
use datero_testbed::raw_aws;
use datero_testbed::seed;
use datero_testbed::template::Template;
use serde_json::{Value, json};

const TYPE: &str = "Custom::DateroEdge";
/// What CloudFormation's GenerateSecretString leaves in the secret before Edge writes it.
const PLACEHOLDER: &str = r#"{"username":"datero","password":"cfnGeneratedPlaceholder000000000"}"#;

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
    let vpc = seed::default_vpc(&config).await;
    let created = raw_aws::json_target(
        &endpoint,
        "secretsmanager",
        "secretsmanager.CreateSecret",
        &json!({"Name": "datero-edge", "SecretString": PLACEHOLDER}),
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
    // The cluster function's role for a public stack whose edge secret is this one.
    let template = Template::load().unwrap();
    let mut stack = seed::test_stack(&template);
    stack.refs.insert("EdgeSecret".into(), secret.clone());
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
    fn properties(&self, address: &str, rotation: &str) -> Value {
        json!({
            "PublicIp": address,
            "VpcId": self.vpc,
            "EdgeSecretArn": self.secret,
            "Rotation": rotation
        })
    }

    /// A new Elastic IP, whose public name the emulator's public DNS answers from now on.
    async fn elastic_ip(&self) -> String {
        aws_sdk_ec2::Client::new(&self.config)
            .allocate_address()
            .domain(aws_sdk_ec2::types::DomainType::Vpc)
            .send()
            .await
            .unwrap()
            .public_ip()
            .unwrap()
            .to_owned()
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

    /// An Update from `old` to `new` properties, answered.
    async fn update(&self, origin: &str, old: Value, new: Value) -> Value {
        self.harness
            .request(events::update(TYPE, origin, old, new, ""))
            .await
    }

    /// What the secret holds now, and its current version.
    async fn stored(&self) -> (EdgeSecret, String) {
        let value = raw_aws::json_target(
            &self.endpoint,
            "secretsmanager",
            "secretsmanager.GetSecretValue",
            &json!({"SecretId": self.secret}),
        )
        .await
        .unwrap();
        let secret = EdgeSecret::read(&self.secret, value["SecretString"].as_str().unwrap())
            .unwrap()
            .expect("the edge resource wrote the secret");
        (secret, value["VersionId"].as_str().unwrap().to_owned())
    }
}

/// An address's public name in us-east-1 ("DNS attributes for your VPC", Amazon VPC User
/// Guide), written here apart from the product's own rule.
fn public_name(address: &str) -> String {
    format!("ec2-{}.compute-1.amazonaws.com", address.replace('.', "-"))
}

#[tokio::test]
async fn create_writes_new_credentials_an_update_keeps_them_and_a_rotation_replaces_them() {
    let bed = bed().await;
    bed.dns_hostnames(true).await;
    let (address, moved_to) = (bed.elastic_ip().await, bed.elastic_ip().await);
    let first = bed.properties(&address, "1");
    let created = bed
        .harness
        .request(events::create(TYPE, first.clone(), ""))
        .await;
    assert_eq!(created["Status"], "SUCCESS", "{created}");
    let origin = &public_name(&address);
    assert_eq!(created["PhysicalResourceId"], origin.as_str());
    assert_eq!(created["Data"]["OriginDomain"], origin.as_str());
    assert_eq!(created["Data"]["PrefixListId"], bed.prefix_list.as_str());
    let (secret, version) = bed.stored().await;
    assert_eq!((secret.password.len(), secret.origin_token.len()), (32, 48));
    assert!(secret.password.chars().all(|c| c.is_ascii_alphanumeric()));
    assert_eq!(
        created["Data"]["CredentialSha256"],
        credential_sha256(&secret.password).as_str()
    );
    assert_eq!(created["Data"]["SecretVersionId"], version.as_str());
    assert!(!created.to_string().contains(&secret.password));

    // A new Elastic IP: a new origin, the same credentials and version.
    let moved = bed.properties(&moved_to, "1");
    let updated = bed.update(origin, first, moved.clone()).await;
    assert_eq!(updated["Status"], "SUCCESS", "{updated}");
    assert_eq!(updated["Data"]["OriginDomain"], public_name(&moved_to));
    assert_eq!(
        updated["Data"]["CredentialSha256"],
        created["Data"]["CredentialSha256"]
    );
    assert_eq!(bed.stored().await, (secret.clone(), version.clone()));

    // A new rotation: a new password and token, in a new version.
    let rotated = bed
        .update(origin, moved, bed.properties(&moved_to, "2"))
        .await;
    assert_eq!(rotated["Status"], "SUCCESS", "{rotated}");
    let (after, new_version) = bed.stored().await;
    assert_ne!(after.password, secret.password);
    assert_ne!(after.origin_token, secret.origin_token);
    assert_ne!(new_version, version);
    assert_eq!(rotated["Data"]["SecretVersionId"], new_version.as_str());
    assert_eq!(
        rotated["Data"]["CredentialSha256"],
        credential_sha256(&after.password).as_str()
    );

    // Delete makes no call, and a repeat is fine.
    for _ in 0..2 {
        let deleted = bed
            .harness
            .request(events::delete(
                TYPE,
                origin,
                bed.properties(&moved_to, "2"),
                "",
            ))
            .await;
        assert_eq!(deleted["Status"], "SUCCESS", "{deleted}");
    }
    bed.harness
        .assert_logs_clean(&[&after.password, &after.origin_token, &secret.password]);
}

#[tokio::test]
async fn a_vpc_without_dns_hostnames_or_a_foreign_secret_is_refused_with_what_to_do() {
    let bed = bed().await;
    bed.dns_hostnames(false).await;
    let address = bed.elastic_ip().await;
    let created = bed
        .harness
        .request(events::create(TYPE, bed.properties(&address, "1"), ""))
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
    // Something else in the secret: an update without a rotation refuses without showing it;
    // a rotation replaces it.
    bed.dns_hostnames(true).await;
    raw_aws::json_target(
        &bed.endpoint,
        "secretsmanager",
        "secretsmanager.PutSecretValue",
        &json!({"SecretId": bed.secret, "SecretString": "hunter2-not-json"}),
    )
    .await
    .unwrap();
    let origin = &public_name(&address);
    let kept = bed.properties(&address, "1");
    let refused = bed.update(origin, kept.clone(), kept.clone()).await;
    assert_eq!(refused["Status"], "FAILED", "{refused}");
    let reason = refused["Reason"].as_str().unwrap();
    assert!(reason.contains("new SignInRotation"), "{reason}");
    assert!(!reason.contains("hunter2"), "{reason}");
    let rotated = bed
        .update(origin, kept, bed.properties(&address, "2"))
        .await;
    assert_eq!(rotated["Status"], "SUCCESS", "{rotated}");
    bed.harness.assert_logs_clean(&["hunter2"]);
}

#[tokio::test]
async fn an_origin_name_that_does_not_lead_to_the_elastic_ip_is_refused_before_the_secret_is_written()
 {
    let bed = bed().await;
    bed.dns_hostnames(true).await;
    // An address that is no Elastic IP of this account: its name resolves to nothing here.
    let create = |address: &str| events::create(TYPE, bed.properties(address, "1"), "");
    let unknown = bed.harness.request(create("203.0.113.10")).await;
    assert_eq!(unknown["Status"], "FAILED", "{unknown}");
    let reason = unknown["Reason"].as_str().unwrap();
    assert!(
        reason.contains("the origin ec2-203-0-113-10.compute-1.amazonaws.com resolves to nothing")
            && reason.contains("not the Elastic IP 203.0.113.10"),
        "{reason}"
    );
    // A name that leads to another address.
    let address = bed.elastic_ip().await;
    bed.harness
        .emulator
        .pin_public_name(&public_name(&address), Some("192.0.2.77".parse().unwrap()))
        .await;
    let elsewhere = bed.harness.request(create(&address)).await;
    assert_eq!(elsewhere["Status"], "FAILED", "{elsewhere}");
    let reason = elsewhere["Reason"].as_str().unwrap();
    assert!(
        reason.contains(&format!(
            "resolves to 192.0.2.77, not the Elastic IP {address}"
        )),
        "{reason}"
    );
    // Nothing was written: the secret still holds CloudFormation's placeholder.
    let value = raw_aws::json_target(
        &bed.endpoint,
        "secretsmanager",
        "secretsmanager.GetSecretValue",
        &json!({"SecretId": bed.secret}),
    )
    .await
    .unwrap();
    assert_eq!(value["SecretString"], PLACEHOLDER);
    // Once the name leads to the address again, the same request succeeds.
    bed.harness
        .emulator
        .pin_public_name(&public_name(&address), Some(address.parse().unwrap()))
        .await;
    let fixed = bed.harness.request(create(&address)).await;
    assert_eq!(fixed["Status"], "SUCCESS", "{fixed}");
}
