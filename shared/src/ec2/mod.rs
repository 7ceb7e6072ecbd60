//! The five EC2 calls the functions make, over EC2's Query API: a signed form POST, an XML
//! answer ("Making requests to the Amazon EC2 API",
//! <https://docs.aws.amazon.com/AWSEC2/latest/APIReference/making-api-requests.html>).
//!
//! Why not `aws-sdk-ec2`: it is the request and response code of several hundred operations,
//! of which the functions call five, and compiling it was the longest single step of every
//! `sam build` (issue 26, docs/benchmarks.md). These calls use the crates the SDK itself uses
//! for the same work (aws-sigv4 to sign, aws-smithy-query to write the form, aws-smithy-xml to
//! read the answer) with the SDK's standard retry strategy ([`retry`]). EC2's model defines no
//! typed errors (every EC2 error reaches the SDK as an unmodelled code), so nothing typed is
//! lost.

pub mod endpoint;
pub mod query;
pub mod retry;
pub mod xml;

use std::error::Error as StdError;
use std::sync::OnceLock;
use std::time::{Duration, SystemTime};

use aws_credential_types::provider::{ProvideCredentials, SharedCredentialsProvider};
use aws_sigv4::http_request::{SignableBody, SignableRequest, SigningSettings, sign};
use aws_sigv4::sign::v4;
use aws_smithy_runtime_api::client::identity::Identity;
use aws_smithy_xml::decode::XmlDecodeError;
use aws_types::SdkConfig;
use tracing::warn;

use crate::error::ResourceError;
use retry::Failure;
pub use xml::{Address, Instance};

/// The SigV4 signing name of EC2, in every partition (aws-sdk-ec2 `config.rs`).
const SIGNING_NAME: &str = "ec2";

/// The longest one try may take, answer read included. The SDK bounds a stalled answer with
/// its stalled-stream protection (aws-smithy-runtime `client/defaults.rs`); EC2's Describe
/// calls answer in well under a second, so a try this long has stalled and is tried again.
const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(30);

/// A failed EC2 call.
#[derive(Debug, thiserror::Error)]
pub enum Ec2Error {
    /// EC2 answered with an error document.
    #[error("{code}: {message}")]
    Service {
        status: u16,
        code: String,
        message: String,
    },
    /// An error status without EC2's error document (a proxy or load balancer answered).
    #[error("HTTP status {status} without an error code")]
    Status { status: u16 },
    /// No answer: the connection failed or timed out.
    #[error("no answer from EC2: {}", causes(.0))]
    Transport(#[source] reqwest::Error),
    /// A success answer that is not what the operation returns.
    #[error("EC2's answer could not be read: {0}")]
    Decode(#[from] XmlDecodeError),
    /// The environment gives no Region or no credentials.
    #[error("{0} is not set in the function's environment")]
    Unconfigured(&'static str),
    /// The credentials could not be had, or the request could not be built or signed.
    #[error("the request could not be built and signed: {0}")]
    Unsendable(String),
}

/// An error and its sources, as one line: reqwest's own message leaves out the cause
/// ("connection refused", a DNS failure).
fn causes(error: &dyn StdError) -> String {
    let mut line = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        line.push_str(": ");
        line.push_str(&cause.to_string());
        source = cause.source();
    }
    line
}

impl Ec2Error {
    fn failure(&self) -> Failure<'_> {
        match self {
            Ec2Error::Service { status, code, .. } => Failure::Answer {
                status: *status,
                code: Some(code),
            },
            Ec2Error::Status { status } => Failure::Answer {
                status: *status,
                code: None,
            },
            Ec2Error::Transport(_) => Failure::NoAnswer,
            Ec2Error::Decode(_) | Ec2Error::Unconfigured(_) | Ec2Error::Unsendable(_) => {
                Failure::Local
            }
        }
    }
}

/// `error` as the functions report AWS failures: the action, EC2's code and message.
fn failed(action: &'static str, error: Ec2Error) -> ResourceError {
    ResourceError::Aws {
        action,
        message: error.to_string(),
        source: Box::new(error),
    }
}

/// A client of EC2's Query API for the Region and credentials of an SDK configuration.
#[derive(Debug)]
pub struct Ec2 {
    endpoint: Option<String>,
    region: Option<String>,
    credentials: Option<SharedCredentialsProvider>,
    /// Built on the first call, as the SDK's clients are ([`crate::aws::load_config`]).
    http: OnceLock<reqwest::Client>,
}

impl Ec2 {
    /// A client for `config`'s Region, credentials and endpoint override (`AWS_ENDPOINT_URL`).
    pub fn new(config: &SdkConfig) -> Self {
        let region = config.region().map(|region| region.as_ref().to_owned());
        let endpoint = config
            .endpoint_url()
            .map(|url| url.trim_end_matches('/').to_owned())
            .or_else(|| region.as_deref().map(endpoint::regional));
        Self {
            endpoint,
            region,
            credentials: config.credentials_provider(),
            http: OnceLock::new(),
        }
    }

