//! Connector manifests: validation at load, and the templates that turn a
//! connection's fields into base URLs and allowed hosts.
//!
//! A manifest comes from a guest, so it is untrusted: its size is capped and
//! every part is checked before the host uses any of it. Problems are
//! collected, not stopped at, so an author sees them all at once.

use crate::bindings::types::{self as wit, AuthScheme};
use crate::net::allow::OriginPattern;
use permission::{CompiledPermission, PathPattern};
use serde_json::Value;
use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;
use url::Url;

pub mod permission;
pub mod triggers;

pub use triggers::TriggerSpec;

pub use cardhost_rules::defaults::with_defaults;
use cardhost_rules::names::is_semver;
pub use cardhost_rules::names::{is_kebab_id, is_name};
pub use cardhost_rules::template::{Piece, pieces, placeholders, referenced_secrets};

/// Id of the raw-request card the host adds to every connector; no
/// connector may declare a card with it.
pub const CUSTOM_API_ACTION: &str = "custom-api-action";

/// Largest manifest accepted, counted as the bytes of all its text.
pub const MAX_MANIFEST_BYTES: usize = 2 << 20;

/// A manifest that passed validation, with its schemas compiled.
#[derive(Debug)]
pub struct Manifest {
    /// The manifest as the connector declared it.
    pub raw: wit::ConnectorManifest,
    /// Connection-field schema, parsed.
    pub connection_schema: Value,
    connection_validator: jsonschema::Validator,
    /// Cards by id.
    pub cards: BTreeMap<String, Arc<CardSpec>>,
    /// Triggers in declaration order (WIT 0.3 and later), with their event
    /// schemas compiled.
    pub triggers: Vec<Arc<TriggerSpec>>,
    /// Permissions by id, with their rules parsed.
    pub permissions: BTreeMap<String, CompiledPermission>,
    /// What is allowed but probably a mistake, for `cardhost validate`.
    pub warnings: Vec<String>,
    /// The default headers, compiled.
    pub default_headers: Arc<[(reqwest::header::HeaderName, reqwest::header::HeaderValue)]>,
}

/// One card, with its schemas parsed and compiled.
#[derive(Debug)]
pub struct CardSpec {
    /// As declared.
    pub card: wit::Card,
    /// Input schema.
    pub input_schema: Value,
    /// Output schema.
    pub output_schema: Value,
    input_validator: jsonschema::Validator,
    output_validator: jsonschema::Validator,
}

/// A manifest the registry refuses, with every problem found.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid manifest: {}", problems.join("; "))]
pub struct ManifestError {
    /// Each problem, naming the part of the manifest it is in.
    pub problems: Vec<String>,
}

/// One failed schema check: where and why.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct SchemaViolation {
    /// JSON pointer of the offending value (empty for the whole document).
    pub pointer: String,
    /// What is wrong with it.
    pub message: String,
}

impl std::fmt::Display for SchemaViolation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let at = if self.pointer.is_empty() {
            "/"
        } else {
            &self.pointer
        };
        write!(f, "{at}: {}", self.message)
    }
}

/// Validates `value` and lists every violation. A valid value (the common
/// case) takes the validator's fast path; error paths and messages are
/// built only for one that fails.
pub fn violations(validator: &jsonschema::Validator, value: &Value) -> Vec<SchemaViolation> {
    if validator.is_valid(value) {
        return Vec::new();
    }
    validator
        .iter_errors(value)
        .map(|e| SchemaViolation {
            pointer: e.instance_path().to_string(),
            message: e.to_string(),
        })
        .collect()
}

fn compile_schema(
    text: &str,
    what: &str,
    problems: &mut Vec<String>,
) -> Option<(Value, jsonschema::Validator)> {
    let value: Value = match serde_json::from_str(text) {
        Ok(v) => v,
        Err(e) => {
            problems.push(format!("{what}: not JSON: {e}"));
            return None;
        }
    };
    match jsonschema::options()
        .should_validate_formats(true)
        .build(&value)
    {
        Ok(v) => Some((value, v)),
        Err(e) => {
            problems.push(format!("{what}: not a valid JSON Schema: {e}"));
            None
        }
    }
}

fn text_size(m: &wit::ConnectorManifest) -> usize {
    // Serialising is the simplest faithful measure of everything in it.
    serde_json::to_vec(m).map(|v| v.len()).unwrap_or(usize::MAX)
}

impl Manifest {
    /// Validates a manifest a connector returned, without triggers.
    pub fn validate(raw: wit::ConnectorManifest) -> Result<Self, ManifestError> {
        Self::validate_with_triggers(raw, Vec::new())
    }

