//! Fourth's SCIM users as flow builders see them: flat fields for what
//! Fourth documents, beside the raw SCIM resource; and SCIM users built from
//! the write cards' inputs.
//!
//! Where each field comes from (attribute names matched case-insensitively):
//!
//! | field | SCIM attribute |
//! | --- | --- |
//! | `fourth_account_id` | `id` |
//! | `user_name` | `userName` |
//! | `external_id` | `externalId` |
//! | `first_name`, `last_name` | `name.givenName`, `name.familyName` |
//! | `display_name` | `displayName`, else `name.formatted`, else first + last |
//! | `work_email` | `emails` of type `work`, else the primary one, else the first; `null` when the user has none |
//! | `job_title` | `title` (workforce-management users only) |
//! | `work_location` | the `work` address's `formatted` (the site), else its `locality` |
//! | `country` | the `work` address's `country`, else the region of `locale` |
//! | `preferred_language`, `locale`, `timezone` | `preferredLanguage`, `locale`, `timezone` |
//! | `employee_number`, `division`, `department` | the enterprise extension's `employeeNumber`, `division`, `department` |
//! | `active` | `active` |
//! | `created`, `last_modified` | `meta.created`, `meta.lastModified` |

use crate::scim::{get_ci, get_str};
use cardhost_sdk::serde_json::Map;
use cardhost_sdk::{Error, JsonSchema, ListItem, Result, Value, json};
use serde::{Deserialize, Serialize};

/// The core User schema.
pub const CORE_USER: &str = "urn:ietf:params:scim:schemas:core:2.0:User";

/// The enterprise User extension.
pub const ENTERPRISE_USER: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";

/// The entries of a multi-valued attribute (a single object counts as one).
fn entries(resource: &Value, attr: &str) -> Vec<Value> {
    match get_ci(resource, attr) {
        Some(Value::Array(items)) => items.clone(),
        Some(Value::Object(o)) => vec![Value::Object(o.clone())],
        _ => Vec::new(),
    }
}

/// The entry of type `kind`, else the primary one, else the first.
fn preferred_entry(resource: &Value, attr: &str, kind: &str) -> Option<Value> {
    let items = entries(resource, attr);
    items
        .iter()
        .find(|e| get_str(e, "type").is_some_and(|t| t.eq_ignore_ascii_case(kind)))
        .or_else(|| {
            items
                .iter()
                .find(|e| get_ci(e, "primary").and_then(Value::as_bool) == Some(true))
        })
        .or_else(|| items.first())
        .cloned()
}

fn text(value: Option<&str>) -> Option<String> {
    value.map(str::to_string)
}

/// A user as the cards return it: flat fields beside the SCIM resource.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
pub struct User {
    /// The Fourth Account ID (SCIM `id`).
    pub fourth_account_id: Option<String>,
    /// `userName`: the sign-in name, an email address when the user has one.
    pub user_name: Option<String>,
    /// `externalId`, e.g. the employee number in workforce management.
    pub external_id: Option<String>,
    /// First name (`name.givenName`).
    pub first_name: Option<String>,
    /// Last name (`name.familyName`).
    pub last_name: Option<String>,
    /// Name shown in Fourth.
    pub display_name: Option<String>,
    /// Work email; null for the many hospitality staff who have none.
    pub work_email: Option<String>,
    /// Job title (`title`); workforce-management users only.
    pub job_title: Option<String>,
    /// The site the user works at (the work address).
    pub work_location: Option<String>,
    /// ISO 3166-1 country code of the work location.
    pub country: Option<String>,
    /// Preferred language, e.g. en-GB.
    pub preferred_language: Option<String>,
    /// Locale, e.g. en-GB.
    pub locale: Option<String>,
    /// IANA timezone, e.g. Europe/London.
    pub timezone: Option<String>,
    /// Enterprise extension `employeeNumber`.
    pub employee_number: Option<String>,
    /// Enterprise extension `division` (job division).
    pub division: Option<String>,
    /// Enterprise extension `department`.
    pub department: Option<String>,
    /// Whether the account is active.
    pub active: Option<bool>,
    /// When the account was created (`meta.created`).
    pub created: Option<String>,
    /// When the account last changed (`meta.lastModified`).
    pub last_modified: Option<String>,
    /// `meta.version` (ETag), for optimistic writes.
    pub version: Option<String>,
    /// The SCIM resource exactly as Fourth returned it.
    #[schemars(with = "Map<String, Value>")]
    pub resource: Value,
}

