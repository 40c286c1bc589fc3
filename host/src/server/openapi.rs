//! The OpenAPI 3.1 document of the HTTP API, served at `/openapi.json`.

use serde_json::{Value, json};

fn op(summary: &str, role: Option<&str>, responses: &[(&str, &str)]) -> Value {
    let mut responses: serde_json::Map<String, Value> = responses
        .iter()
        .map(|(code, description)| {
            (
                (*code).to_string(),
                json!({"description": description, "content": {"application/json": {"schema": {"$ref": if code.starts_with('2') { "#/components/schemas/Any" } else { "#/components/schemas/Error" }}}}}),
            )
        })
        .collect();
    if role.is_some() {
        responses.insert("401".into(), json!({"description": "Missing, invalid or revoked API key.", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}));
        responses.insert("403".into(), json!({"description": "The key's role does not allow this.", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}));
    }
    let mut o = json!({"summary": summary, "responses": responses});
    match role {
        Some(r) => {
            o["description"] = json!(format!(
                "Needs role `{r}` or higher (reader < invoker < admin)."
            ))
        }
        None => o["security"] = json!([]),
    }
    o
}

fn path_param(name: &str, description: &str) -> Value {
    json!({"name": name, "in": "path", "required": true, "description": description, "schema": {"type": "string"}})
}

fn body(schema: Value) -> Value {
    json!({"required": true, "content": {"application/json": {"schema": schema}}})
}

