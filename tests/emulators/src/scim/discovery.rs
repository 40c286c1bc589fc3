//! Discovery: `/ServiceProviderConfig`, `/Schemas` and `/ResourceTypes`.

use super::auth::admit;
use super::errors::ScimError;
use super::filter::CORE_USER;
use super::routes::{list_response, origin};
use super::state::{ScimState, lock};
use super::{ENTERPRISE_USER, RESOURCE_TYPE, SCHEMA, SERVICE_PROVIDER_CONFIG};
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use serde_json::{Value, json};

pub(super) async fn service_provider_config(
    State(state): State<ScimState>,
    headers: HeaderMap,
) -> Response {
    let caller = match admit(&state, &headers, false).await {
        Ok(c) => c,
        Err(r) => return *r,
    };
    let base = format!("{}{}", origin(&headers), state.base_path);
    let inner = lock(&state.inner);
    let body = json!({
        "schemas": [SERVICE_PROVIDER_CONFIG],
        "documentationUri": "https://developer.fourth.com/en-gb/docs/fourth-account-scim-api/guide",
        "patch": {"supported": inner.writes_enabled},
        "bulk": {"supported": false, "maxOperations": 0, "maxPayloadSize": 0},
        "filter": {"supported": true, "maxResults": inner.max_results},
        "changePassword": {"supported": false},
        "sort": {"supported": false},
        "etag": {"supported": true},
        "authenticationSchemes": [{
            "type": "oauthbearertoken",
            "name": "OAuth Bearer Token",
            "description": "OAuth2 client credentials with the `scim` scope",
            "specUri": "https://www.rfc-editor.org/info/rfc6750",
            "primary": true,
        }],
        "meta": {
            "resourceType": "ServiceProviderConfig",
            "location": format!("{base}/ServiceProviderConfig"),
        },
    });
    caller.ok(StatusCode::OK, body, Vec::new())
}

pub(super) fn attribute(name: &str, kind: &str, description: &str) -> Value {
    json!({
        "name": name,
        "type": kind,
        "multiValued": false,
        "description": description,
        "required": false,
        "caseExact": false,
        "mutability": "readWrite",
        "returned": "default",
        "uniqueness": "none",
    })
}

pub(super) fn complex(name: &str, multi: bool, description: &str, subs: Vec<Value>) -> Value {
    let mut a = attribute(name, "complex", description);
    a["multiValued"] = json!(multi);
    a["subAttributes"] = Value::Array(subs);
    a
}

pub(super) fn schema_resources(base: &str) -> Vec<Value> {
    let mut user_name = attribute(
        "userName",
        "string",
        "Unique identifier the user signs in with; an email address when the user has one.",
    );
    user_name["required"] = json!(true);
    user_name["uniqueness"] = json!("server");
    let user = json!({
        "schemas": [SCHEMA],
        "id": CORE_USER,
        "name": "User",
        "description": "Fourth user account",
        "attributes": [
            user_name,
            complex("name", false, "The user's name.", vec![
                attribute("formatted", "string", "Full name."),
                attribute("familyName", "string", "Last name."),
                attribute("givenName", "string", "First name."),
            ]),
            attribute("displayName", "string", "Name shown in Fourth."),
            attribute("title", "string", "Job title (workforce management users only)."),
            complex("emails", true, "Work email, absent for users who have none.", vec![
                attribute("value", "string", "Email address."),
                attribute("type", "string", "`work`."),
                attribute("primary", "boolean", "Whether it is the primary address."),
            ]),
            complex("addresses", true, "Work location.", vec![
                attribute("type", "string", "`work`."),
                attribute("formatted", "string", "Name of the site the user works at."),
                attribute("locality", "string", "Town or city."),
                attribute("country", "string", "ISO 3166-1 alpha-2 country code."),
                attribute("primary", "boolean", "Whether it is the primary location."),
            ]),
            attribute("preferredLanguage", "string", "Preferred language, e.g. en-GB."),
            attribute("locale", "string", "Locale of the user's site."),
            attribute("timezone", "string", "IANA timezone, e.g. Europe/London."),
            attribute("active", "boolean", "Whether the account is active."),
        ],
        "meta": {"resourceType": "Schema", "location": format!("{base}/Schemas/{CORE_USER}")},
    });
    let enterprise = json!({
        "schemas": [SCHEMA],
        "id": ENTERPRISE_USER,
        "name": "EnterpriseUser",
        "description": "Enterprise user",
        "attributes": [
            attribute("employeeNumber", "string", "Employee number in Fourth workforce management."),
            attribute("organization", "string", "Customer organisation."),
            attribute("division", "string", "Job division."),
            attribute("department", "string", "Department."),
        ],
        "meta": {"resourceType": "Schema", "location": format!("{base}/Schemas/{ENTERPRISE_USER}")},
    });
    vec![user, enterprise]
}

pub(super) async fn schemas(State(state): State<ScimState>, headers: HeaderMap) -> Response {
    let caller = match admit(&state, &headers, false).await {
        Ok(c) => c,
        Err(r) => return *r,
    };
    let resources = schema_resources(&format!("{}{}", origin(&headers), state.base_path));
    let total = resources.len();
    caller.ok(
        StatusCode::OK,
        list_response(&caller.style, resources, total, 1),
        Vec::new(),
    )
}

pub(super) async fn schema(
    State(state): State<ScimState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    let caller = match admit(&state, &headers, false).await {
        Ok(c) => c,
        Err(r) => return *r,
    };
    let found = schema_resources(&format!("{}{}", origin(&headers), state.base_path))
        .into_iter()
        .find(|s| {
            s["id"]
                .as_str()
                .is_some_and(|s| s.eq_ignore_ascii_case(&id))
        })
        .map(|s| (StatusCode::OK, s, Vec::new()))
        .ok_or_else(|| ScimError::not_found(&id));
    caller.answer(found)
}

pub(super) fn resource_type_resources(base: &str) -> Vec<Value> {
    vec![json!({
        "schemas": [RESOURCE_TYPE],
        "id": "User",
        "name": "User",
        "endpoint": "/Users",
        "description": "Fourth user account",
        "schema": CORE_USER,
        "schemaExtensions": [{"schema": ENTERPRISE_USER, "required": false}],
        "meta": {"resourceType": "ResourceType", "location": format!("{base}/ResourceTypes/User")},
    })]
}

pub(super) async fn resource_types(State(state): State<ScimState>, headers: HeaderMap) -> Response {
    let caller = match admit(&state, &headers, false).await {
        Ok(c) => c,
        Err(r) => return *r,
    };
    let resources = resource_type_resources(&format!("{}{}", origin(&headers), state.base_path));
    let total = resources.len();
    caller.ok(
        StatusCode::OK,
        list_response(&caller.style, resources, total, 1),
        Vec::new(),
    )
}

pub(super) async fn resource_type(
    State(state): State<ScimState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    let caller = match admit(&state, &headers, false).await {
        Ok(c) => c,
        Err(r) => return *r,
    };
    let found = resource_type_resources(&format!("{}{}", origin(&headers), state.base_path))
        .into_iter()
        .find(|r| {
            r["id"]
                .as_str()
                .is_some_and(|r| r.eq_ignore_ascii_case(&id))
        })
        .map(|r| (StatusCode::OK, r, Vec::new()))
        .ok_or_else(|| ScimError::not_found(&id));
    caller.answer(found)
}
