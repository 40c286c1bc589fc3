//! Where a connection's secrets go.
//!
//! Every secret of an auth method is sent somewhere: to the API origin
//! (bearer tokens, API keys, Basic credentials, secret headers, OAuth2
//! access tokens), to the token endpoint (client secret, refresh token), to
//! the authorization page (secrets in its query, such as Paycor's
//! subscription key) or to the revocation endpoint. Those places are
//! templates over the connection's fields, so changing a field can move a
//! secret to another host. An admin who could do that without giving the
//! secret again could send it anywhere; [`moved_secrets`] names what must be
//! given again when a change moves a destination.

use crate::bindings::types::{AuthMethod, AuthScheme};
use crate::manifest::{Manifest, credential_templates, referenced_secrets, render_secret_template};
use serde::Serialize;
use serde_json::Value;
use std::collections::BTreeSet;

/// What a connection's credentials were approved against.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CredentialPin {
    /// SHA-256 of `parts`.
    pub digest: String,
    /// The credential-relevant parts of the manifest, and where they sent
    /// the secrets of this connection.
    pub parts: Value,
}

/// The places one connection's secrets go, rendered from its fields. Secrets
/// inside a URL stay as `{secret.name}`, so two renderings compare equal
/// exactly when the destinations are the same.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct Destinations {
    /// Origin API requests carry credentials to (the base URL's).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub api_origin: Option<String>,
    /// Other origins the manifest marks as credentialed, rendered.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub credentialed_origins: Vec<String>,
    /// OAuth2 token endpoint.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token_url: Option<String>,
    /// OAuth2 authorization page.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub authorize_url: Option<String>,
    /// OAuth2 revocation endpoint.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub revocation_url: Option<String>,
    /// The environment's auth hosts, rendered: where the three endpoints
    /// above may be. Not part of what is recorded.
    #[serde(skip)]
    auth_hosts: Option<(String, Vec<crate::net::allow::OriginPattern>)>,
}

/// Renders a template with fields, keeping secret references as written.
fn render(template: &str, fields: &Value, vars: &[(String, String)]) -> Option<String> {
    render_secret_template(template, fields, vars, &|name| {
        Some(format!("{{secret.{name}}}"))
    })
    .ok()
}

/// Names of the secrets a template sends (`{secret.name}`).
fn referenced(template: &str) -> impl Iterator<Item = String> + '_ {
    referenced_secrets(template).into_iter().map(str::to_string)
}

/// Where `method`'s secrets go for a connection with `fields`.
pub fn destinations(manifest: &Manifest, method: &AuthMethod, fields: &Value) -> Destinations {
    let env = manifest.environment_for(fields).ok();
    let vars: &[(String, String)] = env.as_ref().map_or(&[], |e| e.vars.as_slice());
    let mut out = Destinations {
        api_origin: env
            .as_ref()
            .map(|e| e.base_url.origin().ascii_serialization()),
        credentialed_origins: env.as_ref().map_or_else(Vec::new, |e| {
            e.credentialed
                .iter()
                .skip(1)
                .map(|o| o.to_string())
                .collect()
        }),
        auth_hosts: env.as_ref().map(|e| (e.id.clone(), e.auth_hosts.clone())),
        ..Destinations::default()
    };
    let (oauth, authorize) = match &method.scheme {
        AuthScheme::Oauth2ClientCredentials(o) => (Some(o), None),
        AuthScheme::Oauth2AuthorizationCode(ac) => (Some(&ac.oauth2), Some(ac)),
        _ => (None, None),
    };
    if let Some(o) = oauth {
        out.token_url = render(&o.token_url, fields, vars);
        out.revocation_url = o
            .revocation_url
            .as_deref()
            .and_then(|t| render(t, fields, vars));
    }
    if let Some(ac) = authorize {
        let mut url = render(&ac.authorize_url, fields, vars).unwrap_or_default();
        for (k, v) in &ac.authorize_params {
            url.push_str(&format!(
                " {k}={}",
                render(v, fields, vars).unwrap_or_default()
            ));
        }
        out.authorize_url = Some(url);
    }
    out
}

