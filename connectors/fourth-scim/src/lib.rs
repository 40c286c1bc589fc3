//! # connector-fourth-scim
//!
//! Reads Fourth user accounts through the Fourth Account SCIM API, a SCIM 2.0
//! service provider (RFC 7643 resources, RFC 7644 protocol) that Fourth
//! offers partners read-only, for provisioning users in their own systems.
//!
//! The host runs OAuth2 client credentials (scope `scim`) against Fourth's
//! token endpoint and adds the bearer token; the connector never sees it.
//! Writes (create, replace, patch, deactivate) exist for SCIM servers that
//! take them, behind a permission no connection gets unless an administrator
//! grants it.
//!
//! - [`filter`]: safe SCIM filter building and raw-filter checks.
//! - [`scim`]: requests, tolerant answers, errors and paging.
//! - [`user`]: flat user fields beside the raw resource; users from inputs.
//! - [`cards`](mod@cards): the cards and their typed inputs and outputs (schemas
//!   derived from them).
//! - [`report`]: the connection test.

pub mod cards;
pub mod filter;
pub mod report;
pub mod scim;
pub mod triggers;
pub mod user;

use cardhost_sdk::{
    AuthMethod, AuthScheme, Cards, ConnectionReport, Connector, Context, Environment, Manifest,
    OAuth2, Permission, SecretField, Triggers, Value, cards, json, manifest, triggers,
};
use cards::*;

/// Permission to read users.
pub const USERS_READ: &str = "users-read";
/// Permission to read the discovery endpoints.
pub const DISCOVERY_READ: &str = "discovery-read";
/// Permission to create, change and deactivate users; not granted by default.
pub const USERS_WRITE: &str = "users-write";

/// The connector. It holds no state: each invocation runs in a fresh instance.
pub struct FourthScim;

/// Fourth's documented token endpoint.
pub const FOURTH_TOKEN_URL: &str = "https://api.fourth.com/oauth/connect/token";

/// Scope tokens as RFC 6749 §3.3 allows them, separated by single spaces.
const SCOPE_PATTERN: &str = "^[\\x21\\x23-\\x5B\\x5D-\\x7E]+( [\\x21\\x23-\\x5B\\x5D-\\x7E]+)*$";

/// Non-secret connection fields.
pub fn connection_schema() -> Value {
    json!({
        "type": "object",
        "required": ["base_url", "client_id"],
        "additionalProperties": false,
        "properties": {
            "base_url": {
                "type": "string",
                "title": "SCIM base URL",
                "format": "uri",
                "pattern": "^https?://[^\\s?#]+$",
                "description": "The root URL of the Fourth Account SCIM API that Fourth issued for this customer \
                    (test or live), without a trailing /Users. Paths such as /Users are appended to it.",
                "examples": ["https://api.fourth.com/scim/v2"]
            },
            "token_url": {
                "type": "string",
                "title": "Token URL",
                "format": "uri",
                "pattern": "^https?://[^\\s?#]+$",
                "default": FOURTH_TOKEN_URL,
                "description": "Fourth's OAuth2 token endpoint. Change it only if Fourth gave you another one (e.g. for a test environment)."
            },
            "client_id": {
                "type": "string",
                "title": "Client ID",
                "minLength": 1,
                "maxLength": 255,
                "pattern": "^[^\\s]+$",
                "description": "The OAuth client id Fourth issued (your mutual Fourth customer requests it for you)."
            },
            "scope": {
                "type": "string",
                "title": "Scopes",
                "pattern": SCOPE_PATTERN,
                "default": "scim",
                "description": "OAuth scopes to request, separated by spaces. Fourth's SCIM API needs `scim`. \
                    Add a write scope only for a SCIM server that accepts writes."
            },
            "page_size": {
                "type": "integer",
                "title": "Page size",
                "minimum": 1,
                "maximum": MAX_PAGE_SIZE,
                "default": DEFAULT_PAGE_SIZE,
                "description": "`count` asked for per page when a card does not say. Servers may return fewer; the cards cope."
            }
        }
    })
}

