//! Physical resource ids that are not AWS ARNs.

// CloudFormation always sends a Delete for a resource whose Create failed (during rollback),
// with the id the failure carried. The prefix lets that Delete know there is nothing to undo.
use crate::marks::FAILED_CREATE_PREFIX;

/// The id a failed Create answers with; unique per request.
pub fn failed_create(request_id: &str) -> String {
    format!("{FAILED_CREATE_PREFIX}{request_id}")
}

/// Whether `id` was answered by a failed Create.
pub fn is_failed_create(id: &str) -> bool {
    id.starts_with(FAILED_CREATE_PREFIX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sentinel_is_recognised_and_arns_are_not() {
        assert!(is_failed_create(&failed_create("6a1b2c3d")));
        assert!(!is_failed_create(
            "arn:aws:ecs:us-east-1:111122223333:cluster/datero"
        ));
    }
}
