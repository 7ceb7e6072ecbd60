//! A local ResponseURL: records every PUT and answers as told.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use serde_json::Value;
use tokio::net::TcpListener;

use crate::http::{self, Request};

/// One recorded PUT.
#[derive(Debug, Clone)]
pub struct Recorded {
    pub request: Request,
    pub at: Instant,
}

impl Recorded {
    /// The body as JSON (panics in tests if it is not).
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.request.body).expect("the answer is JSON")
    }
}

#[derive(Debug, Default)]
struct State {
    received: Vec<Recorded>,
    fail_next: u32,
    stall: bool,
}

/// The sink; it serves until dropped.
pub struct ResponseSink {
    url: String,
    state: Arc<Mutex<State>>,
    server: tokio::task::JoinHandle<()>,
}

impl ResponseSink {
    /// Starts on a free loopback port.
    pub async fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind a loopback port");
        let url = format!("http://{}", listener.local_addr().expect("local address"));
        let state = Arc::new(Mutex::new(State::default()));
        let shared = Arc::clone(&state);
        let server = tokio::spawn(http::serve(listener, move |request| {
            let state = Arc::clone(&shared);
            async move {
                let (status, stall) = {
                    let mut state = state.lock().unwrap_or_else(PoisonError::into_inner);
                    state.received.push(Recorded {
                        request,
                        at: Instant::now(),
                    });
                    if state.fail_next > 0 {
                        state.fail_next -= 1;
                        (500, false)
                    } else {
                        (200, state.stall)
                    }
                };
                if stall {
                    tokio::time::sleep(Duration::from_secs(3600)).await;
                }
                Some(http::Response::new(status, Vec::new()))
            }
        }));
        Self { url, state, server }
    }

    /// A presigned-looking ResponseURL on this sink; the query string stands for the signature
    /// that must never reach a log.
    pub fn response_url(&self, name: &str) -> String {
        format!(
            "{}/{name}?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Signature={}",
            self.url,
            Self::SIGNATURE
        )
    }

    /// The signature in every [`Self::response_url`].
    pub const SIGNATURE: &'static str = "5ec7e75195a7u4e0f0c0ffee";

    /// Answer the next `count` PUTs with HTTP 500.
    pub fn fail_next(&self, count: u32) {
        self.lock().fail_next = count;
    }

    /// Never answer from now on.
    pub fn stall(&self) {
        self.lock().stall = true;
    }

    /// Every PUT so far.
    pub fn received(&self) -> Vec<Recorded> {
        self.lock().received.clone()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Drop for ResponseSink {
    fn drop(&mut self) {
        self.server.abort();
    }
}
