//! `Custom::DateroMountTargets`: one EFS mount target in each Availability Zone of the stack's
//! subnets, made and removed by the cluster function (`shared::mount_targets` decides).

use serde_json::Value;

use super::names::invalid;
use crate::error::PropertyError;
use crate::properties::Properties;

/// Every property the resource accepts.
pub const ACCEPTED: [&str; 4] = ["FileSystemId", "VpcId", "SubnetIds", "SecurityGroupIds"];

/// A mount target takes at most five security groups (CreateMountTarget, EFS API Reference).
pub const MAX_SECURITY_GROUPS: usize = 5;

/// What the template asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MountTargetsSpec {
    pub file_system_id: String,
    /// The VPC of the subnets: a file system's mount targets are all in one VPC.
    pub vpc_id: String,
    /// The subnets whose zones need a mount target, in order, without repeats.
    pub subnet_ids: Vec<String>,
    pub security_group_ids: Vec<String>,
}

impl MountTargetsSpec {
    /// Strict parse for Create and Update.
    pub fn parse(properties: &Value) -> Result<Self, PropertyError> {
        let props = Properties::strict(properties, &ACCEPTED)?;
        let file_system_id =
            props.required_string("FileSystemId", "an EFS file system ID (fs-...)")?;
        id(
            "FileSystemId",
            &file_system_id,
            "fs-",
            "an EFS file system ID (fs-...)",
        )?;
        let vpc_id = props.required_string("VpcId", "a VPC ID (vpc-...)")?;
        id("VpcId", &vpc_id, "vpc-", "a VPC ID (vpc-...)")?;
        let mut subnet_ids =
            props
                .string_list("SubnetIds")?
                .ok_or_else(|| PropertyError::Missing {
                    name: "SubnetIds".to_owned(),
                    expected: "a list of subnet IDs (subnet-...)".to_owned(),
                })?;
        for subnet in &subnet_ids {
            id("SubnetIds", subnet, "subnet-", "subnet IDs (subnet-...)")?;
        }
        let mut seen = std::collections::BTreeSet::new();
        subnet_ids.retain(|subnet| seen.insert(subnet.clone()));
        let security_group_ids =
            props
                .string_list("SecurityGroupIds")?
                .ok_or_else(|| PropertyError::Missing {
                    name: "SecurityGroupIds".to_owned(),
                    expected: "one to five security group IDs (sg-...)".to_owned(),
                })?;
        if security_group_ids.len() > MAX_SECURITY_GROUPS {
            return Err(invalid(
                "SecurityGroupIds",
                "one to five security group IDs (sg-...)",
                &security_group_ids.join(","),
            ));
        }
        for group in &security_group_ids {
            id(
                "SecurityGroupIds",
                group,
                "sg-",
                "security group IDs (sg-...)",
            )?;
        }
        Ok(Self {
            file_system_id,
            vpc_id,
            subnet_ids,
            security_group_ids,
        })
    }

    /// The physical ID: the file system's ARN (the resource is the set of its mount targets).
    pub fn physical_id(&self, region: &str, account: &str) -> String {
        file_system_arn(region, account, &self.file_system_id)
    }
}

/// An EFS file system's ARN.
pub fn file_system_arn(region: &str, account: &str, file_system_id: &str) -> String {
    format!("arn:aws:elasticfilesystem:{region}:{account}:file-system/{file_system_id}")
}

/// The file system ID in a physical ID ([`MountTargetsSpec::physical_id`]); none for anything
/// else (a failed Create's sentinel).
pub fn file_system_of(physical_id: &str) -> Option<&str> {
    physical_id
        .rsplit_once(":file-system/")
        .map(|(_, id)| id)
        .filter(|id| id.starts_with("fs-"))
}

fn id(property: &str, value: &str, prefix: &str, expected: &str) -> Result<(), PropertyError> {
    let rest = value.strip_prefix(prefix).unwrap_or_default();
    let fits = !rest.is_empty() && rest.len() <= 40 && rest.chars().all(|c| c.is_ascii_hexdigit());
    if fits {
        Ok(())
    } else {
        Err(invalid(property, expected, value))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn valid() -> Value {
        json!({
            "FileSystemId": "fs-0123abcd",
            "VpcId": "vpc-1a2b3c4d",
            "SubnetIds": ["subnet-0a", "subnet-0b", "subnet-0a"],
            "SecurityGroupIds": "sg-0f"
        })
    }

    #[test]
    fn a_valid_spec_reads_with_repeats_dropped_and_names_its_file_system() {
        let spec = MountTargetsSpec::parse(&valid()).unwrap();
        assert_eq!(spec.subnet_ids, ["subnet-0a", "subnet-0b"]);
        assert_eq!(spec.security_group_ids, ["sg-0f"]);
        let id = spec.physical_id("eu-west-1", "123456789012");
        assert_eq!(
            id,
            "arn:aws:elasticfilesystem:eu-west-1:123456789012:file-system/fs-0123abcd"
        );
        assert_eq!(file_system_of(&id), Some("fs-0123abcd"));
        assert_eq!(file_system_of("create-failed-abc"), None);
    }

    #[test]
    fn bad_input_names_the_property_and_what_was_expected() {
        let cases = [
            ("FileSystemId", json!("efs-1"), "an EFS file system ID"),
            ("VpcId", json!("subnet-1"), "a VPC ID"),
            ("SubnetIds", json!(["subnet-1", "sg-2"]), "subnet IDs"),
            ("SubnetIds", json!(""), "is required"),
            (
                "SecurityGroupIds",
                json!(["sg-1", "sg-2", "sg-3", "sg-4", "sg-5", "sg-6"]),
                "one to five",
            ),
            ("SecurityGroupIds", json!(["vpc-1"]), "security group IDs"),
        ];
        for (name, value, expected) in cases {
            let mut props = valid();
            props[name] = value;
            let error = MountTargetsSpec::parse(&props).unwrap_err().to_string();
            assert!(
                error.contains(name) && error.contains(expected),
                "{name}: {error}"
            );
        }
        let mut props = valid();
        props["Subnets"] = json!("subnet-1");
        assert!(
            MountTargetsSpec::parse(&props)
                .unwrap_err()
                .to_string()
                .contains("unknown properties Subnets")
        );
    }
}
