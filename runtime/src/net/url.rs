//! URL and header helpers shared by the broker, the manifest checks and the
//! OAuth2 client: how a guest URL is resolved against a base URL and kept in
//! normal form, how query components are encoded, and which headers a guest
//! may never set.

use crate::bindings::types::Method;
use url::Url;
/// Headers a guest may never set, in any letter case: credentials; what the
/// transport owns (`Host`, framing, hop-by-hop); and headers that change
/// what a request means to a proxy or framework in front of the upstream
/// (method overrides, URL rewrites, forwarding and client-address headers),
/// which would let a card reach what its permissions do not cover.
pub fn is_reserved_header(name: &str) -> bool {
    let name = name.to_ascii_lowercase();
    name.starts_with("x-forwarded-")
        || name.starts_with("proxy-")
        || matches!(
            name.as_str(),
            "authorization"
                | "cookie"
                | "cookie2"
                | "host"
                | "content-length"
                | "transfer-encoding"
                | "connection"
                | "upgrade"
                | "te"
                | "trailer"
                | "trailers"
                | "keep-alive"
                | "expect"
                | "forwarded"
                | "via"
                | "x-real-ip"
                | "true-client-ip"
                | "x-client-ip"
                | "x-cluster-client-ip"
                | "cf-connecting-ip"
                | "fastly-client-ip"
                | "x-http-method-override"
                | "x-http-method"
                | "x-method-override"
                | "x-original-url"
                | "x-original-uri"
                | "x-rewrite-url"
                | "x-original-method"
                | "x-host"
                | "x-original-host"
        )
}

/// Percent-encodes one URL component (RFC 3986 unreserved characters kept).
pub fn encode_component(value: &str) -> String {
    use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
    const COMPONENT: &AsciiSet = &NON_ALPHANUMERIC
        .remove(b'-')
        .remove(b'.')
        .remove(b'_')
        .remove(b'~');
    utf8_percent_encode(value, COMPONENT).to_string()
}

/// The method's name.
pub fn method_name(method: Method) -> &'static str {
    match method {
        Method::Get => "GET",
        Method::Head => "HEAD",
        Method::Post => "POST",
        Method::Put => "PUT",
        Method::Patch => "PATCH",
        Method::Delete => "DELETE",
    }
}

/// The reqwest method of a WIT method.
pub fn to_reqwest(method: Method) -> reqwest::Method {
    match method {
        Method::Get => reqwest::Method::GET,
        Method::Head => reqwest::Method::HEAD,
        Method::Post => reqwest::Method::POST,
        Method::Put => reqwest::Method::PUT,
        Method::Patch => reqwest::Method::PATCH,
        Method::Delete => reqwest::Method::DELETE,
    }
}

/// Refuses a path, still as the guest wrote it, with a segment that any
/// server could take for `.` or `..`: also with parameters (`..;`, `.;x`,
/// which Java servers treat as `..`) and percent-encoded (`%2e%2e`,
/// `..%3b`). The URL parser would quietly resolve plain dot segments away;
/// this names them instead.
pub fn check_raw_path(path: &str) -> Result<(), String> {
    for raw in path.split('/') {
        let decoded = percent_encoding::percent_decode_str(raw).decode_utf8_lossy();
        let bare = decoded.split(';').next().unwrap_or_default();
        if bare == "." || bare == ".." {
            return Err(format!(
                "path `{}` has a dot segment `{raw}`; paths must be in normal form",
                crate::text::truncate(path, 256)
            ));
        }
    }
    Ok(())
}

/// The path part of an absolute URL as written (before the parser
/// normalises it).
fn raw_path_of(target: &str) -> &str {
    let after_scheme = target.find("://").map_or(0, |i| i + 3);
    let rest = &target[after_scheme..];
    let path = rest.find('/').map_or("", |i| &rest[i..]);
    path.split(['?', '#']).next().unwrap_or_default()
}

/// Resolves a guest URL (relative path or absolute URL) and its extra query.
pub fn resolve_url(
    base: Option<&Url>,
    target: &str,
    query: &[(String, String)],
) -> Result<Url, String> {
    let mut url = if target.starts_with('/') && !target.starts_with("//") {
        let base = base.ok_or("this connection has no base URL, so paths cannot be relative")?;
        let mut joined = base.clone();
        let (path, rest) = match target.find(['?', '#']) {
            Some(i) => (&target[..i], &target[i..]),
            None => (target, ""),
        };
        if rest.starts_with('#') {
            return Err("the URL has a fragment".into());
        }
        check_raw_path(path)?;
        let prefix = base.path().trim_end_matches('/');
        joined.set_path(&format!("{prefix}{path}"));
        joined.set_query(rest.strip_prefix('?'));
        joined
    } else if target.starts_with("http://") || target.starts_with("https://") {
        check_raw_path(raw_path_of(target))?;
        Url::parse(target).map_err(|e| format!("not a valid URL: {e}"))?
    } else {
        return Err(format!(
            "`{}` must be a path starting with `/` or an absolute http(s) URL",
            crate::text::truncate(target, 256)
        ));
    };
    if !url.username().is_empty() || url.password().is_some() {
        return Err("URLs may not carry user info".into());
    }
    url.set_fragment(None);
    for (k, v) in query {
        append_query(&mut url, k, v);
    }
    Ok(url)
}

/// Whether `url` stays under the base URL's path: a same-origin URL must be
/// the base path itself or below it, so a card cannot climb out of
/// `https://host/api/v1` into `https://host/admin`.
pub fn within_base_path(base: Option<&Url>, url: &Url) -> Result<(), String> {
    let Some(base) = base else { return Ok(()) };
    let prefix = base.path().trim_end_matches('/');
    if prefix.is_empty() || base.origin() != url.origin() {
        return Ok(());
    }
    match url.path().strip_prefix(prefix) {
        Some(rest) if rest.is_empty() || rest.starts_with('/') => Ok(()),
        _ => Err(format!(
            "path `{}` leaves the base URL's path `{prefix}`",
            crate::text::truncate(url.path(), 256)
        )),
    }
}

/// Appends `k=v` to the query, each percent-encoded per RFC 3986 (a space is
/// `%20`, never `+`, which strict servers read as a plus sign).
pub fn append_query(url: &mut Url, k: &str, v: &str) {
    let pair = format!("{}={}", encode_component(k), encode_component(v));
    let query = match url.query() {
        Some(q) if !q.is_empty() => format!("{q}&{pair}"),
        _ => pair,
    };
    url.set_query(Some(&query));
}

/// The path permissions are matched against: relative to the base URL's path
/// when the URL is under it, else the whole path.
pub fn permission_path(base: Option<&Url>, url: &Url) -> String {
    if let Some(base) = base {
        let prefix = base.path().trim_end_matches('/');
        let same_origin = base.origin() == url.origin();
        if same_origin
            && !prefix.is_empty()
            && let Some(rest) = url.path().strip_prefix(prefix)
            && (rest.is_empty() || rest.starts_with('/'))
        {
            return if rest.is_empty() {
                "/".into()
            } else {
                rest.into()
            };
        }
    }
    url.path().to_string()
}
