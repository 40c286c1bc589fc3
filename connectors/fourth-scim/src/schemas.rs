//! JSON Schemas of the connection fields and of each card's input and output.

use cardhost_sdk::{Value, json};

/// Fourth's documented token endpoint.
pub const FOURTH_TOKEN_URL: &str = "https://api.fourth.com/oauth/connect/token";

/// Default and largest page size.
pub const DEFAULT_PAGE_SIZE: u32 = 100;
/// Largest `count` a card sends.
pub const MAX_PAGE_SIZE: u32 = 1000;

/// Scope tokens as RFC 6749 §3.3 allows them, separated by single spaces.
const SCOPE_PATTERN: &str = "^[\\x21\\x23-\\x5B\\x5D-\\x7E]+( [\\x21\\x23-\\x5B\\x5D-\\x7E]+)*$";

/// Non-secret connection fields.
pub fn connection() -> Value {
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

fn nullable(description: &str) -> Value {
    json!({"type": ["string", "null"], "description": description})
}

/// A user as the cards return it.
pub fn user() -> Value {
    json!({
        "type": "object",
        "required": ["fourth_account_id", "user_name", "resource"],
        "properties": {
            "fourth_account_id": {"type": "string", "description": "The Fourth Account ID (SCIM `id`)."},
            "user_name": {"type": "string", "description": "`userName`: the sign-in name, an email address when the user has one."},
            "external_id": nullable("`externalId`, e.g. the employee number in workforce management."),
            "first_name": nullable("First name (`name.givenName`)."),
            "last_name": nullable("Last name (`name.familyName`)."),
            "display_name": nullable("Name shown in Fourth."),
            "work_email": nullable("Work email; null for the many hospitality staff who have none."),
            "job_title": nullable("Job title (`title`); workforce-management users only."),
            "work_location": nullable("The site the user works at (the work address)."),
            "country": nullable("ISO 3166-1 country code of the work location."),
            "preferred_language": nullable("Preferred language, e.g. en-GB."),
            "locale": nullable("Locale, e.g. en-GB."),
            "timezone": nullable("IANA timezone, e.g. Europe/London."),
            "employee_number": nullable("Enterprise extension `employeeNumber`."),
            "division": nullable("Enterprise extension `division` (job division)."),
            "department": nullable("Enterprise extension `department`."),
            "active": {"type": ["boolean", "null"], "description": "Whether the account is active."},
            "created": nullable("When the account was created (`meta.created`)."),
            "last_modified": nullable("When the account last changed (`meta.lastModified`)."),
            "version": nullable("`meta.version` (ETag), for optimistic writes."),
            "resource": {"type": "object", "description": "The SCIM resource exactly as Fourth returned it."}
        }
    })
}

fn paging_fields(props: &mut Value) {
    props["start_index"] = json!({"type": "integer", "minimum": 1, "default": 1,
        "description": "1-based index of the first user to return (SCIM `startIndex`)."});
    props["count"] = json!({"type": "integer", "minimum": 1, "maximum": MAX_PAGE_SIZE,
        "description": "Users to ask for per page (SCIM `count`); defaults to the connection's page size. Servers may return fewer."});
    props["all_pages"] = json!({"type": "boolean", "default": false,
        "description": "Return every page from `start_index` up to `limit`, instead of one page."});
    props["limit"] = json!({"type": "integer", "minimum": 1, "maximum": 100000, "default": 1000,
        "description": "With `all_pages`: stop after this many users."});
}

/// List Users input.
pub fn list_users_input() -> Value {
    let mut props = json!({
        "user_name": {"type": "string", "minLength": 1, "description": "Only the user with this userName (`userName eq`, case-insensitive)."},
        "email": {"type": "string", "minLength": 1, "description": "Only users with this email address (`emails.value eq`)."},
        "external_id": {"type": "string", "minLength": 1, "description": "Only users with this externalId (`externalId eq`, case-sensitive)."},
        "active": {"type": "boolean", "description": "Only active (true) or inactive (false) users."},
        "modified_since": {"type": "string", "minLength": 10, "description": "Only users changed after this moment (`meta.lastModified gt`): an ISO 8601 date or date-time with a zone."},
        "filter": {"type": "string", "minLength": 1, "maxLength": 4000, "description": "A raw SCIM filter, e.g. `title eq \"Head Chef\" or title eq \"Sous Chef\"`. Combined with the fields above by `and`."}
    });
    paging_fields(&mut props);
    json!({"type": "object", "additionalProperties": false, "properties": props})
}

/// List Users output.
pub fn list_users_output() -> Value {
    json!({
        "type": "object",
        "required": ["users", "total_results", "start_index", "items_per_page", "has_more"],
        "properties": {
            "users": {"type": "array", "items": user(), "description": "The users."},
            "total_results": {"type": ["integer", "null"], "minimum": 0, "description": "Users matching, as the server counts them."},
            "start_index": {"type": "integer", "description": "Index of the first user returned."},
            "items_per_page": {"type": "integer", "description": "Users returned."},
            "next_start_index": {"type": ["integer", "null"], "description": "`start_index` of the next page; null when there is none."},
            "has_more": {"type": "boolean", "description": "Whether more users match than were returned."},
            "filter": {"type": ["string", "null"], "description": "The SCIM filter that was sent."}
        }
    })
}

fn user_id() -> Value {
    json!({"type": "string", "minLength": 1, "maxLength": 256, "description": "The Fourth Account ID (SCIM `id`)."})
}

/// Read User input.
pub fn read_user_input() -> Value {
    json!({
        "type": "object",
        "required": ["id"],
        "additionalProperties": false,
        "properties": {"id": user_id()}
    })
}

/// Read User output.
pub fn read_user_output() -> Value {
    json!({
        "type": "object",
        "required": ["found", "user"],
        "properties": {
            "found": {"type": "boolean", "description": "Whether Fourth has a user with this id."},
            "user": {"oneOf": [user(), {"type": "null"}], "description": "The user, or null."}
        }
    })
}

/// Find User by Email input.
pub fn find_user_by_email_input() -> Value {
    json!({
        "type": "object",
        "required": ["email"],
        "additionalProperties": false,
        "properties": {
            "email": {"type": "string", "minLength": 3, "maxLength": 320, "description": "The email address to look for (case-insensitive)."},
            "match_user_name": {"type": "boolean", "default": true, "description": "Also match users whose userName is this address (Fourth users often sign in with their email)."}
        }
    })
}

/// Find User by Email output.
pub fn find_user_by_email_output() -> Value {
    json!({
        "type": "object",
        "required": ["found", "user", "match_count"],
        "properties": {
            "found": {"type": "boolean", "description": "Whether a user has this address."},
            "user": {"oneOf": [user(), {"type": "null"}], "description": "The first user found, or null."},
            "match_count": {"type": "integer", "minimum": 0, "description": "How many users have this address; more than one deserves a look."}
        }
    })
}

/// Users Changed Since input.
pub fn users_changed_since_input() -> Value {
    json!({
        "type": "object",
        "required": ["since"],
        "additionalProperties": false,
        "properties": {
            "since": {"type": "string", "minLength": 10, "description": "Return users changed after this moment: the `next_since` of the previous run, or an ISO 8601 date or date-time with a zone for the first."},
            "limit": {"type": "integer", "minimum": 1, "maximum": 100000, "default": 2000, "description": "Stop after this many users."}
        }
    })
}

/// Users Changed Since output.
pub fn users_changed_since_output() -> Value {
    json!({
        "type": "object",
        "required": ["users", "count", "complete", "next_since", "since"],
        "properties": {
            "users": {"type": "array", "items": user(), "description": "Users changed after `since`."},
            "count": {"type": "integer", "minimum": 0, "description": "How many users were returned."},
            "complete": {"type": "boolean", "description": "Whether every changed user was returned. When false, `next_since` stays at `since`: raise `limit` and run again."},
            "since": {"type": "string", "description": "The moment asked for, as sent to Fourth."},
            "next_since": {"type": "string", "description": "Pass this as `since` next time: the latest `last_modified` returned, or `since` when nothing changed or the run was incomplete."}
        }
    })
}

/// Read Service Provider Config output.
pub fn service_provider_config_output() -> Value {
    json!({
        "type": "object",
        "required": ["patch_supported", "filter_supported", "raw"],
        "properties": {
            "patch_supported": {"type": "boolean", "description": "Whether PATCH (and so writes) is supported."},
            "bulk_supported": {"type": "boolean"},
            "filter_supported": {"type": "boolean"},
            "max_results": {"type": ["integer", "null"], "description": "Most users one page returns."},
            "sort_supported": {"type": "boolean"},
            "etag_supported": {"type": "boolean"},
            "change_password_supported": {"type": "boolean"},
            "authentication_schemes": {"type": "array", "items": {"type": "object", "properties": {
                "type": {"type": ["string", "null"]}, "name": {"type": ["string", "null"]}}}},
            "documentation_uri": {"type": ["string", "null"]},
            "raw": {"type": "object", "description": "The configuration as the server sent it."}
        }
    })
}

/// An empty input.
pub fn no_input() -> Value {
    json!({"type": "object", "additionalProperties": false, "properties": {}})
}

/// List Schemas output.
pub fn list_schemas_output() -> Value {
    json!({
        "type": "object",
        "required": ["schemas", "total_results"],
        "properties": {
            "schemas": {"type": "array", "items": {
                "type": "object",
                "required": ["id", "attributes"],
                "properties": {
                    "id": {"type": "string", "description": "Schema URN."},
                    "name": {"type": ["string", "null"]},
                    "description": {"type": ["string", "null"]},
                    "attributes": {"type": "array", "items": {"type": "string"}, "description": "Attribute paths, sub-attributes as `name.sub`."},
                    "raw": {"type": "object", "description": "The schema as the server sent it."}
                }
            }},
            "total_results": {"type": "integer", "minimum": 0}
        }
    })
}

fn optional_text(description: &str) -> Value {
    json!({"type": "string", "maxLength": 1024, "description": description})
}

fn user_field_properties() -> Value {
    json!({
        "user_name": {"type": "string", "minLength": 1, "maxLength": 256, "description": "`userName`: unique sign-in name."},
        "first_name": optional_text("First name."),
        "last_name": optional_text("Last name."),
        "display_name": optional_text("Display name."),
        "work_email": optional_text("Work email."),
        "external_id": optional_text("`externalId`."),
        "job_title": optional_text("Job title."),
        "work_location": optional_text("Site the user works at."),
        "country": {"type": "string", "pattern": "^[A-Za-z]{2}$", "description": "ISO 3166-1 alpha-2 country of the work location."},
        "preferred_language": optional_text("Preferred language, e.g. en-GB."),
        "locale": optional_text("Locale, e.g. en-GB."),
        "timezone": optional_text("IANA timezone, e.g. Europe/London."),
        "employee_number": optional_text("Enterprise `employeeNumber`."),
        "division": optional_text("Enterprise `division`."),
        "department": optional_text("Enterprise `department`."),
        "active": {"type": "boolean", "default": true, "description": "Whether the account is active."},
        "attributes": {"type": "object", "description": "Further SCIM attributes, sent as given (not `id`, `meta` or `schemas`)."}
    })
}

/// Create User input.
pub fn create_user_input() -> Value {
    json!({
        "type": "object",
        "required": ["user_name"],
        "additionalProperties": false,
        "properties": user_field_properties()
    })
}

fn version() -> Value {
    json!({"type": "string", "minLength": 1, "description": "Only change the user if its `version` (ETag) is still this (`If-Match`)."})
}

/// Replace User input.
pub fn replace_user_input() -> Value {
    let mut props = user_field_properties();
    props["id"] = user_id();
    props["version"] = version();
    json!({
        "type": "object",
        "required": ["id", "user_name"],
        "additionalProperties": false,
        "properties": props
    })
}

/// Patch User input.
pub fn patch_user_input() -> Value {
    json!({
        "type": "object",
        "required": ["id", "operations"],
        "additionalProperties": false,
        "properties": {
            "id": user_id(),
            "version": version(),
            "operations": {
                "type": "array",
                "minItems": 1,
                "maxItems": 100,
                "description": "SCIM PATCH operations (RFC 7644 §3.5.2), e.g. {\"op\": \"replace\", \"path\": \"title\", \"value\": \"Head Chef\"}.",
                "items": {
                    "type": "object",
                    "required": ["op"],
                    "additionalProperties": false,
                    "properties": {
                        "op": {"type": "string", "enum": ["add", "replace", "remove"]},
                        "path": {"type": "string", "minLength": 1, "description": "Attribute path, e.g. `name.givenName` or `emails[type eq \"work\"].value`."},
                        "value": {"description": "The new value (not for remove)."}
                    }
                }
            }
        }
    })
}

/// Deactivate User input.
pub fn deactivate_user_input() -> Value {
    json!({
        "type": "object",
        "required": ["id"],
        "additionalProperties": false,
        "properties": {"id": user_id(), "version": version()}
    })
}
