//! The cards, each with its typed input and output; the schemas are derived
//! from them.

use crate::filter::{self, FilterBuilder};
use crate::scim::{self, Gathered, get_ci, get_str, get_u64};
use crate::user::{User, UserFields, flatten};
use crate::{DISCOVERY_READ, USERS_READ, USERS_WRITE};
use cardhost_sdk::http::{Request, Response, error_message};
use cardhost_sdk::serde_json::Map;
use cardhost_sdk::{Card, Context, Error, JsonSchema, List, NoInput, Result, Update, Value, json};
use serde::{Deserialize, Serialize};

/// Default page size.
pub const DEFAULT_PAGE_SIZE: u32 = 100;
/// Largest `count` a card sends.
pub const MAX_PAGE_SIZE: u32 = 1000;

pub(crate) fn page_size(ctx: &Context, count: Option<u32>) -> u32 {
    count
        .or_else(|| {
            ctx.fields
                .get("page_size")
                .and_then(Value::as_u64)
                .and_then(|n| u32::try_from(n).ok())
        })
        .unwrap_or(DEFAULT_PAGE_SIZE)
        .clamp(1, MAX_PAGE_SIZE)
}

fn instant(field: &str, text: &str) -> Result<String> {
    filter::normalise_instant(text).ok_or_else(|| {
        Error::InvalidInput(format!(
            "`{field}` must be an ISO 8601 date (2025-05-01) or date-time with a zone (2025-05-01T09:00:00Z), not `{text}`"
        ))
    })
}

/// List Users' input.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ListUsersInput {
    /// Only the user with this userName (`userName eq`, case-insensitive).
    #[schemars(length(min = 1))]
    pub user_name: Option<String>,
    /// Only users with this email address (`emails.value eq`).
    #[schemars(length(min = 1))]
    pub email: Option<String>,
    /// Only users with this externalId (`externalId eq`, case-sensitive).
    #[schemars(length(min = 1))]
    pub external_id: Option<String>,
    /// Only active (true) or inactive (false) users.
    pub active: Option<bool>,
    /// Only users changed after this moment (`meta.lastModified gt`): an ISO
    /// 8601 date or date-time with a zone.
    #[schemars(length(min = 10))]
    pub modified_since: Option<String>,
    /// A raw SCIM filter, e.g. `title eq "Head Chef" or title eq "Sous
    /// Chef"`. Combined with the fields above by `and`.
    #[schemars(length(min = 1, max = 4000))]
    pub filter: Option<String>,
    /// 1-based index of the first user to return (SCIM `startIndex`).
    #[schemars(range(min = 1), extend("default" = 1))]
    pub start_index: Option<u64>,
    /// Users to ask for per page (SCIM `count`); defaults to the
    /// connection's page size. Servers may return fewer.
    #[schemars(range(min = 1, max = MAX_PAGE_SIZE))]
    pub count: Option<u32>,
    /// Return every page from `start_index` up to `limit`, instead of one
    /// page.
    #[schemars(extend("default" = false))]
    pub all_pages: Option<bool>,
    /// With `all_pages`: stop after this many users (1,000 when left out).
    /// Not a schema `default`: the host would fill it in for one page too.
    #[schemars(range(min = 1, max = 100000))]
    pub limit: Option<usize>,
}