impl Destinations {
    /// Refuses a token, authorization or revocation URL that breaks the
    /// rules API requests obey (https unless `allow_http`, no user info) or
    /// lies outside the environment's auth hosts, naming it.
    pub fn check(&self, allow_http: bool) -> Result<(), String> {
        for (what, url) in [
            ("token URL", &self.token_url),
            ("authorization URL", &self.authorize_url),
            ("revocation URL", &self.revocation_url),
        ] {
            let Some(url) = url else { continue };
            let first = url.split(' ').next().unwrap_or_default();
            let parsed =
                url::Url::parse(first).map_err(|e| format!("the {what} is not a URL: {e}"))?;
            crate::net::transport::check_host_url(&parsed, allow_http)
                .map_err(|e| format!("the {what}: {e}"))?;
            if let Some((env, hosts)) = &self.auth_hosts
                && !hosts.iter().any(|o| o.matches(&parsed))
            {
                return Err(crate::manifest::outside_auth_hosts(
                    what, &parsed, env, hosts,
                ));
            }
        }
        Ok(())
    }
}

/// What a change of fields does to a connection's secrets.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Move {
    /// Which destinations changed, in words ("the token URL", …).
    pub moved: Vec<&'static str>,
    /// Secrets that would go to a new destination and so must be given
    /// again with the change.
    pub secrets: BTreeSet<String>,
    /// Whether stored OAuth2 tokens would go to a new destination (they are
    /// then forgotten).
    pub tokens: bool,
}

impl Move {
    /// Whether nothing moves.
    pub fn is_empty(&self) -> bool {
        self.moved.is_empty()
    }
}

/// Which of `method`'s secrets a change from `old` to `new` sends somewhere
/// new.
pub fn moved_secrets(method: &AuthMethod, old: &Destinations, new: &Destinations) -> Move {
    let mut out = Move::default();
    let oauth = match &method.scheme {
        AuthScheme::Oauth2ClientCredentials(o) => Some(o),
        AuthScheme::Oauth2AuthorizationCode(ac) => Some(&ac.oauth2),
        _ => None,
    };
    let api_moved = old.api_origin != new.api_origin;
    if api_moved {
        out.moved.push("the API origin");
    }
    // Credentials also go to the credentialed origins: one that is new
    // moves them as the base origin does.
    let credentialed_moved = new
        .credentialed_origins
        .iter()
        .any(|o| !old.credentialed_origins.contains(o));
    if credentialed_moved {
        out.moved.push("the credentialed origins");
    }
    if api_moved || credentialed_moved {
        for (_, template) in credential_templates(method) {
            out.secrets.extend(referenced(template));
        }
        out.tokens |= oauth.is_some();
    }
    if let Some(o) = oauth {
        let endpoint_moved =
            old.token_url != new.token_url || old.revocation_url != new.revocation_url;
        if old.token_url != new.token_url {
            out.moved.push("the token URL");
        }
        if old.revocation_url != new.revocation_url {
            out.moved.push("the revocation URL");
        }
        if endpoint_moved {
            out.secrets.insert(o.client_secret_secret.clone());
            out.secrets.extend(referenced(&o.token_url));
            if let Some(t) = &o.revocation_url {
                out.secrets.extend(referenced(t));
            }
            out.tokens = true;
        }
    }
    if old.authorize_url != new.authorize_url {
        out.moved.push("the authorization URL");
        if let AuthScheme::Oauth2AuthorizationCode(ac) = &method.scheme {
            out.secrets.extend(referenced(&ac.authorize_url));
            for (_, v) in &ac.authorize_params {
                out.secrets.extend(referenced(v));
            }
        }
    }
    // Only secrets the user enters can be given again.
    out.secrets
        .retain(|name| method.secrets.iter().any(|s| &s.name == name));
    out
}

