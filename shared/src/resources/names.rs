//! Shapes of AWS names and ARNs, checked before any call so that errors name the property.

use crate::error::PropertyError;

/// Only letters, digits, `-` and `_`: ECS names, a data folder's name.
pub(crate) fn name_chars(value: &str) -> bool {
    value
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

/// ECS names (clusters, capacity providers, families): 1..=255 letters, digits, `-`, `_`.
pub fn ecs_name(property: &str, value: &str) -> Result<(), PropertyError> {
    let fits = !value.is_empty() && value.len() <= 255 && name_chars(value);
    if fits {
        Ok(())
    } else {
        Err(invalid(
            property,
            "1 to 255 letters, digits, hyphens or underscores",
            value,
        ))
    }
}

/// An ARN of `service` whose resource part starts with `resource_prefix`
/// (`arn:<partition>:<service>:<region>:<account>:<resource>`).
pub fn arn(
    property: &str,
    value: &str,
    service: &str,
    resource_prefix: &str,
) -> Result<(), PropertyError> {
    let parts: Vec<&str> = value.splitn(6, ':').collect();
    let fits = parts.len() == 6
        && parts[0] == "arn"
        && parts[1].starts_with("aws")
        && parts[2] == service
        && parts[4].len() == 12
        && parts[4].chars().all(|c| c.is_ascii_digit())
        && parts[5].starts_with(resource_prefix)
        && parts[5].len() > resource_prefix.len();
    if fits {
        Ok(())
    } else {
        // IAM is global: its ARNs have no Region.
        let region = if service == "iam" { "" } else { "<region>" };
        let expected =
            format!("an ARN like arn:aws:{service}:{region}:<account>:{resource_prefix}<name>");
        Err(invalid(property, &expected, value))
    }
}

pub(crate) fn invalid(property: &str, expected: &str, value: &str) -> PropertyError {
    let mut quoted: String = value.chars().take(60).collect();
    if value.chars().count() > 60 {
        quoted.push_str("...");
    }
    PropertyError::Invalid {
        name: property.to_owned(),
        expected: expected.to_owned(),
        found: format!("\"{quoted}\""),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ecs_names() {
        assert!(ecs_name("ClusterName", "datero-prod_1").is_ok());
        assert!(ecs_name("ClusterName", "has space").is_err());
        assert!(ecs_name("ClusterName", &"a".repeat(256)).is_err());
    }

    #[test]
    fn arns() {
        let secret = "arn:aws:secretsmanager:us-east-1:111122223333:secret:datero-pw-AbC123";
        assert!(arn("PasswordSecretArn", secret, "secretsmanager", "secret:").is_ok());
        let role = "arn:aws:iam::111122223333:role/datero-exec";
        assert!(arn("ExecutionRoleArn", role, "iam", "role/").is_ok());
        assert!(arn("ExecutionRoleArn", "datero-exec", "iam", "role/").is_err());
        assert!(arn("ExecutionRoleArn", secret, "iam", "role/").is_err());
        assert!(
            arn(
                "ExecutionRoleArn",
                "arn:aws:iam::1111:role/x",
                "iam",
                "role/"
            )
            .is_err()
        );
    }
}
