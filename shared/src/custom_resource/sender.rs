//! The HTTP PUT of the answer to the presigned ResponseURL.

use std::sync::OnceLock;
use std::time::Duration;

use reqwest::header::{CONTENT_LENGTH, CONTENT_TYPE};
use tokio::time::Instant;
use tracing::warn;

use crate::error::ResponseError;
use crate::logging::redact_url;

/// Timeouts and retries of the PUT.
#[derive(Debug, Clone)]
pub struct SenderSettings {
    /// TCP + TLS connect limit of one attempt.
    pub connect_timeout: Duration,
    /// Whole-request limit of one attempt.
    pub attempt_timeout: Duration,
    /// Attempts in all, the first included.
    pub max_attempts: u32,
    /// Pause after the first failed attempt; doubles after each further one.
    pub first_backoff: Duration,
}

impl Default for SenderSettings {
    fn default() -> Self {
        Self {
            connect_timeout: Duration::from_secs(2),
            attempt_timeout: Duration::from_secs(5),
            max_attempts: 5,
            first_backoff: Duration::from_millis(250),
        }
    }
}

/// How a delivery went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Delivery {
    pub attempts: u32,
    pub status: u16,
}

/// Sends answers; made once per process and shared by every invocation.
#[derive(Debug, Clone)]
pub struct ResponseSender {
    /// Built on the first answer, not at start-up: its TLS configuration (every root parsed)
    /// was about 0.2 ms of each custom-resource function's cold start (docs/benchmarks.md).
    client: OnceLock<reqwest::Client>,
    settings: SenderSettings,
}

impl ResponseSender {
    /// A sender with `settings`; its HTTP client (rustls, trusting the roots compiled into the
    /// binary) is built when the first answer is sent.
    pub fn new(settings: SenderSettings) -> Self {
        Self {
            client: OnceLock::new(),
            settings,
        }
    }

    fn client(&self) -> Result<&reqwest::Client, ResponseError> {
        if let Some(client) = self.client.get() {
            return Ok(client);
        }
        // A ResponseURL is an S3 presigned URL, whose certificate chains to Amazon's roots
        // among the compiled-in ones.
        let built = crate::tls::reqwest_client()
            .connect_timeout(self.settings.connect_timeout)
            .build()
            .map_err(|error| ResponseError::Client(error.to_string()))?;
        Ok(self.client.get_or_init(|| built))
    }

    /// PUTs `body` to `url`, retrying network errors and 5xx answers with backoff, never past
    /// `deadline`. A 4xx answer is final: a presigned URL that refuses once refuses again.
    pub async fn put(
        &self,
        url: &str,
        body: Vec<u8>,
        deadline: Instant,
    ) -> Result<Delivery, ResponseError> {
        let client = self.client()?;
        let mut backoff = self.settings.first_backoff;
        let mut last = String::from("the deadline had passed before the first attempt");
        let mut attempts = 0;
        while attempts < self.settings.max_attempts {
            let remaining = deadline.saturating_duration_since(Instant::now());
            if remaining.is_zero() {
                break;
            }
            attempts += 1;
            match put_once(
                client,
                url,
                &body,
                remaining.min(self.settings.attempt_timeout),
            )
            .await
            {
                Ok(status) if (200..300).contains(&status) => {
                    return Ok(Delivery { attempts, status });
                }
                Ok(status) if status >= 500 => last = format!("HTTP {status}"),
                Ok(status) => return Err(ResponseError::Refused { status }),
                Err(error) => last = error,
            }
            warn!(
                attempt = attempts,
                url = redact_url(url),
                error = %last,
                "answer not delivered; will retry"
            );
            let pause = backoff.min(deadline.saturating_duration_since(Instant::now()));
            tokio::time::sleep(pause).await;
            backoff *= 2;
        }
        Err(ResponseError::GaveUp { attempts, last })
    }
}

/// One PUT of `body`: the answer's status, or why there was none (the URL never quoted).
async fn put_once(
    client: &reqwest::Client,
    url: &str,
    body: &[u8],
    timeout: Duration,
) -> Result<u16, String> {
    let response = client
        .put(url)
        // The URL is presigned for an empty Content-Type; any other value breaks the signature.
        .header(CONTENT_TYPE, "")
        .header(CONTENT_LENGTH, body.len())
        .body(body.to_vec())
        .timeout(timeout)
        .send()
        .await
        // reqwest's message would quote the URL, signature included.
        .map_err(|error| error.without_url().to_string())?;
    Ok(response.status().as_u16())
}
