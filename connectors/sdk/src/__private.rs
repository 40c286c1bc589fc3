//! Glue between the author's [`Connector`] and the generated bindings. Not
//! part of the public API.

use crate::bindings::cardhost::connector::types as wit;
use crate::bindings::exports::cardhost::connector::triggers as wit_triggers;
use crate::trigger::{Delivery, SignatureEncoding, Verification, find_trigger};
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

pub fn triggers<C: Connector>() -> Vec<wit_triggers::Trigger> {
    C::TRIGGERS
        .iter()
        .map(|t| {
            let e = t.entry();
            wit_triggers::Trigger {
                id: e.id,
                title: e.title,
                description: e.description,
                event_schema: e.event_schema.to_string(),
                permissions: e.permissions,
                polling: e.polling.map(|p| wit_triggers::Polling {
                    default_interval_seconds: p.default_interval_seconds,
                    min_interval_seconds: p.min_interval_seconds,
                }),
                webhook: e.webhook.map(|w| wit_triggers::Webhook {
                    verification: match w.verification {
                        Verification::SharedToken { header } => {
                            wit_triggers::DeliveryVerification::SharedToken(header.into())
                        }
                        Verification::HmacSha256 {
                            signature_header,
                            prefix,
                            encoding,
                            timestamp_header,
                            tolerance_seconds,
                        } => wit_triggers::DeliveryVerification::HmacSha256(
                            wit_triggers::HmacSignature {
                                signature_header: signature_header.into(),
                                prefix: prefix.into(),
                                encoding: match encoding {
                                    SignatureEncoding::Hex => wit_triggers::SignatureEncoding::Hex,
                                    SignatureEncoding::Base64 => {
                                        wit_triggers::SignatureEncoding::Base64
                                    }
                                },
                                timestamp_header: timestamp_header.map(Into::into),
                                tolerance_seconds,
                            },
                        ),
                    },
                    registers: w.registers,
                }),
            }
        })
        .collect()
}

fn raw_event(e: crate::trigger::RawEvent) -> wit_triggers::Event {
    wit_triggers::Event {
        id: e.id,
        occurred_at: e.occurred_at,
        payload: e.payload,
    }
}

pub fn poll<C: Connector>(
    trigger: String,
    cursor: Option<String>,
    ctx: wit::Context,
) -> Result<wit_triggers::PollPage, wit::ConnectorError> {
    let def = find_trigger(C::TRIGGERS, &trigger).map_err(error)?;
    let page = def.poll(cursor.as_deref(), &context(ctx)).map_err(error)?;
    Ok(wit_triggers::PollPage {
        events: page.events.into_iter().map(raw_event).collect(),
        cursor: page.cursor,
        more: page.more,
    })
}

pub fn subscribe<C: Connector>(
    trigger: String,
    target_url: String,
    token: String,
    ctx: wit::Context,
) -> Result<String, wit::ConnectorError> {
    let def = find_trigger(C::TRIGGERS, &trigger).map_err(error)?;
    def.subscribe(&target_url, &token, &context(ctx))
        .map_err(error)
}

pub fn unsubscribe<C: Connector>(
    trigger: String,
    registration: String,
    ctx: wit::Context,
) -> Result<(), wit::ConnectorError> {
    let def = find_trigger(C::TRIGGERS, &trigger).map_err(error)?;
    def.unsubscribe(&registration, &context(ctx)).map_err(error)
}

pub fn parse_delivery<C: Connector>(
    trigger: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
    ctx: wit::Context,
) -> Result<Vec<wit_triggers::Event>, wit::ConnectorError> {
    let def = find_trigger(C::TRIGGERS, &trigger).map_err(error)?;
    let delivery = Delivery { headers, body };
    Ok(def
        .parse_delivery(&delivery, &context(ctx))
        .map_err(error)?
        .into_iter()
        .map(raw_event)
        .collect())
}
