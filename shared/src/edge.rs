//! Public mode's edge, decided without AWS calls.
//!
//! A browser reaches CloudFront over HTTPS; a CloudFront Function asks for the sign-in
//! (`SignInFunction` in template.yaml) and compares the credentials with
//! [`credential_sha256`]; CloudFront forwards over HTTP to the Elastic IP's public DNS name
//! ([`origin_domain`]) on [`PROXY_PORT`], adding [`ORIGIN_HEADER`]; the proxy container in
//! Datero's task ([`CADDYFILE`]) refuses every request without that header and forwards the
//! rest to Datero, whose own port is not published on the instance.

use std::net::{IpAddr, Ipv4Addr};

use sha2::{Digest, Sha256};

/// The AWS-managed prefix list of CloudFront's origin-facing servers. Its ID differs by Region,
/// so the edge resource looks it up ("Locations and IP address ranges of CloudFront edge
/// servers", CloudFront Developer Guide).
pub const ORIGIN_FACING_PREFIX_LIST: &str = "com.amazonaws.global.cloudfront.origin-facing";
/// The sign-in's user name; the password is in the sign-in secret.
pub const SIGN_IN_USER: &str = "datero";
/// The port CloudFront reaches on the instance, and the proxy's port in its container.
pub const PROXY_PORT: i32 = 8080;
/// The proxy container's name in Datero's task.
pub const PROXY_CONTAINER: &str = "edge-proxy";
/// The proxy's image: Caddy from ECR Public's copy of Docker's official images, which has no
/// anonymous pull limit for pulls from AWS (Docker Hub's would apply to the instance's pulls).
pub const PROXY_IMAGE: &str = "public.ecr.aws/docker/library/caddy:2.10.2-alpine";
/// What placement reserves for the proxy (ECS: `memoryReservation`), and its hard limit.
/// Caddy proxying one user's requests, streamed, stays far below either.
pub const PROXY_MEMORY_RESERVATION_MIB: i32 = 32;
/// The proxy's hard memory limit (ECS: `memory`).
pub const PROXY_MEMORY_MIB: i32 = 128;
/// The header CloudFront adds to every request it forwards; its value is the origin token.
pub const ORIGIN_HEADER: &str = "X-Datero-Origin";
/// The proxy's variable that holds the origin token (from Secrets Manager, never plaintext in
/// the task definition).
pub const ORIGIN_TOKEN_VARIABLE: &str = "ORIGIN_TOKEN";
/// The proxy's variable that names Datero (`host:port`).
pub const UPSTREAM_VARIABLE: &str = "DATERO_UPSTREAM";
/// The proxy's variable that holds [`CADDYFILE`].
pub const CADDYFILE_VARIABLE: &str = "CADDYFILE";
/// The shortest origin token the proxy starts with: with none, Caddy's header matcher would
/// match any value, and a short one could be guessed.
pub const MIN_ORIGIN_TOKEN_CHARS: usize = 32;

/// Caddy's configuration: 403 unless the origin header carries the token; otherwise the
/// header is dropped and the request (WebSocket upgrades included) goes to Datero, streamed.
/// `{$NAME}` is Caddy's environment placeholder, read when the configuration is loaded.
pub const CADDYFILE: &str = "{
\tadmin off
\tauto_https off
}
:8080 {
\t@from_cloudfront header X-Datero-Origin {$ORIGIN_TOKEN}
\thandle @from_cloudfront {
\t\trequest_header -X-Datero-Origin
\t\treverse_proxy {$DATERO_UPSTREAM} {
\t\t\tflush_interval -1
\t\t}
\t}
\thandle {
\t\trespond 403
\t}
}
";

/// The proxy's start: refuses to run without a token of [`MIN_ORIGIN_TOKEN_CHARS`], writes
/// [`CADDYFILE`] where Caddy reads it, and hands the process over to Caddy.
pub fn proxy_start_script() -> String {
    format!(
        "if [ \"${{#{ORIGIN_TOKEN_VARIABLE}}}\" -lt {MIN_ORIGIN_TOKEN_CHARS} ]; then \
         echo 'edge-proxy: {ORIGIN_TOKEN_VARIABLE} is missing or shorter than {MIN_ORIGIN_TOKEN_CHARS} characters; refusing to start' >&2; exit 1; fi; \
         printf '%s' \"${CADDYFILE_VARIABLE}\" > /tmp/Caddyfile && \
         exec caddy run --config /tmp/Caddyfile --adapter caddyfile"
    )
}