impl ListItem for User {
    const KEY: &'static str = "users";
}

/// The region of a locale such as `en-GB` or `en_GB`.
fn region(locale: &str) -> Option<String> {
    let part = locale.split(['-', '_']).nth(1)?;
    (part.len() == 2 && part.chars().all(|c| c.is_ascii_alphabetic()))
        .then(|| part.to_ascii_uppercase())
}

/// A SCIM user as flat fields plus the raw resource under `resource`.
pub fn flatten(resource: &Value) -> User {
    let name = get_ci(resource, "name").cloned().unwrap_or(Value::Null);
    let first = get_str(&name, "givenName");
    let last = get_str(&name, "familyName");
    let display = get_str(resource, "displayName")
        .map(str::to_string)
        .or_else(|| get_str(&name, "formatted").map(str::to_string))
        .or_else(|| {
            let joined = [first, last]
                .into_iter()
                .flatten()
                .collect::<Vec<_>>()
                .join(" ");
            (!joined.is_empty()).then_some(joined)
        });
    let email = preferred_entry(resource, "emails", "work");
    let work_email = email
        .as_ref()
        .and_then(|e| get_str(e, "value").or_else(|| e.as_str()));
    let address = preferred_entry(resource, "addresses", "work");
    let work_location = address
        .as_ref()
        .and_then(|a| get_str(a, "formatted").or_else(|| get_str(a, "locality")));
    let locale = get_str(resource, "locale");
    let country = address
        .as_ref()
        .and_then(|a| get_str(a, "country"))
        .map(str::to_string)
        .or_else(|| locale.and_then(region));
    let enterprise = get_ci(resource, ENTERPRISE_USER)
        .cloned()
        .unwrap_or(Value::Null);
    let meta = get_ci(resource, "meta").cloned().unwrap_or(Value::Null);
    User {
        fourth_account_id: text(get_str(resource, "id")),
        user_name: text(get_str(resource, "userName")),
        external_id: text(get_str(resource, "externalId")),
        first_name: text(first),
        last_name: text(last),
        display_name: text(display.as_deref()),
        work_email: text(work_email),
        job_title: text(get_str(resource, "title")),
        work_location: text(work_location),
        country: text(country.as_deref()),
        preferred_language: text(get_str(resource, "preferredLanguage")),
        locale: text(locale),
        timezone: text(get_str(resource, "timezone")),
        employee_number: text(get_str(&enterprise, "employeeNumber")),
        division: text(get_str(&enterprise, "division")),
        department: text(get_str(&enterprise, "department")),
        active: get_ci(resource, "active").and_then(Value::as_bool),
        created: text(get_str(&meta, "created")),
        last_modified: text(get_str(&meta, "lastModified")),
        version: text(get_str(&meta, "version")),
        resource: resource.clone(),
    }
}

/// The fields the write cards take for a whole user.
#[derive(Debug, Clone, Default, Deserialize, PartialEq, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct UserFields {
    /// `userName`: unique sign-in name.
    #[schemars(length(min = 1, max = 256))]
    pub user_name: String,
    #[schemars(length(max = 1024))]
    pub first_name: Option<String>,
    #[schemars(length(max = 1024))]
    pub last_name: Option<String>,
    /// Display name.
    #[schemars(length(max = 1024))]
    pub display_name: Option<String>,
    #[schemars(length(max = 1024))]
    pub work_email: Option<String>,
    /// `externalId`.
    #[schemars(length(max = 1024))]
    pub external_id: Option<String>,
    #[schemars(length(max = 1024))]
    pub job_title: Option<String>,
    /// Site the user works at.
    #[schemars(length(max = 1024))]
    pub work_location: Option<String>,
    /// ISO 3166-1 alpha-2 country of the work location.
    #[schemars(regex(pattern = "^[A-Za-z]{2}$"))]
    pub country: Option<String>,
    /// Preferred language, e.g. en-GB.
    #[schemars(length(max = 1024))]
    pub preferred_language: Option<String>,
    /// Locale, e.g. en-GB.
    #[schemars(length(max = 1024))]
    pub locale: Option<String>,
    /// IANA timezone, e.g. Europe/London.
    #[schemars(length(max = 1024))]
    pub timezone: Option<String>,
    /// Enterprise `employeeNumber`.
    #[schemars(length(max = 1024))]
    pub employee_number: Option<String>,
    /// Enterprise `division`.
    #[schemars(length(max = 1024))]
    pub division: Option<String>,
    /// Enterprise `department`.
    #[schemars(length(max = 1024))]
    pub department: Option<String>,
    /// Whether the account is active.
    #[schemars(extend("default" = true))]
    pub active: Option<bool>,
    /// Further SCIM attributes, sent as given (not `id`, `meta` or `schemas`).
    pub attributes: Option<cardhost_sdk::serde_json::Map<String, Value>>,
}

