//! Structured logs: one JSON object per line, as CloudWatch Logs and Lambda's JSON log format
//! expect. Nothing here ever prints a presigned URL's query string.

use tracing::level_filters::LevelFilter;

/// Installs the JSON subscriber once per process. The level comes from `AWS_LAMBDA_LOG_LEVEL`
/// (set by Lambda's advanced logging controls) and defaults to INFO.
pub fn init() {
    let level = std::env::var("AWS_LAMBDA_LOG_LEVEL")
        .ok()
        .and_then(|value| value.parse::<LevelFilter>().ok())
        .unwrap_or(LevelFilter::INFO);
    // A second init (tests calling it twice) is harmless: keep the first subscriber.
    let installed = tracing_subscriber::fmt()
        .json()
        .flatten_event(true)
        // The runtime's span carries the request id: on every line, under "span".
        .with_current_span(true)
        .with_span_list(false)
        .with_target(false)
        .with_ansi(false)
        .with_max_level(level)
        .try_init();
    if installed.is_err() {
        tracing::debug!("a log subscriber was already installed");
    }
}

/// The URL without its query string: a presigned ResponseURL's signature is a credential.
pub fn redact_url(url: &str) -> &str {
    url.split_once('?').map_or(url, |(base, _)| base)
}

#[cfg(test)]
mod tests {
    use super::redact_url;

    #[test]
    fn query_string_is_cut() {
        assert_eq!(
            redact_url("https://bucket.s3.amazonaws.com/key?X-Amz-Signature=abc"),
            "https://bucket.s3.amazonaws.com/key"
        );
        assert_eq!(redact_url("http://127.0.0.1:8/x"), "http://127.0.0.1:8/x");
    }
}
