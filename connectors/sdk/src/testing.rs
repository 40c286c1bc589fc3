//! Testing connectors natively (not on wasm): the host's side of a card run,
//! close enough that a unit test catches what `cardhost validate` and an
//! end-to-end run would.
//!
//! - [`mock_http`] answers the card's requests; [`json`] builds answers.
//! - [`invoke`] runs a card as the host does: input checked against the
//!   card's input schema, every request checked against the card's
//!   permissions (the host's rules: `*` and `{name}` match one segment, a
//!   trailing `**` any number; reads are GET/HEAD, writes
//!   POST/PUT/PATCH/DELETE), output checked against its output schema.
//! - [`check_manifest`] checks a manifest the way the host's registry does.
//!
//! ```
//! use cardhost_sdk::testing::{check_manifest, invoke, json, mock_http};
//! # use cardhost_sdk::{Connector, Context, Manifest, manifest};
//! # struct Empty;
//! # impl Connector for Empty { fn manifest() -> Manifest { manifest!("empty", "Empty") } }
//! check_manifest::<Empty>();
//! ```

use crate::card::did_you_mean;
use crate::http::{HttpError, Method, Request, Response};
use crate::manifest::{Access, Manifest, Permission};
use crate::{Connector, Context, Error, Result, Value};
use cardhost_rules::defaults::with_defaults;
use cardhost_rules::names::{is_kebab_id, is_name, is_semver};
use cardhost_rules::path::PathPattern;
use cardhost_rules::template::placeholders;
use std::cell::RefCell;

pub use crate::transport::{mock_http, take_logs};

/// A JSON answer with status `status`, for [`mock_http`] handlers. A `null`
/// body is sent as no body.
pub fn json(status: u16, body: Value) -> Result<Response> {
    Ok(Response {
        status,
        headers: vec![("content-type".into(), "application/json".into())],
        body: if body.is_null() {
            Vec::new()
        } else {
            body.to_string().into_bytes()
        },
    })
}

/// What the running card may send: set by [`invoke`] for its duration.
struct Scope {
    card: String,
    usable: Vec<Permission>,
    declared: Vec<Permission>,
}

thread_local! {
    static SCOPE: RefCell<Option<Scope>> = const { RefCell::new(None) };
}

/// Clears the scope when [`invoke`] returns, even by a panic.
struct ScopeGuard;

impl Drop for ScopeGuard {
    fn drop(&mut self) {
        SCOPE.with(|s| s.borrow_mut().take());
    }
}

/// The path a request's permission is matched on: the URL's path, without
/// query or fragment.
fn request_path(url: &str) -> &str {
    let rest = match url.find("://") {
        Some(i) => {
            let after = &url[i + 3..];
            after.find('/').map_or("/", |j| &after[j..])
        }
        None => url,
    };
    rest.split(['?', '#']).next().unwrap_or(rest)
}

/// Splits a path into segments exactly as the host does (a relative one
/// as if under the base URL).
fn normalise(path: &str) -> std::result::Result<Vec<String>, String> {
    let path = if path.starts_with('/') {
        path.to_string()
    } else {
        format!("/{path}")
    };
    cardhost_rules::path::normalise(&path).map_err(|e| e.to_string())
}

fn allows(permission: &Permission, access: Access, path: &[String]) -> bool {
    permission.rules.iter().any(|r| {
        r.access.contains(&access)
            && PathPattern::parse(&r.path).is_ok_and(|pattern| pattern.matches(path))
    })
}

fn access_of(method: Method) -> Access {
    match method {
        Method::Get | Method::Head => Access::Read,
        _ => Access::Write,
    }
}

