//! Paycor's Public API as the cards use it: Data Access rights, paths,
//! property-name casing, continuation-token paging and error words.

use cardhost_sdk::http::{Method, Request, Response, encode_component};
use cardhost_sdk::{Context, Error, Result, Value, serde_json};

/// A Paycor Data Access right a card needs. Each is one cardhost permission
/// whose rules allow exactly the requests the right covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DataAccess {
    /// `GET /v1/legalentities/{legalEntityId}`.
    LegalEntityBasicInformation,
    /// `GET /v1/legalentities/{legalEntityId}/employees`.
    LegalEntityEmployees,
    /// `GET /v1/employees/{employeeId}`.
    EmployeeInformation,
    /// `GET /v1/employees/{employeeId}/person`.
    EmployeePerson,
    /// `GET /v1/tenants/{tenantId}/persons/{personId}`.
    PersonInformation,
    /// `GET /v1/legalentities/{legalEntityId}/departments`.
    LegalEntityDepartments,
    /// `GET /v1/legalentities/{legalEntityId}/departments/{departmentId}`.
    LegalEntityDepartment,
    /// `PUT /v1/employees/{employeeId}`.
    UpdateEmployeeContact,
}

impl DataAccess {
    /// Every right, in the order the connection test reports them.
    pub const ALL: [DataAccess; 8] = [
        DataAccess::LegalEntityBasicInformation,
        DataAccess::LegalEntityEmployees,
        DataAccess::LegalEntityDepartments,
        DataAccess::EmployeeInformation,
        DataAccess::EmployeePerson,
        DataAccess::PersonInformation,
        DataAccess::LegalEntityDepartment,
        DataAccess::UpdateEmployeeContact,
    ];

    /// The cardhost permission id.
    pub fn permission(self) -> &'static str {
        match self {
            DataAccess::LegalEntityBasicInformation => "view-legal-entity-basic-information",
            DataAccess::LegalEntityEmployees => "view-legal-entity-employees",
            DataAccess::EmployeeInformation => "view-employee-information",
            DataAccess::EmployeePerson => "view-employee-person",
            DataAccess::PersonInformation => "view-person-information",
            DataAccess::LegalEntityDepartments => "view-legal-entity-departments",
            DataAccess::LegalEntityDepartment => "view-legal-entity-department",
            DataAccess::UpdateEmployeeContact => "update-employee-contact",
        }
    }

    /// The name Paycor's Developer Portal shows on the Data Access tab.
    pub fn title(self) -> &'static str {
        match self {
            DataAccess::LegalEntityBasicInformation => "View Legal Entity Basic Information",
            DataAccess::LegalEntityEmployees => "View Legal Entity Employees",
            DataAccess::EmployeeInformation => "View Employee Information",
            DataAccess::EmployeePerson => "View Employee Person",
            DataAccess::PersonInformation => "View Person Information",
            DataAccess::LegalEntityDepartments => "View Legal Entity Departments Information",
            DataAccess::LegalEntityDepartment => "View Legal Entity Departments by Department Id",
            DataAccess::UpdateEmployeeContact => "Update Employee Contact",
        }
    }

    /// Whether the right writes.
    pub fn writes(self) -> bool {
        self == DataAccess::UpdateEmployeeContact
    }

    /// The Data Access an `include` value of this endpoint needs besides the
    /// endpoint's own, as Paycor documents it.
    pub fn include_right(self, include: &str) -> Option<&'static str> {
        match (self, include) {
            (DataAccess::LegalEntityEmployees, "EmploymentDates") => {
                Some("View Legal Entity Employees Employment Dates")
            }
            (DataAccess::LegalEntityEmployees, "Status") => {
                Some("View Legal Entity Employees Status")
            }
            (DataAccess::LegalEntityEmployees, "Position") => {
                Some("View Legal Entity Employees Position")
            }
            (DataAccess::LegalEntityEmployees, "WorkLocation") => {
                Some("View Legal Entity Employees Work Location")
            }
            (DataAccess::EmployeeInformation, "EmploymentDates") => {
                Some("View Employee Employment Dates")
            }
            (DataAccess::EmployeeInformation, "Status") => Some("View Employee Status"),
            (DataAccess::EmployeeInformation, "Position") => Some("View Employee Position"),
            (DataAccess::EmployeeInformation, "WorkLocation") => {
                Some("View Employee Work Location")
            }
            (DataAccess::EmployeePerson | DataAccess::PersonInformation, include) => {
                match include {
                    "Demographic" => Some("View Person Demographic Information"),
                    "Addresses" => Some("View Person Addresses"),
                    "Phones" => Some("View Person Phone"),
                    "Email" => Some("View Person Email"),
                    "EmployeeAssignments" => Some("View Employee Records"),
                    "EmergencyContact" => Some("View Person Emergency Contacts"),
                    "SocialSecurityNumber" => Some("View Person SSN"),
                    _ => None,
                }
            }
            _ => None,
        }
    }
}

