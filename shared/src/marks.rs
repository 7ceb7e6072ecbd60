//! The product's marks, in one place: how it labels what it makes and does, so that it can
//! recognise its own work later (the restarter its own stops, a repeated Create its own cluster,
//! a Delete after a failed Create that there is nothing to undo).

/// Tag key holding the id of the stack that made a resource.
pub const STACK_TAG: &str = "datero-ecs:stack-id";
/// Tag key holding the logical id of the custom resource that made a resource.
pub const LOGICAL_ID_TAG: &str = "datero-ecs:logical-id";
/// Tag key holding the CloudFormation request that started a task.
pub const REQUEST_TAG: &str = "datero-ecs:request-id";
/// Tag key, on the cluster, holding whether office hours are open or closed and since when
/// (written by the restarter at each scheduled start and stop; [`crate::schedule::HoursMark`]).
pub const OFFICE_HOURS_TAG: &str = "datero-ecs:office-hours";
/// Tag key, on the cluster, holding the folder of the data volume Datero's data is in since a
/// move to a new PostgreSQL major (`pg18`; [`crate::data_directory`]); absent before any.
pub const DATA_DIRECTORY_TAG: &str = "datero-ecs:data-directory";
/// Prefix of the physical id a failed Create answers with.
pub const FAILED_CREATE_PREFIX: &str = "datero-ecs:failed-create:";

/// `startedBy` of every task the provisioner runs.
pub const STARTED_BY: &str = "datero-provisioner";

/// Prefix of the stop reason of every task the provisioner stops.
pub const STOP_REASON_PREFIX: &str = "datero-provisioner:";

/// The stop reason for a stop made because of `why` (`cluster deleted`, `replaced by ...`).
pub fn stop_reason(why: &str) -> String {
    // ECS keeps at most 255 characters of a stop reason.
    let mut reason = format!("{STOP_REASON_PREFIX} {why}");
    if reason.len() > 255 {
        let cut = (0..=255)
            .rev()
            .find(|index| reason.is_char_boundary(*index))
            .unwrap_or(0);
        reason.truncate(cut);
    }
    reason
}

/// `(key, value)` pairs as ECS tags: the one builder of every ECS tag the product sends.
pub fn ecs_tags<K: AsRef<str>, V: AsRef<str>>(
    pairs: impl IntoIterator<Item = (K, V)>,
) -> Vec<aws_sdk_ecs::types::Tag> {
    pairs
        .into_iter()
        .map(|(key, value)| {
            aws_sdk_ecs::types::Tag::builder()
                .key(key.as_ref())
                .value(value.as_ref())
                .build()
        })
        .collect()
}

/// Whether a task was stopped by the provisioner.
pub fn is_provisioner_stop(stopped_reason: Option<&str>) -> bool {
    stopped_reason.is_some_and(|reason| reason.starts_with(STOP_REASON_PREFIX))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn our_reasons_are_recognised() {
        let reason = stop_reason("cluster deleted");
        assert_eq!(reason, "datero-provisioner: cluster deleted");
        assert!(is_provisioner_stop(Some(&reason)));
        assert!(!is_provisioner_stop(Some(
            "Essential container in task exited"
        )));
        assert!(!is_provisioner_stop(None));
        assert!(stop_reason(&"x".repeat(400)).len() <= 255);
    }
}