    /// Validates a manifest and the triggers a connector returned.
    pub fn validate_with_triggers(
        raw: wit::ConnectorManifest,
        raw_triggers: Vec<crate::bindings::triggers::Trigger>,
    ) -> Result<Self, ManifestError> {
        let mut problems = Vec::new();
        let size = text_size(&raw)
            + serde_json::to_vec(&raw_triggers)
                .map(|v| v.len())
                .unwrap_or(usize::MAX);
        if size > MAX_MANIFEST_BYTES {
            return Err(ManifestError {
                problems: vec![format!(
                    "manifest is {size} bytes, over the {MAX_MANIFEST_BYTES}-byte limit"
                )],
            });
        }
        if !is_kebab_id(&raw.id) {
            problems.push(format!(
                "connector id `{}` must be lowercase kebab-case (e.g. `smarthr`, `fourth-scim`)",
                raw.id
            ));
        }
        if raw.name.trim().is_empty() || raw.name.len() > 100 {
            problems.push("connector name must be 1 to 100 characters".into());
        }
        if !is_semver(&raw.version) {
            problems.push(format!(
                "connector version `{}` must be semver (e.g. `1.2.0`)",
                raw.version
            ));
        }

        let connection = compile_schema(&raw.connection_schema, "connection schema", &mut problems);
        let field_names: HashSet<String> = connection
            .as_ref()
            .and_then(|(v, _)| v.get("properties"))
            .and_then(Value::as_object)
            .map(|props| props.keys().cloned().collect())
            .unwrap_or_default();

        let mut permissions = BTreeMap::new();
        for p in &raw.permissions {
            if !is_name(&p.id) {
                problems.push(format!(
                    "permission id `{}` must be lowercase letters, digits, `-` or `_`",
                    p.id
                ));
            }
            if p.rules.is_empty() {
                problems.push(format!("permission `{}` has no rules", p.id));
            }
            let mut rules = Vec::new();
            for rule in &p.rules {
                if rule.access.is_empty() {
                    problems.push(format!("permission `{}` has a rule with no access", p.id));
                }
                match PathPattern::parse(&rule.path) {
                    Ok(pattern) => rules.push((rule.access.clone(), pattern)),
                    Err(e) => problems.push(format!("permission `{}`: {e}", p.id)),
                }
            }
            let compiled = CompiledPermission {
                id: p.id.clone(),
                rules,
            };
            if permissions.insert(p.id.clone(), compiled).is_some() {
                problems.push(format!("permission id `{}` is declared twice", p.id));
            }
        }

        let mut cards = BTreeMap::new();
        let mut card_ids = HashSet::new();
        for c in &raw.cards {
            if !card_ids.insert(c.id.as_str()) {
                problems.push(format!("card id `{}` is declared twice", c.id));
            }
            if !is_kebab_id(&c.id) {
                problems.push(format!("card id `{}` must be lowercase kebab-case", c.id));
            }
            if c.id == CUSTOM_API_ACTION {
                problems.push(format!(
                    "card id `{}` is reserved for the host's Custom API Action",
                    c.id
                ));
            }
            if c.title.trim().is_empty() {
                problems.push(format!("card `{}` has no title", c.id));
            }
            for perm in &c.permissions {
                if !permissions.contains_key(perm) {
                    problems.push(format!(
                        "card `{}` needs permission `{perm}`, which the manifest does not declare{}",
                        c.id,
                        crate::text::suggestion(perm, permissions.keys().map(String::as_str))
                    ));
                }
            }
            let input = compile_schema(
                &c.input_schema,
                &format!("card `{}` input schema", c.id),
                &mut problems,
            );
            let output = compile_schema(
                &c.output_schema,
                &format!("card `{}` output schema", c.id),
                &mut problems,
            );
            if let (Some(input), Some(output)) = (input, output) {
                cards.insert(
                    c.id.clone(),
                    Arc::new(CardSpec::from_parts(c.clone(), input, output)),
                );
            }
        }

        let triggers = triggers::validate(&raw_triggers, &permissions, &card_ids, &mut problems);
        validate_auth(&raw, &field_names, &mut problems);
        validate_environments(&raw, &field_names, &mut problems);
        let default_headers = compile_default_headers(&raw, &mut problems);

        match (problems.is_empty(), connection) {
            (true, Some((connection_schema, connection_validator))) => Ok(Self {
                warnings: warnings(&raw),
                raw,
                connection_schema,
                connection_validator,
                cards,
                triggers,
                permissions,
                default_headers: default_headers.into(),
            }),
            _ => Err(ManifestError { problems }),
        }
    }

    /// The connector id.
    pub fn id(&self) -> &str {
        &self.raw.id
    }

    /// Checks connection fields against the schema and the URL templates.
    pub fn check_connection_fields(&self, fields: &Value) -> Result<(), Vec<SchemaViolation>> {
        let mut found = violations(&self.connection_validator, fields);
        if found.is_empty()
            && let Err(e) = self.environment_for(fields)
        {
            found.push(SchemaViolation {
                pointer: e.pointer,
                message: e.message,
            });
        }
        if found.is_empty() { Ok(()) } else { Err(found) }
    }

    /// The environment a connection's fields select, rendered.
    pub fn environment_for(&self, fields: &Value) -> Result<ResolvedEnvironment, TemplateError> {
        let env = self
            .raw
            .environments
            .iter()
            .find(|e| {
                e.when
                    .iter()
                    .all(|c| field_text(fields, &c.field).as_deref() == Some(c.equals.as_str()))
            })
            .ok_or_else(|| TemplateError {
                pointer: String::new(),
                message: "no environment of this connector matches these connection fields".into(),
            })?;
        let vars = TemplateVars {
            fields,
            env_vars: &env.vars,
        };
        let base_url = render_url(&env.base_url, &vars)?;
        let base = OriginPattern::of_url(&base_url);
        let credentialed: Vec<OriginPattern> = base
            .iter()
            .cloned()
            .chain(render_origins(&env.credentialed_hosts, &vars)?)
            .collect();
        let mut allowed = credentialed.clone();
        allowed.extend(render_origins(&env.allowed_hosts, &vars)?);
        Ok(ResolvedEnvironment {
            id: env.id.clone(),
            base_url,
            allowed,
            credentialed,
            auth_hosts: render_origins(&env.auth_hosts, &vars)?,
            vars: env.vars.clone(),
        })
    }