/// A request as the cards describe it, for error words.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Call {
    /// The right the request needs.
    pub access: DataAccess,
    /// `include` values sent (they may need more rights).
    pub includes: Vec<String>,
    /// What was asked for, e.g. "employee `7f…`", for 404s.
    pub subject: String,
}

impl Call {
    /// A call needing `access`, about `subject`.
    pub fn new(access: DataAccess, subject: impl Into<String>) -> Self {
        Self {
            access,
            includes: Vec::new(),
            subject: subject.into(),
        }
    }

    /// Notes the `include` values sent.
    pub fn with_includes(mut self, includes: &[String]) -> Self {
        self.includes = includes.to_vec();
        self
    }
}

/// A property name in camelCase, the way ASP.NET's camelCase naming policy
/// writes it: a leading run of capitals is lowered up to the last one that
/// starts a word (`HasMoreResults` → `hasMoreResults`, `ID` → `id`,
/// `URLValue` → `urlValue`).
pub fn camel_case(key: &str) -> String {
    let chars: Vec<char> = key.chars().collect();
    if chars.first().is_none_or(|c| !c.is_uppercase()) {
        return key.to_string();
    }
    let mut out = chars.clone();
    for i in 0..chars.len() {
        if i == 1 && !chars[i].is_uppercase() {
            break;
        }
        let next_is_lower = chars.get(i + 1).is_some_and(|c| !c.is_uppercase());
        if i > 0 && next_is_lower {
            break;
        }
        out[i] = chars[i].to_lowercase().next().unwrap_or(chars[i]);
    }
    out.into_iter().collect()
}

/// Paycor's payloads with every property name in camelCase. Paycor's
/// published spec capitalises names (`HasMoreResults`, `EmailAddress`) while
/// the live API answers in camelCase; both become the same here, so cards
/// read and return one shape.
pub fn normalise(value: Value) -> Value {
    match value {
        Value::Object(map) => Value::Object(
            map.into_iter()
                .map(|(k, v)| (camel_case(&k), normalise(v)))
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.into_iter().map(normalise).collect()),
        other => other,
    }
}

/// Property `name` of a JSON object, whatever its case: after
/// [`normalise`] names are camelCase, and this also finds the odd name
/// written otherwise (`hasmoreresults`).
pub fn field<'a>(value: &'a Value, name: &str) -> Option<&'a Value> {
    let map = value.as_object()?;
    map.get(name).or_else(|| {
        map.iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v)
    })
}

/// The connection's legal entity id, or the card's override.
pub fn legal_entity_id(ctx: &Context, override_id: Option<i64>) -> Result<i64> {
    match override_id.or_else(|| ctx.fields.get("legal_entity_id").and_then(Value::as_i64)) {
        Some(id) if (1..=i64::from(i32::MAX)).contains(&id) => Ok(id),
        Some(id) => Err(Error::InvalidInput(format!(
            "legal entity id {id} is out of range (1 to 2147483647)"
        ))),
        None => Err(Error::InvalidInput(
            "no legal entity id: set `legal_entity_id` on the connection or give it to the card"
                .into(),
        )),
    }
}

