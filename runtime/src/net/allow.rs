//! The allow-list: which origins (scheme, host, port) a connection may reach.
//!
//! Patterns are `https://api.example.com`, `https://api.example.com:8443` or
//! `https://*.example.com` (a `*.` prefix wildcard only, matching one or more
//! labels). The `Host` header is never consulted: only the URL the host
//! itself resolved.

use std::fmt;
use url::Url;

/// A parsed origin pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OriginPattern {
    scheme: String,
    /// Lowercase host, without the `*.` prefix when `wildcard` is set.
    host: String,
    wildcard: bool,
    port: u16,
}

impl fmt::Display for OriginPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let star = if self.wildcard { "*." } else { "" };
        write!(f, "{}://{star}{}:{}", self.scheme, self.host, self.port)
    }
}

fn default_port(scheme: &str) -> Option<u16> {
    match scheme {
        "https" => Some(443),
        "http" => Some(80),
        _ => None,
    }
}

impl OriginPattern {
    /// Parses `scheme://host[:port]`, with an optional `*.` host prefix.
    pub fn parse(pattern: &str) -> Result<Self, String> {
        let (scheme, rest) = pattern.split_once("://").ok_or_else(|| {
            format!("allowed host `{pattern}` must look like https://host[:port]")
        })?;
        let scheme = scheme.to_ascii_lowercase();
        let default = default_port(&scheme).ok_or_else(|| {
            format!("allowed host `{pattern}` must use http or https, not `{scheme}`")
        })?;
        let rest = rest.strip_suffix('/').unwrap_or(rest);
        if rest.contains(['/', '?', '#', '@']) {
            return Err(format!(
                "allowed host `{pattern}` must be an origin only: no path, query or user info"
            ));
        }
        let (wildcard, rest) = match rest.strip_prefix("*.") {
            Some(r) => (true, r),
            None => (false, rest),
        };
        let (host, port) = match rest.rsplit_once(':') {
            Some((h, p)) if !h.ends_with(']') || p.chars().all(|c| c.is_ascii_digit()) => {
                let port: u16 = p
                    .parse()
                    .map_err(|_| format!("allowed host `{pattern}` has an invalid port `{p}`"))?;
                (h, port)
            }
            _ => (rest, default),
        };
        if host.contains('*') {
            return Err(format!(
                "allowed host `{pattern}`: `*` is only allowed as a leading `*.`"
            ));
        }
        // Let the URL parser validate the host (IDNA, IP literals).
        let parsed = Url::parse(&format!("{scheme}://{host}/"))
            .map_err(|e| format!("allowed host `{pattern}` has an invalid host: {e}"))?;
        let host = parsed
            .host_str()
            .ok_or_else(|| format!("allowed host `{pattern}` has no host"))?
            .to_ascii_lowercase();
        if wildcard && !host.contains('.') {
            return Err(format!(
                "allowed host `{pattern}`: a wildcard needs at least two labels after `*.`"
            ));
        }
        Ok(Self {
            scheme,
            host,
            wildcard,
            port,
        })
    }

    /// The pattern for exactly the origin of `url`.
    pub fn of_url(url: &Url) -> Option<Self> {
        Some(Self {
            scheme: url.scheme().to_string(),
            host: url.host_str()?.to_ascii_lowercase(),
            wildcard: false,
            port: url.port_or_known_default()?,
        })
    }

    /// Whether `url`'s origin matches.
    pub fn matches(&self, url: &Url) -> bool {
        let Some(host) = url.host_str() else {
            return false;
        };
        let host = host.to_ascii_lowercase();
        if url.scheme() != self.scheme || url.port_or_known_default() != Some(self.port) {
            return false;
        }
        if self.wildcard {
            host.len() > self.host.len() + 1
                && host.ends_with(&self.host)
                && host.as_bytes()[host.len() - self.host.len() - 1] == b'.'
        } else {
            host == self.host
        }
    }
}

/// The origins a connection may reach.
#[derive(Debug, Clone, Default)]
pub struct AllowList {
    patterns: Vec<OriginPattern>,
}

impl AllowList {
    /// An allow-list of these patterns.
    pub fn new(patterns: Vec<OriginPattern>) -> Self {
        Self { patterns }
    }

    /// Whether `url` may be reached.
    pub fn allows(&self, url: &Url) -> bool {
        self.patterns.iter().any(|p| p.matches(url))
    }

    /// The patterns, for messages.
    pub fn describe(&self) -> String {
        let all: Vec<String> = self.patterns.iter().map(ToString::to_string).collect();
        all.join(", ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url(s: &str) -> Url {
        Url::parse(s).unwrap()
    }

    #[test]
    fn exact_origin_with_default_and_explicit_ports() {
        let p = OriginPattern::parse("https://acme.smarthr.jp").unwrap();
        assert!(p.matches(&url("https://acme.smarthr.jp/api/v1/crews")));
        assert!(p.matches(&url("https://ACME.smarthr.jp:443/")));
        assert!(!p.matches(&url("https://acme.smarthr.jp:8443/")));
        assert!(!p.matches(&url("http://acme.smarthr.jp/")));
        assert!(!p.matches(&url("https://acme.smarthr.jp.evil.com/")));
        let p = OriginPattern::parse("http://127.0.0.1:4010").unwrap();
        assert!(p.matches(&url("http://127.0.0.1:4010/x")));
        assert!(!p.matches(&url("http://127.0.0.1:4011/x")));
    }

    #[test]
    fn wildcard_is_prefix_only() {
        let p = OriginPattern::parse("https://*.smarthr.jp").unwrap();
        assert!(p.matches(&url("https://acme.smarthr.jp/")));
        assert!(p.matches(&url("https://a.b.smarthr.jp/")));
        assert!(!p.matches(&url("https://smarthr.jp/")));
        assert!(!p.matches(&url("https://evilsmarthr.jp/")));
        assert!(OriginPattern::parse("https://api.*.com").is_err());
        assert!(OriginPattern::parse("https://*.com").is_err());
    }

    #[test]
    fn malformed_patterns_are_explained() {
        assert!(
            OriginPattern::parse("acme.smarthr.jp")
                .unwrap_err()
                .contains("https://host")
        );
        assert!(
            OriginPattern::parse("ftp://x.com")
                .unwrap_err()
                .contains("http or https")
        );
        assert!(
            OriginPattern::parse("https://x.com:99999")
                .unwrap_err()
                .contains("port")
        );
        assert!(
            OriginPattern::parse("https://x.com/path")
                .unwrap_err()
                .contains("origin only")
        );
        assert!(
            OriginPattern::parse("https://u@x.com")
                .unwrap_err()
                .contains("origin only")
        );
    }
}
