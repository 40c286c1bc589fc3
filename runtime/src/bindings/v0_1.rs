//! `cardhost:connector@0.1.0`: connectors built before 0.2 keep loading.
//!
//! Each 0.1 declaration becomes the 0.2 declaration with the same meaning:
//! a secret name becomes the template `{secret.name}`, a secret header an
//! auth header with that template, an environment gets no credentialed
//! hosts besides its base URL's origin (what 0.1 did), and the origins its
//! OAuth2 endpoint templates name become its auth hosts (0.1 had no
//! allow-list, so the endpoints stay where the templates put them). Calls
//! the guest makes are converted to 0.2, run by the same host code (the 0.1
//! `Host` traits are implemented beside the 0.2 ones in `guest/`), and
//! converted back.

wasmtime::component::bindgen!({
    path: "../connectors/sdk/wit/v0.1.0",
    world: "cardhost:connector/connector-world",
    imports: {
        "cardhost:connector/http.send": async | trappable,
        default: trappable,
    },
    exports: { default: async },
    additional_derives: [serde::Serialize],
});

use self::cardhost::connector::{http as old_http, log as old_log, types as old};
use super::{http as new_http, log as new_log, types as new};

fn secret(name: String) -> String {
    format!("{{secret.{name}}}")
}

/// The origin part of a URL template: `https://{api_host}` of
/// `https://{api_host}/sts/token?key={secret.key}`, `{token_url}` of
/// `{token_url}`, `{base_url}` of `{base_url}/oauth/token`.
pub(crate) fn origin_template(template: &str) -> String {
    let start = template.find("://").map_or(0, |i| i + 3);
    let end = template[start..]
        .find(['/', '?', '#'])
        .map_or(template.len(), |i| start + i);
    template[..end].to_string()
}

impl From<old::Method> for new::Method {
    fn from(m: old::Method) -> Self {
        match m {
            old::Method::Get => Self::Get,
            old::Method::Head => Self::Head,
            old::Method::Post => Self::Post,
            old::Method::Put => Self::Put,
            old::Method::Patch => Self::Patch,
            old::Method::Delete => Self::Delete,
        }
    }
}

impl From<old::Access> for new::Access {
    fn from(a: old::Access) -> Self {
        match a {
            old::Access::Read => Self::Read,
            old::Access::Write => Self::Write,
        }
    }
}

impl From<old::Oauth2> for new::Oauth2 {
    fn from(o: old::Oauth2) -> Self {
        Self {
            token_url: o.token_url,
            scopes: o.scopes,
            client_auth: match o.client_auth {
                old::ClientAuth::ClientSecretPost => new::ClientAuth::ClientSecretPost,
                old::ClientAuth::ClientSecretBasic => new::ClientAuth::ClientSecretBasic,
            },
            client_id_secret: o.client_id_secret,
            client_secret_secret: o.client_secret_secret,
            revocation_url: o.revocation_url,
        }
    }
}

/// The 0.2 scheme for a 0.1 one whose method declares `secrets`.
fn scheme(s: old::AuthScheme, secrets: &[old::SecretField]) -> new::AuthScheme {
    type Scheme = new::AuthScheme;
    match s {
        // 0.1 let the Basic user name be a connection field.
        old::AuthScheme::Basic((username, password)) => Scheme::Basic(new::BasicCredentials {
            username: if secrets.iter().any(|s| s.name == username) {
                secret(username)
            } else {
                format!("{{{username}}}")
            },
            password: secret(password),
        }),
        other => other.into(),
    }
}