/// Checks an id that goes into a path: letters, digits and hyphens (Paycor's
/// GUIDs), so nothing can change the path.
pub fn path_id(name: &str, value: &str) -> Result<String> {
    let id = value.trim();
    let ok = !id.is_empty()
        && id.len() <= 64
        && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-');
    if ok {
        Ok(encode_component(id))
    } else {
        Err(Error::InvalidInput(format!(
            "`{name}` must be a Paycor id (letters, digits and hyphens), not `{value}`"
        )))
    }
}

/// The `include` values as repeated query parameters, the way Paycor's
/// `explode: true` arrays are sent.
pub fn include_query(includes: &[String]) -> Vec<(String, String)> {
    includes
        .iter()
        .map(|i| ("include".to_string(), i.clone()))
        .collect()
}

/// The most useful words in a Paycor error body: an APIM gateway `message`,
/// or a Paycor error's `detail` (else `title`) with its `source` entries.
pub fn error_words(response: &Response) -> String {
    if let Ok(body) = serde_json::from_slice::<Value>(&response.body) {
        let body = normalise(body);
        let text = |key: &str| {
            field(&body, key)
                .and_then(Value::as_str)
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_string)
        };
        if let Some(message) = text("message") {
            return message;
        }
        let mut words = text("detail").or_else(|| text("title")).unwrap_or_default();
        if let Some(source) = field(&body, "source").and_then(Value::as_object) {
            let details: Vec<String> = source
                .iter()
                .map(|(field, v)| match v {
                    Value::String(s) => format!("{field}: {s}"),
                    Value::Array(items) => format!(
                        "{field}: {}",
                        items
                            .iter()
                            .filter_map(Value::as_str)
                            .collect::<Vec<_>>()
                            .join("; ")
                    ),
                    other => format!("{field}: {other}"),
                })
                .collect();
            if !details.is_empty() {
                if !words.is_empty() {
                    words.push_str(" — ");
                }
                words.push_str(&details.join(", "));
            }
        }
        if !words.is_empty() {
            return words;
        }
    }
    let text = response.text();
    let text = text.trim();
    if text.is_empty() {
        format!("HTTP {} with no body", response.status)
    } else {
        text.chars().take(300).collect()
    }
}

/// Whether a 401 comes from Paycor's API gateway refusing the APIM
/// subscription key ("Access denied due to missing/invalid subscription
/// key") rather than from the API refusing the access token (empty body).
pub fn is_subscription_key_refusal(response: &Response) -> bool {
    response.status == 401
        && error_words(response)
            .to_ascii_lowercase()
            .contains("subscription key")
}

/// Words telling a flow builder how to fix a refused subscription key.
pub const FIX_SUBSCRIPTION_KEY: &str = "check the connection's `subscription_key` secret: it is the APIm Subscription Key on the app's Security Connections tab in Paycor's Developer Portal (sandbox and production keys differ)";