/// Where each secret of `method` goes, in words, from the manifest's
/// templates: what the catalog, `cardhost cards` and `cardhost validate`
/// show, so whoever enters a secret sees where it will be sent.
pub fn describe(manifest: &Manifest, method: &AuthMethod) -> Value {
    use crate::bindings::types::ClientAuth;
    let collect = |f: &dyn Fn(&crate::bindings::types::Environment) -> Vec<String>| -> Vec<String> {
        manifest
            .raw
            .environments
            .iter()
            .flat_map(f)
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect()
    };
    let bases = collect(&|e| vec![e.base_url.clone()]);
    let credentialed = collect(&|e| e.credentialed_hosts.clone());
    let auth_hosts = collect(&|e| e.auth_hosts.clone());
    let list = |l: &[String]| {
        if l.is_empty() {
            "none declared".to_string()
        } else {
            l.join(" or ")
        }
    };
    let api = if credentialed.is_empty() {
        format!("to the base URL's origin only ({})", list(&bases))
    } else {
        format!(
            "to the base URL's origin ({}) and the credentialed origins ({})",
            list(&bases),
            credentialed.join(", ")
        )
    };
    let origins: Vec<String> = bases.iter().chain(&credentialed).cloned().collect();
    let mut goes: std::collections::BTreeMap<String, Vec<String>> = method
        .secrets
        .iter()
        .map(|s| (s.name.clone(), Vec::new()))
        .collect();
    let mut add = |name: &str, text: String| {
        if let Some(list) = goes.get_mut(name) {
            list.push(text);
        }
    };
    for (what, template) in credential_templates(method) {
        for name in referenced(template) {
            add(&name, format!("{what}, {api}"));
        }
    }
    let (oauth, authorize) = match &method.scheme {
        AuthScheme::Oauth2ClientCredentials(o) => (Some(o), None),
        AuthScheme::Oauth2AuthorizationCode(ac) => (Some(&ac.oauth2), Some(ac)),
        _ => (None, None),
    };
    if let Some(o) = oauth {
        let how = match o.client_auth {
            ClientAuth::ClientSecretBasic => "HTTP Basic",
            ClientAuth::ClientSecretPost => "the form body",
        };
        add(
            &o.client_id_secret,
            format!("token URL `{}` (client id, in {how})", o.token_url),
        );
        add(
            &o.client_secret_secret,
            format!("token URL `{}` (in {how})", o.token_url),
        );
        for name in referenced(&o.token_url) {
            add(&name, format!("token URL `{}` (in its query)", o.token_url));
        }
        if let Some(r) = &o.revocation_url {
            add(&o.client_secret_secret, format!("revocation URL `{r}`"));
        }
    }
    if let Some(ac) = authorize {
        let mut names: Vec<String> = referenced(&ac.authorize_url).collect();
        for (_, v) in &ac.authorize_params {
            names.extend(referenced(v));
        }
        for name in names {
            add(
                &name,
                format!(
                    "authorization URL `{}`, which the user's browser opens",
                    ac.authorize_url
                ),
            );
        }
    }
    serde_json::json!({
        "credentialed_origins": origins,
        "auth_hosts": auth_hosts,
        "tokens": oauth.map(|o| format!("access tokens {api}; refresh tokens to token URL `{}`", o.token_url)),
        "secrets": goes
            .into_iter()
            .map(|(name, to)| serde_json::json!({"name": name, "goes_to": to}))
            .collect::<Vec<_>>(),
    })
}

/// The layout of the pinned parts this host writes. Pins written before
/// WIT 0.2 have no `layout` and the 0.1 shapes; [`upgraded`] reads them in
/// this one.
const LAYOUT: u64 = 2;