    /// The trigger `id`.
    pub fn trigger(&self, id: &str) -> Option<&Arc<TriggerSpec>> {
        self.triggers.iter().find(|t| t.trigger.id == id)
    }

    /// Validates a card input.
    pub fn check_input(&self, card: &CardSpec, input: &Value) -> Vec<SchemaViolation> {
        let _ = self;
        violations(&card.input_validator, input)
    }
}

impl CardSpec {
    /// A card with its schemas compiled, or every problem with them.
    pub fn compile(card: wit::Card) -> Result<Self, ManifestError> {
        let mut problems = Vec::new();
        let input = compile_schema(
            &card.input_schema,
            &format!("card `{}` input schema", card.id),
            &mut problems,
        );
        let output = compile_schema(
            &card.output_schema,
            &format!("card `{}` output schema", card.id),
            &mut problems,
        );
        match (input, output) {
            (Some(input), Some(output)) => Ok(Self::from_parts(card, input, output)),
            _ => Err(ManifestError { problems }),
        }
    }

    fn from_parts(
        card: wit::Card,
        (input_schema, input_validator): (Value, jsonschema::Validator),
        (output_schema, output_validator): (Value, jsonschema::Validator),
    ) -> Self {
        Self {
            card,
            input_schema,
            output_schema,
            input_validator,
            output_validator,
        }
    }

    /// Validates an output against the card's output schema.
    pub fn check_output(&self, output: &Value) -> Vec<SchemaViolation> {
        violations(&self.output_validator, output)
    }

    /// Validates an input against the card's input schema.
    pub fn check_input(&self, input: &Value) -> Vec<SchemaViolation> {
        violations(&self.input_validator, input)
    }
}

/// The environment of one connection, with its templates rendered.
#[derive(Debug, Clone)]
pub struct ResolvedEnvironment {
    /// Environment id.
    pub id: String,
    /// Base URL relative paths resolve against.
    pub base_url: Url,
    /// Allowed origins, base URL's first.
    pub allowed: Vec<OriginPattern>,
    /// Origins whose requests carry credentials, base URL's first.
    pub credentialed: Vec<OriginPattern>,
    /// Origins the OAuth2 endpoints may be on.
    pub auth_hosts: Vec<OriginPattern>,
    /// Environment template variables.
    pub vars: Vec<(String, String)>,
}

impl ResolvedEnvironment {
    /// Whether requests to `url` carry the connection's credentials.
    pub fn is_credentialed(&self, url: &Url) -> bool {
        self.credentialed.iter().any(|o| o.matches(url))
    }

    /// Refuses an OAuth2 endpoint (`what`: "token URL", …) outside the
    /// environment's auth hosts.
    pub fn check_auth_endpoint(&self, what: &str, url: &Url) -> Result<(), String> {
        if self.auth_hosts.iter().any(|o| o.matches(url)) {
            return Ok(());
        }
        Err(outside_auth_hosts(what, url, &self.id, &self.auth_hosts))
    }
}

/// Why an OAuth2 endpoint (`what`) at `url` is refused in environment `env`.
pub fn outside_auth_hosts(what: &str, url: &Url, env: &str, hosts: &[OriginPattern]) -> String {
    let hosts: Vec<String> = hosts.iter().map(|o| o.to_string()).collect();
    format!(
        "the {what} `{}` is not on an auth host of environment `{env}` ({})",
        url.origin().ascii_serialization(),
        if hosts.is_empty() {
            "it declares none".to_string()
        } else {
            hosts.join(", ")
        }
    )
}

/// Renders origin-pattern templates (`https://{api_host}`,
/// `https://*.example.com`, or a whole-URL field such as `{token_url}`,
/// which stands for that URL's origin).
fn render_origins(
    templates: &[String],
    vars: &TemplateVars<'_>,
) -> Result<Vec<OriginPattern>, TemplateError> {
    templates
        .iter()
        .map(|pattern| {
            let rendered = render_url(pattern, vars)?;
            let origin = rendered.origin().ascii_serialization();
            let pattern_text = if pattern.contains("://*.") {
                origin.replacen("://", "://*.", 1)
            } else {
                origin
            };
            OriginPattern::parse(&pattern_text).map_err(|message| TemplateError {
                pointer: String::new(),
                message,
            })
        })
        .collect()
}

/// What a manifest may declare but an author probably did not mean.
fn warnings(raw: &wit::ConnectorManifest) -> Vec<String> {
    let mut found = Vec::new();
    if !raw.environments.is_empty() {
        for card in raw.cards.iter().filter(|c| c.permissions.is_empty()) {
            found.push(format!(
                "card `{}` names no permission, so every upstream request it makes is refused",
                card.id
            ));
        }
    }
    found
}