/// Turns a non-2xx answer into the card error a flow builder can act on.
pub fn failure(response: &Response, method: Method, call: &Call) -> Error {
    let words = error_words(response);
    match response.status {
        400 | 422 => Error::InvalidInput(format!("Paycor refused the request: {words}")),
        401 if is_subscription_key_refusal(response) => Error::Unauthorized(format!(
            "Paycor's API gateway refused the subscription key ({words}); {FIX_SUBSCRIPTION_KEY}"
        )),
        401 => Error::Unauthorized(
            "Paycor refused the access token even after cardhost renewed it: authorize the connection again (the app may have been deactivated for this legal entity)"
                .into(),
        ),
        403 => Error::Forbidden(forbidden_words(call)),
        404 => Error::NotFound(format!("Paycor has no {} ({words})", call.subject)),
        429 => Error::RateLimited {
            message: format!(
                "Paycor's rate limit was reached ({words}); by default each subscription key may make 1,000 calls a minute across all of Paycor's APIs"
            ),
            retry_after_seconds: response.retry_after(),
        },
        500 if matches!(method, Method::Post | Method::Put | Method::Patch) => Error::Upstream {
            status: Some(500),
            message: format!(
                "Paycor answered 500 to the {} ({words}). The change may or may not have been applied, and Paycor warns that repeating it can apply it twice: read the record to check before trying again",
                method.as_str()
            ),
        },
        status => Error::Upstream {
            status: Some(status),
            message: format!("Paycor answered {status}: {words}"),
        },
    }
}

/// A 403 names the Data Access the request needed, since Paycor's answer
/// does not.
pub fn forbidden_words(call: &Call) -> String {
    let extra: Vec<&str> = call
        .includes
        .iter()
        .filter_map(|i| call.access.include_right(i))
        .collect();
    let mut words = format!(
        "Paycor refused access (403): the app's Data Access must include “{}”",
        call.access.title()
    );
    if !extra.is_empty() {
        words.push_str(&format!(
            ", and for the `include` values asked for: “{}”",
            extra.join("”, “")
        ));
    }
    words.push_str(
        ". Add them on the app's Data Access tab in Paycor's Developer Portal, put the new Scope Version Identifier in the connection's `scope_id` and authorize the connection again. A 403 also comes back when the app is not activated for this legal entity",
    );
    words
}

/// Sends a request and returns its normalised JSON body, or the card error.
pub fn send(request: Request, call: &Call) -> Result<Value> {
    let method = request.method;
    let response = request.header("accept", "application/json").send()?;
    if !response.is_success() {
        return Err(failure(&response, method, call));
    }
    Ok(normalise(response.json()?))
}

/// One page of a paged Paycor list.
#[derive(Debug, Clone, PartialEq)]
pub struct Page {
    /// The records.
    pub records: Vec<Value>,
    /// Whether Paycor has more.
    pub has_more: bool,
    /// The token of the next page, when there is one.
    pub continuation_token: Option<String>,
}

/// Reads Paycor's paged envelope `{hasMoreResults, continuationToken,
/// additionalResultsUrl, records}` (already normalised). Without a token,
/// the one in `additionalResultsUrl` is used.
pub fn page_of(body: Value) -> Result<Page> {
    let records = match field(&body, "records") {
        Some(Value::Array(items)) => items.clone(),
        None | Some(Value::Null) => Vec::new(),
        Some(other) => {
            return Err(Error::upstream(format!(
                "Paycor's `records` is not a list: {other}"
            )));
        }
    };
    let has_more = field(&body, "hasMoreResults")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    let token = field(&body, "continuationToken")
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .map(str::to_string)
        .or_else(|| {
            let url = field(&body, "additionalResultsUrl")?.as_str()?;
            token_in_url(url)
        });
    if has_more && token.is_none() {
        return Err(Error::upstream(
            "Paycor said more results exist but sent no continuation token",
        ));
    }
    Ok(Page {
        records,
        has_more,
        continuation_token: if has_more { token } else { None },
    })
}

/// The continuation token in an `additionalResultsUrl`.
fn token_in_url(url: &str) -> Option<String> {
    let query = url.split_once('?')?.1;
    query.split('&').find_map(|pair| {
        let (k, v) = pair.split_once('=')?;
        (k.eq_ignore_ascii_case("continuationToken")
            || k.eq_ignore_ascii_case("continuationTokenId"))
        .then(|| v.to_string())
        .filter(|v| !v.is_empty())
    })
}

