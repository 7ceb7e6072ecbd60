//! `Custom::DateroEdge`: what CloudFront needs to reach Datero in public mode (the decisions:
//! `datero_shared::edge`). Create and Update look up CloudFront's origin-facing prefix list,
//! check that the VPC gives the Elastic IP a public DNS name and that the name resolves to it,
//! write the sign-in password and the origin token into the edge secret (on Create and on a new
//! `Rotation`), and answer the password's hash. The secret is the template's, so Delete has nothing to undo.

use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

use datero_shared::ResourceError;
use datero_shared::aws::aws_error;
use datero_shared::custom_resource::{CustomResourceRequest, Outcome};
use datero_shared::edge::{self, EdgeSecret, ORIGIN_FACING_PREFIX_LIST, Refusal, SecretPlan};
use datero_shared::poll::Backoff;
use datero_shared::resources::edge::{EdgeSpec, returned};
use tokio::time::Instant;
use tracing::info;

use crate::Context;

/// How long the origin name may take to resolve to the Elastic IP.
const ORIGIN_RESOLVE_WINDOW: Duration = Duration::from_secs(4);

/// Create or Update (`rotation_changed`: the old properties had another `Rotation`): gather the
/// prefix list, the VPC's DNS attributes and the secret, decide the origin and whether to write
/// new credentials, write them, answer their hash and the secret's version.
pub async fn resolve(
    request: &CustomResourceRequest,
    spec: &EdgeSpec,
    rotation_changed: bool,
    clients: &Context,
) -> Result<Outcome, ResourceError> {
    let (region, _) = request.region_and_account();
    let origin_domain = edge::origin_domain(region, spec.public_ip)?;
    // One attribute per DescribeVpcAttribute call.
    let dns_support = clients.ec2.vpc_attribute(&spec.vpc_id, "enableDnsSupport");
    let dns_hostnames = clients
        .ec2
        .vpc_attribute(&spec.vpc_id, "enableDnsHostnames");
    edge::check_vpc_dns(&spec.vpc_id, dns_support.await?, dns_hostnames.await?)?;
    let resolved = resolve_origin(&origin_domain, spec.public_ip).await;
    edge::check_origin_resolves(&origin_domain, spec.public_ip, &resolved)?;
    let prefix_list_id = prefix_list_id(clients, region).await?;
    let stored = clients
        .secretsmanager
        .get_secret_value()
        .secret_id(&spec.edge_secret_arn)
        .send()
        .await
        .map_err(|error| aws_error("GetSecretValue", error))?;
    let current = EdgeSecret::read(
        &spec.edge_secret_arn,
        stored.secret_string().unwrap_or_default(),
    );
    let create = request.physical_resource_id().is_none();
    // A secret that is not ours can still be replaced by a rotation.
    let plan = match &current {
        Ok(current) => edge::secret_plan(create, rotation_changed, current.as_ref()),
        Err(_) if create || rotation_changed => SecretPlan::Generate,
        Err(refusal) => return Err(refusal.clone().into()),
    };
    let (secret, version) = match (plan, current) {
        (SecretPlan::Keep, Ok(Some(secret))) => {
            (secret, stored.version_id().unwrap_or_default().to_owned())
        }
        _ => write_new_secret(clients, &spec.edge_secret_arn).await?,
    };
    info!(
        decision = "edge",
        origin = %origin_domain,
        resolved = ?resolved,
        prefix_list = %prefix_list_id,
        secret = ?plan,
        secret_version = %version,
        "CloudFront reaches Datero by the Elastic IP's public name, from its origin-facing servers only"
    );
    Ok(Outcome::new(&origin_domain)
        .with(returned::PREFIX_LIST_ID, prefix_list_id)
        .with(
            returned::CREDENTIAL_SHA256,
            edge::credential_sha256(&secret.password),
        )
        .with(returned::SECRET_VERSION_ID, version)
        .with(returned::ORIGIN_DOMAIN, origin_domain))
}

/// The origin name's addresses, asked again for a few seconds until they include the Elastic
/// IP (a resolver may fail for a moment); the last answer when they never do.
async fn resolve_origin(origin: &str, public_ip: Ipv4Addr) -> Result<Vec<IpAddr>, String> {
    let mut backoff = Backoff::new(
        Duration::from_millis(500),
        Duration::from_secs(2),
        Instant::now() + ORIGIN_RESOLVE_WINDOW,
    );
    loop {
        let answer = tokio::net::lookup_host((origin, 0))
            .await
            .map(|found| found.map(|address| address.ip()).collect::<Vec<_>>())
            .map_err(|error| error.to_string());
        let reached = matches!(&answer, Ok(found) if found.contains(&IpAddr::V4(public_ip)));
        if reached || !backoff.wait().await {
            return answer;
        }
    }
}

/// A new password and origin token from Secrets Manager's generator, written as the secret's
/// new current version; returns them and that version's id.
async fn write_new_secret(
    clients: &Context,
    arn: &str,
) -> Result<(EdgeSecret, String), ResourceError> {
    let random = |length: i64| async move {
        clients
            .secretsmanager
            .get_random_password()
            .password_length(length)
            .exclude_punctuation(true)
            .send()
            .await
            .map_err(|error| aws_error("GetRandomPassword", error))
            .map(|answer| answer.random_password().unwrap_or_default().to_owned())
    };
    let secret = EdgeSecret {
        password: random(edge::PASSWORD_CHARS).await?,
        origin_token: random(edge::TOKEN_CHARS).await?,
    };
    let written = clients
        .secretsmanager
        .put_secret_value()
        .secret_id(arn)
        .secret_string(secret.to_secret_string())
        .send()
        .await
        .map_err(|error| aws_error("PutSecretValue", error))?;
    let version = written.version_id().unwrap_or_default().to_owned();
    Ok((secret, version))
}

/// Delete: the resource made nothing.
pub fn delete(physical_resource_id: &str) -> Outcome {
    info!(
        decision = "skip",
        physical_resource_id, "the edge resource made nothing: nothing to delete"
    );
    Outcome::new(physical_resource_id)
}

/// The Region's CloudFront origin-facing prefix list (AWS-managed, so it is found by name).
async fn prefix_list_id(clients: &Context, region: &str) -> Result<String, ResourceError> {
    clients
        .ec2
        .prefix_list_id(ORIGIN_FACING_PREFIX_LIST)
        .await?
        .ok_or_else(|| {
            Refusal::NoPrefixList {
                region: region.to_owned(),
            }
            .into()
        })
}