/// The SCIM filter of List Users, built from its fields.
pub fn list_filter(input: &ListUsersInput) -> Result<Option<String>> {
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

/// The SCIM paging details of a user list.
#[derive(Debug, Serialize, JsonSchema)]
pub struct ScimPage {
    /// Users returned.
    pub items_per_page: usize,
    /// Users matching, as the server counts them.
    pub total_results: Option<u64>,
    /// Index of the first user returned.
    pub start_index: u64,
    /// `start_index` of the next page; null when there is none.
    pub next_start_index: Option<u64>,
    /// The SCIM filter that was sent.
    pub filter: Option<String>,
}

/// List Users.
pub struct ListUsers;

impl Card for ListUsers {
    type Input = ListUsersInput;
    type Output = List<User, ScimPage>;
    const ID: &'static str = "list-users";
    const TITLE: &'static str = "List Users";
    const DESCRIPTION: &'static str = "Lists users, filtered by userName, email, externalId, active, last change or a raw SCIM \
         filter; one page (startIndex/count) or every page up to a limit.";
    const PERMISSIONS: &'static [&'static str] = &[USERS_READ];

    fn run(input: ListUsersInput, ctx: &Context) -> Result<Self::Output> {
        if input.limit.is_some() && input.all_pages != Some(true) {
            return Err(Error::InvalidInput(
                "`limit` applies only with `all_pages: true`; for one page use `count`".into(),
            ));
        }
        let filter = list_filter(&input)?;
        let start = input.start_index.unwrap_or(1).max(1);
        let count = page_size(ctx, input.count);
        let what = "the user list";
        let gathered: Gathered = if input.all_pages == Some(true) {
            let limit = input.limit.unwrap_or(1000);
            scim::fetch_all("/Users", filter.as_deref(), start, count, limit, what)?
        } else {
            scim::fetch_one("/Users", filter.as_deref(), start, count, what)?
        };
        let users: Vec<User> = gathered.items.iter().map(flatten).collect();
        let page = ScimPage {
            items_per_page: users.len(),
            total_results: gathered.total_results,
            start_index: start,
            next_start_index: gathered.next_start_index,
            filter,
        };
        Ok(List::with_paging(
            users,
            gathered.next_start_index.is_some(),
            page,
        ))
    }
}

/// An input naming one user.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct IdInput {
    /// The Fourth Account ID (SCIM `id`).
    #[schemars(length(min = 1, max = 256))]
    pub id: String,
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
fn is_scim_not_found(response: &Response) -> bool {
    let json = response.header("content-type").is_none_or(scim::is_json);
    json && cardhost_sdk::serde_json::from_slice::<Value>(&response.body)
        .is_ok_and(|b| b.is_object())
}

/// Read User's output.
#[derive(Debug, Serialize, JsonSchema)]
pub struct Found {
    /// Whether Fourth has a user with this id.
    pub found: bool,
    /// The user, or null.
    pub user: Option<User>,
}

/// Read User.
pub struct ReadUser;

impl Card for ReadUser {
    type Input = IdInput;
    type Output = Found;
    const ID: &'static str = "read-user";
    const TITLE: &'static str = "Read User";
    const DESCRIPTION: &'static str =
        "Reads one user by Fourth Account ID; `found` is false when there is none.";
    const PERMISSIONS: &'static [&'static str] = &[USERS_READ];

    fn run(input: IdInput, _ctx: &Context) -> Result<Found> {
        let id = user_id(&input.id)?;
        let response = scim::get(&scim::user_path(id), &[]).send()?;
        if response.status == 404 {
            if is_scim_not_found(&response) {
                return Ok(Found {
                    found: false,
                    user: None,
                });
            }
            return Err(Error::NotFound(format!(
                "the server has no SCIM Users endpoint here ({}); check the connection's `base_url`",
                error_message(&response)
            )));
        }
        let body = scim::json_body(response, &format!("user `{id}`"))?;
        Ok(Found {
            found: true,
            user: Some(flatten(&body)),
        })
    }
}

/// Find User by Email's input.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FindByEmailInput {
    /// The email address to look for (case-insensitive).
    #[schemars(length(min = 3, max = 320))]
    pub email: String,
    /// Also match users whose userName is this address (Fourth users often
    /// sign in with their email).
    #[schemars(extend("default" = true))]
    pub match_user_name: Option<bool>,
}

/// Find User by Email's output.
#[derive(Debug, Serialize, JsonSchema)]
pub struct FoundByEmail {
    /// Whether a user has this address.
    pub found: bool,
    /// The first user found, or null.
    pub user: Option<User>,
    /// How many users have this address; more than one deserves a look.
    pub match_count: u64,
}

/// Find User by Email.
pub struct FindUserByEmail;

impl Card for FindUserByEmail {
    type Input = FindByEmailInput;
    type Output = FoundByEmail;
    const ID: &'static str = "find-user-by-email";
    const TITLE: &'static str = "Find User by Email";
    const DESCRIPTION: &'static str = "Finds the user with an email address (or that userName).";
    const PERMISSIONS: &'static [&'static str] = &[USERS_READ];

    fn run(input: FindByEmailInput, _ctx: &Context) -> Result<FoundByEmail> {
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
        let returned = page.resources.len() as u64;
        let count = page.total_results.unwrap_or(returned);
        let user = page.resources.first().map(flatten);
        Ok(FoundByEmail {
            found: user.is_some(),
            user,
            match_count: count.max(returned),
        })
    }
}