/// The document.
pub fn document() -> Value {
    let conn = path_param("id", "Connection id (`conn_…`) or name.");
    let sub = path_param("id", "Subscription id (`sub_…`).");
    let redeliver = json!({
        "type": "object", "additionalProperties": false,
        "properties": {"from_seq": {"type": "integer", "minimum": 1}}
    });
    let subscribe = json!({
        "type": "object", "required": ["connection", "trigger"], "additionalProperties": false,
        "properties": {
            "connection": {"type": "string"}, "trigger": {"type": "string"},
            "interval_seconds": {"type": "integer", "minimum": 1},
            "target": {"oneOf": [
                {"type": "object", "required": ["kind"], "additionalProperties": false, "properties": {"kind": {"const": "feed"}}},
                {"type": "object", "required": ["kind", "url"], "additionalProperties": false, "properties": {"kind": {"const": "webhook"}, "url": {"type": "string", "format": "uri", "description": "HTTPS URL each event is posted to, signed in `cardhost-signature`"}}}
            ]}
        }
    });
    let mut create = op(
        "Create a connection",
        Some("admin"),
        &[
            ("201", "Created; secrets are never returned."),
            (
                "400",
                "Invalid fields (each with its JSON pointer), secrets or grant.",
            ),
            ("404", "Unknown connector."),
            ("409", "The name is taken."),
        ],
    );
    create["requestBody"] = body(json!({
        "type": "object", "required": ["connector", "name"], "additionalProperties": false,
        "properties": {
            "connector": {"type": "string"}, "name": {"type": "string"},
            "fields": {"type": "object", "description": "Validated against the connector's connection schema."},
            "secrets": {"type": "object", "additionalProperties": {"type": "string"}, "description": "Write-only."},
            "grant": {"type": "array", "items": {"type": "string"}, "description": "Permission ids; defaults to the connector's default grant."},
            "auth_method": {"type": "string"}
        }
    }));
    let mut invoke = op(
        "Invoke a card on a connection",
        Some("invoker"),
        &[
            (
                "200",
                "The card's output, validated against its output schema.",
            ),
            (
                "400",
                "Input does not match the card's schema (`violations` lists JSON pointers).",
            ),
            ("404", "No such connection, card, or upstream resource."),
            (
                "409",
                "The connection is not ready (e.g. needs reauthorization).",
            ),
            ("429", "The upstream is rate limiting; see Retry-After."),
            ("502", "The upstream failed."),
            (
                "503",
                "Saturated: no slot server-wide or on this connection came free within `server.admission_wait_ms`; see Retry-After.",
            ),
            ("504", "The invocation deadline passed."),
            ("500", "The connector or host failed."),
        ],
    );
    invoke["parameters"] = json!([conn, path_param("action", "`{card}:invoke`.")]);
    invoke["requestBody"] = body(json!({"type": "object", "description": "The card's input."}));
    invoke["responses"]["401"]["description"] = json!(
        "Missing/invalid API key, or the upstream refused the credentials (`error.code` = `upstream-unauthorized`)."
    );
    invoke["responses"]["403"]["description"] = json!(
        "The key's role does not allow it, the broker refused a request (`denied`), or the upstream did (`upstream-forbidden`)."
    );
    let with = |mut o: Value, params: Vec<Value>, request: Option<Value>| {
        o["parameters"] = json!(params);
        if let Some(r) = request {
            o["requestBody"] = body(r);
        }
        o
    };
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "cardhost",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "Connector runtime API: catalog, connections, card invocation and history."
        },
        "components": {
            "securitySchemes": {"apiKey": {"type": "http", "scheme": "bearer", "description": "A key from `cardhost keys create`; also accepted in `X-Api-Key`."}},
            "schemas": {
                "Any": {},
                "Error": {
                    "type": "object", "required": ["error"],
                    "properties": {"error": {"type": "object", "required": ["code", "message"], "properties": {
                        "code": {"type": "string"}, "message": {"type": "string"},
                        "violations": {"type": "array", "items": {"type": "object", "properties": {"pointer": {"type": "string"}, "message": {"type": "string"}}}},
                        "invocation": {"type": "string"}, "class": {"type": "string"}
                    }}}
                }
            }
        },
        "security": [{"apiKey": []}],
        "paths": {
            "/": {"get": op("The web console's page (HTML, strict Content-Security-Policy)", None, &[("200", "HTML.")])},
            "/console/": {"get": op("The web console's page, as at `/`", None, &[("200", "HTML.")])},
            "/console/{file}": {"get": with(op("One of the console's embedded scripts or its stylesheet", None, &[("200", "JavaScript or CSS."), ("404", "No such file.")]), vec![path_param("file", "File name, e.g. `app.js`.")], None)},
            "/console/session": {
                "get": op("The console session of the cookie: its key, role, CSRF token and expiry", None, &[("200", "The session."), ("401", "Not signed in, or the session ended.")]),
                "post": with(op("Sign in to the console with an API key: sets an HttpOnly, SameSite=Strict session cookie (8 hours); every change made with it needs `x-cardhost-csrf`", None, &[("200", "`key_id`, `role`, `csrf`, `expires_at`."), ("401", "The key is not valid or was revoked."), ("403", "From another origin."), ("429", "Too many attempts.")]), vec![], Some(json!({"type": "object", "required": ["key"], "additionalProperties": false, "properties": {"key": {"type": "string", "description": "An API key (`chk_…`)."}}}))),
                "delete": op("Sign out of the console (needs `x-cardhost-csrf`)", None, &[("204", "Signed out; the cookie is cleared."), ("403", "Without the session's CSRF token.")])
            },
            "/healthz": {"get": op("Liveness", None, &[("200", "Alive.")])},
            "/readyz": {"get": op("Readiness", None, &[("200", "Ready."), ("503", "Shutting down or the store is unreachable.")])},
            "/metrics": {"get": op("Prometheus metrics", Some("reader"), &[("200", "Text exposition format.")])},
            "/openapi.json": {"get": op("This document", Some("reader"), &[("200", "OpenAPI 3.1.")])},
            "/v1/connectors": {"get": op("List connectors", Some("reader"), &[("200", "Connectors and load errors.")])},
            "/v1/connectors/{id}": {"get": with(op("Show a connector: connection schema, auth methods, permissions and cards with schemas", Some("reader"), &[("200", "The connector."), ("404", "Not loaded.")]), vec![path_param("id", "Connector id.")], None)},
            "/v1/connections": {
                "get": op("List connections (secrets show only when they were set)", Some("reader"), &[("200", "Connections.")]),
                "post": create
            },
            "/v1/connections/{id}": {
                "get": with(op("Show a connection and which cards it may use", Some("reader"), &[("200", "The connection."), ("404", "No such connection.")]), vec![conn.clone()], None),
                "delete": with(op("Delete a connection, revoking its token at the provider when supported", Some("admin"), &[("200", "Deleted."), ("404", "No such connection.")]), vec![conn.clone()], None)
            },
            "/v1/connections/{id}/cards": {"get": with(op("The connector's cards with `usable` for this connection", Some("reader"), &[("200", "Cards.")]), vec![conn.clone()], None)},
            "/v1/connections/{id}/cards/{action}": {"post": invoke},
            "/v1/connections/{id}/fields": {"put": with(op("Replace a connection's fields", Some("admin"), &[("200", "Updated."), ("400", "Invalid fields.")]), vec![conn.clone()], Some(json!({"type": "object", "required": ["fields"], "properties": {"fields": {"type": "object"}}})))},
            "/v1/connections/{id}/secrets/{name}": {"put": with(op("Replace one secret", Some("admin"), &[("204", "Replaced."), ("400", "Unknown secret or bad value.")]), vec![conn.clone(), path_param("name", "Secret name.")], Some(json!({"type": "object", "required": ["value"], "properties": {"value": {"type": "string"}}})))},
            "/v1/connections/{id}/grant": {"put": with(op("Replace the granted permissions", Some("admin"), &[("200", "Updated."), ("400", "Unknown permission.")]), vec![conn.clone()], Some(json!({"type": "object", "required": ["permissions"], "properties": {"permissions": {"type": "array", "items": {"type": "string"}}}})))},
            "/v1/connections/{id}/approve": {"post": with(op("Approve a connector change that moved where this connection's credentials go (`needs-approval`); body optional: `{\"secrets\": {…}}` for secrets the change sends elsewhere", Some("admin"), &[("200", "The connection, ready again."), ("400", "Nothing to approve, or `secrets-required` naming the secrets to give again.")]), vec![conn.clone()], None)},
            "/v1/connections/{id}/test": {"post": with(op("Test a connection (`_authping`): which credential or permission fails", Some("invoker"), &[("200", "The report (`ok`, `summary`, `checks`)."), ("409", "Not ready.")]), vec![conn.clone()], None)},
            "/v1/connections/{id}/authorize": {"post": with(op("Start the OAuth2 authorization-code flow (PKCE); send the user to `authorize_url`", Some("admin"), &[("200", "`authorize_url`, `state`, `redirect_uri`."), ("400", "The connection does not use the authorization-code grant.")]), vec![conn.clone()], None)},
            "/v1/oauth/start": {"get": op("Where `authorize_url` sends the user's browser: binds the flow to that browser with a cookie and redirects to the provider (rate-limited)", None, &[("302", "To the provider's consent page."), ("400", "HTML: unknown, used or expired `state`."), ("429", "Too many requests.")])},
            "/v1/oauth/callback": {"get": op("OAuth2 redirect target; `state` must match a pending authorization (single use, 10 minutes) and the browser must bring the cookie `/v1/oauth/start` set (rate-limited)", None, &[("200", "HTML: connected."), ("400", "HTML: refused (bad or used `state`, another browser, provider error)."), ("429", "Too many requests.")])},
            "/v1/invocations": {"get": with(op("Invocation history, newest first", Some("reader"), &[("200", "Invocations."), ("400", "Bad filter.")]), ["connection", "connector", "card", "outcome", "since_ms", "limit"].iter().map(|n| json!({"name": n, "in": "query", "required": false, "schema": {"type": if *n == "since_ms" || *n == "limit" { "integer" } else { "string" }}})).collect(), None)},
            "/v1/connections/{id}/triggers": {"get": with(op("The connector's triggers (event cards) with their event schemas", Some("reader"), &[("200", "Triggers."), ("404", "No such connection.")]), vec![conn.clone()], None)},
            "/v1/subscriptions": {
                "get": with(op("List subscriptions", Some("reader"), &[("200", "Subscriptions.")]), vec![json!({"name": "connection", "in": "query", "required": false, "schema": {"type": "string"}})], None),
                "post": with(op("Subscribe to a trigger: the host polls it and keeps its events (a feed) or posts them, signed, to a webhook target", Some("admin"), &[("201", "The subscription; a webhook target's `signing_secret`, and for a trigger the vendor delivers by webhook the `hook` (URL, header, registration) with its `token`, are in this answer only."), ("400", "Unknown trigger, bad interval or target."), ("404", "No such connection.")]), vec![], Some(subscribe))
            },
            "/v1/subscriptions/{id}": {
                "get": with(op("Show a subscription: state, cursor, last poll and error", Some("reader"), &[("200", "The subscription."), ("404", "No such subscription.")]), vec![sub.clone()], None),
                "delete": with(op("Delete a subscription and its events", Some("admin"), &[("204", "Deleted."), ("404", "No such subscription.")]), vec![sub.clone()], None)
            },
            "/v1/subscriptions/{id}/pause": {"post": with(op("Pause a subscription", Some("admin"), &[("200", "The subscription."), ("404", "No such subscription.")]), vec![sub.clone()], None)},
            "/v1/subscriptions/{id}/resume": {"post": with(op("Resume a subscription; it polls at once, and a webhook its trigger registers is registered afresh", Some("admin"), &[("200", "The subscription."), ("404", "No such subscription.")]), vec![sub.clone()], None)},
            "/v1/subscriptions/{id}/redeliver": {"post": with(op("Deliver a webhook target's events again, in order, from `from_seq` or from the oldest dead letter", Some("admin"), &[("200", "`pending`: events now waiting for delivery."), ("400", "A feed target, or `from_seq` out of range."), ("404", "No such subscription.")]), vec![sub.clone()], Some(redeliver))},
            "/v1/subscriptions/{id}/dead-letters": {"get": with(op("Events a webhook target never took, with the last error", Some("reader"), &[("200", "`dead_letters`."), ("404", "No such subscription.")]), vec![sub.clone()], None)},
            "/v1/hooks/{id}": {"post": with(op("A vendor's webhook delivery for a subscription (its `hook.url`). No API key: the delivery must carry the subscription's token (or a signature under it) as the trigger declares, checked before the connector reads it", None, &[("200", "`stored`: new events (a retried delivery stores nothing twice)."), ("401", "Not verified; dropped and logged."), ("404", "No subscription takes deliveries here."), ("422", "The connector could not read the delivery."), ("503", "Not now (the connection needs reauthorization, or the store is down); retry.")]), vec![sub.clone()], None)},
            "/v1/subscriptions/{id}/events": {"get": with(op("A subscription's events, oldest first, after the cursor `after` (a `next` of an earlier page)", Some("reader"), &[("200", "`events` and `next`."), ("400", "Bad cursor or limit."), ("404", "No such subscription.")]), vec![sub, json!({"name": "after", "in": "query", "required": false, "schema": {"type": "string"}}), json!({"name": "limit", "in": "query", "required": false, "schema": {"type": "integer", "minimum": 1, "maximum": 1000}})], None)},
            "/v1/admin/reload": {"post": op("Reload connectors (built-ins and the connectors directory); in-flight invocations finish on the old versions", Some("admin"), &[("200", "Loaded connectors and load errors.")])}
        }
    })
}