impl From<old::AuthScheme> for new::AuthScheme {
    fn from(s: old::AuthScheme) -> Self {
        match s {
            old::AuthScheme::None => Self::None,
            old::AuthScheme::Bearer(name) => Self::Bearer(secret(name)),
            old::AuthScheme::Basic((username, password)) => Self::Basic(new::BasicCredentials {
                username: secret(username),
                password: secret(password),
            }),
            old::AuthScheme::ApiKey((name, location)) => Self::ApiKey(new::ApiKey {
                value: secret(name),
                location: match location {
                    old::ApiKeyLocation::Header(h) => new::ApiKeyLocation::Header(h),
                    old::ApiKeyLocation::Query(q) => new::ApiKeyLocation::Query(q),
                },
            }),
            old::AuthScheme::Oauth2ClientCredentials(o) => Self::Oauth2ClientCredentials(o.into()),
            old::AuthScheme::Oauth2AuthorizationCode(ac) => {
                Self::Oauth2AuthorizationCode(new::Oauth2AuthorizationCode {
                    oauth2: ac.oauth2.into(),
                    authorize_url: ac.authorize_url,
                    authorize_params: ac.authorize_params,
                })
            }
        }
    }
}

/// The origin templates of every OAuth2 endpoint `methods` declare.
fn endpoint_origins(methods: &[new::AuthMethod]) -> Vec<String> {
    let mut origins = Vec::new();
    for method in methods {
        for (_, t) in method.scheme.oauth_endpoints() {
            let origin = origin_template(t);
            if !origins.contains(&origin) {
                origins.push(origin);
            }
        }
    }
    origins
}

impl From<old::ConnectorManifest> for new::ConnectorManifest {
    fn from(m: old::ConnectorManifest) -> Self {
        let auth_methods: Vec<new::AuthMethod> = m
            .auth_methods
            .into_iter()
            .map(|a| new::AuthMethod {
                id: a.id,
                title: a.title,
                scheme: scheme(a.scheme, &a.secrets),
                secrets: a
                    .secrets
                    .into_iter()
                    .map(|s| new::SecretField {
                        name: s.name,
                        title: s.title,
                        description: s.description,
                        optional: s.optional,
                    })
                    .collect(),
                headers: a
                    .secret_headers
                    .into_iter()
                    .map(|h| new::AuthHeader {
                        name: h.header,
                        value: secret(h.secret),
                    })
                    .collect(),
                auth_failure_statuses: a.auth_failure_statuses,
            })
            .collect();
        let auth_hosts = endpoint_origins(&auth_methods);
        Self {
            id: m.id,
            name: m.name,
            version: m.version,
            description: m.description,
            connection_schema: m.connection_schema,
            auth_methods,
            environments: m
                .environments
                .into_iter()
                .map(|e| new::Environment {
                    id: e.id,
                    when: e
                        .when
                        .into_iter()
                        .map(|c| new::FieldCondition {
                            field: c.field,
                            equals: c.equals,
                        })
                        .collect(),
                    vars: e.vars,
                    base_url: e.base_url,
                    allowed_hosts: e.allowed_hosts,
                    credentialed_hosts: Vec::new(),
                    auth_hosts: auth_hosts.clone(),
                })
                .collect(),
            permissions: m
                .permissions
                .into_iter()
                .map(|p| new::Permission {
                    id: p.id,
                    title: p.title,
                    description: p.description,
                    rules: p
                        .rules
                        .into_iter()
                        .map(|r| new::PermissionRule {
                            access: r.access.into_iter().map(Into::into).collect(),
                            path: r.path,
                        })
                        .collect(),
                    granted_by_default: p.granted_by_default,
                })
                .collect(),
            cards: m
                .cards
                .into_iter()
                .map(|c| new::Card {
                    id: c.id,
                    title: c.title,
                    description: c.description,
                    input_schema: c.input_schema,
                    output_schema: c.output_schema,
                    permissions: c.permissions,
                })
                .collect(),
            default_headers: Vec::new(),
        }
    }
}

impl From<new::Context> for old::Context {
    fn from(c: new::Context) -> Self {
        Self {
            invocation_id: c.invocation_id,
            connection_id: c.connection_id,
            connection_fields: c.connection_fields,
            permissions: c.permissions,
        }
    }
}

