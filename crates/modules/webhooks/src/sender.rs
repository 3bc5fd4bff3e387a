//! POSTing one signed delivery and reading what the endpoint answered: hyper over rustls (ring,
//! the system's root certificates). Redirects are not followed (a 3xx is a failure), the whole
//! attempt has a deadline, at most 1 KiB of the answer is read, and host names that resolve to
//! loopback or private addresses are refused unless allowed, so that a subscription cannot reach
//! internal services.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::header::{CONTENT_TYPE, USER_AGENT};
use http_body_util::{BodyExt, Full};
use hyper_rustls::{HttpsConnector, HttpsConnectorBuilder};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::connect::dns::Name;
use hyper_util::rt::TokioExecutor;

use crate::domain::{self, MAX_RESPONSE_BODY, UrlPolicy};

const AGENT: &str = concat!("Comptoir-Webhooks/", env!("CARGO_PKG_VERSION"));

/// What one attempt sends.
pub struct Request<'a> {
    pub url: &'a str,
    pub body: &'a str,
    pub delivery_id: String,
    pub event_id: String,
    pub event_type: &'a str,
    pub attempt: u32,
    /// `Comptoir-Signature`.
    pub signature: String,
}

/// What came of one attempt.
#[derive(Debug, Clone)]
pub struct Outcome {
    pub response_code: Option<u16>,
    pub response_body: Option<String>,
    pub error: Option<String>,
    pub duration: Duration,
}

impl Outcome {
    /// Only a 2xx answer delivers.
    pub fn succeeded(&self) -> bool {
        self.error.is_none() && self.response_code.is_some_and(|code| (200..300).contains(&code))
    }
}

type Connector = HttpsConnector<HttpConnector<Resolver>>;

#[derive(Clone)]
pub struct Sender {
    client: Client<Connector, Full<Bytes>>,
    timeout: Duration,
    policy: UrlPolicy,
}

impl Sender {
    pub fn new(timeout: Duration, policy: UrlPolicy) -> Sender {
        let mut http = HttpConnector::new_with_resolver(Resolver { allow_private: policy.allow_private_hosts });
        http.enforce_http(false);
        http.set_connect_timeout(Some(timeout));
        http.set_nodelay(true);
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let tls = match HttpsConnectorBuilder::new().with_provider_and_native_roots(provider.clone()) {
            Ok(builder) => builder,
            Err(error) => {
                // No CA certificates on this machine: https endpoints will fail, each attempt saying
                // why; http ones (if allowed) still work.
                tracing::warn!(%error, "no system root certificates found; https webhook deliveries will fail");
                let config = rustls::ClientConfig::builder_with_provider(provider)
                    .with_safe_default_protocol_versions()
                    .expect("ring supports the default protocol versions")
                    .with_root_certificates(rustls::RootCertStore::empty())
                    .with_no_client_auth();
                HttpsConnectorBuilder::new().with_tls_config(config)
            }
        };
        let connector = tls.https_or_http().enable_http1().wrap_connector(http);
        let client = Client::builder(TokioExecutor::new()).pool_idle_timeout(Duration::from_secs(30)).build(connector);
        Sender { client, timeout, policy }
    }

    /// Makes the attempt; every failure is an outcome, never an error.
    pub async fn send(&self, request: Request<'_>) -> Outcome {
        let started = Instant::now();
        let answer = match self.build(&request) {
            Ok(http_request) => match tokio::time::timeout(self.timeout, self.exchange(http_request)).await {
                Ok(answer) => answer,
                Err(_) => Err(format!("timed out after {} ms", self.timeout.as_millis())),
            },
            Err(error) => Err(error),
        };
        let duration = started.elapsed();
        match answer {
            Ok((code, body)) => {
                let error = (!(200..300).contains(&code)).then(|| format!("the endpoint answered HTTP {code}"));
                let body = domain::truncate_body(&body);
                Outcome { response_code: Some(code), response_body: Some(body), error, duration }
            }
            Err(error) => Outcome { response_code: None, response_body: None, error: Some(error), duration },
        }
    }

    fn build(&self, r: &Request<'_>) -> Result<http::Request<Full<Bytes>>, String> {
        // Checked again at each attempt: the policy may have been tightened since the subscription
        // was made, and an IP literal never goes through the resolver.
        domain::url("url", r.url, self.policy).map_err(|e| format!("the URL is not allowed: {e}"))?;
        http::Request::post(r.url)
            .header(CONTENT_TYPE, "application/json")
            .header(USER_AGENT, AGENT)
            .header("Comptoir-Webhook-Id", &r.delivery_id)
            .header("Comptoir-Webhook-Attempt", r.attempt.to_string())
            .header("Comptoir-Event-Id", &r.event_id)
            .header("Comptoir-Event-Type", r.event_type)
            .header("Comptoir-Signature", &r.signature)
            .body(Full::new(Bytes::copy_from_slice(r.body.as_bytes())))
            .map_err(|e| format!("the request could not be written: {e}"))
    }

    /// The status and the start of the body.
    async fn exchange(&self, request: http::Request<Full<Bytes>>) -> Result<(u16, Vec<u8>), String> {
        let response = self.client.request(request).await.map_err(|e| error_chain(&e))?;
        let code = response.status().as_u16();
        let mut body = response.into_body();
        let mut kept = Vec::new();
        // Read no more than is kept; the rest of the answer is dropped with the connection.
        while kept.len() <= MAX_RESPONSE_BODY {
            match body.frame().await {
                Some(Ok(frame)) => {
                    if let Some(data) = frame.data_ref() {
                        kept.extend_from_slice(data);
                    }
                }
                // The status is the answer; a body cut short does not change it.
                Some(Err(_)) | None => break,
            }
        }
        Ok((code, kept))
    }
}

/// An error with its causes (`client error (Connect): tcp connect error: Connection refused`).
fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let said = cause.to_string();
        if !text.contains(&said) {
            text.push_str(": ");
            text.push_str(&said);
        }
        source = cause.source();
    }
    text
}

/// Resolves host names with the system resolver, keeping only public addresses unless private
/// ones are allowed.
#[derive(Clone)]
struct Resolver {
    allow_private: bool,
}

impl tower_service::Service<Name> for Resolver {
    type Response = std::vec::IntoIter<SocketAddr>;
    type Error = io::Error;
    type Future = Pin<Box<dyn Future<Output = io::Result<Self::Response>> + Send>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, name: Name) -> Self::Future {
        let allow_private = self.allow_private;
        Box::pin(async move {
            let found: Vec<SocketAddr> = tokio::net::lookup_host((name.as_str(), 0)).await?.collect();
            let kept: Vec<SocketAddr> =
                found.into_iter().filter(|a| allow_private || domain::is_public_ip(a.ip())).collect();
            if kept.is_empty() {
                return Err(io::Error::new(
                    io::ErrorKind::PermissionDenied,
                    format!("{} resolves to no public address", name.as_str()),
                ));
            }
            Ok(kept.into_iter())
        })
    }
}