/// Why the edge cannot be set up as asked.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// A VPC DNS attribute is off: AWS gives an instance a public DNS name only with both on.
    /// Short enough to reach CloudFormation whole (its reason is cut at 256 characters).
    #[error(
        "VPC {vpc} has {attribute} off, so the Elastic IP has no public DNS name for CloudFront: run aws ec2 modify-vpc-attribute --vpc-id {vpc} --{flag} and deploy again, or use PublicAccess=false"
    )]
    VpcDns {
        vpc: String,
        attribute: &'static str,
        flag: &'static str,
    },
    /// CloudFront's default domain and the `compute.amazonaws.com` names are the `aws`
    /// partition's.
    #[error(
        "public mode serves Datero through CloudFront, which this stack sets up in the aws partition only; Region {region} is not in it: use PublicAccess=false"
    )]
    Partition { region: String },
    /// The Region has no CloudFront origin-facing prefix list.
    #[error(
        "the managed prefix list com.amazonaws.global.cloudfront.origin-facing is not in Region {region}"
    )]
    NoPrefixList { region: String },
    /// The edge secret holds something else than what this resource writes. Never says what.
    #[error(
        "the edge secret {arn} holds something other than the sign-in and origin token this stack writes; deploy with a new SignInRotation to write new ones"
    )]
    EdgeSecret { arn: String },
    /// The origin name leads somewhere else than the Elastic IP, or nowhere: CloudFront would
    /// answer 502 for every request.
    #[error(
        "the origin {origin} resolves to {found}, not the Elastic IP {public_ip}: CloudFront could not reach Datero; check the VPC's DNS attributes and deploy again, or use PublicAccess=false"
    )]
    OriginElsewhere {
        origin: String,
        public_ip: Ipv4Addr,
        found: String,
    },
}

/// The sign-in password's length: random letters and digits (Secrets Manager's
/// GetRandomPassword), about 190 bits.
pub const PASSWORD_CHARS: i64 = 32;
/// The origin token's length.
pub const TOKEN_CHARS: i64 = 48;

/// What the edge secret holds once this resource wrote it:
/// `{"username": "datero", "password": ..., "originToken": ...}`.
#[derive(Clone, PartialEq, Eq)]
pub struct EdgeSecret {
    pub password: String,
    pub origin_token: String,
}

impl std::fmt::Debug for EdgeSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("EdgeSecret { .. }")
    }
}

impl EdgeSecret {
    /// Reads the secret's string: `None` for the template's placeholder, which has no origin
    /// token yet (CloudFormation makes the secret with a generated password only).
    pub fn read(arn: &str, secret_string: &str) -> Result<Option<Self>, Refusal> {
        let refusal = || Refusal::EdgeSecret {
            arn: arn.to_owned(),
        };
        let value: serde_json::Value =
            serde_json::from_str(secret_string).map_err(|_| refusal())?;
        let text = |key: &str| value.get(key).and_then(serde_json::Value::as_str);
        match (text("password"), text("originToken")) {
            (Some(password), Some(token))
                if password.len() >= 16 && token.len() >= MIN_ORIGIN_TOKEN_CHARS =>
            {
                Ok(Some(Self {
                    password: password.to_owned(),
                    origin_token: token.to_owned(),
                }))
            }
            (_, None) if value.is_object() => Ok(None),
            _ => Err(refusal()),
        }
    }

    /// The secret's string, with the sign-in's user name for whoever reads it.
    pub fn to_secret_string(&self) -> String {
        serde_json::json!({
            "username": SIGN_IN_USER,
            "password": self.password,
            "originToken": self.origin_token,
        })
        .to_string()
    }
}

/// Whether Create or Update writes a new password and origin token into the edge secret.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SecretPlan {
    /// New ones: a Create, a new `SignInRotation`, or a secret that holds none yet.
    Generate,
    /// The ones in the secret, unchanged: any other update (a new Elastic IP, say).
    Keep,
}

/// Decides [`SecretPlan`] from what the request is and what the secret holds now.
pub fn secret_plan(
    create: bool,
    rotation_changed: bool,
    current: Option<&EdgeSecret>,
) -> SecretPlan {
    if create || rotation_changed || current.is_none() {
        SecretPlan::Generate
    } else {
        SecretPlan::Keep
    }
}