/// Users Changed Since's input.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ChangedSinceInput {
    /// Return users changed after this moment: the `next_since` of the
    /// previous run, or an ISO 8601 date or date-time with a zone for the
    /// first.
    #[schemars(length(min = 10))]
    pub since: String,
    /// Stop after this many users.
    #[schemars(range(min = 1, max = 100000), extend("default" = 2000))]
    pub limit: Option<usize>,
}

/// Users Changed Since's output.
#[derive(Debug, Serialize, JsonSchema)]
pub struct Changes {
    /// How many users were returned.
    pub count: usize,
    /// Users changed after `since`.
    pub users: Vec<User>,
    /// Whether every changed user was returned. When false, `next_since`
    /// stays at `since`: raise `limit` and run again.
    pub complete: bool,
    /// The moment asked for, as sent to Fourth.
    pub since: String,
    /// Pass this as `since` next time: the latest `last_modified` returned,
    /// or `since` when nothing changed or the run was incomplete.
    pub next_since: String,
}

/// Users Changed Since.
pub struct UsersChangedSince;

impl Card for UsersChangedSince {
    type Input = ChangedSinceInput;
    type Output = Changes;
    const ID: &'static str = "users-changed-since";
    const TITLE: &'static str = "Users Changed Since";
    const DESCRIPTION: &'static str = "Incremental sync: users changed after a moment (meta.lastModified), and the moment to \
         pass next time.";
    const PERMISSIONS: &'static [&'static str] = &[USERS_READ];

    fn run(input: ChangedSinceInput, ctx: &Context) -> Result<Changes> {
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
        let users: Vec<User> = gathered.items.iter().map(flatten).collect();
        // Without server-side sorting, the newest change seen is a safe
        // watermark only when every changed user was read.
        let newest = users
            .iter()
            .filter_map(|u| u.last_modified.as_deref())
            .filter_map(|t| filter::instant_key(t).map(|k| (k, t)))
            .max_by(|a, b| a.0.cmp(&b.0))
            .map(|(_, t)| t.to_string());
        let next_since = match (complete, newest) {
            (true, Some(newest)) => newest,
            _ => since.clone(),
        };
        Ok(Changes {
            count: users.len(),
            users,
            complete,
            since,
            next_since,
        })
    }
}

/// One authentication scheme the server offers.
#[derive(Debug, Serialize, JsonSchema)]
pub struct AuthenticationScheme {
    /// Its type, e.g. `oauthbearertoken`.
    #[serde(rename = "type")]
    pub kind: Option<String>,
    pub name: Option<String>,
}

/// What a SCIM server supports.
#[derive(Debug, Serialize, JsonSchema)]
pub struct ServiceProviderConfig {
    /// Whether PATCH (and so writes) is supported.
    pub patch_supported: bool,
    /// Whether bulk operations are supported.
    pub bulk_supported: bool,
    /// Whether filtering is supported.
    pub filter_supported: bool,
    /// Most users one page returns.
    pub max_results: Option<u64>,
    /// Whether sorting is supported.
    pub sort_supported: bool,
    /// Whether ETags are supported.
    pub etag_supported: bool,
    /// Whether password changes are supported.
    pub change_password_supported: bool,
    /// The authentication schemes offered.
    pub authentication_schemes: Vec<AuthenticationScheme>,
    /// Where the server's documentation is.
    pub documentation_uri: Option<String>,
    /// The configuration as the server sent it.
    #[schemars(with = "Map<String, Value>")]
    pub raw: Value,
}

/// Read Service Provider Config.
pub struct ReadServiceProviderConfig;