impl From<old::ConnectorError> for new::ConnectorError {
    fn from(e: old::ConnectorError) -> Self {
        match e {
            old::ConnectorError::InvalidInput(m) => Self::InvalidInput(m),
            old::ConnectorError::Unauthorized(m) => Self::Unauthorized(m),
            old::ConnectorError::Forbidden(m) => Self::Forbidden(m),
            old::ConnectorError::NotFound(m) => Self::NotFound(m),
            old::ConnectorError::RateLimited(r) => Self::RateLimited(new::RateLimit {
                message: r.message,
                retry_after_seconds: r.retry_after_seconds,
            }),
            old::ConnectorError::Upstream(u) => Self::Upstream(new::UpstreamFailure {
                status: u.status,
                message: u.message,
            }),
            old::ConnectorError::Internal(m) => Self::Internal(m),
        }
    }
}

impl From<old::ConnectionReport> for new::ConnectionReport {
    fn from(r: old::ConnectionReport) -> Self {
        Self {
            ok: r.ok,
            summary: r.summary,
            checks: r
                .checks
                .into_iter()
                .map(|c| new::Check {
                    name: c.name,
                    ok: c.ok,
                    detail: c.detail,
                })
                .collect(),
        }
    }
}

impl From<old_http::Request> for new_http::Request {
    fn from(r: old_http::Request) -> Self {
        Self {
            method: r.method.into(),
            url: r.url,
            query: r.query,
            headers: r.headers,
            body: r.body,
        }
    }
}

impl From<new_http::Response> for old_http::Response {
    fn from(r: new_http::Response) -> Self {
        Self {
            status: r.status,
            headers: r.headers,
            body: r.body,
        }
    }
}

impl From<old_log::Level> for new_log::Level {
    fn from(level: old_log::Level) -> Self {
        match level {
            old_log::Level::Debug => Self::Debug,
            old_log::Level::Info => Self::Info,
            old_log::Level::Warn => Self::Warn,
            old_log::Level::Error => Self::Error,
        }
    }
}

impl From<new_http::DenialKind> for old_http::DenialKind {
    fn from(k: new_http::DenialKind) -> Self {
        use new_http::DenialKind as N;
        match k {
            N::HostNotAllowed => Self::HostNotAllowed,
            N::PermissionMissing => Self::PermissionMissing,
            N::PrivateAddress => Self::PrivateAddress,
            N::CredentialHeader => Self::CredentialHeader,
            N::MalformedPath => Self::MalformedPath,
            N::CredentialsUnavailable => Self::CredentialsUnavailable,
        }
    }
}

impl From<new_http::HttpError> for old_http::HttpError {
    fn from(e: new_http::HttpError) -> Self {
        use new_http::HttpError as N;
        match e {
            N::Denied(d) => Self::Denied(old_http::Denial {
                kind: d.kind.into(),
                message: d.message,
            }),
            N::InvalidRequest(m) => Self::InvalidRequest(m),
            N::RequestTooLarge(n) => Self::RequestTooLarge(n),
            N::ResponseTooLarge(n) => Self::ResponseTooLarge(n),
            N::Timeout(m) => Self::Timeout(m),
            N::DeadlineExceeded => Self::DeadlineExceeded,
            N::Transport(m) => Self::Transport(m),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoint_templates_give_their_origin() {
        assert_eq!(
            origin_template("https://{api_host}/sts/v1/token?key={secret.k}"),
            "https://{api_host}"
        );
        assert_eq!(origin_template("{token_url}"), "{token_url}");
        assert_eq!(origin_template("{base_url}/oauth/token"), "{base_url}");
        assert_eq!(
            origin_template("https://id.example:8443?x=1"),
            "https://id.example:8443"
        );
    }

    #[test]
    fn secret_names_become_templates_with_the_same_meaning() {
        let scheme: new::AuthScheme =
            old::AuthScheme::Basic(("user".into(), "password".into())).into();
        match scheme {
            new::AuthScheme::Basic(b) => {
                assert_eq!(b.username, "{secret.user}");
                assert_eq!(b.password, "{secret.password}");
            }
            other => panic!("{other:?}"),
        }
    }
}