fn digest_of(parts: &Value) -> String {
    use sha2::{Digest, Sha256};
    hex::encode(Sha256::digest(parts.to_string().as_bytes()))
}

/// The credential-relevant parts of a manifest for a connection using
/// `method`: the auth method itself (scheme, secrets, auth headers,
/// token, authorization and revocation URL templates, scopes) and every
/// environment (base URL, allowed, credentialed and auth host templates,
/// conditions, variables). Their digest is pinned when a connection is
/// made; a connector whose parts differ needs the connection's approval.
/// The pin also records where the secrets went (`destinations`), outside
/// the digest.
pub fn pin(manifest: &Manifest, method: &AuthMethod, fields: &Value) -> CredentialPin {
    let mut environments = manifest.raw.environments.clone();
    let oauth = matches!(
        method.scheme,
        AuthScheme::Oauth2ClientCredentials(_) | AuthScheme::Oauth2AuthorizationCode(_)
    );
    if !oauth {
        // Auth hosts bound OAuth2 endpoints only: nothing of this method's.
        for env in &mut environments {
            env.auth_hosts.clear();
        }
    }
    let parts = serde_json::json!({
        "layout": LAYOUT,
        "auth_method": method,
        "environments": environments,
    });
    let digest = digest_of(&parts);
    let mut parts = parts;
    parts["destinations"] =
        serde_json::to_value(destinations(manifest, method, fields)).unwrap_or(Value::Null);
    CredentialPin { digest, parts }
}

/// Whether a connection pinned with `pinned` may go on with `current`
/// without approval: the same digest, or a pin from before WIT 0.2 that
/// says the same once read in the current layout. A host upgrade alone
/// never asks for approval.
pub fn pin_holds(pinned: &CredentialPin, current: &CredentialPin) -> bool {
    if pinned.digest == current.digest {
        return true;
    }
    if pinned.parts.get("layout").is_some() {
        return false;
    }
    let mut parts = upgraded(&pinned.parts);
    if let Some(o) = parts.as_object_mut() {
        o.remove("destinations");
    }
    digest_of(&parts) == current.digest
}

/// Pinned parts in the current layout. Parts written before WIT 0.2 name
/// secrets where 0.2 has templates (`"Bearer": "token"` is now
/// `"Bearer": "{secret.token}"`), have `secret_headers` where 0.2 has
/// `headers`, and no credentialed or auth hosts: those are filled in as a
/// 0.1 connector is read today (no credentialed hosts; the origins of the
/// method's OAuth2 endpoint templates as auth hosts). A 0.1 connector with
/// two OAuth2 methods on different hosts gets the origins of both as auth
/// hosts, which its pins did not record: such a connection needs approval
/// once, with the added hosts as the difference.
pub fn upgraded(parts: &Value) -> Value {
    use serde_json::json;
    if parts.get("layout").is_some() || !parts["auth_method"].is_object() {
        return parts.clone();
    }
    let secret = |v: &Value| Value::String(format!("{{secret.{}}}", v.as_str().unwrap_or("")));
    let is_secret = |v: &Value| {
        parts["auth_method"]["secrets"]
            .as_array()
            .is_some_and(|all| all.iter().any(|s| s["name"] == *v))
    };
    let mut out = parts.clone();
    let method = &mut out["auth_method"];
    let scheme = method["scheme"].clone();
    method["scheme"] = match scheme {
        Value::Object(o) if o.contains_key("Bearer") => json!({"Bearer": secret(&o["Bearer"])}),
        // 0.1 let the user name be a connection field.
        Value::Object(o) if o.contains_key("Basic") => json!({"Basic": {
            "username": if is_secret(&o["Basic"][0]) {
                secret(&o["Basic"][0])
            } else {
                Value::String(format!("{{{}}}", o["Basic"][0].as_str().unwrap_or("")))
            },
            "password": secret(&o["Basic"][1]),
        }}),
        Value::Object(o) if o.contains_key("ApiKey") => json!({"ApiKey": {
            "value": secret(&o["ApiKey"][0]),
            "location": o["ApiKey"][1].clone(),
        }}),
        other => other,
    };
    let headers: Vec<Value> = method["secret_headers"]
        .as_array()
        .map(|hs| {
            hs.iter()
                .map(|h| json!({"name": h["header"], "value": secret(&h["secret"])}))
                .collect()
        })
        .unwrap_or_default();
    if let Some(m) = method.as_object_mut() {
        m.remove("secret_headers");
        m.insert("headers".into(), Value::Array(headers));
    }
    let mut endpoints: Vec<String> = Vec::new();
    let scheme = &out["auth_method"]["scheme"];
    let oauth = scheme
        .get("Oauth2ClientCredentials")
        .or_else(|| scheme.pointer("/Oauth2AuthorizationCode/oauth2"));
    if let Some(o) = oauth {
        let templates = [
            o.get("token_url"),
            o.get("revocation_url"),
            scheme.pointer("/Oauth2AuthorizationCode/authorize_url"),
        ];
        for t in templates.into_iter().flatten().filter_map(Value::as_str) {
            let origin = crate::bindings::v0_1::origin_template(t);
            if !endpoints.contains(&origin) {
                endpoints.push(origin);
            }
        }
    }
    if let Some(envs) = out["environments"].as_array_mut() {
        for env in envs.iter_mut().filter_map(Value::as_object_mut) {
            env.insert("credentialed_hosts".into(), json!([]));
            env.insert("auth_hosts".into(), json!(endpoints));
        }
    }
    // Objects keep their keys sorted, so where a key is inserted does not
    // change the digest.
    out["layout"] = json!(LAYOUT);
    out
}