#[cfg(test)]
mod router_tests {
    use std::collections::BTreeSet;

    /// (method, path) of every `.route(..)` in the router's source.
    fn routed() -> BTreeSet<(String, String)> {
        let source = include_str!("api.rs");
        let start = source.find("fn router(").expect("the router is in api.rs");
        let end = start + source[start..].find("\n}\n").expect("the router ends");
        let router = &source[start..end];
        let mut found = BTreeSet::new();
        for call in router.split(".route(").skip(1) {
            let path = call.split('"').nth(1).expect("a route path literal");
            // The method router is what follows the path, up to the call's end.
            let mut depth = 1;
            let mut args = String::new();
            for c in call.chars() {
                match c {
                    '(' => depth += 1,
                    ')' => depth -= 1,
                    _ => {}
                }
                if depth == 0 {
                    break;
                }
                args.push(c);
            }
            for method in ["get", "post", "put", "patch", "delete"] {
                let called = args.match_indices(&format!("{method}(")).any(|(i, _)| {
                    i == 0 || !args[..i].ends_with(|c: char| c.is_alphanumeric() || c == '_')
                });
                if called {
                    found.insert((method.to_string(), path.to_string()));
                }
            }
        }
        found
    }

    fn documented() -> BTreeSet<(String, String)> {
        let doc = super::document();
        let mut found = BTreeSet::new();
        for (path, item) in doc["paths"].as_object().expect("paths") {
            for method in item.as_object().expect("a path item").keys() {
                found.insert((method.clone(), path.clone()));
            }
        }
        found
    }

    #[test]
    fn the_document_describes_exactly_the_routes_the_server_has() {
        let routed = routed();
        let documented = documented();
        assert!(routed.len() > 20, "the router was not read: {routed:?}");
        let undocumented: Vec<_> = routed.difference(&documented).collect();
        let unrouted: Vec<_> = documented.difference(&routed).collect();
        assert!(
            undocumented.is_empty() && unrouted.is_empty(),
            "routes missing from the OpenAPI document: {undocumented:?}; documented but not routed: {unrouted:?}"
        );
    }
}