    /// Describes the Elastic IP `allocation_id`; `None` when EC2 has no such address.
    pub async fn describe_address(
        &self,
        allocation_id: &str,
    ) -> Result<Option<Address>, ResourceError> {
        const ACTION: &str = "DescribeAddresses";
        let answer = self
            .call(ACTION, query::describe_address(allocation_id))
            .await?;
        let addresses = xml::addresses(&answer).map_err(|error| failed(ACTION, error.into()))?;
        Ok(addresses.into_iter().next())
    }

    /// Associates `allocation_id` with `instance_id`, taking it from any other instance
    /// (`AllowReassociation`).
    pub async fn associate_address(
        &self,
        allocation_id: &str,
        instance_id: &str,
    ) -> Result<(), ResourceError> {
        self.call(
            "AssociateAddress",
            query::associate_address(allocation_id, instance_id),
        )
        .await
        .map(drop)
    }

    /// Describes `instance_ids`, following `nextToken` (EC2 may page even an id list).
    pub async fn describe_instances(
        &self,
        instance_ids: &[String],
    ) -> Result<Vec<Instance>, ResourceError> {
        const ACTION: &str = "DescribeInstances";
        let mut found = Vec::new();
        let mut token = None;
        loop {
            let answer = self
                .call(
                    ACTION,
                    query::describe_instances(instance_ids, token.as_deref()),
                )
                .await?;
            let page = xml::instances(&answer).map_err(|error| failed(ACTION, error.into()))?;
            found.extend(page.items);
            match page.next_token.filter(|token| !token.is_empty()) {
                Some(next) => token = Some(next),
                None => return Ok(found),
            }
        }
    }

    /// The id of the AWS-managed prefix list named `name`, if the Region has it.
    pub async fn prefix_list_id(&self, name: &str) -> Result<Option<String>, ResourceError> {
        const ACTION: &str = "DescribeManagedPrefixLists";
        let mut token = None;
        loop {
            let answer = self
                .call(ACTION, query::describe_prefix_list(name, token.as_deref()))
                .await?;
            let page =
                xml::prefix_list_ids(&answer).map_err(|error| failed(ACTION, error.into()))?;
            // A page may come back empty with a token (the call is paginated).
            if let Some(id) = page.items.into_iter().next() {
                return Ok(Some(id));
            }
            match page.next_token.filter(|token| !token.is_empty()) {
                Some(next) => token = Some(next),
                None => return Ok(None),
            }
        }
    }

    /// One boolean attribute of `vpc_id` (`enableDnsSupport`, `enableDnsHostnames`); `false`
    /// when the answer does not carry it.
    pub async fn vpc_attribute(
        &self,
        vpc_id: &str,
        attribute: &str,
    ) -> Result<bool, ResourceError> {
        const ACTION: &str = "DescribeVpcAttribute";
        let answer = self
            .call(ACTION, query::describe_vpc_attribute(vpc_id, attribute))
            .await?;
        let value =
            xml::vpc_attribute(&answer, attribute).map_err(|error| failed(ACTION, error.into()))?;
        Ok(value.unwrap_or(false))
    }

    /// Sends `body`, trying again as the SDK's standard strategy would; the answer's XML.
    async fn call(&self, action: &'static str, body: String) -> Result<String, ResourceError> {
        let mut attempt = 1;
        loop {
            match self.attempt(&body).await {
                Ok(answer) => return Ok(answer),
                Err(error)
                    if attempt < retry::MAX_ATTEMPTS && retry::is_retryable(error.failure()) =>
                {
                    let pause = retry::backoff(attempt, fastrand::f64());
                    warn!(action, attempt, %error, ?pause, "EC2 call failed; trying again");
                    tokio::time::sleep(pause).await;
                    attempt += 1;
                }
                Err(error) => return Err(failed(action, error)),
            }
        }
    }

    async fn attempt(&self, body: &str) -> Result<String, Ec2Error> {
        let request = self.signed(body).await?;
        let request = reqwest::Request::try_from(request)
            .map_err(|error| Ec2Error::Unsendable(error.to_string()))?;
        let response = self
            .http()?
            .execute(request)
            .await
            .map_err(Ec2Error::Transport)?;
        let status = response.status();
        let text = response.text().await.map_err(Ec2Error::Transport)?;
        if status.is_success() {
            return Ok(text);
        }
        let error = xml::error_body(&text);
        Err(match error.code {
            Some(code) => Ec2Error::Service {
                status: status.as_u16(),
                code,
                message: error.message.unwrap_or_default(),
            },
            None => Ec2Error::Status {
                status: status.as_u16(),
            },
        })
    }