/// The Elastic IP's public DNS name, CloudFront's origin: `ec2-a-b-c-d.compute-1.amazonaws.com`
/// in us-east-1, `ec2-a-b-c-d.<region>.compute.amazonaws.com` elsewhere ("DNS attributes for
/// your VPC", Amazon VPC User Guide). CloudFront refuses an IP address as origin.
pub fn origin_domain(region: &str, address: Ipv4Addr) -> Result<String, Refusal> {
    if region.starts_with("cn-") || region.starts_with("us-gov-") || region.starts_with("us-iso") {
        return Err(Refusal::Partition {
            region: region.to_owned(),
        });
    }
    let dashed = address.octets().map(|octet| octet.to_string()).join("-");
    Ok(if region == "us-east-1" {
        format!("ec2-{dashed}.compute-1.amazonaws.com")
    } else {
        format!("ec2-{dashed}.{region}.compute.amazonaws.com")
    })
}

/// The VPC's DNS attributes as the origin needs them: both on.
pub fn check_vpc_dns(vpc: &str, dns_support: bool, dns_hostnames: bool) -> Result<(), Refusal> {
    let off = |attribute, flag| Refusal::VpcDns {
        vpc: vpc.to_owned(),
        attribute,
        flag,
    };
    if !dns_support {
        return Err(off("DNS support", "enable-dns-support"));
    }
    if !dns_hostnames {
        return Err(off("DNS hostnames", "enable-dns-hostnames"));
    }
    Ok(())
}

/// What resolving the origin name found (`Err`: the resolver's error), checked against the
/// Elastic IP. From outside AWS, the Amazon-provided public DNS name resolves to the public
/// address ("DNS attributes for your VPC", Amazon VPC User Guide); a Lambda function outside a
/// VPC resolves names as the internet does.
pub fn check_origin_resolves(
    origin: &str,
    public_ip: Ipv4Addr,
    answer: &Result<Vec<IpAddr>, String>,
) -> Result<(), Refusal> {
    let found = match answer {
        Ok(addresses) if addresses.contains(&IpAddr::V4(public_ip)) => return Ok(()),
        // The resolver's own error is in the function's log: CloudFormation's reason is cut at
        // 256 characters.
        Ok(addresses) if addresses.is_empty() => "nothing".to_owned(),
        Err(_) => "nothing".to_owned(),
        Ok(addresses) => addresses
            .iter()
            .take(2)
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(", "),
    };
    Err(Refusal::OriginElsewhere {
        origin: origin.to_owned(),
        public_ip,
        found,
    })
}

