//! Waiting on AWS: a growing pause between tries, never past a deadline.

use std::time::Duration;

use tokio::time::Instant;

/// Pauses between tries of something AWS will do soon (a task stopping, a new cluster turning
/// ACTIVE): `first`, doubling up to `max`, until `deadline`.
#[derive(Debug, Clone)]
pub struct Backoff {
    pause: Duration,
    max: Duration,
    deadline: Instant,
}

impl Backoff {
    /// A backoff from `first` up to `max`, giving up at `deadline`.
    pub fn new(first: Duration, max: Duration, deadline: Instant) -> Self {
        Self {
            pause: first,
            max,
            deadline,
        }
    }

    /// The usual wait on ECS: 250 ms doubling up to 5 s.
    pub fn ecs(deadline: Instant) -> Self {
        Self::new(Duration::from_millis(250), Duration::from_secs(5), deadline)
    }

    /// Whether one more pause still ends before the deadline.
    pub fn has_time(&self) -> bool {
        Instant::now() + self.pause < self.deadline
    }

    /// Sleeps one pause and grows the next; `false` (without sleeping) when the pause would
    /// end past the deadline, so the caller gives up.
    pub async fn wait(&mut self) -> bool {
        if !self.has_time() {
            return false;
        }
        tokio::time::sleep(self.pause).await;
        self.pause = (self.pause * 2).min(self.max);
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn pauses_grow_to_the_cap_and_stop_before_the_deadline() {
        let start = Instant::now();
        let mut backoff = Backoff::new(
            Duration::from_secs(1),
            Duration::from_secs(4),
            start + Duration::from_secs(12),
        );
        let mut slept = Vec::new();
        let mut last = start;
        while backoff.wait().await {
            slept.push((Instant::now() - last).as_secs());
            last = Instant::now();
        }
        // 1 + 2 + 4 = 7 s; another 4 s would end at 11 s < 12 s; then 4 more would pass it.
        assert_eq!(slept, [1, 2, 4, 4]);
        assert!(Instant::now() <= start + Duration::from_secs(12));
    }
}
