//! The test servers' HTTP/1.1, served by hyper; connections are kept alive between requests, as
//! Lambda's Runtime API keeps them.

use std::collections::BTreeMap;
use std::future::Future;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;

/// A request as received, body read whole.
#[derive(Debug, Clone)]
pub struct Request {
    pub method: String,
    /// Path and query, as sent.
    pub target: String,
    /// Header names in lower case.
    pub headers: BTreeMap<String, String>,
    pub body: Vec<u8>,
}

impl Request {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .get(&name.to_ascii_lowercase())
            .map(String::as_str)
    }
}

/// A response to send.
#[derive(Debug, Clone, Default)]
pub struct Response {
    pub status: u16,
    pub headers: Vec<(&'static str, String)>,
    pub body: Vec<u8>,
}

impl Response {
    pub fn new(status: u16, body: impl Into<Vec<u8>>) -> Self {
        Self {
            status,
            headers: Vec::new(),
            body: body.into(),
        }
    }
}

/// Serves every connection of `listener` with `handle` until the task running it is aborted.
/// `handle` answering `None` closes the connection without a response.
pub async fn serve<H, F>(listener: TcpListener, handle: H)
where
    H: Fn(Request) -> F + Clone + Send + Sync + 'static,
    F: Future<Output = Option<Response>> + Send + 'static,
{
    while let Ok((stream, _)) = listener.accept().await {
        // Small answers on a kept-alive connection must not wait on Nagle's algorithm.
        stream.set_nodelay(true).ok();
        let handle = handle.clone();
        tokio::spawn(async move {
            let service = service_fn(move |request: hyper::Request<Incoming>| {
                let handle = handle.clone();
                async move {
                    let request = read(request).await?;
                    let response = handle(request)
                        .await
                        .ok_or_else(|| std::io::Error::from(std::io::ErrorKind::BrokenPipe))?;
                    to_hyper(response)
                }
            });
            // The peer closing the connection ends it; nothing to report.
            http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await
                .ok();
        });
    }
}

async fn read(request: hyper::Request<Incoming>) -> Result<Request, std::io::Error> {
    let (parts, body) = request.into_parts();
    let body = body
        .collect()
        .await
        .map_err(std::io::Error::other)?
        .to_bytes()
        .to_vec();
    let headers = parts
        .headers
        .iter()
        .map(|(name, value)| {
            (
                name.as_str().to_owned(),
                value.to_str().unwrap_or_default().to_owned(),
            )
        })
        .collect();
    Ok(Request {
        method: parts.method.as_str().to_owned(),
        target: parts
            .uri
            .path_and_query()
            .map_or_else(|| parts.uri.to_string(), ToString::to_string),
        headers,
        body,
    })
}

fn to_hyper(response: Response) -> Result<hyper::Response<Full<Bytes>>, std::io::Error> {
    let mut builder = hyper::Response::builder().status(response.status);
    for (name, value) in response.headers {
        builder = builder.header(name, value);
    }
    builder
        .body(Full::new(Bytes::from(response.body)))
        .map_err(std::io::Error::other)
}
