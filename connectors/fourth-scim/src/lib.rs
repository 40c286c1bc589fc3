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
//! - [`schemas`]: connection fields and card schemas.
//! - [`report`]: the connection test.

// The card schemas are large `json!` literals.
#![recursion_limit = "256"]

pub mod filter;
pub mod report;
pub mod schemas;
pub mod scim;
pub mod user;

use cardhost_sdk::http::Request;
use cardhost_sdk::{
    AuthMethod, AuthScheme, CardEntry, ConnectionReport, Connector, Context, Environment, Error,
    Manifest, OAuth2, Permission, Result, SecretField, Value, json, parse_input,
};
use filter::FilterBuilder;
use scim::{Gathered, get_ci, get_str, get_u64};
use serde::Deserialize;
use user::{UserFields, flatten};

/// Permission to read users.
pub const USERS_READ: &str = "users-read";
/// Permission to read the discovery endpoints.
pub const DISCOVERY_READ: &str = "discovery-read";
/// Permission to create, change and deactivate users; not granted by default.
pub const USERS_WRITE: &str = "users-write";

/// The connector. It holds no state: each invocation runs in a fresh instance.
pub struct FourthScim;

fn page_size(ctx: &Context, count: Option<u32>) -> u32 {
    count
        .or_else(|| {
            ctx.fields
                .get("page_size")
                .and_then(Value::as_u64)
                .and_then(|n| u32::try_from(n).ok())
        })
        .unwrap_or(schemas::DEFAULT_PAGE_SIZE)
        .clamp(1, schemas::MAX_PAGE_SIZE)
}