/// The lowercase hex SHA-256 of `datero:<password>`, what a browser's Basic credentials decode
/// to: the sign-in function holds this, never the password. The password is 32 random
/// characters, so an unsalted hash cannot be searched.
pub fn credential_sha256(password: &str) -> String {
    let digest = Sha256::digest(format!("{SIGN_IN_USER}:{password}").as_bytes());
    digest.iter().map(|byte| format!("{byte:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_origin_is_the_addresss_public_dns_name_in_the_regions_form() {
        let address = Ipv4Addr::new(3, 91, 7, 200);
        assert_eq!(
            origin_domain("us-east-1", address).unwrap(),
            "ec2-3-91-7-200.compute-1.amazonaws.com"
        );
        assert_eq!(
            origin_domain("eu-west-1", address).unwrap(),
            "ec2-3-91-7-200.eu-west-1.compute.amazonaws.com"
        );
        for region in ["cn-north-1", "us-gov-west-1"] {
            let refusal = origin_domain(region, address).unwrap_err().to_string();
            assert!(refusal.contains(region) && refusal.contains("PublicAccess=false"));
        }
    }

    #[test]
    fn both_dns_attributes_must_be_on_and_the_refusal_says_how() {
        assert_eq!(check_vpc_dns("vpc-1", true, true), Ok(()));
        let hostnames = check_vpc_dns("vpc-1", true, false).unwrap_err().to_string();
        assert!(hostnames.contains("DNS hostnames off"), "{hostnames}");
        assert!(hostnames.contains("--vpc-id vpc-1 --enable-dns-hostnames"));
        let support = check_vpc_dns("vpc-1", false, false)
            .unwrap_err()
            .to_string();
        assert!(support.contains("--enable-dns-support"), "{support}");
    }

    #[test]
    fn the_origin_must_resolve_to_the_elastic_ip_and_the_refusal_fits_a_reason() {
        let eip = Ipv4Addr::new(3, 91, 7, 200);
        let origin = "ec2-3-91-7-200.ap-southeast-2.compute.amazonaws.com";
        let found = |addresses: &[&str]| -> Result<Vec<IpAddr>, String> {
            Ok(addresses.iter().map(|a| a.parse().unwrap()).collect())
        };
        assert_eq!(
            check_origin_resolves(origin, eip, &found(&["10.0.0.5", "3.91.7.200"])),
            Ok(())
        );
        let elsewhere = check_origin_resolves(origin, eip, &found(&["10.0.0.5"])).unwrap_err();
        assert!(
            elsewhere
                .to_string()
                .contains("resolves to 10.0.0.5, not the Elastic IP 3.91.7.200:")
        );
        let nothing = check_origin_resolves(origin, eip, &found(&[])).unwrap_err();
        assert!(nothing.to_string().contains("resolves to nothing, not"));
        let error = "failed to lookup address information: Name or service not known";
        let failed = check_origin_resolves(origin, eip, &Err(error.to_owned())).unwrap_err();
        assert_eq!(failed, nothing);
        // The longest: a long Region's name and two long addresses.
        let many = found(&["100.100.100.100", "200.200.200.200", "10.0.0.1"]);
        let reason = check_origin_resolves(origin, Ipv4Addr::new(255, 255, 255, 255), &many)
            .unwrap_err()
            .to_string();
        assert!(reason.len() <= 256, "{} characters: {reason}", reason.len());
    }

    #[test]
    fn the_hash_is_of_user_colon_password_and_the_secret_never_shows_in_a_refusal() {
        // printf 'datero:correct horse battery staple' | sha256sum
        assert_eq!(
            credential_sha256("correct horse battery staple"),
            "9fdf1672a09adafee3c00be60c51fe5f52fb6d422bcfe65d475465335ae083f1"
        );
        let written = EdgeSecret {
            password: "0123456789abcdefXYZ0123456789abc".to_owned(),
            origin_token: "t".repeat(48),
        };
        let text = written.to_secret_string();
        assert!(text.contains(r#""username":"datero""#), "{text}");
        assert_eq!(
            EdgeSecret::read("arn:s", &text).unwrap(),
            Some(written.clone())
        );
        assert!(!format!("{written:?}").contains("0123"));
        // The template's placeholder: a generated password, no token yet.
        let placeholder = r#"{"username":"datero","password":"p4ssw0rdp4ssw0rdp4ssw0rdp4ssw0rd"}"#;
        assert_eq!(EdgeSecret::read("arn:s", placeholder).unwrap(), None);
        for bad in [
            r#"{"password":"short-secret","originToken":"tiny"}"#,
            "not json hunter2",
            "[1]",
        ] {
            let refusal = EdgeSecret::read("arn:s", bad).unwrap_err().to_string();
            assert!(refusal.contains("arn:s") && refusal.contains("SignInRotation"));
            assert!(!refusal.contains("short-secret") && !refusal.contains("hunter2"));
        }
    }

    #[test]
    fn new_secrets_on_create_and_rotation_or_when_none_is_there_yet() {
        let current = EdgeSecret {
            password: "p".repeat(32),
            origin_token: "t".repeat(48),
        };
        assert_eq!(
            secret_plan(true, false, Some(&current)),
            SecretPlan::Generate
        );
        assert_eq!(
            secret_plan(false, true, Some(&current)),
            SecretPlan::Generate
        );
        assert_eq!(secret_plan(false, false, None), SecretPlan::Generate);
        assert_eq!(secret_plan(false, false, Some(&current)), SecretPlan::Keep);
    }

    #[test]
    fn the_proxy_refuses_to_start_without_a_token_and_names_its_variables() {
        let script = proxy_start_script();
        assert!(
            script.starts_with("if [ \"${#ORIGIN_TOKEN}\" -lt 32 ]"),
            "{script}"
        );
        assert!(script.contains("\"$CADDYFILE\" > /tmp/Caddyfile"));
        assert!(script.ends_with("exec caddy run --config /tmp/Caddyfile --adapter caddyfile"));
        assert!(CADDYFILE.contains(&format!("{{${ORIGIN_TOKEN_VARIABLE}}}")));
        assert!(CADDYFILE.contains(&format!("{{${UPSTREAM_VARIABLE}}}")));
        assert!(CADDYFILE.contains(&format!(":{PROXY_PORT} ")));
        assert!(CADDYFILE.contains(ORIGIN_HEADER));
    }
}
