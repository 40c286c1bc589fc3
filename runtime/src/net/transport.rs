//! Sending: pooled clients with a resolver that refuses private addresses,
//! operator routes, body caps and per-connection rate limits.

use super::ssrf;
use crate::bindings::http::{HttpError, Response};
use crate::config::NetworkPolicy;
use ipnet::IpNet;
use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use reqwest::header::{HOST, HeaderMap, HeaderValue};
use std::collections::{BTreeMap, HashMap};
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::time::Instant;
use url::Url;

/// The resolver error that says an address was refused.
#[derive(Debug)]
struct Refused(String);

impl std::fmt::Display for Refused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Refused {}

/// Resolves names in the host and refuses private addresses; reqwest then
/// connects only to the addresses returned here, so the check cannot be
/// bypassed by a second lookup.
#[derive(Debug, Clone)]
struct GuardedResolver {
    allowed: Arc<Vec<IpNet>>,
    hosts: Arc<BTreeMap<String, Vec<IpAddr>>>,
}

impl Resolve for GuardedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let allowed = self.allowed.clone();
        let host = name.as_str().to_ascii_lowercase();
        let fixed = self.hosts.get(&host).cloned();
        Box::pin(async move {
            let addrs: Vec<SocketAddr> = match fixed {
                Some(ips) => ips.into_iter().map(|ip| SocketAddr::new(ip, 0)).collect(),
                None => tokio::net::lookup_host((host.as_str(), 0)).await?.collect(),
            };
            ssrf::check_addresses(&host, &addrs, &allowed).map_err(Refused)?;
            let addrs: Addrs = Box::new(addrs.into_iter());
            Ok(addrs)
        })
    }
}

/// Why a send failed.
#[derive(Debug)]
pub enum SendError {
    /// The destination address is refused.
    Refused(String),
    /// Any other failure, as the guest sees it.
    Http(HttpError),
}

/// A simple pacing limiter: one request every `interval`.
#[derive(Debug)]
pub struct RateLimiter {
    interval: Duration,
    next: Mutex<Instant>,
}

impl RateLimiter {
    fn new(per_second: u32) -> Self {
        Self {
            interval: Duration::from_secs(1) / per_second.max(1),
            next: Mutex::new(Instant::now()),
        }
    }

    /// Takes the next slot and returns how long to wait for it.
    pub fn reserve(&self) -> Duration {
        let now = Instant::now();
        let mut next = self.next.lock().unwrap_or_else(|e| e.into_inner());
        let slot = (*next).max(now);
        *next = slot + self.interval;
        slot - now
    }
}

/// Clients, routes and limiters shared by the broker and the OAuth2 client.
#[derive(Debug)]
pub struct Transport {
    allowed: Arc<Vec<IpNet>>,
    hosts: Arc<BTreeMap<String, Vec<IpAddr>>>,
    routes: Vec<ParsedRoute>,
    allow_http: bool,
    connect_timeout: Duration,
    read_timeout: Duration,
    requests_per_second: Option<u32>,
    clients: Mutex<HashMap<String, reqwest::Client>>,
    limiters: Mutex<HashMap<String, Arc<RateLimiter>>>,
}

/// An operator route, parsed once: the host pattern lowercased, the
/// destination a URL.
#[derive(Debug)]
struct ParsedRoute {
    /// `api.example.com`, or `example.com` for `*.example.com`.
    host: String,
    wildcard: bool,
    to: Url,
}

impl ParsedRoute {
    fn matches(&self, host: &str) -> bool {
        if self.wildcard {
            // At least one label, then a dot, then the suffix.
            let Some(split) = host.len().checked_sub(self.host.len()) else {
                return false;
            };
            split > 1
                && host.is_char_boundary(split)
                && host[..split].ends_with('.')
                && host[split..].eq_ignore_ascii_case(&self.host)
        } else {
            host.eq_ignore_ascii_case(&self.host)
        }
    }
}

