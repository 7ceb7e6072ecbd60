//! AWS SDK configuration and error messages.

use std::error::Error as StdError;

use aws_config::{BehaviorVersion, SdkConfig};
use aws_sdk_ecs::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};

use crate::error::ResourceError;

/// Loads the standard SDK configuration once per process. `AWS_ENDPOINT_URL` (or a
/// per-service variant) points every client at an emulator.
pub async fn load_config() -> SdkConfig {
    aws_config::defaults(BehaviorVersion::latest())
        .http_client(https_client())
        .load()
        .await
}

/// The SDK's HTTPS client, as its default (rustls with aws-lc) but trusting the root
/// certificates compiled into the binary ([`crate::tls::roots_pem`]), never the platform's
/// store: reading and parsing `/etc/ssl/certs` (a bundle and about 150 files) at start-up was
/// about 3 ms of every cold start (docs/benchmarks.md).
fn https_client() -> aws_sdk_ecs::config::SharedHttpClient {
    use aws_smithy_http_client::tls::{self, TlsContext, TrustStore, rustls_provider::CryptoMode};
    let mut trust = TrustStore::empty().with_native_roots(false);
    for pem in crate::tls::roots_pem() {
        trust.add_pem_certificate(pem);
    }
    // (build() cannot fail for a trust store: it only moves the fields.)
    let context = TlsContext::builder()
        .with_trust_store(trust)
        .build()
        .unwrap_or_default();
    aws_smithy_http_client::Builder::new()
        .tls_provider(tls::Provider::Rustls(CryptoMode::AwsLc))
        .tls_context(context)
        .build_https()
}

/// The service's error code and message, or the whole error chain when there is no service
/// error (a connection failure, a timeout).
pub fn error_message<E, R>(error: &SdkError<E, R>) -> String
where
    E: ProvideErrorMetadata + StdError + 'static,
    R: std::fmt::Debug,
{
    match (error.code(), error.message()) {
        (Some(code), Some(message)) => format!("{code}: {message}"),
        (Some(code), None) => code.to_owned(),
        _ => DisplayErrorContext(error).to_string(),
    }
}

/// A [`ResourceError::Aws`] for `action`, keeping the SDK's error as its source.
pub fn aws_error<E, R>(action: &'static str, error: SdkError<E, R>) -> ResourceError
where
    E: ProvideErrorMetadata + StdError + Send + Sync + 'static,
    R: std::fmt::Debug + Send + Sync + 'static,
{
    ResourceError::Aws {
        action,
        message: error_message(&error),
        source: Box::new(error),
    }
}
