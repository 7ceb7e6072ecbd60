//! Progress as CloudFormation stack events, and the closing summary.

use std::sync::{Mutex, PoisonError};
use std::time::Instant;

/// Prints events as they happen and remembers the steps for the summary.
pub struct Progress {
    started: Instant,
    steps: Mutex<Vec<(String, bool, f64)>>,
}

impl Default for Progress {
    fn default() -> Self {
        Self {
            started: Instant::now(),
            steps: Mutex::new(Vec::new()),
        }
    }
}

impl Progress {
    /// One stack event: `  12.3s  Cluster            CREATE_COMPLETE     reason`.
    pub fn event(&self, resource: &str, status: &str, detail: &str) {
        println!(
            "{:>6.1}s  {resource:<22} {status:<20} {detail}",
            self.seconds()
        );
    }

    /// A lifecycle step that passed.
    pub fn passed(&self, step: &str) {
        self.record(step, true);
    }

    /// A lifecycle step that failed.
    pub fn failed(&self, step: &str) {
        self.record(step, false);
    }

    fn record(&self, step: &str, ok: bool) {
        let at = self.seconds();
        self.steps
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push((step.to_owned(), ok, at));
    }

    pub fn seconds(&self) -> f64 {
        self.started.elapsed().as_secs_f64()
    }

    /// The one-screen summary.
    pub fn summary(&self) {
        println!();
        println!("Summary ({:.1} s)", self.seconds());
        for (step, ok, at) in self
            .steps
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
        {
            println!(
                "  {} {step:<64} {at:>6.1}s",
                if *ok { "ok  " } else { "FAIL" }
            );
        }
    }
}