    /// The POST of `body`, signed with SigV4 for EC2 in the Region.
    async fn signed(&self, body: &str) -> Result<http::Request<String>, Ec2Error> {
        let endpoint = self
            .endpoint
            .as_deref()
            .ok_or(Ec2Error::Unconfigured("AWS_REGION"))?;
        let region = self
            .region
            .as_deref()
            .ok_or(Ec2Error::Unconfigured("AWS_REGION"))?;
        let credentials = self
            .credentials
            .as_ref()
            .ok_or(Ec2Error::Unconfigured("AWS_ACCESS_KEY_ID"))?
            .provide_credentials()
            .await
            .map_err(|error| Ec2Error::Unsendable(error.to_string()))?;
        let mut request = http::Request::post(format!("{endpoint}/"))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body.to_owned())
            .map_err(|error| Ec2Error::Unsendable(error.to_string()))?;
        let identity = Identity::from(credentials);
        let params = v4::SigningParams::builder()
            .identity(&identity)
            .region(region)
            .name(SIGNING_NAME)
            .time(SystemTime::now())
            .settings(SigningSettings::default())
            .build()
            .map_err(|error| Ec2Error::Unsendable(error.to_string()))?
            .into();
        let headers = request
            .headers()
            .iter()
            .filter_map(|(name, value)| Some((name.as_str(), value.to_str().ok()?)));
        let signable = SignableRequest::new(
            "POST",
            request.uri().to_string(),
            headers,
            SignableBody::Bytes(body.as_bytes()),
        )
        .map_err(|error| Ec2Error::Unsendable(error.to_string()))?;
        let (instructions, _signature) = sign(signable, &params)
            .map_err(|error| Ec2Error::Unsendable(error.to_string()))?
            .into_parts();
        instructions.apply_to_request_http1x(&mut request);
        Ok(request)
    }