impl Card for ReadServiceProviderConfig {
    type Input = NoInput;
    type Output = ServiceProviderConfig;
    const ID: &'static str = "read-service-provider-config";
    const TITLE: &'static str = "Read Service Provider Config";
    const DESCRIPTION: &'static str =
        "What the SCIM server supports: filtering and its page limit, PATCH, sorting, ETags.";
    const PERMISSIONS: &'static [&'static str] = &[DISCOVERY_READ];

    fn run(_: NoInput, _ctx: &Context) -> Result<ServiceProviderConfig> {
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
        let authentication_schemes = match get_ci(&raw, "authenticationSchemes") {
            Some(Value::Array(items)) => items
                .iter()
                .map(|s| AuthenticationScheme {
                    kind: get_str(s, "type").map(str::to_string),
                    name: get_str(s, "name").map(str::to_string),
                })
                .collect(),
            _ => Vec::new(),
        };
        Ok(ServiceProviderConfig {
            patch_supported: supported("patch"),
            bulk_supported: supported("bulk"),
            filter_supported: supported("filter"),
            max_results: get_ci(&raw, "filter").and_then(|f| get_u64(f, "maxResults")),
            sort_supported: supported("sort"),
            etag_supported: supported("etag"),
            change_password_supported: supported("changePassword"),
            authentication_schemes,
            documentation_uri: get_str(&raw, "documentationUri").map(str::to_string),
            raw,
        })
    }
}

/// One SCIM schema the server publishes.
#[derive(Debug, Serialize, JsonSchema)]
pub struct SchemaInfo {
    /// Schema URN.
    pub id: String,
    pub name: Option<String>,
    /// What it is for.
    pub description: Option<String>,
    /// Attribute paths, sub-attributes as `name.sub`.
    pub attributes: Vec<String>,
    /// The schema as the server sent it.
    #[schemars(with = "Map<String, Value>")]
    pub raw: Value,
}

/// List Schemas' output.
#[derive(Debug, Serialize, JsonSchema)]
pub struct Schemas {
    /// How many schemas the server has.
    pub total_results: u64,
    /// The schemas.
    pub schemas: Vec<SchemaInfo>,
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

/// List Schemas.
pub struct ListSchemas;

impl Card for ListSchemas {
    type Input = NoInput;
    type Output = Schemas;
    const ID: &'static str = "list-schemas";
    const TITLE: &'static str = "List Schemas";
    const DESCRIPTION: &'static str =
        "The SCIM schemas the server publishes, with their attribute paths.";
    const PERMISSIONS: &'static [&'static str] = &[DISCOVERY_READ];

    fn run(_: NoInput, _ctx: &Context) -> Result<Schemas> {
        let body = scim::send_json(scim::get("/Schemas", &[]), "the schema list")?;
        let page = scim::ListPage::from_body(&body)?;
        let schemas: Vec<SchemaInfo> = page
            .resources
            .iter()
            .filter_map(|s| {
                Some(SchemaInfo {
                    id: get_str(s, "id")?.to_string(),
                    name: get_str(s, "name").map(str::to_string),
                    description: get_str(s, "description").map(str::to_string),
                    attributes: attribute_paths(s),
                    raw: s.clone(),
                })
            })
            .collect();
        Ok(Schemas {
            total_results: page.total_results.unwrap_or(schemas.len() as u64),
            schemas,
        })
    }
}

fn if_match(request: Request, version: Option<&str>) -> Request {
    match version.map(str::trim).filter(|v| !v.is_empty()) {
        Some(v) => request.header("if-match", v),
        None => request,
    }
}

/// Create User.
pub struct CreateUser;

impl Card for CreateUser {
    type Input = UserFields;
    type Output = User;
    const ID: &'static str = "create-user";
    const TITLE: &'static str = "Create User";
    const DESCRIPTION: &'static str = "Creates a user (POST /Users). Needs the `users-write` permission and a server that accepts writes.";
    const PERMISSIONS: &'static [&'static str] = &[USERS_WRITE];

    fn run(fields: UserFields, _ctx: &Context) -> Result<User> {
        let body = fields.to_resource()?;
        let request = scim::with_body(Request::post("/Users"), &body);
        Ok(flatten(&scim::send_json(request, "the new user")?))
    }
}

/// Replace User's input: the id and version beside the user's fields.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ReplaceUserInput {
    /// The Fourth Account ID (SCIM `id`).
    #[schemars(length(min = 1, max = 256))]
    pub id: String,
    /// Only change the user if its `version` (ETag) is still this
    /// (`If-Match`).
    #[schemars(length(min = 1))]
    pub version: Option<String>,
    #[serde(flatten)]
    pub fields: UserFields,
}

/// Replace User.
pub struct ReplaceUser;