fn validate_auth(
    raw: &wit::ConnectorManifest,
    fields: &HashSet<String>,
    problems: &mut Vec<String>,
) {
    let mut ids = HashSet::new();
    for method in &raw.auth_methods {
        if !is_name(&method.id) {
            problems.push(format!(
                "auth method id `{}` is not a valid name",
                method.id
            ));
        }
        if !ids.insert(method.id.clone()) {
            problems.push(format!("auth method id `{}` is declared twice", method.id));
        }
        let secrets: HashSet<&str> = method.secrets.iter().map(|s| s.name.as_str()).collect();
        for s in &method.secrets {
            if !is_name(&s.name) {
                problems.push(format!("secret name `{}` is not a valid name", s.name));
            }
        }
        let optional: HashSet<&str> = method
            .secrets
            .iter()
            .filter(|s| s.optional)
            .map(|s| s.name.as_str())
            .collect();
        let mut missing = Vec::new();
        let mut need = |name: &str, what: &str, field_ok: bool| {
            let known = secrets.contains(name) || (field_ok && fields.contains(name));
            if !known {
                let candidates = secrets
                    .iter()
                    .copied()
                    .chain(fields.iter().map(String::as_str).filter(|_| field_ok));
                missing.push(format!(
                    "auth method `{}`: {what} `{name}` is not one of its secrets{}{}",
                    method.id,
                    if field_ok {
                        " or connection fields"
                    } else {
                        ""
                    },
                    crate::text::suggestion(name, candidates)
                ));
            } else if optional.contains(name) {
                missing.push(format!(
                    "auth method `{}`: {what} `{name}` is optional, but the scheme sends it on every request; make it required",
                    method.id
                ));
            }
        };
        match &method.scheme {
            AuthScheme::Oauth2ClientCredentials(o) => {
                need(&o.client_id_secret, "client id", true);
                need(&o.client_secret_secret, "client secret", false);
            }
            AuthScheme::Oauth2AuthorizationCode(ac) => {
                need(&ac.oauth2.client_id_secret, "client id", true);
                need(&ac.oauth2.client_secret_secret, "client secret", false);
            }
            _ => {}
        }
        let oauth = match &method.scheme {
            AuthScheme::Oauth2ClientCredentials(o) => Some((o, None)),
            AuthScheme::Oauth2AuthorizationCode(ac) => Some((&ac.oauth2, Some(ac))),
            _ => None,
        };
        let mut templates: Vec<(String, &str)> = credential_templates(method);
        if let Some((o, code)) = oauth {
            templates.push(("token URL".into(), o.token_url.as_str()));
            templates.extend(o.scopes.iter().map(|t| ("scope".into(), t.as_str())));
            templates.extend(
                o.revocation_url
                    .iter()
                    .map(|t| ("revocation URL".into(), t.as_str())),
            );
            if let Some(ac) = code {
                templates.push(("authorize URL".into(), ac.authorize_url.as_str()));
                templates.extend(
                    ac.authorize_params
                        .iter()
                        .map(|(_, v)| ("authorize parameter".into(), v.as_str())),
                );
            }
        }
        {
            let vars: HashSet<&str> = raw
                .environments
                .iter()
                .flat_map(|e| e.vars.iter().map(|(k, _)| k.as_str()))
                .collect();
            for (what, template) in templates {
                let names = match placeholders(template) {
                    Ok(names) => names,
                    Err(e) => {
                        problems.push(format!("auth method `{}`: {what}: {e}", method.id));
                        continue;
                    }
                };
                for name in names {
                    match name.strip_prefix("secret.") {
                        Some(secret) => need(secret, &format!("{what} secret"), false),
                        None if fields.contains(&name) || vars.contains(name.as_str()) => {}
                        None => problems.push(format!(
                            "auth method `{}`: {what} `{template}` uses `{{{name}}}`, which is not a connection field or environment variable{}",
                            method.id,
                            crate::text::suggestion(
                                &name,
                                fields.iter().map(String::as_str).chain(vars.iter().copied())
                            )
                        )),
                    }
                }
            }
        }
        problems.append(&mut missing);
        for h in &method.headers {
            if crate::net::url::is_reserved_header(&h.name) {
                problems.push(format!(
                    "auth method `{}`: header `{}` is reserved for the host",
                    method.id, h.name
                ));
            } else if reqwest::header::HeaderName::from_bytes(h.name.as_bytes()).is_err() {
                problems.push(format!(
                    "auth method `{}`: `{}` is not a valid header name",
                    method.id, h.name
                ));
            }
        }
    }
}

/// The manifest's default headers, compiled; problems named.
fn compile_default_headers(
    raw: &wit::ConnectorManifest,
    problems: &mut Vec<String>,
) -> Vec<(reqwest::header::HeaderName, reqwest::header::HeaderValue)> {
    use reqwest::header::{HeaderName, HeaderValue};
    let mut out = Vec::new();
    for (name, value) in &raw.default_headers {
        let lower = name.to_ascii_lowercase();
        let auth_sets = raw.auth_methods.iter().any(|m| {
            m.headers.iter().any(|h| h.name.eq_ignore_ascii_case(name))
                || matches!(&m.scheme, AuthScheme::ApiKey(k)
                    if matches!(&k.location, wit::ApiKeyLocation::Header(h) if h.eq_ignore_ascii_case(name)))
        });
        if crate::net::url::is_reserved_header(&lower) || auth_sets {
            problems.push(format!(
                "default header `{name}` is one the host or an auth method sets"
            ));
            continue;
        }
        match (
            HeaderName::from_bytes(lower.as_bytes()),
            HeaderValue::from_str(value),
        ) {
            (Ok(n), Ok(v)) => out.push((n, v)),
            (Err(_), _) => problems.push(format!(
                "default header `{name}` is not a valid header name"
            )),
            (_, Err(_)) => problems.push(format!(
                "default header `{name}` has a value with characters not allowed in a header"
            )),
        }
    }
    out
}