    fn http(&self) -> Result<&reqwest::Client, Ec2Error> {
        if let Some(client) = self.http.get() {
            return Ok(client);
        }
        // As the SDK's client: no redirects followed, no proxy from the environment.
        let built = crate::tls::reqwest_client()
            .connect_timeout(crate::aws::CONNECT_TIMEOUT)
            .timeout(ATTEMPT_TIMEOUT)
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .user_agent(concat!("datero-ecs/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|error| Ec2Error::Unsendable(error.to_string()))?;
        Ok(self.http.get_or_init(|| built))
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use aws_credential_types::Credentials;
    use aws_sdk_ecs::config::Region;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpListener;

    use super::*;

    /// A local HTTP server that answers each request with the next of `answers` (status,
    /// body) and keeps what it was sent. EC2's throttling is a fault the emulator does not
    /// produce.
    async fn ec2_answering(answers: Vec<(u16, &'static str)>) -> (String, Arc<Mutex<Vec<String>>>) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let endpoint = format!("http://{}", listener.local_addr().unwrap());
        let seen = Arc::new(Mutex::new(Vec::new()));
        let kept = Arc::clone(&seen);
        tokio::spawn(async move {
            for (status, body) in answers {
                let (mut stream, _) = listener.accept().await.unwrap();
                let mut request = Vec::new();
                let mut buffer = [0_u8; 4096];
                // Headers, then as many body bytes as Content-Length says.
                loop {
                    let read = stream.read(&mut buffer).await.unwrap();
                    request.extend_from_slice(&buffer[..read]);
                    let text = String::from_utf8_lossy(&request).to_string();
                    if let Some((head, body_so_far)) = text.split_once("\r\n\r\n") {
                        let length = head
                            .lines()
                            .find_map(|line| {
                                line.to_ascii_lowercase()
                                    .strip_prefix("content-length: ")
                                    .map(|n| n.trim().parse::<usize>().unwrap())
                            })
                            .unwrap_or(0);
                        if body_so_far.len() >= length {
                            break;
                        }
                    }
                }
                kept.lock()
                    .unwrap()
                    .push(String::from_utf8_lossy(&request).to_string());
                let answer = format!(
                    "HTTP/1.1 {status} X\r\ncontent-type: text/xml\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                );
                stream.write_all(answer.as_bytes()).await.unwrap();
            }
        });
        (endpoint, seen)
    }

    fn client(endpoint: &str, with_keys: bool) -> Ec2 {
        let mut config = SdkConfig::builder()
            .region(Region::from_static("eu-west-1"))
            .endpoint_url(endpoint);
        if with_keys {
            config.set_credentials_provider(Some(SharedCredentialsProvider::new(
                Credentials::new("AKIDEXAMPLE", "secret", Some("token".into()), None, "test"),
            )));
        }
        Ec2::new(&config.build())
    }

    const THROTTLED: &str = "<Response><Errors><Error><Code>RequestLimitExceeded</Code><Message>Request limit exceeded.</Message></Error></Errors><RequestID>r</RequestID></Response>";
    const NOT_FOUND: &str = "<Response><Errors><Error><Code>InvalidAllocationID.NotFound</Code><Message>The allocation ID 'eipalloc-1' does not exist</Message></Error></Errors><RequestID>r</RequestID></Response>";

    #[tokio::test]
    async fn a_throttled_call_is_signed_sent_again_and_read() {
        let (endpoint, seen) = ec2_answering(vec![
            (503, THROTTLED),
            (200, include_str!("fixtures/describe_addresses.xml")),
        ])
        .await;
        let address = client(&endpoint, true)
            .describe_address("eipalloc-0a1b2c3d4e5f67890")
            .await
            .unwrap()
            .unwrap();
        assert_eq!(address.public_ip.as_deref(), Some("198.51.100.23"));
        let seen = seen.lock().unwrap();
        assert_eq!(seen.len(), 2, "one try, then one more after the throttling");
        for request in seen.iter() {
            let lower = request.to_ascii_lowercase();
            assert!(request.starts_with("POST / HTTP/1.1\r\n"), "{request}");
            assert!(lower.contains("content-type: application/x-www-form-urlencoded"));
            assert!(
                lower.contains("authorization: aws4-hmac-sha256 credential=akidexample/"),
                "{request}"
            );
            assert!(lower.contains("/eu-west-1/ec2/aws4_request"), "{request}");
            assert!(lower.contains("x-amz-security-token: token"), "{request}");
            assert!(request.ends_with(
                "Action=DescribeAddresses&Version=2016-11-15&Filter.1.Name=allocation-id&Filter.1.Value.1=eipalloc-0a1b2c3d4e5f67890"
            ));
        }
    }

    #[tokio::test]
    async fn a_client_error_is_reported_with_its_code_and_not_sent_again() {
        let (endpoint, seen) = ec2_answering(vec![(400, NOT_FOUND), (200, "")]).await;
        let error = client(&endpoint, true)
            .associate_address("eipalloc-1", "i-1")
            .await
            .unwrap_err();
        assert_eq!(
            error.to_string(),
            "AssociateAddress failed: InvalidAllocationID.NotFound: The allocation ID 'eipalloc-1' does not exist"
        );
        assert_eq!(seen.lock().unwrap().len(), 1);
    }

    #[tokio::test]
    async fn an_empty_page_with_a_token_is_followed() {
        const EMPTY_PAGE: &str = "<DescribeManagedPrefixListsResponse><prefixListSet/><nextToken>t2</nextToken></DescribeManagedPrefixListsResponse>";
        let (endpoint, seen) = ec2_answering(vec![
            (200, EMPTY_PAGE),
            (
                200,
                include_str!("fixtures/describe_managed_prefix_lists.xml"),
            ),
        ])
        .await;
        let id = client(&endpoint, true).prefix_list_id("n").await.unwrap();
        assert_eq!(id.as_deref(), Some("pl-4fa04526"));
        assert!(seen.lock().unwrap()[1].ends_with("&NextToken=t2"));
    }

    #[tokio::test]
    async fn no_answer_is_reported_with_its_cause() {
        // A port nothing listens on: every try is refused.
        let closed = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let endpoint = format!("http://{}", closed.local_addr().unwrap());
        drop(closed);
        let error = client(&endpoint, true)
            .describe_instances(&["i-1".to_owned()])
            .await
            .unwrap_err()
            .to_string();
        assert!(
            error.starts_with("DescribeInstances failed: no answer from EC2: "),
            "{error}"
        );
        assert!(error.to_lowercase().contains("refused"), "{error}");
    }

    #[tokio::test]
    async fn without_keys_nothing_is_sent() {
        let (endpoint, seen) = ec2_answering(vec![(200, "")]).await;
        let error = client(&endpoint, false)
            .vpc_attribute("vpc-1", "enableDnsSupport")
            .await
            .unwrap_err();
        assert_eq!(
            error.to_string(),
            "DescribeVpcAttribute failed: AWS_ACCESS_KEY_ID is not set in the function's environment"
        );
        assert!(seen.lock().unwrap().is_empty());
    }
}
