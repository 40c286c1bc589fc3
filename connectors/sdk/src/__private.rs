//! Glue between the author's [`Connector`] and the generated bindings. Not
//! part of the public API.

use crate::bindings::cardhost::connector::types as wit;
use crate::{Access, ApiKeyLocation, AuthScheme, ClientAuth, Connector, Context, Error, OAuth2};

pub use wit_bindgen;

pub fn manifest<C: Connector>() -> wit::ConnectorManifest {
    let m = C::manifest();
    wit::ConnectorManifest {
        id: m.id,
        name: m.name,
        version: m.version,
        description: m.description,
        connection_schema: m.connection_schema.to_string(),
        auth_methods: m
            .auth_methods
            .into_iter()
            .map(|a| wit::AuthMethod {
                id: a.id,
                title: a.title,
                scheme: scheme(a.scheme),
                secrets: a
                    .secrets
                    .into_iter()
                    .map(|s| wit::SecretField {
                        name: s.name,
                        title: s.title,
                        description: s.description,
                        optional: s.optional,
                    })
                    .collect(),
                headers: a
                    .headers
                    .into_iter()
                    .map(|(name, value)| wit::AuthHeader { name, value })
                    .collect(),
                auth_failure_statuses: a.auth_failure_statuses,
            })
            .collect(),
        environments: m
            .environments
            .into_iter()
            .map(|e| wit::Environment {
                id: e.id,
                when: e
                    .when
                    .into_iter()
                    .map(|(field, equals)| wit::FieldCondition { field, equals })
                    .collect(),
                vars: e.vars,
                base_url: e.base_url,
                allowed_hosts: e.allowed_hosts,
                credentialed_hosts: e.credentialed_hosts,
                auth_hosts: e.auth_hosts,
            })
            .collect(),
        permissions: m
            .permissions
            .into_iter()
            .map(|p| wit::Permission {
                id: p.id,
                title: p.title,
                description: p.description,
                rules: p
                    .rules
                    .into_iter()
                    .map(|r| wit::PermissionRule {
                        access: r
                            .access
                            .into_iter()
                            .map(|a| match a {
                                Access::Read => wit::Access::Read,
                                Access::Write => wit::Access::Write,
                            })
                            .collect(),
                        path: r.path,
                    })
                    .collect(),
                granted_by_default: p.granted_by_default,
            })
            .collect(),
        cards: m
            .cards
            .into_iter()
            .map(|c| wit::Card {
                id: c.id,
                title: c.title,
                description: c.description,
                input_schema: c.input_schema.to_string(),
                output_schema: c.output_schema.to_string(),
                permissions: c.permissions,
            })
            .collect(),
        default_headers: m.default_headers,
    }
}

fn oauth2(o: OAuth2) -> wit::Oauth2 {
    wit::Oauth2 {
        token_url: o.token_url,
        scopes: o.scopes,
        client_auth: match o.client_auth {
            ClientAuth::ClientSecretPost => wit::ClientAuth::ClientSecretPost,
            ClientAuth::ClientSecretBasic => wit::ClientAuth::ClientSecretBasic,
        },
        client_id_secret: o.client_id_secret,
        client_secret_secret: o.client_secret_secret,
        revocation_url: o.revocation_url,
    }
}

fn scheme(s: AuthScheme) -> wit::AuthScheme {
    match s {
        AuthScheme::None => wit::AuthScheme::None,
        AuthScheme::Bearer { token } => wit::AuthScheme::Bearer(token),
        AuthScheme::Basic { username, password } => {
            wit::AuthScheme::Basic(wit::BasicCredentials { username, password })
        }
        AuthScheme::ApiKey { value, location } => wit::AuthScheme::ApiKey(wit::ApiKey {
            value,
            location: match location {
                ApiKeyLocation::Header(h) => wit::ApiKeyLocation::Header(h),
                ApiKeyLocation::Query(q) => wit::ApiKeyLocation::Query(q),
            },
        }),
        AuthScheme::OAuth2ClientCredentials(o) => {
            wit::AuthScheme::Oauth2ClientCredentials(oauth2(o))
        }
        AuthScheme::OAuth2AuthorizationCode {
            oauth2: o,
            authorize_url,
            authorize_params,
        } => wit::AuthScheme::Oauth2AuthorizationCode(wit::Oauth2AuthorizationCode {
            oauth2: oauth2(o),
            authorize_url,
            authorize_params,
        }),
    }
}

fn context(c: wit::Context) -> Context {
    Context {
        invocation_id: c.invocation_id,
        connection_id: c.connection_id,
        fields: serde_json::from_str(&c.connection_fields).unwrap_or(serde_json::Value::Null),
        permissions: c.permissions,
        environment: c.environment,
        base_url: c.base_url,
    }
}

fn error(e: Error) -> wit::ConnectorError {
    match e {
        Error::InvalidInput(m) => wit::ConnectorError::InvalidInput(m),
        Error::Unauthorized(m) => wit::ConnectorError::Unauthorized(m),
        Error::Forbidden(m) => wit::ConnectorError::Forbidden(m),
        Error::NotFound(m) => wit::ConnectorError::NotFound(m),
        Error::RateLimited {
            message,
            retry_after_seconds,
        } => wit::ConnectorError::RateLimited(wit::RateLimit {
            message,
            retry_after_seconds,
        }),
        Error::Upstream { status, message } => {
            wit::ConnectorError::Upstream(wit::UpstreamFailure { status, message })
        }
        Error::Internal(m) => wit::ConnectorError::Internal(m),
    }
}

pub fn invoke<C: Connector>(
    card: String,
    input: String,
    ctx: wit::Context,
) -> Result<String, wit::ConnectorError> {
    let ctx = context(ctx);
    // A typed card reads and writes text directly; the rest go through
    // `Connector::invoke` and a `Value`.
    if let Some(def) = C::CARDS.iter().find(|c| c.id == card) {
        return def.run_json(&input, &ctx).map_err(error);
    }
    let input: serde_json::Value = serde_json::from_str(&input)
        .map_err(|e| wit::ConnectorError::InvalidInput(format!("input is not JSON: {e}")))?;
    let output = C::invoke(&card, input, &ctx).map_err(error)?;
    Ok(output.to_string())
}

pub fn test_connection<C: Connector>(ctx: wit::Context) -> wit::ConnectionReport {
    let report = C::test_connection(&context(ctx));
    wit::ConnectionReport {
        ok: report.ok,
        summary: report.summary,
        checks: report
            .checks
            .into_iter()
            .map(|c| wit::Check {
                name: c.name,
                ok: c.ok,
                detail: c.detail,
            })
            .collect(),
    }
}
