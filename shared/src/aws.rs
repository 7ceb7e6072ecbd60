//! AWS SDK configuration and error messages.

use std::error::Error as StdError;
use std::sync::{Arc, OnceLock};

use aws_config::{BehaviorVersion, SdkConfig};
use aws_sdk_ecs::config::{HttpClient, RuntimeComponents, SharedHttpClient};
use aws_sdk_ecs::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_smithy_runtime_api::client::connector_metadata::ConnectorMetadata;
use aws_smithy_runtime_api::client::http::{HttpConnectorSettings, SharedHttpConnector};

use crate::error::ResourceError;

/// Loads the standard SDK configuration once per process. `AWS_ENDPOINT_URL` (or a
/// per-service variant) points every client at an emulator.
pub async fn load_config() -> SdkConfig {
    aws_config::defaults(BehaviorVersion::latest())
        .http_client(HttpsOnFirstRequest::default())
        .load()
        .await
}

/// The SDK's HTTPS client ([`https_client`]), made on the first request instead of at start-up.
///
/// The SDK's own client builds a whole TLS configuration, parsing every root certificate, each
/// time a service client is made, and throws it away: its `validate_base_client_config` does
/// it to read the platform's store early (aws-smithy-http-client, `client.rs`). With the roots
/// compiled in there is nothing to read early, and that was about 0.7 ms per service client
/// of every cold start (docs/benchmarks.md). The default `validate_base_client_config`, kept
/// here, checks nothing.
#[derive(Debug, Default, Clone)]
struct HttpsOnFirstRequest {
    client: Arc<OnceLock<SharedHttpClient>>,
}

impl HttpsOnFirstRequest {
    fn client(&self) -> &SharedHttpClient {
        self.client.get_or_init(https_client)
    }
}

impl HttpClient for HttpsOnFirstRequest {
    fn http_connector(
        &self,
        settings: &HttpConnectorSettings,
        components: &RuntimeComponents,
    ) -> SharedHttpConnector {
        // The inner client caches one connector per settings: the roots are parsed once each.
        self.client().http_connector(settings, components)
    }

    fn connector_metadata(&self) -> Option<ConnectorMetadata> {
        self.client().connector_metadata()
    }
}

/// The SDK's HTTPS client, as its default (rustls with aws-lc) but trusting the root
/// certificates compiled into the binary ([`crate::tls::roots_pem`]), never the platform's
/// store: reading and parsing `/etc/ssl/certs` (a bundle and about 150 files) at start-up was
/// about 3 ms of every cold start (docs/benchmarks.md).
fn https_client() -> SharedHttpClient {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn service_clients_are_made_without_building_the_https_client() {
        let https = HttpsOnFirstRequest::default();
        let config = SdkConfig::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(aws_config::Region::from_static("eu-west-1"))
            .http_client(https.clone())
            .build();
        let _ecs = aws_sdk_ecs::Client::new(&config);
        let _ec2 = aws_sdk_ec2::Client::new(&config);
        assert!(
            https.client.get().is_none(),
            "a service client built the HTTPS client (and parsed every root) before any request"
        );
    }
}