/// Called by the native transport before the mock sees a request: refuses
/// what the running card's permissions do not allow, as the broker would.
pub(crate) fn check_request(request: &Request) -> Result<()> {
    SCOPE.with(|scope| {
        let scope = scope.borrow();
        let Some(scope) = scope.as_ref() else {
            return Ok(());
        };
        let method = request.method.as_str();
        let path = request_path(&request.url);
        let denied = |why: String| -> Result<()> {
            Err(HttpError::Denied(format!("{method} {path}: {why}")).into())
        };
        let segments = match normalise(path) {
            Ok(s) => s,
            Err(why) => return denied(why),
        };
        let access = access_of(request.method);
        if scope.usable.iter().any(|p| allows(p, access, &segments)) {
            return Ok(());
        }
        let ungranted: Vec<&str> = scope
            .declared
            .iter()
            .filter(|p| allows(p, access, &segments))
            .map(|p| p.id.as_str())
            .collect();
        if ungranted.is_empty() {
            denied(format!(
                "no permission card `{}` declares allows it",
                scope.card
            ))
        } else {
            denied(format!(
                "missing permission `{}` (declared by the card, not granted to this connection)",
                ungranted.join("`, `")
            ))
        }
    })
}

fn compile(schema: &Value) -> std::result::Result<jsonschema::Validator, String> {
    jsonschema::options()
        .should_validate_formats(true)
        .build(schema)
        .map_err(|e| e.to_string())
}

/// Every way `value` misses `schema`, as `pointer: message`.
fn violations(schema: &Value, value: &Value) -> Vec<String> {
    match compile(schema) {
        Ok(v) => v
            .iter_errors(value)
            .map(|e| {
                let at = e.instance_path().to_string();
                format!("{}: {e}", if at.is_empty() { "/" } else { &at })
            })
            .collect(),
        Err(e) => vec![format!("the schema does not compile: {e}")],
    }
}

/// Whether `input` fits the input schema of card `card` of `C`; the error
/// lists each violation with its JSON pointer, as the host's would.
pub fn check_input<C: Connector>(
    card: &str,
    input: &Value,
) -> std::result::Result<(), Vec<String>> {
    let manifest = C::manifest();
    let entry = manifest
        .cards
        .iter()
        .find(|c| c.id == card)
        .unwrap_or_else(|| panic!("connector `{}` has no card `{card}`", manifest.id));
    let found = violations(&entry.input_schema, input);
    if found.is_empty() { Ok(()) } else { Err(found) }
}

/// Runs card `card` of connector `C` as the host would.
///
/// - The input gets the schema's top-level `default`s where a property is
///   missing, then is checked against the card's input schema; a misfit is
///   an [`Error::InvalidInput`] listing each violation, and the card does
///   not run.
/// - The connection's grant is `ctx.permissions`, or every declared
///   permission when that is empty (as from [`Context::for_test`]); the card
///   sees the card's permissions ∩ the grant, and each request the card
///   sends that they do not allow is refused before [`mock_http`] sees it,
///   as [`Error::Forbidden`] `refused by cardhost: …`.
/// - The output is checked against the card's output schema; a misfit is
///   an [`Error::Internal`] (a bug in the card).
pub fn invoke<C: Connector>(card: &str, input: Value, ctx: &Context) -> Result<Value> {
    let manifest = C::manifest();
    let Some(entry) = manifest.cards.iter().find(|c| c.id == card) else {
        return Err(Error::InvalidInput(format!(
            "connector `{}` has no card `{card}`{}",
            manifest.id,
            did_you_mean(card, manifest.cards.iter().map(|c| c.id.as_str()))
        )));
    };
    let input = with_defaults(&entry.input_schema, &input).into_owned();
    let refused = violations(&entry.input_schema, &input);
    if !refused.is_empty() {
        return Err(Error::InvalidInput(format!(
            "the input does not fit the card's schema: {}",
            refused.join("; ")
        )));
    }
    let (ctx, _guard) = enter_scope(&manifest, card, &entry.permissions, ctx);
    // As in the component: a typed card from its input text to its output
    // text, the others through `Connector::invoke`.
    let output = match C::CARDS.iter().find(|c| c.id == card) {
        Some(def) => {
            let text = def.run_json(&input.to_string(), &ctx)?;
            serde_json::from_str(&text).map_err(|e| {
                Error::Internal(format!(
                    "card `{card}` returned output that is not JSON: {e}"
                ))
            })?
        }
        None => C::invoke(card, input, &ctx)?,
    };
    let misfits = violations(&entry.output_schema, &output);
    if !misfits.is_empty() {
        return Err(Error::Internal(format!(
            "card `{card}` returned output that does not fit its output schema: {}",
            misfits.join("; ")
        )));
    }
    Ok(output)
}