/// The permissions: reads, discovery, and writes (not granted by default).
pub fn permissions() -> Vec<Permission> {
    vec![
        Permission::new(USERS_READ, "Read users")
            .description("List, find and read Fourth user accounts (GET /Users, /Users/{id}).")
            .read("/Users")
            .read("/Users/*"),
        Permission::new(DISCOVERY_READ, "Read SCIM discovery")
            .description(
                "Read what the SCIM server supports (GET /ServiceProviderConfig, /Schemas, /ResourceTypes).",
            )
            .read("/ServiceProviderConfig")
            .read("/Schemas")
            .read("/Schemas/*")
            .read("/ResourceTypes")
            .read("/ResourceTypes/*"),
        Permission::new(USERS_WRITE, "Create and change users")
            .description(
                "Create, replace, patch and deactivate users (POST /Users, PUT/PATCH /Users/{id}). \
                 Fourth's SCIM API is read-only for partners: grant this only for a SCIM server that \
                 accepts writes, with an OAuth client that has its write scope.",
            )
            .write("/Users")
            .write("/Users/*")
            .not_granted_by_default(),
    ]
}

/// OAuth2 client credentials of a Fourth OAuth client.
fn auth() -> AuthMethod {
    let oauth = OAuth2::new("{token_url}").scope("{scope}");
    AuthMethod::new(
        "client-credentials",
        "OAuth client (client credentials)",
        AuthScheme::OAuth2ClientCredentials(oauth),
    )
    .secret(
        SecretField::new("client_secret", "Client secret")
            .description("The OAuth client secret Fourth issued with the client id."),
    )
}

impl Connector for FourthScim {
    const CARDS: Cards = cards![
        ListUsers,
        ReadUser,
        FindUserByEmail,
        UsersChangedSince,
        ReadServiceProviderConfig,
        ListSchemas,
        CreateUser,
        ReplaceUser,
        PatchUser,
        DeactivateUser,
    ];
    const TRIGGERS: Triggers = triggers![triggers::UserChanged];

    fn manifest() -> Manifest {
        manifest!("fourth-scim", "Fourth Account SCIM")
            .description(
                "Reads Fourth user accounts (Fourth Account ID, name, work location, job title, country, \
                 preferred language, timezone, work email) through Fourth's SCIM 2.0 API with OAuth2 \
                 client credentials, for provisioning users in other systems.",
            )
            .connection_schema(connection_schema())
            .auth(auth())
            .environment(Environment::new("default", "{base_url}").auth_host("{token_url}"))
            .permissions(permissions())
            .cards(Self::CARDS)
    }

    fn test_connection(ctx: &Context) -> ConnectionReport {
        report::test_connection(ctx)
    }
}

cardhost_sdk::export_connector!(FourthScim);

#[cfg(test)]
mod tests {
    use super::*;
    use cardhost_sdk::http::{Request, Response};
    use cardhost_sdk::testing::{check_manifest, invoke, mock_http};
    use cardhost_sdk::{Error, Result};

    #[test]
    fn the_manifest_passes_the_hosts_checks() {
        check_manifest::<FourthScim>();
    }
    use std::cell::RefCell;
    use std::rc::Rc;

    fn ctx() -> Context {
        let mut ctx = Context::for_test(json!({
            "base_url": "https://api.fourth.example/scim/v2",
            "client_id": "partner",
            "page_size": 2
        }));
        ctx.permissions = vec![USERS_READ.into(), DISCOVERY_READ.into()];
        ctx
    }

    fn reply(status: u16, body: Value) -> Result<Response> {
        Ok(Response {
            status,
            headers: vec![("content-type".into(), "application/scim+json".into())],
            body: body.to_string().into_bytes(),
        })
    }

    /// The decoded query parameters of a request URL.
    fn params(req: &Request) -> Vec<(String, String)> {
        let query = req.url.split_once('?').map(|(_, q)| q).unwrap_or("");
        query
            .split('&')
            .filter(|p| !p.is_empty())
            .map(|p| {
                let (k, v) = p.split_once('=').unwrap();
                let decode = |s: &str| percent_decode(s);
                (decode(k), decode(v))
            })
            .collect()
    }