fn set(map: &mut cardhost_sdk::serde_json::Map<String, Value>, key: &str, value: &Option<String>) {
    if let Some(v) = value.as_deref().map(str::trim).filter(|v| !v.is_empty()) {
        map.insert(key.to_string(), json!(v));
    }
}

impl UserFields {
    /// The SCIM User resource for these fields.
    pub fn to_resource(&self) -> Result<Value> {
        let user_name = self.user_name.trim();
        if user_name.is_empty() {
            return Err(Error::InvalidInput("`user_name` must not be empty".into()));
        }
        let mut user = cardhost_sdk::serde_json::Map::new();
        let mut schemas = vec![json!(CORE_USER)];
        user.insert("userName".into(), json!(user_name));
        let mut name = cardhost_sdk::serde_json::Map::new();
        set(&mut name, "givenName", &self.first_name);
        set(&mut name, "familyName", &self.last_name);
        if !name.is_empty() {
            let formatted = [&self.first_name, &self.last_name]
                .iter()
                .filter_map(|p| p.as_deref().map(str::trim).filter(|p| !p.is_empty()))
                .collect::<Vec<_>>()
                .join(" ");
            name.insert("formatted".into(), json!(formatted));
            user.insert("name".into(), Value::Object(name));
        }
        set(&mut user, "displayName", &self.display_name);
        set(&mut user, "externalId", &self.external_id);
        set(&mut user, "title", &self.job_title);
        set(&mut user, "preferredLanguage", &self.preferred_language);
        set(&mut user, "locale", &self.locale);
        set(&mut user, "timezone", &self.timezone);
        if let Some(email) = self
            .work_email
            .as_deref()
            .map(str::trim)
            .filter(|e| !e.is_empty())
        {
            user.insert(
                "emails".into(),
                json!([{"value": email, "type": "work", "primary": true}]),
            );
        }
        let mut address = cardhost_sdk::serde_json::Map::new();
        set(&mut address, "formatted", &self.work_location);
        set(&mut address, "country", &self.country);
        if !address.is_empty() {
            address.insert("type".into(), json!("work"));
            address.insert("primary".into(), json!(true));
            user.insert("addresses".into(), json!([address]));
        }
        let mut enterprise = cardhost_sdk::serde_json::Map::new();
        set(&mut enterprise, "employeeNumber", &self.employee_number);
        set(&mut enterprise, "division", &self.division);
        set(&mut enterprise, "department", &self.department);
        if !enterprise.is_empty() {
            schemas.push(json!(ENTERPRISE_USER));
            user.insert(ENTERPRISE_USER.into(), Value::Object(enterprise));
        }
        user.insert("active".into(), json!(self.active.unwrap_or(true)));
        if let Some(extra) = &self.attributes {
            for (key, value) in extra {
                if ["id", "meta", "schemas"]
                    .iter()
                    .any(|k| k.eq_ignore_ascii_case(key))
                {
                    return Err(Error::InvalidInput(format!(
                        "`attributes` may not set `{key}`: the server owns it"
                    )));
                }
                if key.eq_ignore_ascii_case(ENTERPRISE_USER)
                    && !schemas.contains(&json!(ENTERPRISE_USER))
                {
                    schemas.push(json!(ENTERPRISE_USER));
                }
                user.insert(key.clone(), value.clone());
            }
        }
        user.insert("schemas".into(), Value::Array(schemas));
        Ok(Value::Object(user))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn flat(resource: &Value) -> Value {
        cardhost_sdk::serde_json::to_value(flatten(resource)).unwrap()
    }

    #[test]
    fn flattens_what_fourth_documents() {
        let resource = json!({
            "schemas": [CORE_USER, ENTERPRISE_USER],
            "id": "2819c223-7f76-453a-919d-413861904646",
            "userName": "olivia.smith@harbourvine.example",
            "name": {"givenName": "Olivia", "familyName": "Smith"},
            "title": "Head Chef",
            "emails": [{"value": "o@home.example", "type": "home"}, {"value": "olivia.smith@harbourvine.example", "type": "work"}],
            "addresses": [{"type": "work", "formatted": "The Anchor, Bristol", "locality": "Bristol", "country": "GB"}],
            "preferredLanguage": "pl-PL",
            "locale": "en-GB",
            "timezone": "Europe/London",
            "active": true,
            ENTERPRISE_USER: {"division": "Bars", "employeeNumber": "HV000142"},
            "meta": {"lastModified": "2025-03-14T09:30:00Z", "version": "W/\"3\""}
        });
        let flat = flat(&resource);
        assert_eq!(
            flat["fourth_account_id"],
            "2819c223-7f76-453a-919d-413861904646"
        );
        assert_eq!(flat["display_name"], "Olivia Smith");
        assert_eq!(flat["work_email"], "olivia.smith@harbourvine.example");
        assert_eq!(flat["job_title"], "Head Chef");
        assert_eq!(flat["work_location"], "The Anchor, Bristol");
        assert_eq!(flat["country"], "GB");
        assert_eq!(flat["preferred_language"], "pl-PL");
        assert_eq!(flat["division"], "Bars");
        assert_eq!(flat["last_modified"], "2025-03-14T09:30:00Z");
        assert_eq!(flat["resource"], resource);
    }

    #[test]
    fn absent_attributes_are_null_and_names_are_case_insensitive() {
        let flat = flat(&json!({
            "ID": "a", "USERNAME": "jo.quinn.4821",
            "NAME": {"GIVENNAME": "Jo", "familyname": "Quinn"},
            "locale": "en_IE", "Active": false
        }));
        assert_eq!(flat["fourth_account_id"], "a");
        assert_eq!(flat["user_name"], "jo.quinn.4821");
        assert_eq!(flat["display_name"], "Jo Quinn");
        assert_eq!(flat["work_email"], Value::Null);
        assert_eq!(flat["job_title"], Value::Null);
        assert_eq!(flat["country"], "IE", "from the locale");
        assert_eq!(flat["active"], false);
    }

    #[test]
    fn builds_scim_users_from_fields() {
        let fields = UserFields {
            user_name: " new.starter@harbourvine.example ".into(),
            first_name: Some("New".into()),
            last_name: Some("Starter".into()),
            work_email: Some("new.starter@harbourvine.example".into()),
            work_location: Some("The Quay Hotel".into()),
            country: Some("IE".into()),
            division: Some("Hotels".into()),
            ..Default::default()
        };
        let user = fields.to_resource().unwrap();
        assert_eq!(user["schemas"], json!([CORE_USER, ENTERPRISE_USER]));
        assert_eq!(user["userName"], "new.starter@harbourvine.example");
        assert_eq!(user["name"]["formatted"], "New Starter");
        assert_eq!(user["emails"][0]["type"], "work");
        assert_eq!(user["addresses"][0]["formatted"], "The Quay Hotel");
        assert_eq!(user[ENTERPRISE_USER]["division"], "Hotels");
        assert_eq!(user["active"], true);
        let back = flat(&user);
        assert_eq!(back["work_location"], "The Quay Hotel");

        let mut bad = fields.clone();
        bad.attributes = Some(json!({"id": "x"}).as_object().unwrap().clone());
        assert!(matches!(bad.to_resource(), Err(Error::InvalidInput(_))));
        let blank = UserFields {
            user_name: "  ".into(),
            ..Default::default()
        };
        assert!(blank.to_resource().is_err());
    }
}
