//! `Custom::DateroEdge`: what CloudFront needs to reach Datero in public mode, served by the
//! cluster function (`shared::edge` decides).

use std::net::Ipv4Addr;

use serde_json::Value;

use super::names::{arn, invalid};
use crate::error::PropertyError;
use crate::properties::Properties;

/// Every property the resource accepts.
pub const ACCEPTED: [&str; 4] = ["PublicIp", "VpcId", "EdgeSecretArn", "Rotation"];

/// The attributes the resource returns (`Fn::GetAtt`).
pub mod returned {
    /// The Region's `com.amazonaws.global.cloudfront.origin-facing` prefix list.
    pub const PREFIX_LIST_ID: &str = "PrefixListId";
    /// The Elastic IP's public DNS name: the distribution's origin.
    pub const ORIGIN_DOMAIN: &str = "OriginDomain";
    /// The hex SHA-256 of `datero:<password>` that the sign-in function compares with.
    pub const CREDENTIAL_SHA256: &str = "CredentialSha256";
    /// The version of the edge secret that holds the password and the origin token: a new one
    /// after each rotation, so that what names it (the distribution's header, the task's
    /// secret) changes and is resolved again.
    pub const SECRET_VERSION_ID: &str = "SecretVersionId";
    /// Every one of them.
    pub const ALL: &[&str] = &[
        PREFIX_LIST_ID,
        ORIGIN_DOMAIN,
        CREDENTIAL_SHA256,
        SECRET_VERSION_ID,
    ];
}

/// What the template asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EdgeSpec {
    /// The stack's Elastic IP.
    pub public_ip: Ipv4Addr,
    /// The VPC whose DNS attributes must give the address a public name.
    pub vpc_id: String,
    /// The secret this resource fills with the sign-in's password and the origin token.
    pub edge_secret_arn: String,
    /// Any text; a new value generates a new password and origin token.
    pub rotation: String,
}

impl EdgeSpec {
    /// Strict parse for Create and Update.
    pub fn parse(properties: &Value) -> Result<Self, PropertyError> {
        let props = Properties::strict(properties, &ACCEPTED)?;
        const ADDRESS: &str = "the Elastic IP's IPv4 address (!Ref of an AWS::EC2::EIP)";
        let raw_ip = props.required_string("PublicIp", ADDRESS)?;
        let public_ip = raw_ip
            .parse::<Ipv4Addr>()
            .map_err(|_| invalid("PublicIp", ADDRESS, &raw_ip))?;
        let vpc_id = props.required_string("VpcId", "a VPC ID (vpc-...)")?;
        let hex = vpc_id.strip_prefix("vpc-").unwrap_or_default();
        if hex.is_empty() || !hex.chars().all(|c| c.is_ascii_hexdigit()) {
            return Err(invalid("VpcId", "a VPC ID (vpc-...)", &vpc_id));
        }
        let edge_secret_arn =
            props.required_string("EdgeSecretArn", "a Secrets Manager secret ARN")?;
        arn(
            "EdgeSecretArn",
            &edge_secret_arn,
            "secretsmanager",
            "secret:",
        )?;
        Ok(Self {
            public_ip,
            vpc_id,
            edge_secret_arn,
            rotation: rotation_of(properties),
        })
    }
}

/// `Rotation` as text ("" when absent): an Update compares the old and the new one.
pub fn rotation_of(properties: &Value) -> String {
    match properties.get("Rotation") {
        Some(Value::String(text)) => text.clone(),
        Some(Value::Null) | None => String::new(),
        Some(other) => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const SECRET: &str = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:edge-AbCdEf";

    fn valid() -> Value {
        json!({"PublicIp": "3.91.7.200", "VpcId": "vpc-0a1b", "EdgeSecretArn": SECRET, "Rotation": 2})
    }

    #[test]
    fn a_valid_spec_reads() {
        let spec = EdgeSpec::parse(&valid()).unwrap();
        assert_eq!(spec.public_ip, Ipv4Addr::new(3, 91, 7, 200));
        assert_eq!(spec.vpc_id, "vpc-0a1b");
        assert_eq!(spec.edge_secret_arn, SECRET);
        assert_eq!(spec.rotation, "2");
        assert_eq!(rotation_of(&json!({})), "");
    }

    #[test]
    fn bad_input_names_the_property_and_what_was_expected() {
        let cases = [
            ("PublicIp", json!("eipalloc-1"), "IPv4 address"),
            ("PublicIp", json!(""), "is required"),
            ("VpcId", json!("subnet-1"), "a VPC ID"),
            (
                "EdgeSecretArn",
                json!("arn:aws:s3:::bucket"),
                "EdgeSecretArn",
            ),
        ];
        for (name, value, expected) in cases {
            let mut props = valid();
            props[name] = value;
            let error = EdgeSpec::parse(&props).unwrap_err().to_string();
            assert!(
                error.contains(name) && error.contains(expected),
                "{name}: {error}"
            );
        }
    }
}