fn instant(field: &str, text: &str) -> Result<String> {
    filter::normalise_instant(text).ok_or_else(|| {
        Error::InvalidInput(format!(
            "`{field}` must be an ISO 8601 date (2025-05-01) or date-time with a zone (2025-05-01T09:00:00Z), not `{text}`"
        ))
    })
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ListUsersInput {
    user_name: Option<String>,
    email: Option<String>,
    external_id: Option<String>,
    active: Option<bool>,
    modified_since: Option<String>,
    filter: Option<String>,
    start_index: Option<u64>,
    count: Option<u32>,
    all_pages: Option<bool>,
    limit: Option<usize>,
}

/// The SCIM filter of List Users, built from its fields.
fn list_filter(input: &ListUsersInput) -> Result<Option<String>> {
    let mut f = FilterBuilder::new();
    if let Some(v) = &input.user_name {
        f = f.user_name(v.trim());
    }
    if let Some(v) = &input.email {
        f = f.email(v.trim());
    }
    if let Some(v) = &input.external_id {
        f = f.external_id(v);
    }
    if let Some(active) = input.active {
        f = f.active(active);
    }
    if let Some(since) = &input.modified_since {
        f = f.modified_after(&instant("modified_since", since)?);
    }
    if let Some(raw) = &input.filter {
        filter::check_raw(raw)?;
        f = f.raw(raw);
    }
    Ok(f.build())
}

fn users_output(gathered: Gathered, start_index: u64, filter: Option<String>) -> Value {
    let users: Vec<Value> = gathered.items.iter().map(flatten).collect();
    json!({
        "items_per_page": users.len(),
        "users": users,
        "total_results": gathered.total_results,
        "start_index": start_index,
        "next_start_index": gathered.next_start_index,
        "has_more": gathered.next_start_index.is_some(),
        "filter": filter,
    })
}

fn list_users(input: Value, ctx: &Context) -> Result<Value> {
    let input: ListUsersInput = parse_input(input)?;
    if input.limit.is_some() && input.all_pages != Some(true) {
        return Err(Error::InvalidInput(
            "`limit` applies only with `all_pages: true`; for one page use `count`".into(),
        ));
    }
    let filter = list_filter(&input)?;
    let start = input.start_index.unwrap_or(1).max(1);
    let count = page_size(ctx, input.count);
    let gathered = if input.all_pages == Some(true) {
        scim::fetch_all(
            "/Users",
            filter.as_deref(),
            start,
            count,
            input.limit.unwrap_or(1000),
            "the user list",
        )?
    } else {
        scim::fetch_one("/Users", filter.as_deref(), start, count, "the user list")?
    };
    Ok(users_output(gathered, start, filter))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct IdInput {
    id: String,
}

fn user_id(id: &str) -> Result<&str> {
    let id = id.trim();
    if id.is_empty() || id == "." || id == ".." {
        return Err(Error::InvalidInput(format!("`{id}` is not a user id")));
    }
    Ok(id)
}

/// Whether a 404 came from the SCIM server (an error in the SCIM schema or a
/// JSON body), rather than from something that is not a SCIM API at all.
fn is_scim_not_found(response: &cardhost_sdk::http::Response) -> bool {
    let json = response.header("content-type").is_none_or(scim::is_json);
    json && cardhost_sdk::serde_json::from_slice::<Value>(&response.body)
        .is_ok_and(|b| b.is_object())
}

fn read_user(input: Value, _ctx: &Context) -> Result<Value> {
    let IdInput { id } = parse_input(input)?;
    let id = user_id(&id)?;
    let response = scim::get(&scim::user_path(id), &[]).send()?;
    if response.status == 404 {
        if is_scim_not_found(&response) {
            return Ok(json!({"found": false, "user": null}));
        }
        return Err(Error::NotFound(format!(
            "the server has no SCIM Users endpoint here ({}); check the connection's `base_url`",
            cardhost_sdk::http::error_message(&response)
        )));
    }
    let body = scim::json_body(response, &format!("user `{id}`"))?;
    Ok(json!({"found": true, "user": flatten(&body)}))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FindByEmailInput {
    email: String,
    match_user_name: Option<bool>,
}

fn find_user_by_email(input: Value, _ctx: &Context) -> Result<Value> {
    let input: FindByEmailInput = parse_input(input)?;
    let email = input.email.trim();
    if !email.contains('@') {
        return Err(Error::InvalidInput(format!(
            "`{email}` is not an email address"
        )));
    }
    let f = if input.match_user_name.unwrap_or(true) {
        FilterBuilder::new().either(
            FilterBuilder::new().email(email),
            FilterBuilder::new().user_name(email),
        )
    } else {
        FilterBuilder::new().email(email)
    };
    let filter = f.build();
    let page = scim::fetch_page("/Users", filter.as_deref(), 1, 10, "the user list")?;
    let count = page.total_results.unwrap_or(page.resources.len() as u64);
    let first = page.resources.first().map(flatten);
    Ok(json!({
        "found": first.is_some(),
        "user": first,
        "match_count": count.max(page.resources.len() as u64),
    }))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ChangedSinceInput {
    since: String,
    limit: Option<usize>,
}

fn users_changed_since(input: Value, ctx: &Context) -> Result<Value> {
    let input: ChangedSinceInput = parse_input(input)?;
    let since = instant("since", &input.since)?;
    let filter = FilterBuilder::new().modified_after(&since).build();
    let gathered = scim::fetch_all(
        "/Users",
        filter.as_deref(),
        1,
        page_size(ctx, None),
        input.limit.unwrap_or(2000),
        "the user list",
    )?;
    let complete = gathered.next_start_index.is_none();
    let users: Vec<Value> = gathered.items.iter().map(flatten).collect();
    // Without server-side sorting, the newest change seen is a safe
    // watermark only when every changed user was read.
    let newest = users
        .iter()
        .filter_map(|u| u["last_modified"].as_str())
        .filter_map(|t| filter::instant_key(t).map(|k| (k, t)))
        .max_by(|a, b| a.0.cmp(&b.0))
        .map(|(_, t)| t.to_string());
    let next_since = match (complete, newest) {
        (true, Some(newest)) => newest,
        _ => since.clone(),
    };
    Ok(json!({
        "count": users.len(),
        "users": users,
        "complete": complete,
        "since": since,
        "next_since": next_since,
    }))
}

fn read_service_provider_config(input: Value, _ctx: &Context) -> Result<Value> {
    let _: cardhost_sdk::serde_json::Map<String, Value> = parse_input(input)?;
    let raw = scim::send_json(
        scim::get("/ServiceProviderConfig", &[]),
        "the service provider configuration",
    )?;
    let supported = |feature: &str| {
        get_ci(&raw, feature)
            .and_then(|f| get_ci(f, "supported"))
            .and_then(Value::as_bool)
            .unwrap_or(false)
    };
    let schemes: Vec<Value> = match get_ci(&raw, "authenticationSchemes") {
        Some(Value::Array(items)) => items
            .iter()
            .map(|s| json!({"type": get_str(s, "type"), "name": get_str(s, "name")}))
            .collect(),
        _ => Vec::new(),
    };
    Ok(json!({
        "patch_supported": supported("patch"),
        "bulk_supported": supported("bulk"),
        "filter_supported": supported("filter"),
        "max_results": get_ci(&raw, "filter").and_then(|f| get_u64(f, "maxResults")),
        "sort_supported": supported("sort"),
        "etag_supported": supported("etag"),
        "change_password_supported": supported("changePassword"),
        "authentication_schemes": schemes,
        "documentation_uri": get_str(&raw, "documentationUri"),
        "raw": raw,
    }))
}

/// Attribute paths of a schema: `name`, and `name.sub` for sub-attributes.
fn attribute_paths(schema: &Value) -> Vec<String> {
    let mut paths = Vec::new();
    if let Some(Value::Array(attrs)) = get_ci(schema, "attributes") {
        for attr in attrs {
            let Some(name) = get_str(attr, "name") else {
                continue;
            };
            paths.push(name.to_string());
            if let Some(Value::Array(subs)) = get_ci(attr, "subAttributes") {
                for sub in subs {
                    if let Some(s) = get_str(sub, "name") {
                        paths.push(format!("{name}.{s}"));
                    }
                }
            }
        }
    }
    paths
}

fn list_schemas(input: Value, _ctx: &Context) -> Result<Value> {
    let _: cardhost_sdk::serde_json::Map<String, Value> = parse_input(input)?;
    let body = scim::send_json(scim::get("/Schemas", &[]), "the schema list")?;
    let page = scim::ListPage::from_body(&body)?;
    let schemas: Vec<Value> = page
        .resources
        .iter()
        .filter_map(|s| {
            Some(json!({
                "id": get_str(s, "id")?,
                "name": get_str(s, "name"),
                "description": get_str(s, "description"),
                "attributes": attribute_paths(s),
                "raw": s,
            }))
        })
        .collect();
    Ok(json!({
        "total_results": page.total_results.unwrap_or(schemas.len() as u64),
        "schemas": schemas,
    }))
}

fn if_match(request: Request, version: Option<&str>) -> Request {
    match version.map(str::trim).filter(|v| !v.is_empty()) {
        Some(v) => request.header("if-match", v),
        None => request,
    }
}

fn create_user(input: Value, _ctx: &Context) -> Result<Value> {
    let fields: UserFields = parse_input(input)?;
    let body = fields.to_resource()?;
    let created = scim::send_json(
        scim::with_body(Request::post("/Users"), &body),
        "the new user",
    )?;
    Ok(flatten(&created))
}

/// Replace User's input: the id and version beside the user's fields.
#[derive(Debug)]
struct ReplaceInput {
    id: String,
    version: Option<String>,
    fields: UserFields,
}

fn replace_user(input: Value, _ctx: &Context) -> Result<Value> {
    let mut map = match input {
        Value::Object(m) => m,
        _ => return Err(Error::InvalidInput("the input must be an object".into())),
    };
    // serde's `deny_unknown_fields` does not combine with `flatten`: split
    // the object by hand so unknown fields are still refused.
    let id = map.remove("id");
    let version = map.remove("version");
    let fields: UserFields = parse_input(Value::Object(map))?;
    let input = ReplaceInput {
        id: parse_input(id.unwrap_or(Value::Null))?,
        version: parse_input(version.unwrap_or(Value::Null))?,
        fields,
    };
    let id = user_id(&input.id)?;
    let mut body = input.fields.to_resource()?;
    body["id"] = json!(id);
    let request = if_match(Request::put(scim::user_path(id)), input.version.as_deref());
    let replaced = scim::send_json(scim::with_body(request, &body), &format!("user `{id}`"))?;
    Ok(flatten(&replaced))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PatchInput {
    id: String,
    version: Option<String>,
    operations: Vec<Value>,
}

fn patch(id: &str, version: Option<&str>, operations: Vec<Value>) -> Result<Value> {
    let body = json!({"schemas": [scim::PATCH_OP], "Operations": operations});
    let request = if_match(Request::patch(scim::user_path(id)), version);
    let what = format!("user `{id}`");
    let response = scim::with_body(request, &body).send()?;
    // RFC 7644 §3.5.2: a server may answer 204 without the resource.
    if response.status == 204 {
        let body = scim::send_json(scim::get(&scim::user_path(id), &[]), &what)?;
        return Ok(flatten(&body));
    }
    Ok(flatten(&scim::json_body(response, &what)?))
}

fn patch_user(input: Value, _ctx: &Context) -> Result<Value> {
    let input: PatchInput = parse_input(input)?;
    let id = user_id(&input.id)?;
    for op in &input.operations {
        let kind = op["op"].as_str().unwrap_or("");
        if kind != "remove" && op.get("value").is_none() {
            return Err(Error::InvalidInput(format!(
                "a `{kind}` operation needs a `value`"
            )));
        }
        if kind == "remove" && op.get("path").is_none() {
            return Err(Error::InvalidInput(
                "a `remove` operation needs a `path`".into(),
            ));
        }
    }
    patch(id, input.version.as_deref(), input.operations)
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct DeactivateInput {
    id: String,
    version: Option<String>,
}

fn deactivate_user(input: Value, _ctx: &Context) -> Result<Value> {
    let input: DeactivateInput = parse_input(input)?;
    let id = user_id(&input.id)?;
    patch(
        id,
        input.version.as_deref(),
        vec![json!({"op": "replace", "path": "active", "value": false})],
    )
}

fn permissions() -> Vec<Permission> {
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

fn card(id: &str, title: &str, description: &str, input: Value, output: Value) -> CardEntry {
    CardEntry::new(id, title)
        .description(description)
        .input(input)
        .output(output)
}

impl Connector for FourthScim {
    fn manifest() -> Manifest {
        let oauth = OAuth2::new("{token_url}").scope("{scope}");
        let auth = AuthMethod::new(
            "client-credentials",
            "OAuth client (client credentials)",
            AuthScheme::OAuth2ClientCredentials(oauth),
        )
        .secret(
            SecretField::new("client_secret", "Client secret")
                .description("The OAuth client secret Fourth issued with the client id."),
        );
        let mut manifest = Manifest::new("fourth-scim", "Fourth Account SCIM", env!("CARGO_PKG_VERSION"))
            .description(
                "Reads Fourth user accounts (Fourth Account ID, name, work location, job title, country, \
                 preferred language, timezone, work email) through Fourth's SCIM 2.0 API with OAuth2 \
                 client credentials, for provisioning users in other systems.",
            )
            .connection_schema(schemas::connection())
            .auth(auth)
            .environment(Environment::new("default", "{base_url}"));
        for permission in permissions() {
            manifest = manifest.permission(permission);
        }
        manifest
            .card(
                card(
                    "list-users",
                    "List Users",
                    "Lists users, filtered by userName, email, externalId, active, last change or a raw SCIM \
                     filter; one page (startIndex/count) or every page up to a limit.",
                    schemas::list_users_input(),
                    schemas::list_users_output(),
                )
                .permission(USERS_READ),
            )
            .card(
                card(
                    "read-user",
                    "Read User",
                    "Reads one user by Fourth Account ID; `found` is false when there is none.",
                    schemas::read_user_input(),
                    schemas::read_user_output(),
                )
                .permission(USERS_READ),
            )
            .card(
                card(
                    "find-user-by-email",
                    "Find User by Email",
                    "Finds the user with an email address (or that userName).",
                    schemas::find_user_by_email_input(),
                    schemas::find_user_by_email_output(),
                )
                .permission(USERS_READ),
            )
            .card(
                card(
                    "users-changed-since",
                    "Users Changed Since",
                    "Incremental sync: users changed after a moment (meta.lastModified), and the moment to \
                     pass next time.",
                    schemas::users_changed_since_input(),
                    schemas::users_changed_since_output(),
                )
                .permission(USERS_READ),
            )
            .card(
                card(
                    "read-service-provider-config",
                    "Read Service Provider Config",
                    "What the SCIM server supports: filtering and its page limit, PATCH, sorting, ETags.",
                    schemas::no_input(),
                    schemas::service_provider_config_output(),
                )
                .permission(DISCOVERY_READ),
            )
            .card(
                card(
                    "list-schemas",
                    "List Schemas",
                    "The SCIM schemas the server publishes, with their attribute paths.",
                    schemas::no_input(),
                    schemas::list_schemas_output(),
                )
                .permission(DISCOVERY_READ),
            )
            .card(
                card(
                    "create-user",
                    "Create User",
                    "Creates a user (POST /Users). Needs the `users-write` permission and a server that accepts writes.",
                    schemas::create_user_input(),
                    schemas::user(),
                )
                .permission(USERS_WRITE),
            )
            .card(
                card(
                    "replace-user",
                    "Replace User",
                    "Replaces a user (PUT /Users/{id}). Needs the `users-write` permission.",
                    schemas::replace_user_input(),
                    schemas::user(),
                )
                .permission(USERS_WRITE),
            )
            .card(
                card(
                    "patch-user",
                    "Patch User",
                    "Changes attributes of a user with SCIM PATCH operations. Needs the `users-write` permission.",
                    schemas::patch_user_input(),
                    schemas::user(),
                )
                .permission(USERS_WRITE)
                .permission(USERS_READ),
            )
            .card(
                card(
                    "deactivate-user",
                    "Deactivate User",
                    "Sets a user's `active` to false (SCIM PATCH). Needs the `users-write` permission.",
                    schemas::deactivate_user_input(),
                    schemas::user(),
                )
                .permission(USERS_WRITE)
                .permission(USERS_READ),
            )
    }

    fn invoke(card: &str, input: Value, ctx: &Context) -> Result<Value> {
        match card {
            "list-users" => list_users(input, ctx),
            "read-user" => read_user(input, ctx),
            "find-user-by-email" => find_user_by_email(input, ctx),
            "users-changed-since" => users_changed_since(input, ctx),
            "read-service-provider-config" => read_service_provider_config(input, ctx),
            "list-schemas" => list_schemas(input, ctx),
            "create-user" => create_user(input, ctx),
            "replace-user" => replace_user(input, ctx),
            "patch-user" => patch_user(input, ctx),
            "deactivate-user" => deactivate_user(input, ctx),
            other => Err(Error::InvalidInput(format!("unknown card `{other}`"))),
        }
    }

    fn test_connection(ctx: &Context) -> ConnectionReport {
        report::test_connection(ctx)
    }
}

cardhost_sdk::export_connector!(FourthScim);

#[cfg(test)]
mod tests {
    use super::*;
    use cardhost_sdk::http::Response;
    use cardhost_sdk::testing::mock_http;
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
        let out = FourthScim::invoke(
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
        let out = FourthScim::invoke("list-users", json!({"all_pages": true, "count": 5}), &ctx())
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
        let out = FourthScim::invoke(
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
        let err = FourthScim::invoke("list-users", json!({"limit": 4}), &ctx());
        assert!(matches!(err, Err(Error::InvalidInput(m)) if m.contains("all_pages")));
        let err = FourthScim::invoke("list-users", json!({"filter": "userName eq 'x'"}), &ctx());
        assert!(matches!(err, Err(Error::InvalidInput(_))));
        let err = FourthScim::invoke("list-users", json!({"modified_since": "last week"}), &ctx());
        assert!(matches!(err, Err(Error::InvalidInput(m)) if m.contains("modified_since")));
    }

    #[test]
    fn read_user_turns_a_scim_404_into_not_found_output() {
        mock_http(|req| {
            assert_eq!(req.url, "/Users/a%2Fb");
            reply(
                404,
                json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:Error"], "status": 404, "detail": "Resource a/b not found"}),
            )
        });
        let out = FourthScim::invoke("read-user", json!({"id": "a/b"}), &ctx()).unwrap();
        assert_eq!(out, json!({"found": false, "user": null}));

        mock_http(|_| {
            Ok(Response {
                status: 404,
                headers: vec![("content-type".into(), "text/html".into())],
                body: b"<h1>Not Found</h1>".to_vec(),
            })
        });
        let err = FourthScim::invoke("read-user", json!({"id": "x"}), &ctx());
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
        let out = FourthScim::invoke("read-user", json!({"id": "x"}), &ctx()).unwrap();
        assert_eq!(out["found"], true);
        assert_eq!(out["user"]["user_name"], "jo");
    }

    #[test]
    fn changed_since_returns_a_watermark_only_when_complete() {
        let seen = Rc::new(RefCell::new(Vec::new()));
        serve(5, 100, seen.clone());
        let out = FourthScim::invoke(
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
        let out = FourthScim::invoke(
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
        let out = FourthScim::invoke(
            "find-user-by-email",
            json!({"email": " a.b@x.example "}),
            &ctx(),
        )
        .unwrap();
        assert_eq!(out["found"], true);
        assert_eq!(out["match_count"], 2);
        mock_http(|_| reply(200, json!({"totalResults": 0})));
        let out = FourthScim::invoke(
            "find-user-by-email",
            json!({"email": "no@x.example", "match_user_name": false}),
            &ctx(),
        )
        .unwrap();
        assert_eq!(out, json!({"found": false, "user": null, "match_count": 0}));
    }

    #[test]
    fn writes_send_scim_bodies() {
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
        let out = FourthScim::invoke(
            "deactivate-user",
            json!({"id": "u1", "version": "W/\"3\""}),
            &ctx(),
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
        let out = FourthScim::invoke(
            "replace-user",
            json!({"id": "u9", "user_name": "new", "job_title": "Host"}),
            &ctx(),
        )
        .unwrap();
        assert_eq!(out["job_title"], "Host");
        let err = FourthScim::invoke(
            "replace-user",
            json!({"id": "u9", "user_name": "new", "bogus": 1}),
            &ctx(),
        );
        assert!(matches!(err, Err(Error::InvalidInput(_))));
    }
}