impl Card for ReplaceUser {
    type Input = ReplaceUserInput;
    type Output = User;
    const ID: &'static str = "replace-user";
    const TITLE: &'static str = "Replace User";
    const DESCRIPTION: &'static str =
        "Replaces a user (PUT /Users/{id}). Needs the `users-write` permission.";
    const PERMISSIONS: &'static [&'static str] = &[USERS_WRITE];

    fn run(input: ReplaceUserInput, _ctx: &Context) -> Result<User> {
        let id = user_id(&input.id)?;
        let mut body = input.fields.to_resource()?;
        body["id"] = json!(id);
        let request = if_match(Request::put(scim::user_path(id)), input.version.as_deref());
        let replaced = scim::send_json(scim::with_body(request, &body), &format!("user `{id}`"))?;
        Ok(flatten(&replaced))
    }
}

/// A SCIM PATCH operation's kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Op {
    /// Add a value.
    Add,
    /// Replace a value.
    Replace,
    /// Remove a value.
    Remove,
}

/// One SCIM PATCH operation (RFC 7644 §3.5.2).
#[derive(Debug, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Operation {
    /// add, replace or remove.
    pub op: Op,
    /// Attribute path, e.g. `name.givenName` or `emails[type eq "work"].value`.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1))]
    pub path: Option<String>,
    /// The new value (not for remove).
    #[serde(default, skip_serializing_if = "Update::is_keep")]
    pub value: Update<Value>,
}

/// Patch User's input.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PatchInput {
    /// The Fourth Account ID (SCIM `id`).
    #[schemars(length(min = 1, max = 256))]
    pub id: String,
    /// Only change the user if its `version` (ETag) is still this
    /// (`If-Match`).
    #[schemars(length(min = 1))]
    pub version: Option<String>,
    /// SCIM PATCH operations (RFC 7644 §3.5.2), e.g. {"op": "replace",
    /// "path": "title", "value": "Head Chef"}.
    #[schemars(length(min = 1, max = 100))]
    pub operations: Vec<Operation>,
}

fn patch(id: &str, version: Option<&str>, operations: &[Operation]) -> Result<User> {
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

/// Patch User.
pub struct PatchUser;

impl Card for PatchUser {
    type Input = PatchInput;
    type Output = User;
    const ID: &'static str = "patch-user";
    const TITLE: &'static str = "Patch User";
    const DESCRIPTION: &'static str = "Changes attributes of a user with SCIM PATCH operations. Needs the `users-write` permission.";
    const PERMISSIONS: &'static [&'static str] = &[USERS_WRITE, USERS_READ];

    fn run(input: PatchInput, _ctx: &Context) -> Result<User> {
        let id = user_id(&input.id)?;
        for op in &input.operations {
            if op.op != Op::Remove && op.value.is_keep() {
                let kind = json!(op.op);
                return Err(Error::InvalidInput(format!(
                    "a `{}` operation needs a `value`",
                    kind.as_str().unwrap_or_default()
                )));
            }
            if op.op == Op::Remove && op.path.is_none() {
                return Err(Error::InvalidInput(
                    "a `remove` operation needs a `path`".into(),
                ));
            }
        }
        patch(id, input.version.as_deref(), &input.operations)
    }
}

/// Deactivate User's input.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DeactivateInput {
    /// The Fourth Account ID (SCIM `id`).
    #[schemars(length(min = 1, max = 256))]
    pub id: String,
    /// Only change the user if its `version` (ETag) is still this
    /// (`If-Match`).
    #[schemars(length(min = 1))]
    pub version: Option<String>,
}

/// Deactivate User.
pub struct DeactivateUser;

impl Card for DeactivateUser {
    type Input = DeactivateInput;
    type Output = User;
    const ID: &'static str = "deactivate-user";
    const TITLE: &'static str = "Deactivate User";
    const DESCRIPTION: &'static str =
        "Sets a user's `active` to false (SCIM PATCH). Needs the `users-write` permission.";
    const PERMISSIONS: &'static [&'static str] = &[USERS_WRITE, USERS_READ];

    fn run(input: DeactivateInput, _ctx: &Context) -> Result<User> {
        let id = user_id(&input.id)?;
        let deactivate = Operation {
            op: Op::Replace,
            path: Some("active".into()),
            value: Update::Set(json!(false)),
        };
        patch(id, input.version.as_deref(), &[deactivate])
    }
}