/// Sets up the permission scope of `name` (a card or a trigger) that
/// declares `permissions`, as the host would: the declared ones ∩ the
/// grant (`ctx.permissions`, or all when empty). Returns the context the
/// guest sees; the scope ends when the guard drops.
fn enter_scope(
    manifest: &Manifest,
    name: &str,
    permissions: &[String],
    ctx: &Context,
) -> (Context, ScopeGuard) {
    let granted = |id: &str| ctx.permissions.is_empty() || ctx.permissions.iter().any(|p| p == id);
    let declared: Vec<Permission> = manifest
        .permissions
        .iter()
        .filter(|p| permissions.contains(&p.id))
        .cloned()
        .collect();
    let usable: Vec<Permission> = declared
        .iter()
        .filter(|p| granted(&p.id))
        .cloned()
        .collect();
    let mut ctx = ctx.clone();
    ctx.permissions = usable.iter().map(|p| p.id.clone()).collect();
    SCOPE.with(|s| {
        *s.borrow_mut() = Some(Scope {
            card: name.to_string(),
            usable,
            declared,
        })
    });
    (ctx, ScopeGuard)
}

/// Polls trigger `trigger` of connector `C` from `cursor` as the host
/// would: within the trigger's permissions ∩ the grant, and every event's
/// payload checked against the trigger's event schema (a misfit, an empty
/// or overlong id, or a second event with one id is an
/// [`Error::Internal`], a bug in the trigger). Payloads come back as JSON.
pub fn poll<C: Connector>(
    trigger: &str,
    cursor: Option<&str>,
    ctx: &Context,
) -> Result<crate::Page<Value>> {
    let manifest = C::manifest();
    let def = crate::trigger::find_trigger(C::TRIGGERS, trigger)?;
    let entry = def.entry();
    let (ctx, _guard) = enter_scope(&manifest, trigger, &entry.permissions, ctx);
    let page = def.poll(cursor, &ctx)?;
    let events = checked_events(&entry, page.events)?;
    Ok(crate::Page {
        events,
        cursor: page.cursor,
        more: page.more,
    })
}

/// Reads `delivery` with trigger `trigger` of `C`, as [`poll`] checks.
pub fn parse_delivery<C: Connector>(
    trigger: &str,
    delivery: &crate::Delivery,
    ctx: &Context,
) -> Result<Vec<crate::Event<Value>>> {
    let manifest = C::manifest();
    let def = crate::trigger::find_trigger(C::TRIGGERS, trigger)?;
    let entry = def.entry();
    let (ctx, _guard) = enter_scope(&manifest, trigger, &entry.permissions, ctx);
    checked_events(&entry, def.parse_delivery(delivery, &ctx)?)
}

fn checked_events(
    entry: &crate::TriggerEntry,
    events: Vec<crate::trigger::RawEvent>,
) -> Result<Vec<crate::Event<Value>>> {
    let mut seen = std::collections::HashSet::new();
    events
        .into_iter()
        .map(|e| {
            let bug = |what: String| Error::Internal(format!("trigger `{}`: {what}", entry.id));
            if e.id.is_empty() || e.id.len() > 200 {
                return Err(bug(format!("event id `{}` is not 1 to 200 bytes", e.id)));
            }
            if !seen.insert(e.id.clone()) {
                return Err(bug(format!("event id `{}` is returned twice", e.id)));
            }
            let payload: Value = serde_json::from_str(&e.payload)
                .map_err(|err| bug(format!("event `{}` is not JSON: {err}", e.id)))?;
            let misfits = violations(&entry.event_schema, &payload);
            if !misfits.is_empty() {
                return Err(bug(format!(
                    "event `{}` does not fit the event schema: {}",
                    e.id,
                    misfits.join("; ")
                )));
            }
            Ok(crate::Event::new(e.id, e.occurred_at, payload))
        })
        .collect()
}