    fn percent_decode(s: &str) -> String {
        let bytes = s.as_bytes();
        let mut out = Vec::new();
        let mut i = 0;
        while i < bytes.len() {
            if bytes[i] == b'%' {
                out.push(u8::from_str_radix(&s[i + 1..i + 3], 16).unwrap());
                i += 3;
            } else {
                assert_ne!(bytes[i], b'+', "a plus must be encoded");
                out.push(bytes[i]);
                i += 1;
            }
        }
        String::from_utf8(out).unwrap()
    }

    fn param(req: &Request, name: &str) -> Option<String> {
        params(req)
            .into_iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v)
    }

    fn user(i: usize) -> Value {
        json!({"id": format!("u{i}"), "userName": format!("user{i}"), "meta": {"lastModified": format!("2025-01-0{}T00:00:00Z", 1 + i % 9)}})
    }

    /// A user list of `total` served `short` at a time whatever `count` says,
    /// leaving `Resources` out of empty pages.
    fn serve(total: usize, short: usize, seen: Rc<RefCell<Vec<Request>>>) {
        mock_http(move |req| {
            seen.borrow_mut().push(req.clone());
            let start: usize = param(req, "startIndex").unwrap().parse().unwrap();
            let count: usize = param(req, "count").unwrap().parse().unwrap();
            let items: Vec<Value> = (0..total)
                .skip(start - 1)
                .take(count.min(short))
                .map(user)
                .collect();
            let mut body = json!({"schemas": [scim::LIST_RESPONSE], "totalResults": total, "startIndex": start, "itemsPerPage": items.len()});
            if !items.is_empty() {
                body["Resources"] = json!(items);
            }
            reply(200, body)
        });
    }

    #[test]
    fn manifest_keeps_writes_off_by_default() {
        let m = FourthScim::manifest();
        assert_eq!(m.id, "fourth-scim");
        let write = m.permissions.iter().find(|p| p.id == USERS_WRITE).unwrap();
        assert!(!write.granted_by_default);
        for p in m.permissions.iter().filter(|p| p.id != USERS_WRITE) {
            assert!(p.granted_by_default, "{}", p.id);
            assert!(
                p.rules
                    .iter()
                    .all(|r| r.access == [cardhost_sdk::Access::Read])
            );
        }
        for card in &m.cards {
            assert_eq!(
                card.input_schema["additionalProperties"], false,
                "{}",
                card.id
            );
            let writes = [
                "create-user",
                "replace-user",
                "patch-user",
                "deactivate-user",
            ]
            .contains(&card.id.as_str());
            assert_eq!(
                card.permissions.contains(&USERS_WRITE.to_string()),
                writes,
                "{}",
                card.id
            );
        }
        match &m.auth_methods[0].scheme {
            AuthScheme::OAuth2ClientCredentials(o) => {
                assert_eq!(o.token_url, "{token_url}");
                assert_eq!(o.scopes, ["{scope}"]);
            }
            other => panic!("{other:?}"),
        }
        let fields = &m.connection_schema["properties"];
        assert_eq!(
            fields["token_url"]["default"],
            "https://api.fourth.com/oauth/connect/token"
        );
        assert_eq!(fields["scope"]["default"], "scim");
    }

    #[test]
    fn list_users_builds_an_encoded_filter() {
        let seen = Rc::new(RefCell::new(Vec::new()));
        serve(3, 100, seen.clone());
        let out = invoke::<FourthScim>(
            "list-users",
            json!({"email": "sam+rota@x.example", "active": true, "filter": r#"displayName eq "Jo \"JJ\" O'Neill""#}),
            &ctx(),
        )
        .unwrap();
        assert_eq!(out["users"].as_array().unwrap().len(), 2);
        assert_eq!(out["has_more"], true);
        assert_eq!(out["next_start_index"], 3);
        let req = &seen.borrow()[0];
        assert!(req.url.starts_with("/Users?filter="));
        assert!(req.url.contains("%2Brota"), "{}", req.url);
        assert!(!req.url.contains(' '));
        assert_eq!(
            param(req, "filter").unwrap(),
            r#"emails.value eq "sam+rota@x.example" and active eq true and (displayName eq "Jo \"JJ\" O'Neill")"#
        );
        assert_eq!(
            param(req, "count").as_deref(),
            Some("2"),
            "the connection's page size"
        );
        assert!(
            req.headers
                .iter()
                .any(|(k, v)| k == "accept" && v.contains("application/scim+json"))
        );
    }

    #[test]
    fn all_pages_copes_with_short_pages_and_limits() {
        let seen = Rc::new(RefCell::new(Vec::new()));
        serve(7, 3, seen.clone());
        let out =
            invoke::<FourthScim>("list-users", json!({"all_pages": true, "count": 5}), &ctx())
                .unwrap();
        let ids: Vec<&str> = out["users"]
            .as_array()
            .unwrap()
            .iter()
            .map(|u| u["fourth_account_id"].as_str().unwrap())
            .collect();
        assert_eq!(ids, ["u0", "u1", "u2", "u3", "u4", "u5", "u6"]);
        assert_eq!(out["has_more"], false);
        let starts: Vec<String> = seen
            .borrow()
            .iter()
            .map(|r| param(r, "startIndex").unwrap())
            .collect();
        assert_eq!(starts, ["1", "4", "7"]);

        serve(7, 3, Rc::default());
        let out = invoke::<FourthScim>(
            "list-users",
            json!({"all_pages": true, "limit": 4, "start_index": 2}),
            &ctx(),
        )
        .unwrap();
        assert_eq!(out["users"].as_array().unwrap().len(), 4);
        assert_eq!(out["users"][0]["fourth_account_id"], "u1");
        assert_eq!(out["next_start_index"], 6);
        assert_eq!(out["has_more"], true);

        mock_http(|_| panic!("refused before sending"));
        let err = invoke::<FourthScim>("list-users", json!({"limit": 4}), &ctx());
        assert!(matches!(err, Err(Error::InvalidInput(m)) if m.contains("all_pages")));
        let err = invoke::<FourthScim>("list-users", json!({"filter": "userName eq 'x'"}), &ctx());
        assert!(matches!(err, Err(Error::InvalidInput(_))));
        let err =
            invoke::<FourthScim>("list-users", json!({"modified_since": "last week"}), &ctx());
        assert!(matches!(err, Err(Error::InvalidInput(m)) if m.contains("modified_since")));
    }

    #[test]
    fn read_user_turns_a_scim_404_into_not_found_output() {
        mock_http(|req| {
            assert_eq!(req.url, "/Users/a%20b");
            reply(
                404,
                json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:Error"], "status": 404, "detail": "Resource a b not found"}),
            )
        });
        let out = invoke::<FourthScim>("read-user", json!({"id": "a b"}), &ctx()).unwrap();
        assert_eq!(out, json!({"found": false, "user": null}));

        mock_http(|_| {
            Ok(Response {
                status: 404,
                headers: vec![("content-type".into(), "text/html".into())],
                body: b"<h1>Not Found</h1>".to_vec(),
            })
        });
        let err = invoke::<FourthScim>("read-user", json!({"id": "x"}), &ctx());
        assert!(matches!(err, Err(Error::NotFound(m)) if m.contains("base_url")));

        mock_http(|_| {
            Ok(Response {
                status: 200,
                headers: vec![(
                    "content-type".into(),
                    "application/json; charset=utf-8".into(),
                )],
                body: json!({"ID": "x", "USERNAME": "jo"})
                    .to_string()
                    .into_bytes(),
            })
        });
        let out = invoke::<FourthScim>("read-user", json!({"id": "x"}), &ctx()).unwrap();
        assert_eq!(out["found"], true);
        assert_eq!(out["user"]["user_name"], "jo");
    }

    #[test]
    fn changed_since_returns_a_watermark_only_when_complete() {
        let seen = Rc::new(RefCell::new(Vec::new()));
        serve(5, 100, seen.clone());
        let out = invoke::<FourthScim>(
            "users-changed-since",
            json!({"since": "2024-12-31"}),
            &ctx(),
        )
        .unwrap();
        assert_eq!(out["count"], 5);
        assert_eq!(out["complete"], true);
        assert_eq!(out["since"], "2024-12-31T00:00:00Z");
        assert_eq!(out["next_since"], "2025-01-05T00:00:00Z");
        assert_eq!(
            param(&seen.borrow()[0], "filter").unwrap(),
            r#"meta.lastModified gt "2024-12-31T00:00:00Z""#
        );

        serve(5, 100, Rc::default());
        let out = invoke::<FourthScim>(
            "users-changed-since",
            json!({"since": "2024-12-31T00:00:00Z", "limit": 3}),
            &ctx(),
        )
        .unwrap();
        assert_eq!(out["complete"], false);
        assert_eq!(out["next_since"], "2024-12-31T00:00:00Z");
    }

    #[test]
    fn find_by_email_also_matches_user_names() {
        mock_http(|req| {
            assert_eq!(
                param(req, "filter").unwrap(),
                r#"(emails.value eq "a.b@x.example" or userName eq "a.b@x.example")"#
            );
            reply(
                200,
                json!({"totalResults": 2, "Resources": [user(1), user(2)]}),
            )
        });
        let out = invoke::<FourthScim>(
            "find-user-by-email",
            json!({"email": " a.b@x.example "}),
            &ctx(),
        )
        .unwrap();
        assert_eq!(out["found"], true);
        assert_eq!(out["match_count"], 2);
        mock_http(|_| reply(200, json!({"totalResults": 0})));
        let out = invoke::<FourthScim>(
            "find-user-by-email",
            json!({"email": "no@x.example", "match_user_name": false}),
            &ctx(),
        )
        .unwrap();
        assert_eq!(out, json!({"found": false, "user": null, "match_count": 0}));
    }

    #[test]
    fn writes_send_scim_bodies() {
        let mut writer = ctx();
        writer.permissions.push(USERS_WRITE.into());
        let seen = Rc::new(RefCell::new(Vec::new()));
        let s = seen.clone();
        mock_http(move |req| {
            s.borrow_mut().push(req.clone());
            match req.method {
                cardhost_sdk::http::Method::Patch => Ok(Response {
                    status: 204,
                    headers: vec![],
                    body: vec![],
                }),
                _ => reply(200, json!({"id": "u1", "userName": "a", "active": false})),
            }
        });
        let out = invoke::<FourthScim>(
            "deactivate-user",
            json!({"id": "u1", "version": "W/\"3\""}),
            &writer,
        )
        .unwrap();
        assert_eq!(out["active"], false);
        let seen = seen.borrow();
        assert_eq!(seen.len(), 2, "a 204 is followed by a read");
        let body: Value =
            cardhost_sdk::serde_json::from_slice(seen[0].body.as_ref().unwrap()).unwrap();
        assert_eq!(
            body,
            json!({"schemas": [scim::PATCH_OP], "Operations": [{"op": "replace", "path": "active", "value": false}]})
        );
        assert!(
            seen[0]
                .headers
                .contains(&("content-type".into(), "application/scim+json".into()))
        );
        assert!(
            seen[0]
                .headers
                .contains(&("if-match".into(), "W/\"3\"".into()))
        );

        mock_http(|req| {
            let body: Value =
                cardhost_sdk::serde_json::from_slice(req.body.as_ref().unwrap()).unwrap();
            assert_eq!(req.url, "/Users/u9");
            assert_eq!(body["id"], "u9");
            assert_eq!(body["userName"], "new");
            reply(200, body)
        });
        let out = invoke::<FourthScim>(
            "replace-user",
            json!({"id": "u9", "user_name": "new", "job_title": "Host"}),
            &writer,
        )
        .unwrap();
        assert_eq!(out["job_title"], "Host");
        let err = invoke::<FourthScim>(
            "replace-user",
            json!({"id": "u9", "user_name": "new", "bogus": 1}),
            &writer,
        );
        assert!(matches!(err, Err(Error::InvalidInput(_))));
    }
}
