//! AWS SDK configuration and error messages.

use std::error::Error as StdError;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use aws_sdk_ecs::config::retry::RetryConfig;
use aws_sdk_ecs::config::timeout::TimeoutConfig;
use aws_sdk_ecs::config::{
    BehaviorVersion, Credentials, HttpClient, Region, RuntimeComponents, SharedCredentialsProvider,
    SharedHttpClient,
};
use aws_sdk_ecs::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_smithy_runtime_api::client::connector_metadata::ConnectorMetadata;
use aws_smithy_runtime_api::client::http::{HttpConnectorSettings, SharedHttpConnector};
use aws_types::SdkConfig;

use crate::error::ResourceError;

/// The SDK configuration of a function, from what Lambda puts in every function's environment:
/// `AWS_REGION` and the execution role's keys `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`,
/// `AWS_SESSION_TOKEN` ("Defined runtime environment variables",
/// <https://docs.aws.amazon.com/lambda/latest/dg/configuration-envvars.html#configuration-envvars-runtime>).
/// `AWS_ENDPOINT_URL` points every client at an emulator.
///
/// aws-config's chain would look in the same variables first and never go further on Lambda,
/// but its profile files, IMDS, container, SSO and STS providers were compiled into every
/// function, linked and optimised with it (issue 26), and it read them at each start.
pub fn load_config() -> SdkConfig {
    config_from(|name| std::env::var(name).ok().filter(|value| !value.is_empty()))
}

/// [`load_config`] over any source of variables.
fn config_from(var: impl Fn(&str) -> Option<String>) -> SdkConfig {
    let region = var("AWS_REGION").or_else(|| var("AWS_DEFAULT_REGION"));
    // Without keys, the configuration has no credentials: each call fails with the SDK's
    // "no credentials" error, which the handler reports, rather than the process never starting
    // (a custom resource must answer).
    let credentials = match (var("AWS_ACCESS_KEY_ID"), var("AWS_SECRET_ACCESS_KEY")) {
        (Some(key), Some(secret)) => Some(SharedCredentialsProvider::new(Credentials::new(
            key,
            secret,
            var("AWS_SESSION_TOKEN"),
            None,
            "Lambda environment",
        ))),
        _ => None,
    };
    let mut builder = SdkConfig::builder()
        .behavior_version(BehaviorVersion::latest())
        // aws-config's defaults: the standard retry strategy (3 attempts) and a connect
        // timeout of 3.1 s (default_provider/retry_config.rs, timeout_config.rs). Sleep and
        // time come from the service clients' default plugins.
        .retry_config(RetryConfig::standard())
        .timeout_config(
            TimeoutConfig::builder()
                .connect_timeout(CONNECT_TIMEOUT)
                .build(),
        )
        .http_client(HttpsOnFirstRequest::default());
    builder.set_region(region.map(Region::new));
    builder.set_credentials_provider(credentials);
    builder.set_endpoint_url(var("AWS_ENDPOINT_URL"));
    builder.build()
}

/// aws-config's default connect timeout, for every AWS client of the functions.
pub(crate) const CONNECT_TIMEOUT: Duration = Duration::from_millis(3100);

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
    use aws_sdk_ecs::config::ProvideCredentials;

    use super::*;

    fn vars<'a>(pairs: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<String> + 'a {
        move |name| {
            pairs
                .iter()
                .find(|(key, _)| *key == name)
                .map(|(_, value)| (*value).to_owned())
        }
    }

    #[tokio::test]
    async fn the_configuration_is_lambdas_environment() {
        let config = config_from(vars(&[
            ("AWS_REGION", "eu-central-1"),
            ("AWS_DEFAULT_REGION", "us-east-1"),
            ("AWS_ACCESS_KEY_ID", "ASIAEXAMPLE"),
            ("AWS_SECRET_ACCESS_KEY", "secret"),
            ("AWS_SESSION_TOKEN", "token"),
            ("AWS_ENDPOINT_URL", "http://127.0.0.1:5000"),
        ]));
        assert_eq!(config.region().map(Region::as_ref), Some("eu-central-1"));
        assert_eq!(config.endpoint_url(), Some("http://127.0.0.1:5000"));
        let credentials = config
            .credentials_provider()
            .expect("credentials")
            .provide_credentials()
            .await
            .expect("static credentials");
        assert_eq!(credentials.access_key_id(), "ASIAEXAMPLE");
        assert_eq!(credentials.secret_access_key(), "secret");
        assert_eq!(credentials.session_token(), Some("token"));
        assert_eq!(
            config.retry_config().map(RetryConfig::max_attempts),
            Some(3)
        );
        assert_eq!(
            config
                .timeout_config()
                .and_then(TimeoutConfig::connect_timeout),
            Some(CONNECT_TIMEOUT)
        );
    }

    #[test]
    fn without_keys_there_are_no_credentials_and_the_region_falls_back() {
        let config = config_from(vars(&[
            ("AWS_DEFAULT_REGION", "us-east-1"),
            ("AWS_ACCESS_KEY_ID", "ASIAEXAMPLE"),
        ]));
        assert_eq!(config.region().map(Region::as_ref), Some("us-east-1"));
        assert!(config.credentials_provider().is_none());
        assert_eq!(config.endpoint_url(), None);
    }

    #[test]
    fn service_clients_are_made_without_building_the_https_client() {
        let https = HttpsOnFirstRequest::default();
        let config = SdkConfig::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::from_static("eu-west-1"))
            .http_client(https.clone())
            .build();
        let _ecs = aws_sdk_ecs::Client::new(&config);
        let _ecs_again = aws_sdk_ecs::Client::new(&config);
        assert!(
            https.client.get().is_none(),
            "a service client built the HTTPS client (and parsed every root) before any request"
        );
    }
}