/// Every problem the host's registry would find in `manifest`, plus cards of
/// `cards` missing from it.
pub fn manifest_problems(manifest: &Manifest, cards: crate::Cards) -> Vec<String> {
    let mut problems = Vec::new();
    let mut problem = |p: String| problems.push(p);
    if !is_kebab_id(&manifest.id) {
        problem(format!(
            "connector id `{}` must be lowercase kebab-case",
            manifest.id
        ));
    }
    if manifest.name.trim().is_empty() || manifest.name.len() > 100 {
        problem("connector name must be 1 to 100 characters".into());
    }
    if !is_semver(&manifest.version) {
        problem(format!(
            "connector version `{}` must be semver",
            manifest.version
        ));
    }
    if let Err(e) = compile(&manifest.connection_schema) {
        problem(format!("connection schema is not a valid JSON Schema: {e}"));
    }
    let fields: Vec<String> = manifest
        .connection_schema
        .get("properties")
        .and_then(Value::as_object)
        .map(|p| p.keys().cloned().collect())
        .unwrap_or_default();

    let mut permission_ids: Vec<&str> = Vec::new();
    for p in &manifest.permissions {
        if !is_name(&p.id) {
            problem(format!(
                "permission id `{}` must be lowercase letters, digits, `-` or `_`",
                p.id
            ));
        }
        if permission_ids.contains(&p.id.as_str()) {
            problem(format!("permission id `{}` is declared twice", p.id));
        }
        permission_ids.push(&p.id);
        if p.rules.is_empty() {
            problem(format!("permission `{}` has no rules", p.id));
        }
        for rule in &p.rules {
            if rule.access.is_empty() {
                problem(format!("permission `{}` has a rule with no access", p.id));
            }
            if let Err(why) = PathPattern::parse(&rule.path) {
                problem(format!("permission `{}`: {why}", p.id));
            }
        }
    }

    let mut card_ids: Vec<&str> = Vec::new();
    for c in &manifest.cards {
        if card_ids.contains(&c.id.as_str()) {
            problem(format!("card id `{}` is declared twice", c.id));
        }
        card_ids.push(&c.id);
        if !is_kebab_id(&c.id) {
            problem(format!("card id `{}` must be lowercase kebab-case", c.id));
        }
        if c.id == "custom-api-action" {
            problem(format!(
                "card id `{}` is reserved for the host's Custom API Action",
                c.id
            ));
        }
        if c.title.trim().is_empty() {
            problem(format!("card `{}` has no title", c.id));
        }
        if c.permissions.is_empty() && !manifest.permissions.is_empty() {
            problem(format!(
                "card `{}` names no permission, so the host will refuse every request it makes",
                c.id
            ));
        }
        for perm in &c.permissions {
            if !permission_ids.contains(&perm.as_str()) {
                problem(format!(
                    "card `{}` needs permission `{perm}`, which the manifest does not declare{}",
                    c.id,
                    did_you_mean(perm, permission_ids.iter().copied())
                ));
            }
        }
        for (what, schema) in [("input", &c.input_schema), ("output", &c.output_schema)] {
            if let Err(e) = compile(schema) {
                problem(format!(
                    "card `{}` {what} schema is not a valid JSON Schema: {e}",
                    c.id
                ));
            }
        }
    }
    for def in cards {
        if !card_ids.contains(&def.id) {
            problem(format!(
                "card `{}` is in the connector's CARDS but not in its manifest: add `.cards(Self::CARDS)`",
                def.id
            ));
        }
    }

    for env in &manifest.environments {
        let vars: Vec<&str> = env.vars.iter().map(|(k, _)| k.as_str()).collect();
        for (field, _) in &env.when {
            if !fields.contains(field) {
                problem(format!(
                    "environment `{}` depends on field `{field}`, which the connection schema does not declare",
                    env.id
                ));
            }
        }
        let uses_oauth = manifest.auth_methods.iter().any(|m| {
            matches!(
                m.scheme,
                crate::AuthScheme::OAuth2ClientCredentials(_)
                    | crate::AuthScheme::OAuth2AuthorizationCode { .. }
            )
        });
        if uses_oauth && env.auth_hosts.is_empty() {
            problem(format!(
                "environment `{}` declares no auth hosts, but an auth method uses OAuth2: add `.auth_host(..)` with the origins of its token URLs",
                env.id
            ));
        }
        let templates = std::iter::once(&env.base_url)
            .chain(&env.allowed_hosts)
            .chain(&env.credentialed_hosts)
            .chain(&env.auth_hosts);
        for name in templates.flat_map(|t| placeholders(t).unwrap_or_default()) {
            if !fields.contains(&name) && !vars.contains(&name.as_str()) {
                problem(format!(
                    "environment `{}` uses `{{{name}}}`, which is neither a connection field nor a variable{}",
                    env.id,
                    did_you_mean(
                        &name,
                        fields
                            .iter()
                            .map(String::as_str)
                            .chain(vars.iter().copied())
                    )
                ));
            }
        }
    }
    problems
}