fn validate_environments(
    raw: &wit::ConnectorManifest,
    fields: &HashSet<String>,
    problems: &mut Vec<String>,
) {
    let uses_http = raw.cards.iter().any(|c| !c.permissions.is_empty());
    if raw.environments.is_empty() && uses_http {
        problems.push(
            "cards use permissions but the manifest declares no environment (base URL)".into(),
        );
    }
    for env in &raw.environments {
        let known = |name: &str| fields.contains(name) || env.vars.iter().any(|(k, _)| k == name);
        for c in &env.when {
            if !fields.contains(&c.field) {
                problems.push(format!(
                    "environment `{}` depends on field `{}`, which the connection schema does not declare",
                    env.id, c.field
                ));
            }
        }
        let host_templates = || {
            env.allowed_hosts
                .iter()
                .chain(&env.credentialed_hosts)
                .chain(&env.auth_hosts)
        };
        for template in std::iter::once(&env.base_url).chain(host_templates()) {
            match placeholders(template) {
                Ok(names) => {
                    for name in names {
                        if name.starts_with("secret.") {
                            problems.push(format!(
                                "environment `{}`: `{template}` may not use secrets",
                                env.id
                            ));
                        } else if !known(&name) {
                            problems.push(format!(
                                "environment `{}`: `{template}` uses `{{{name}}}`, which is neither a connection field nor a variable",
                                env.id
                            ));
                        }
                    }
                }
                Err(e) => problems.push(format!("environment `{}`: {e}", env.id)),
            }
        }
        for pattern in host_templates() {
            if !pattern.contains('{')
                && let Err(e) = OriginPattern::parse(pattern)
            {
                problems.push(format!("environment `{}`: {e}", env.id));
            }
        }
        validate_auth_hosts(raw, env, problems);
    }
}

/// Every environment of a manifest with OAuth2 declares where its
/// endpoints may be, and a fixed endpoint lies on a fixed auth host.
fn validate_auth_hosts(
    raw: &wit::ConnectorManifest,
    env: &wit::Environment,
    problems: &mut Vec<String>,
) {
    let endpoints: Vec<(&str, &str)> = raw
        .auth_methods
        .iter()
        .flat_map(|m| m.scheme.oauth_endpoints())
        .collect();
    if endpoints.is_empty() {
        return;
    }
    if env.auth_hosts.is_empty() {
        problems.push(format!(
            "environment `{}` declares no auth hosts, but an auth method uses OAuth2: name the origins its token{} URLs may be on",
            env.id,
            if endpoints.len() > 1 { ", authorize and revocation" } else { "" }
        ));
        return;
    }
    let fixed: Vec<OriginPattern> = env
        .auth_hosts
        .iter()
        .filter(|p| !p.contains('{'))
        .filter_map(|p| OriginPattern::parse(p).ok())
        .collect();
    if fixed.len() != env.auth_hosts.len() {
        return; // a templated auth host is checked per connection
    }
    for (what, template) in endpoints {
        if template.contains('{') {
            continue;
        }
        if let Ok(url) = Url::parse(template)
            && !fixed.iter().any(|o| o.matches(&url))
        {
            problems.push(format!(
                "environment `{}`: the {what} `{template}` is not on one of its auth hosts ({})",
                env.id,
                env.auth_hosts.join(", ")
            ));
        }
    }
}

/// A template that could not be rendered for a connection.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct TemplateError {
    /// JSON pointer of the connection field at fault, if one is.
    pub pointer: String,
    /// What is wrong.
    pub message: String,
}

/// Every credential template of `method` that goes with API requests (the
/// scheme's and the auth headers'), each with what it is, in words.
pub fn credential_templates(method: &wit::AuthMethod) -> Vec<(String, &str)> {
    use wit::ApiKeyLocation;
    let mut out: Vec<(String, &str)> = match &method.scheme {
        AuthScheme::Bearer(t) => vec![("`Authorization: Bearer` header".into(), t.as_str())],
        AuthScheme::Basic(b) => vec![
            (
                "`Authorization: Basic` user name".into(),
                b.username.as_str(),
            ),
            (
                "`Authorization: Basic` password".into(),
                b.password.as_str(),
            ),
        ],
        AuthScheme::ApiKey(k) => vec![(
            match &k.location {
                ApiKeyLocation::Header(h) => format!("`{h}` header"),
                ApiKeyLocation::Query(q) => format!("`{q}` query parameter"),
            },
            k.value.as_str(),
        )],
        _ => Vec::new(),
    };
    out.extend(
        method
            .headers
            .iter()
            .map(|h| (format!("`{}` header", h.name), h.value.as_str())),
    );
    out
}