impl Transport {
    /// A transport for this policy.
    pub fn new(policy: &NetworkPolicy) -> anyhow::Result<Self> {
        let mut routes = Vec::with_capacity(policy.routes.len());
        for route in &policy.routes {
            let to = Url::parse(&route.to).map_err(|e| {
                anyhow::anyhow!(
                    "route for `{}`: `{}` is not a URL: {e}",
                    route.host,
                    route.to
                )
            })?;
            anyhow::ensure!(
                matches!(to.scheme(), "http" | "https") && to.host().is_some(),
                "route for `{}`: `{}` must be an http(s) origin",
                route.host,
                route.to
            );
            let pattern = route.host.to_ascii_lowercase();
            let (host, wildcard) = match pattern.strip_prefix("*.") {
                Some(suffix) => (suffix.to_string(), true),
                None => (pattern, false),
            };
            routes.push(ParsedRoute { host, wildcard, to });
        }
        Ok(Self {
            allowed: Arc::new(policy.allow_ranges.clone()),
            hosts: Arc::new(
                policy
                    .hosts
                    .iter()
                    .map(|(k, v)| (k.to_ascii_lowercase(), v.clone()))
                    .collect(),
            ),
            routes,
            allow_http: policy.allow_http,
            connect_timeout: Duration::from_millis(policy.connect_timeout_ms),
            read_timeout: Duration::from_millis(policy.read_timeout_ms),
            requests_per_second: policy.requests_per_second,
            clients: Mutex::new(HashMap::new()),
            limiters: Mutex::new(HashMap::new()),
        })
    }