/// Panics with every problem [`manifest_problems`] finds in `C`'s manifest:
/// call it in a unit test so a broken manifest fails `cargo test`, not the
/// host.
pub fn check_manifest<C: Connector>() {
    let problems = manifest_problems(&C::manifest(), C::CARDS);
    assert!(
        problems.is_empty(),
        "the manifest has problems:\n- {}",
        problems.join("\n- ")
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Card, CardEntry, Cards, NoInput, cards, manifest};
    use serde_json::json;

    #[test]
    fn the_path_a_permission_sees() {
        assert_eq!(request_path("https://h.example/a/b?c=d"), "/a/b");
        assert_eq!(request_path("/a?x=/y"), "/a");
        assert_eq!(normalise("items/a").unwrap(), ["items", "a"]);
        assert!(normalise("/users/%2e%2e;x/crews").is_err());
    }

    struct Fetch;

    impl Card for Fetch {
        type Input = serde_json::Map<String, Value>;
        type Output = Value;
        const ID: &'static str = "fetch";
        const TITLE: &'static str = "Fetch";
        const DESCRIPTION: &'static str = "Sends what it is told.";
        const PERMISSIONS: &'static [&'static str] = &["items-read", "items-write"];
        fn run(input: Self::Input, _: &Context) -> Result<Value> {
            let method = Method::parse(input["method"].as_str().unwrap()).unwrap();
            let response = Request::new(method, input["url"].as_str().unwrap()).send()?;
            Ok(json!({"status": response.status}))
        }
    }

    struct Shaped;

    #[derive(serde::Deserialize, schemars::JsonSchema)]
    #[serde(deny_unknown_fields)]
    struct Count {
        #[schemars(range(min = 1, max = 10))]
        n: u32,
    }

    #[derive(serde::Serialize, schemars::JsonSchema)]
    struct Out {
        #[schemars(range(max = 5))]
        n: u32,
    }

    impl Card for Shaped {
        type Input = Count;
        type Output = Out;
        const ID: &'static str = "shaped";
        const TITLE: &'static str = "Shaped";
        const DESCRIPTION: &'static str = "Echoes a number.";
        const PERMISSIONS: &'static [&'static str] = &["items-read"];
        fn run(input: Count, _: &Context) -> Result<Out> {
            Ok(Out { n: input.n })
        }
    }

    struct Items;

    impl Connector for Items {
        const CARDS: Cards = cards![Fetch, Shaped];
        fn manifest() -> Manifest {
            manifest!("items", "Items")
                .permissions([
                    Permission::new("items-read", "Read").read("/items/**"),
                    Permission::new("items-write", "Write").write("/items/*"),
                ])
                .cards(Self::CARDS)
        }
    }

    #[test]
    fn invoke_enforces_permissions_and_schemas() {
        mock_http(|_| json(200, json!({})));
        let ctx = Context::for_test(json!({}));
        let run = |input: Value, ctx: &Context| invoke::<Items>("fetch", input, ctx);
        assert_eq!(
            run(json!({"method": "GET", "url": "/items/a/b?x=1"}), &ctx),
            Ok(json!({"status": 200}))
        );
        assert_eq!(
            run(json!({"method": "DELETE", "url": "/items/a"}), &ctx),
            Ok(json!({"status": 200}))
        );
        let refused = run(json!({"method": "DELETE", "url": "/items/a/b"}), &ctx);
        assert!(
            matches!(&refused, Err(Error::Forbidden(m)) if m.contains("no permission card `fetch` declares")),
            "{refused:?}"
        );
        let refused = run(json!({"method": "GET", "url": "/items/../admin"}), &ctx);
        assert!(
            matches!(&refused, Err(Error::Forbidden(m)) if m.contains("..")),
            "{refused:?}"
        );
        let mut read_only = ctx.clone();
        read_only.permissions = vec!["items-read".into()];
        let refused = run(json!({"method": "PUT", "url": "/items/a"}), &read_only);
        assert!(
            matches!(&refused, Err(Error::Forbidden(m)) if m.contains("missing permission `items-write`")),
            "{refused:?}"
        );
        // Outside `invoke`, nothing is checked.
        assert!(Request::delete("/anything").send().is_ok());

        assert!(matches!(
            invoke::<Items>("shaped", json!({"n": 0}), &ctx),
            Err(Error::InvalidInput(m)) if m.contains("/n: ")
        ));
        assert!(matches!(
            invoke::<Items>("shaped", json!({"n": 1, "x": 1}), &ctx),
            Err(Error::InvalidInput(m)) if m.contains("/: ")
        ));
        assert_eq!(
            invoke::<Items>("shaped", json!({"n": 5}), &ctx),
            Ok(json!({"n": 5}))
        );
        assert!(matches!(
            invoke::<Items>("shaped", json!({"n": 6}), &ctx),
            Err(Error::Internal(m)) if m.contains("output schema")
        ));
        assert!(matches!(
            invoke::<Items>("shaepd", json!({}), &ctx),
            Err(Error::InvalidInput(m)) if m.contains("did you mean `shaped`")
        ));
        assert!(check_input::<Items>("shaped", &json!({"n": 3})).is_ok());
        check_manifest::<Items>();
    }

    struct Wrong;

    impl Connector for Wrong {
        const CARDS: Cards = cards![Shaped];
        fn manifest() -> Manifest {
            Manifest::new("Wrong!", "", "1")
                .permission(Permission::new("items-reed", "Read").read("items"))
                .permission(Permission::new("items-reed", "Read"))
                .card(CardEntry::new("a", "A").permission("items-read"))
                .card(CardEntry::new("a", "").input(json!({"type": "nope"})))
                .environment(crate::Environment::new("e", "https://{tenant}.x").when("mode", "y"))
        }
        fn invoke(_: &str, _: Value, _: &Context) -> Result<Value> {
            Ok(Value::Null)
        }
    }

    #[test]
    fn manifest_problems_name_each_mistake() {
        let problems = manifest_problems(&Wrong::manifest(), Wrong::CARDS).join("\n");
        for expected in [
            "connector id `Wrong!`",
            "connector name",
            "version `1`",
            "permission id `items-reed` is declared twice",
            "permission `items-reed` has no rules",
            "`items` must start with `/`",
            "card id `a` is declared twice",
            "card `a` has no title",
            "which the manifest does not declare; did you mean `items-reed`?",
            "card `a` names no permission",
            "card `a` input schema is not a valid JSON Schema",
            "card `shaped` is in the connector's CARDS but not in its manifest",
            "depends on field `mode`",
            "uses `{tenant}`",
        ] {
            assert!(problems.contains(expected), "{expected} in:\n{problems}");
        }
        let _ = NoInput {};
    }

    #[test]
    fn json_answers_carry_a_content_type() {
        let r = json(404, json!({"message": "no"})).unwrap();
        assert_eq!(r.header("content-type"), Some("application/json"));
        assert_eq!(r.body, br#"{"message":"no"}"#);
        assert!(json(204, Value::Null).unwrap().body.is_empty());
    }
}