/// Renders a credential template (a header value, a Basic part, an API
/// key) with fields, environment variables and secrets, as plain text.
pub fn render_credential(
    template: &str,
    fields: &Value,
    env_vars: &[(String, String)],
    secret: &dyn Fn(&str) -> Option<String>,
) -> Result<String, String> {
    render(template, fields, env_vars, secret, false)
}

/// Renders `template`; with `url`, a value placed after the `?` is
/// percent-encoded as a query component.
fn render(
    template: &str,
    fields: &Value,
    env_vars: &[(String, String)],
    secret: &dyn Fn(&str) -> Option<String>,
    url: bool,
) -> Result<String, String> {
    let mut out = String::new();
    for piece in pieces(template)? {
        let value = match piece {
            Piece::Text(t) => {
                out.push_str(t);
                continue;
            }
            Piece::Secret(s) => secret(s).ok_or_else(|| format!("secret `{s}` is not set"))?,
            Piece::Var(name) => var_text(fields, env_vars, name)?,
        };
        if url && out.contains('?') {
            out.push_str(&crate::net::url::encode_component(&value));
        } else {
            out.push_str(&value);
        }
    }
    Ok(out)
}

fn var_text(fields: &Value, env_vars: &[(String, String)], name: &str) -> Result<String, String> {
    match env_vars.iter().find(|(k, _)| k == name) {
        Some((_, v)) => Ok(v.clone()),
        None => {
            field_text(fields, name).ok_or_else(|| format!("connection field `{name}` is not set"))
        }
    }
}

/// A connection field rendered as template text: strings as they are,
/// booleans and numbers as JSON.
pub fn field_text(fields: &Value, name: &str) -> Option<String> {
    match fields.get(name)? {
        Value::String(s) => Some(s.clone()),
        Value::Bool(b) => Some(b.to_string()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

struct TemplateVars<'a> {
    fields: &'a Value,
    env_vars: &'a [(String, String)],
}

impl TemplateVars<'_> {
    fn get(&self, name: &str) -> Option<(String, bool)> {
        if let Some((_, v)) = self.env_vars.iter().find(|(k, _)| k == name) {
            return Some((v.clone(), false));
        }
        field_text(self.fields, name).map(|v| (v, true))
    }
}

/// Where in a URL a placeholder sits, which decides what its value may hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Slot {
    /// The whole URL starts with it (`{base_url}/scim`): an http(s) URL.
    WholeUrl,
    /// Inside the host: one DNS label.
    HostLabel,
    /// In the path or query: one path segment.
    PathSegment,
}

fn check_value(name: &str, value: &str, slot: Slot) -> Result<(), String> {
    match slot {
        Slot::WholeUrl => {
            let url = Url::parse(value).map_err(|e| format!("`{value}` is not a URL: {e}"))?;
            if !matches!(url.scheme(), "http" | "https") {
                return Err(format!("`{value}` must be an http(s) URL"));
            }
            if !url.username().is_empty() || url.password().is_some() {
                return Err(format!("`{value}` must not contain user info"));
            }
            if url.fragment().is_some() || url.query().is_some() {
                return Err(format!("`{value}` must not have a query or fragment"));
            }
            Ok(())
        }
        Slot::HostLabel => {
            let ok = !value.is_empty()
                && value.len() <= 63
                && value.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
                && !value.starts_with('-')
                && !value.ends_with('-');
            if ok {
                Ok(())
            } else {
                Err(format!(
                    "`{value}` cannot be used in a host name: only letters, digits and inner hyphens are allowed in `{name}`"
                ))
            }
        }
        Slot::PathSegment => {
            let bad = value.is_empty()
                || value == "."
                || value == ".."
                || value.contains(['/', '\\', '?', '#', '%', '@'])
                || value.chars().any(char::is_control);
            if bad {
                Err(format!(
                    "`{value}` cannot be used as a path segment in `{name}`"
                ))
            } else {
                Ok(())
            }
        }
    }
}

fn render_url(template: &str, vars: &TemplateVars<'_>) -> Result<Url, TemplateError> {
    let scheme_end = template.find("://");
    let host_end = scheme_end.map(|s| {
        template[s + 3..]
            .find(['/', '?'])
            .map_or(template.len(), |i| s + 3 + i)
    });
    let mut out = String::new();
    let mut rest = template;
    let mut offset = 0;
    while let Some(open) = rest.find('{') {
        let close = rest[open..]
            .find('}')
            .map(|c| open + c)
            .ok_or_else(|| TemplateError {
                pointer: String::new(),
                message: format!("template `{template}` has an unclosed `{{`"),
            })?;
        let name = &rest[open + 1..close];
        let at = offset + open;
        let slot = if at == 0 {
            Slot::WholeUrl
        } else if scheme_end.is_some_and(|s| at > s) && host_end.is_some_and(|h| at < h) {
            Slot::HostLabel
        } else {
            Slot::PathSegment
        };
        let (value, from_field) = vars.get(name).ok_or_else(|| TemplateError {
            pointer: format!("/{name}"),
            message: format!("connection field `{name}` is required to build `{template}`"),
        })?;
        if from_field {
            check_value(name, &value, slot).map_err(|message| TemplateError {
                pointer: format!("/{name}"),
                message,
            })?;
        }
        out.push_str(&rest[..open]);
        out.push_str(if slot == Slot::WholeUrl {
            value.trim_end_matches('/')
        } else {
            &value
        });
        offset += close + 1;
        rest = &rest[close + 1..];
    }
    out.push_str(rest);
    let url = Url::parse(&out).map_err(|e| TemplateError {
        pointer: String::new(),
        message: format!("`{out}` (from `{template}`) is not a URL: {e}"),
    })?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
        return Err(TemplateError {
            pointer: String::new(),
            message: format!("`{out}` must be an http(s) URL with a host"),
        });
    }
    Ok(url)
}