/// What differs between two pinned parts, one line per JSON pointer:
/// `/auth_method/scheme/…/token_url: "https://a/token" → "https://b/token"`.
pub fn diff(old: &Value, new: &Value) -> Vec<String> {
    fn walk(pointer: &str, old: &Value, new: &Value, out: &mut Vec<String>) {
        match (old, new) {
            (Value::Object(a), Value::Object(b)) => {
                let keys: BTreeSet<&String> = a.keys().chain(b.keys()).collect();
                for k in keys {
                    let (x, y) = (
                        a.get(k).unwrap_or(&Value::Null),
                        b.get(k).unwrap_or(&Value::Null),
                    );
                    walk(&format!("{pointer}/{k}"), x, y, out);
                }
            }
            (Value::Array(a), Value::Array(b)) if a.len() == b.len() => {
                for (i, (x, y)) in a.iter().zip(b).enumerate() {
                    walk(&format!("{pointer}/{i}"), x, y, out);
                }
            }
            (a, b) if a != b => out.push(format!("{pointer}: {a} → {b}")),
            _ => {}
        }
    }
    let mut out = Vec::new();
    let strip = |v: &Value| {
        let mut v = v.clone();
        if let Some(o) = v.as_object_mut() {
            o.remove("destinations");
        }
        v
    };
    walk("", &strip(&upgraded(old)), &strip(new), &mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn diffs_name_each_changed_pointer() {
        let old =
            serde_json::json!({"a": {"token-url": "https://a/t", "x": 1}, "destinations": {}});
        let new = serde_json::json!({"a": {"token-url": "https://b/t", "x": 1}, "destinations": {"y": 2}});
        assert_eq!(
            diff(&old, &new),
            [r#"/a/token-url: "https://a/t" → "https://b/t""#]
        );
    }

    #[test]
    fn secret_references_are_found_in_templates() {
        let found: Vec<String> =
            referenced("https://x/token?k={secret.subscription_key}&a={field}&b={secret.b}")
                .collect();
        assert_eq!(found, ["subscription_key", "b"]);
    }

    use crate::bindings::v0_1::cardhost::connector::types as old;

    fn legacy_manifest(token_host: &str) -> old::ConnectorManifest {
        let secret = |name: &str| old::SecretField {
            name: name.into(),
            title: name.into(),
            description: String::new(),
            optional: false,
        };
        old::ConnectorManifest {
            id: "acme".into(),
            name: "Acme".into(),
            version: "1.0.0".into(),
            description: String::new(),
            connection_schema: serde_json::json!({"type": "object", "properties": {
                "tenant": {"type": "string"}, "user": {"type": "string"}
            }})
            .to_string(),
            auth_methods: vec![
                old::AuthMethod {
                    id: "oauth".into(),
                    title: "OAuth".into(),
                    scheme: old::AuthScheme::Oauth2AuthorizationCode(
                        old::Oauth2AuthorizationCode {
                            oauth2: old::Oauth2 {
                                token_url: format!("https://{token_host}/token?key={{secret.key}}"),
                                scopes: vec!["read".into()],
                                client_auth: old::ClientAuth::ClientSecretBasic,
                                client_id_secret: "client_id".into(),
                                client_secret_secret: "client_secret".into(),
                                revocation_url: Some(format!("https://{token_host}/revoke")),
                            },
                            authorize_url: "https://login.acme.example/authorize".into(),
                            authorize_params: vec![("key".into(), "{secret.key}".into())],
                        },
                    ),
                    secrets: vec![secret("client_id"), secret("client_secret"), secret("key")],
                    secret_headers: vec![old::SecretHeader {
                        header: "X-Key".into(),
                        secret: "key".into(),
                    }],
                    auth_failure_statuses: vec![403],
                },
                old::AuthMethod {
                    id: "basic".into(),
                    title: "Basic".into(),
                    scheme: old::AuthScheme::Basic(("user".into(), "password".into())),
                    secrets: vec![secret("password")],
                    secret_headers: Vec::new(),
                    auth_failure_statuses: Vec::new(),
                },
            ],
            environments: vec![old::Environment {
                id: "default".into(),
                when: Vec::new(),
                vars: Vec::new(),
                base_url: "https://{tenant}.acme.example".into(),
                allowed_hosts: vec!["https://files.acme.example".into()],
            }],
            permissions: Vec::new(),
            cards: Vec::new(),
        }
    }

    /// The pin a host before 0.2 wrote: the 0.1 shapes, no layout.
    fn legacy_pin(m: &old::ConnectorManifest, method: usize) -> CredentialPin {
        use sha2::{Digest, Sha256};
        let parts = serde_json::json!({
            "auth_method": m.auth_methods[method],
            "environments": m.environments,
        });
        let digest = hex::encode(Sha256::digest(parts.to_string().as_bytes()));
        CredentialPin { digest, parts }
    }

    #[test]
    fn pins_written_before_0_2_hold_for_the_same_connector() {
        use super::{diff, pin, pin_holds};
        let fields = serde_json::json!({"tenant": "t", "user": "u"});
        let old = legacy_manifest("id.acme.example");
        let manifest = crate::manifest::Manifest::validate(old.clone().into()).expect("valid");
        for (i, method) in manifest.raw.auth_methods.iter().enumerate() {
            let pinned = legacy_pin(&old, i);
            let current = pin(&manifest, method, &fields);
            assert!(pin_holds(&pinned, &current), "method {}", method.id);
            assert!(diff(&pinned.parts, &current.parts).is_empty());
        }
        // A legacy pin still catches a real change.
        let moved = legacy_manifest("evil.example");
        let manifest = crate::manifest::Manifest::validate(moved.into()).expect("valid");
        let current = pin(&manifest, &manifest.raw.auth_methods[0], &fields);
        let pinned = legacy_pin(&old, 0);
        assert!(!pin_holds(&pinned, &current));
        let changes = diff(&pinned.parts, &current.parts).join("\n");
        assert!(changes.contains("evil.example"), "{changes}");
    }
}