/// Fetches one page of `path` with `query`, from `token` if given.
pub fn fetch_page(
    path: &str,
    query: &[(String, String)],
    token: Option<&str>,
    call: &Call,
) -> Result<Page> {
    let mut request = Request::get(path);
    request.query.extend(query.iter().cloned());
    if let Some(token) = token {
        request = request.query("continuationToken", token);
    }
    page_of(send(request, call)?)
}

/// Records gathered from one or more pages.
#[derive(Debug, Clone, PartialEq)]
pub struct Walk {
    /// The records, at most the limit.
    pub records: Vec<Value>,
    /// Whether more records exist than were returned.
    pub has_more: bool,
    /// The token to continue from, when the walk stopped at a page boundary
    /// with more pages left (continuing from it skips nothing).
    pub continuation_token: Option<String>,
    /// Pages fetched.
    pub pages: u32,
}

/// Walks pages from `start` (or the first page) until Paycor has no more or
/// `limit` records are gathered.
pub fn walk(
    path: &str,
    query: &[(String, String)],
    start: Option<String>,
    limit: usize,
    call: &Call,
) -> Result<Walk> {
    let mut records: Vec<Value> = Vec::new();
    let mut token = start;
    let mut pages = 0;
    loop {
        let page = fetch_page(path, query, token.as_deref(), call)?;
        pages += 1;
        let room = limit - records.len();
        if page.records.len() > room {
            records.extend(page.records.into_iter().take(room));
            return Ok(Walk {
                records,
                has_more: true,
                continuation_token: None,
                pages,
            });
        }
        let empty = page.records.is_empty();
        records.extend(page.records);
        let next = page.continuation_token;
        if next.is_none() || empty || records.len() == limit {
            return Ok(Walk {
                records,
                has_more: next.is_some(),
                continuation_token: next,
                pages,
            });
        }
        if next == token {
            return Err(Error::upstream(
                "Paycor returned the same continuation token twice; stopping",
            ));
        }
        token = next;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use cardhost_sdk::json;

    fn response(status: u16, body: &str) -> Response {
        Response {
            status,
            headers: vec![("retry-after".into(), "42".into())],
            body: body.as_bytes().to_vec(),
        }
    }

    #[test]
    fn camel_case_follows_aspnet() {
        assert_eq!(camel_case("HasMoreResults"), "hasMoreResults");
        assert_eq!(camel_case("hasMoreResults"), "hasMoreResults");
        assert_eq!(camel_case("Id"), "id");
        assert_eq!(camel_case("ID"), "id");
        assert_eq!(camel_case("URLValue"), "urlValue");
        assert_eq!(camel_case("A"), "a");
        assert_eq!(camel_case(""), "");
    }

    #[test]
    fn capitalised_and_camel_payloads_normalise_alike() {
        let pascal =
            json!({"HasMoreResults": true, "Records": [{"Email": {"EmailAddress": "a@b.c"}}]});
        let camel =
            json!({"hasMoreResults": true, "records": [{"email": {"emailAddress": "a@b.c"}}]});
        assert_eq!(normalise(pascal), normalise(camel.clone()));
        assert_eq!(normalise(camel.clone()), camel);
    }

    #[test]
    fn pages_take_the_token_or_the_additional_results_url() {
        let page = page_of(normalise(json!({
            "HasMoreResults": true, "ContinuationToken": "abc", "Records": [{"Id": "1"}]
        })))
        .unwrap();
        assert_eq!(page.continuation_token.as_deref(), Some("abc"));
        assert_eq!(page.records, vec![json!({"id": "1"})]);
        let page = page_of(json!({
            "hasMoreResults": true, "continuationToken": null,
            "additionalResultsUrl": "/v1/legalentities/1/employees?continuationToken=xyz&statusFilter=Active",
            "records": []
        }))
        .unwrap();
        assert_eq!(page.continuation_token.as_deref(), Some("xyz"));
        let last = page_of(
            json!({"hasMoreResults": false, "continuationToken": "stale", "records": null}),
        )
        .unwrap();
        assert_eq!(last.continuation_token, None);
        assert!(last.records.is_empty());
        assert!(page_of(json!({"hasMoreResults": true, "records": []})).is_err());
        let odd =
            page_of(json!({"hasmoreresults": true, "CONTINUATIONTOKEN": "t", "RECORDS": [1]}))
                .unwrap();
        assert_eq!(odd.continuation_token.as_deref(), Some("t"));
        assert_eq!(odd.records.len(), 1);
    }

    #[test]
    fn gateway_and_token_refusals_are_told_apart() {
        let key = response(
            401,
            r#"{ "statusCode": 401, "message": "Access denied due to invalid subscription key. Make sure to provide a valid key for an active subscription." }"#,
        );
        assert!(is_subscription_key_refusal(&key));
        let call = Call::new(DataAccess::LegalEntityEmployees, "legal entity 1");
        match failure(&key, Method::Get, &call) {
            Error::Unauthorized(m) => assert!(m.contains("subscription_key"), "{m}"),
            other => panic!("{other:?}"),
        }
        let token = response(401, "");
        assert!(!is_subscription_key_refusal(&token));
        match failure(&token, Method::Get, &call) {
            Error::Unauthorized(m) => assert!(m.contains("authorize the connection again"), "{m}"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn forbidden_names_the_data_access_and_include_rights() {
        let call = Call::new(DataAccess::LegalEntityEmployees, "x")
            .with_includes(&["Status".into(), "All".into()]);
        match failure(&response(403, ""), Method::Get, &call) {
            Error::Forbidden(m) => {
                assert!(m.contains("“View Legal Entity Employees”"), "{m}");
                assert!(m.contains("View Legal Entity Employees Status"), "{m}");
                assert!(m.contains("scope_id"), "{m}");
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn paycor_errors_quote_detail_and_source() {
        let r = response(
            400,
            r#"{"CorrelationId":"a8bc","Title":"Validation Error","Detail":"A validation error occurred.","Source":{"PrimaryAddress.ZipCode":"The ZipCode field is required."}}"#,
        );
        assert_eq!(
            error_words(&r),
            "A validation error occurred. — primaryAddress.ZipCode: The ZipCode field is required."
        );
        assert_eq!(error_words(&response(404, "")), "HTTP 404 with no body");
    }

    #[test]
    fn writes_that_failed_with_500_warn_against_repeating() {
        let call = Call::new(DataAccess::UpdateEmployeeContact, "employee");
        match failure(&response(500, "{}"), Method::Put, &call) {
            Error::Upstream { status, message } => {
                assert_eq!(status, Some(500));
                assert!(message.contains("apply it twice"), "{message}");
            }
            other => panic!("{other:?}"),
        }
        let rate = failure(
            &response(
                429,
                r#"{"statusCode":429,"message":"Rate limit is exceeded. Try again in 42 seconds."}"#,
            ),
            Method::Get,
            &call,
        );
        assert!(matches!(
            rate,
            Error::RateLimited {
                retry_after_seconds: Some(42),
                ..
            }
        ));
    }

    #[test]
    fn path_ids_cannot_change_the_path() {
        assert_eq!(
            path_id("employee_id", " df5566ef-196c-0000-0000-0007d5268Sa2 ").unwrap(),
            "df5566ef-196c-0000-0000-0007d5268Sa2"
        );
        for bad in ["", "a/b", "..", "a%2Fb", "a b"] {
            assert!(path_id("employee_id", bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn legal_entity_comes_from_the_card_or_the_connection() {
        let ctx = Context::for_test(json!({"legal_entity_id": 398334}));
        assert_eq!(legal_entity_id(&ctx, None).unwrap(), 398334);
        assert_eq!(legal_entity_id(&ctx, Some(7)).unwrap(), 7);
        assert!(legal_entity_id(&Context::for_test(json!({})), None).is_err());
    }
}