/// Renders a host-only template (token URL, authorize params) with fields,
/// environment variables and secrets. The result never reaches a guest.
pub fn render_secret_template(
    template: &str,
    fields: &Value,
    env_vars: &[(String, String)],
    secret: &dyn Fn(&str) -> Option<String>,
) -> Result<String, String> {
    render(template, fields, env_vars, secret, true)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn vars<'a>(fields: &'a Value, env: &'a [(String, String)]) -> TemplateVars<'a> {
        TemplateVars {
            fields,
            env_vars: env,
        }
    }

    #[test]
    fn host_templates_refuse_injection() {
        let t = "https://{tenant_id}.smarthr.jp";
        let ok = json!({"tenant_id": "acme-1"});
        assert_eq!(
            render_url(t, &vars(&ok, &[])).unwrap().as_str(),
            "https://acme-1.smarthr.jp/"
        );
        for evil in ["evil.com/x", "a@b", "evil.com:80", "a.b", "", "-x", "x%2f"] {
            let f = json!({"tenant_id": evil});
            let err = render_url(t, &vars(&f, &[])).unwrap_err();
            assert_eq!(err.pointer, "/tenant_id", "{evil}");
        }
    }

    #[test]
    fn whole_url_templates_take_urls_without_userinfo() {
        let t = "{base_url}";
        let ok = json!({"base_url": "https://scim.example.com/v2/"});
        assert_eq!(
            render_url(t, &vars(&ok, &[])).unwrap().as_str(),
            "https://scim.example.com/v2"
        );
        for evil in [
            "https://u:p@x.com",
            "ftp://x.com",
            "not a url",
            "https://x.com/?a=1",
        ] {
            let f = json!({"base_url": evil});
            assert!(render_url(t, &vars(&f, &[])).is_err(), "{evil}");
        }
    }

    #[test]
    fn environment_vars_are_trusted_and_fields_select_environments() {
        let env = vec![(
            "api_host".to_string(),
            "apis-sandbox.paycor.com".to_string(),
        )];
        let f = json!({"sandbox": true});
        assert_eq!(
            render_url("https://{api_host}", &vars(&f, &env))
                .unwrap()
                .as_str(),
            "https://apis-sandbox.paycor.com/"
        );
    }

    #[test]
    fn secret_templates_encode_query_values() {
        let out = render_secret_template(
            "https://{api_host}/sts/v1/common/token?subscription-key={secret.key}",
            &json!({}),
            &[("api_host".into(), "apis.paycor.com".into())],
            &|name| (name == "key").then(|| "a&b c".to_string()),
        )
        .unwrap();
        assert_eq!(
            out,
            "https://apis.paycor.com/sts/v1/common/token?subscription-key=a%26b%20c"
        );
        assert!(render_secret_template("{secret.none}", &json!({}), &[], &|_| None).is_err());
    }

    #[test]
    fn ids_and_versions() {
        assert!(is_kebab_id("fourth-scim"));
        assert!(!is_kebab_id("Bad Manifest!"));
        assert!(!is_kebab_id("a--b"));
        assert!(is_semver("1.2.3-beta.1"));
        assert!(!is_semver("not-semver"));
        assert_eq!(placeholders("https://{a}.x/{b}").unwrap(), vec!["a", "b"]);
        assert!(placeholders("https://{a.x").is_err());
    }

    #[test]
    fn defaults_fill_only_missing_fields() {
        let schema = json!({"properties": {
            "token_url": {"type": "string", "default": "https://id.example/token"},
            "base_url": {"type": "string"}
        }});
        assert_eq!(
            with_defaults(&schema, &json!({"base_url": "https://api"})).into_owned(),
            json!({"base_url": "https://api", "token_url": "https://id.example/token"})
        );
        assert_eq!(
            with_defaults(&schema, &json!({"token_url": "https://mine"})).into_owned(),
            json!({"token_url": "https://mine"})
        );
        assert_eq!(
            with_defaults(&schema, &Value::Null).into_owned(),
            json!({"token_url": "https://id.example/token"})
        );
    }

    fn oauth_manifest(token_url: &str, optional_secret: bool) -> wit::ConnectorManifest {
        let secret = |name: &str, optional| wit::SecretField {
            name: name.into(),
            title: name.into(),
            description: String::new(),
            optional,
        };
        wit::ConnectorManifest {
            id: "acme".into(),
            name: "Acme".into(),
            version: "1.0.0".into(),
            description: String::new(),
            connection_schema:
                json!({"type": "object", "properties": {"tenant": {"type": "string"}}}).to_string(),
            auth_methods: vec![wit::AuthMethod {
                id: "client".into(),
                title: "Client".into(),
                scheme: AuthScheme::Oauth2ClientCredentials(wit::Oauth2 {
                    token_url: token_url.into(),
                    scopes: Vec::new(),
                    client_auth: wit::ClientAuth::ClientSecretPost,
                    client_id_secret: "client_id".into(),
                    client_secret_secret: "client_secret".into(),
                    revocation_url: None,
                }),
                secrets: vec![
                    secret("client_id", false),
                    secret("client_secret", optional_secret),
                ],
                headers: Vec::new(),
                auth_failure_statuses: Vec::new(),
            }],
            environments: vec![wit::Environment {
                id: "default".into(),
                when: Vec::new(),
                vars: Vec::new(),
                base_url: "https://{tenant}.acme.example".into(),
                allowed_hosts: Vec::new(),
                credentialed_hosts: Vec::new(),
                auth_hosts: vec![crate::bindings::v0_1::origin_template(token_url)],
            }],
            permissions: vec![wit::Permission {
                id: "items-read".into(),
                title: "Read items".into(),
                description: String::new(),
                rules: vec![wit::PermissionRule {
                    access: vec![wit::Access::Read],
                    path: "/items/*".into(),
                }],
                granted_by_default: true,
            }],
            cards: vec![wit::Card {
                id: "read-item".into(),
                title: "Read item".into(),
                description: String::new(),
                input_schema: json!({"type": "object"}).to_string(),
                output_schema: json!({}).to_string(),
                permissions: vec!["item-read".into()],
            }],
            default_headers: Vec::new(),
        }
    }

    fn problems(raw: wit::ConnectorManifest) -> Vec<String> {
        Manifest::validate(raw).expect_err("refused").problems
    }

    #[test]
    fn mistakes_an_author_makes_are_named_with_a_suggestion() {
        let found = problems(oauth_manifest("https://{tenat}.acme.example/token", true));
        let all = found.join("\n");
        assert!(
            all.contains("needs permission `item-read`")
                && all.contains("did you mean `items-read`?"),
            "{all}"
        );
        assert!(
            all.contains("`{tenat}`") && all.contains("did you mean `tenant`?"),
            "{all}"
        );
        assert!(
            all.contains("client secret `client_secret` is optional"),
            "{all}"
        );
        let mut fixed = oauth_manifest(
            "https://{tenant}.acme.example/token?k={secret.client_secre}",
            false,
        );
        fixed.cards[0].permissions = vec!["items-read".into()];
        let all = problems(fixed).join("\n");
        assert!(
            all.contains("`client_secre`") && all.contains("did you mean `client_secret`?"),
            "{all}"
        );
    }

    #[test]
    fn credential_templates_default_headers_and_auth_hosts_are_checked() {
        let mut m = oauth_manifest("https://{tenant}.acme.example/token", false);
        m.cards[0].permissions = vec!["items-read".into()];
        let secret = |name: &str, optional| wit::SecretField {
            name: name.into(),
            title: name.into(),
            description: String::new(),
            optional,
        };
        m.auth_methods.push(wit::AuthMethod {
            id: "key".into(),
            title: "Key".into(),
            scheme: AuthScheme::Basic(wit::BasicCredentials {
                username: "{secret.key}".into(),
                password: "{secret.pin}".into(),
            }),
            secrets: vec![secret("key", false), secret("pin", true)],
            headers: vec![wit::AuthHeader {
                name: "X-Account".into(),
                value: "{tenat}".into(),
            }],
            auth_failure_statuses: Vec::new(),
        });
        m.default_headers = vec![
            ("Authorization".into(), "Basic abc".into()),
            ("X-Account".into(), "a".into()),
            ("Bad Header".into(), "a".into()),
            ("Accept".into(), "application/json".into()),
        ];
        let all = problems(m.clone()).join("\n");
        for expected in [
            "`pin` is optional, but the scheme sends it",
            "`{tenat}`",
            "did you mean `tenant`?",
            "default header `Authorization` is one the host or an auth method sets",
            "default header `X-Account` is one the host or an auth method sets",
            "default header `Bad Header` is not a valid header name",
        ] {
            assert!(all.contains(expected), "{expected} in:\n{all}");
        }
        assert!(!all.contains("`Accept`"), "{all}");

        // OAuth2 needs auth hosts, and a fixed endpoint must be on one.
        let mut m = oauth_manifest("https://login.acme.example/token", false);
        m.cards[0].permissions = vec!["items-read".into()];
        m.environments[0].auth_hosts.clear();
        let all = problems(m.clone()).join("\n");
        assert!(all.contains("declares no auth hosts"), "{all}");
        m.environments[0].auth_hosts = vec!["https://id.acme.example".into()];
        let all = problems(m.clone()).join("\n");
        assert!(
            all.contains(
                "the token URL `https://login.acme.example/token` is not on one of its auth hosts"
            ),
            "{all}"
        );
        m.environments[0].auth_hosts = vec!["https://*.acme.example".into()];
        Manifest::validate(m).expect("the endpoint is on a wildcard auth host");
    }

    #[test]
    fn a_card_without_permissions_is_a_warning() {
        let mut raw = oauth_manifest("https://{tenant}.acme.example/token", false);
        raw.cards[0].permissions = Vec::new();
        let manifest = Manifest::validate(raw).expect("valid");
        assert_eq!(manifest.warnings.len(), 1, "{:?}", manifest.warnings);
        assert!(manifest.warnings[0].contains("card `read-item` names no permission"));
    }
}
