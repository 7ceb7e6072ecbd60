//! How the provisioner marks what it does to tasks, so that the restarter can tell its own
//! stops from crashes.

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