    fn build_client(&self) -> Result<reqwest::Client, HttpError> {
        reqwest::Client::builder()
            .dns_resolver(Arc::new(GuardedResolver {
                allowed: self.allowed.clone(),
                hosts: self.hosts.clone(),
            }))
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .connect_timeout(self.connect_timeout)
            .read_timeout(self.read_timeout)
            .pool_idle_timeout(Duration::from_secs(60))
            .user_agent(concat!("cardhost/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| HttpError::Transport(format!("cannot build HTTP client: {e}")))
    }

    /// The pooled client for `key` (one per connection).
    pub fn client(&self, key: &str) -> Result<reqwest::Client, HttpError> {
        let mut clients = self.clients.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(c) = clients.get(key) {
            return Ok(c.clone());
        }
        let client = self.build_client()?;
        clients.insert(key.to_string(), client.clone());
        Ok(client)
    }

    /// Forgets a connection's pooled client (after it is deleted).
    pub fn forget(&self, key: &str) {
        self.clients
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(key);
        self.limiters
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(key);
    }

    /// The request-rate limiter of the client `key` (a connection or a
    /// connector), when the policy sets a rate.
    pub fn rate_limiter(&self, key: &str) -> Option<Arc<RateLimiter>> {
        let rps = self.requests_per_second?;
        let mut limiters = self.limiters.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(limiter) = limiters.get(key) {
            return Some(limiter.clone());
        }
        let limiter = Arc::new(RateLimiter::new(rps));
        limiters.insert(key.to_string(), limiter.clone());
        Some(limiter)
    }

    /// Applies operator routes: returns the URL to connect to and the `Host`
    /// header value to send, if rerouted.
    pub fn route(&self, url: &Url) -> (Url, Option<String>) {
        let Some(host) = url.host_str() else {
            return (url.clone(), None);
        };
        let Some(route) = self.routes.iter().find(|r| r.matches(host)) else {
            return (url.clone(), None);
        };
        let to = &route.to;
        let original_host = match url.port() {
            Some(port) => format!("{host}:{port}"),
            None => host.to_string(),
        };
        let mut target = url.clone();
        // Scheme changes between http and https are allowed by `set_scheme`.
        let _ = target.set_scheme(to.scheme());
        let _ = target.set_host(to.host_str());
        let _ = target.set_port(to.port());
        (target, Some(original_host))
    }

    /// Refuses IP-literal destinations in refused ranges (names are checked by
    /// the resolver).
    pub fn check_literal(&self, url: &Url) -> Result<(), String> {
        let ip: Option<IpAddr> = match url.host() {
            Some(url::Host::Ipv4(v4)) => Some(IpAddr::V4(v4)),
            Some(url::Host::Ipv6(v6)) => Some(IpAddr::V6(v6)),
            _ => None,
        };
        match ip {
            Some(ip) => {
                ssrf::check_addresses(&ip.to_string(), &[SocketAddr::new(ip, 0)], &self.allowed)
            }
            None => Ok(()),
        }
    }

    /// Sends one request with the caps and the deadline.
    #[allow(clippy::too_many_arguments)]
    pub async fn send(
        &self,
        client_key: &str,
        method: reqwest::Method,
        url: Url,
        mut headers: HeaderMap,
        body: Option<Vec<u8>>,
        max_body: usize,
        remaining: Duration,
    ) -> Result<Response, SendError> {
        let client = self.client(client_key).map_err(SendError::Http)?;
        let (target, host) = self.route(&url);
        self.check_literal(&target).map_err(SendError::Refused)?;
        if let Some(host) = host
            && let Ok(value) = HeaderValue::from_str(&host)
        {
            headers.insert(HOST, value);
        }
        let mut request = client.request(method, target).headers(headers);
        if let Some(body) = body {
            request = request.body(body);
        }
        let exchange = async {
            let mut response = request.send().await.map_err(classify)?;
            let status = response.status().as_u16();
            if let Some(len) = response.content_length()
                && len > max_body as u64
            {
                return Err(SendError::Http(HttpError::ResponseTooLarge(
                    max_body as u64,
                )));
            }
            let headers: Vec<(String, String)> = response
                .headers()
                .iter()
                .filter(|(name, _)| *name != reqwest::header::SET_COOKIE)
                .map(|(name, value)| {
                    (
                        name.as_str().to_string(),
                        String::from_utf8_lossy(value.as_bytes()).into_owned(),
                    )
                })
                .collect();
            let mut body = Vec::new();
            while let Some(chunk) = response.chunk().await.map_err(classify)? {
                if body.len() + chunk.len() > max_body {
                    return Err(SendError::Http(HttpError::ResponseTooLarge(
                        max_body as u64,
                    )));
                }
                body.extend_from_slice(&chunk);
            }
            Ok(Response {
                status,
                headers,
                body,
            })
        };
        match tokio::time::timeout(remaining, exchange).await {
            Ok(result) => result,
            Err(_) => Err(SendError::Http(HttpError::DeadlineExceeded)),
        }
    }

    /// Sends a host-made request (token endpoints): same routes, resolver and
    /// caps, no guest involved.
    pub async fn send_host_request(
        &self,
        request: reqwest::RequestBuilder,
    ) -> Result<reqwest::Response, String> {
        request.send().await.map_err(|e| describe(&e.without_url()))
    }

    /// A client for host-made requests (token, authorization and revocation
    /// endpoints), with a URL already routed. The same rules as for API
    /// requests: https unless plain http is allowed, no user info, and the
    /// address guard (literal addresses here, names in the resolver).
    pub fn host_request(
        &self,
        method: reqwest::Method,
        url: &Url,
    ) -> Result<reqwest::RequestBuilder, String> {
        check_host_url(url, self.allow_http)?;
        let client = self.client("host").map_err(|e| format!("{e:?}"))?;
        let (target, host) = self.route(url);
        self.check_literal(&target)?;
        let mut builder = client.request(method, target);
        if let Some(host) = host {
            builder = builder.header(HOST, host);
        }
        Ok(builder)
    }
}

/// The scheme rules every host-made request obeys.
pub fn check_host_url(url: &Url, allow_http: bool) -> Result<(), String> {
    match url.scheme() {
        "https" => {}
        "http" if allow_http => {}
        "http" => {
            return Err(format!(
                "`{}` uses plain http; only https is allowed (network.allow_http is off)",
                url.origin().ascii_serialization()
            ));
        }
        other => return Err(format!("`{other}:` URLs are not allowed here; use https")),
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err("URLs may not carry user info".into());
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err("the URL has no host".into());
    }
    Ok(())
}

/// Reads a response body of at most `cap` bytes, refusing a larger one as
/// soon as its `Content-Length` or the bytes read so far say so: a hostile
/// endpoint's endless answer costs no more than the cap.
pub async fn read_capped(mut response: reqwest::Response, cap: usize) -> Result<Vec<u8>, String> {
    if let Some(len) = response.content_length()
        && len > cap as u64
    {
        return Err(format!(
            "the answer is {len} bytes, over the {cap}-byte limit"
        ));
    }
    let mut body = Vec::new();
    while let Some(chunk) = response
        .chunk()
        .await
        .map_err(|e| describe(&e.without_url()))?
    {
        if body.len() + chunk.len() > cap {
            return Err(format!("the answer is over the {cap}-byte limit"));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

fn refused_in_chain(err: &(dyn std::error::Error + 'static)) -> Option<String> {
    let mut current = Some(err);
    while let Some(e) = current {
        if let Some(r) = e.downcast_ref::<Refused>() {
            return Some(r.0.clone());
        }
        current = e.source();
    }
    None
}

/// A reqwest error in words, with the refusal reason when there is one.
pub fn describe(err: &reqwest::Error) -> String {
    if let Some(refused) = refused_in_chain(err) {
        return refused;
    }
    let mut text = err.to_string();
    let mut source = std::error::Error::source(err);
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

fn classify(err: reqwest::Error) -> SendError {
    // The URL may carry a credential (an API key in the query): it never
    // goes into an error a guest or a log sees.
    let err = err.without_url();
    if let Some(refused) = refused_in_chain(&err) {
        return SendError::Refused(refused);
    }
    if err.is_timeout() {
        SendError::Http(HttpError::Timeout(describe(&err)))
    } else {
        SendError::Http(HttpError::Transport(describe(&err)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Route;

    #[test]
    fn routes_rewrite_the_destination_and_keep_the_host() {
        let policy = NetworkPolicy {
            routes: vec![Route {
                host: "*.smarthr.jp".into(),
                to: "http://127.0.0.1:4010".into(),
            }],
            ..NetworkPolicy::default()
        };
        let t = Transport::new(&policy).unwrap();
        let (target, host) =
            t.route(&Url::parse("https://acme.smarthr.jp/api/v1/crews?page=2").unwrap());
        assert_eq!(target.as_str(), "http://127.0.0.1:4010/api/v1/crews?page=2");
        assert_eq!(host.as_deref(), Some("acme.smarthr.jp"));
        let (same, none) = t.route(&Url::parse("https://smarthr.jp/").unwrap());
        assert_eq!(same.as_str(), "https://smarthr.jp/");
        assert!(none.is_none());
        // A look-alike is not a subdomain.
        let (same, none) = t.route(&Url::parse("https://evilsmarthr.jp/").unwrap());
        assert_eq!(same.as_str(), "https://evilsmarthr.jp/");
        assert!(none.is_none());
        let exact = Transport::new(&NetworkPolicy {
            routes: vec![Route {
                host: "API.Example.com".into(),
                to: "http://127.0.0.1:4011".into(),
            }],
            ..NetworkPolicy::default()
        })
        .unwrap();
        let (target, host) = exact.route(&Url::parse("https://api.example.com:8443/x").unwrap());
        assert_eq!(target.as_str(), "http://127.0.0.1:4011/x");
        assert_eq!(host.as_deref(), Some("api.example.com:8443"));
        assert!(
            exact
                .route(&Url::parse("https://x.api.example.com/").unwrap())
                .1
                .is_none()
        );
    }

    #[test]
    fn literal_private_addresses_are_refused_unless_allowed() {
        let strict = Transport::new(&NetworkPolicy::default()).unwrap();
        assert!(
            strict
                .check_literal(&Url::parse("http://169.254.169.254/").unwrap())
                .is_err()
        );
        assert!(
            strict
                .check_literal(&Url::parse("http://[::ffff:10.0.0.1]/").unwrap())
                .is_err()
        );
        let loopback = Transport::new(&NetworkPolicy::loopback()).unwrap();
        assert!(
            loopback
                .check_literal(&Url::parse("http://127.0.0.1:9/").unwrap())
                .is_ok()
        );
    }

    #[test]
    fn limiter_spaces_requests() {
        let l = RateLimiter::new(10);
        assert_eq!(l.reserve(), Duration::ZERO);
        let second = l.reserve();
        assert!(second > Duration::from_millis(90) && second <= Duration::from_millis(100));
    }
}
