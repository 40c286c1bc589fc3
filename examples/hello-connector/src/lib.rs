//! Hello: the smallest useful cardhost connector.
//!
//! It talks to a "people directory" API with a bearer token: one card reads a
//! person, one greets them by name. Copy this crate, rename it, and replace the
//! manifest and the card bodies with your upstream's.

use cardhost_sdk::http::Request;
use cardhost_sdk::{
    AuthMethod, CardEntry, ConnectionReport, Connector, Context, Environment, Error, Manifest,
    Permission, Result, SecretField, Value, json, parse_input, to_output,
};
use serde::{Deserialize, Serialize};

/// The connector. It holds no state: each invocation runs in a fresh instance.
pub struct Hello;

#[derive(Deserialize)]
struct PersonInput {
    id: String,
}

/// What the upstream returns for a person, and what the cards output.
#[derive(Debug, Deserialize, Serialize, PartialEq)]
pub struct Person {
    /// Upstream id.
    pub id: String,
    /// Display name.
    pub name: String,
}

fn person_schema() -> Value {
    json!({
        "type": "object",
        "required": ["id", "name"],
        "properties": {
            "id": {"type": "string"},
            "name": {"type": "string"}
        }
    })
}

fn id_input() -> Value {
    json!({
        "type": "object",
        "required": ["id"],
        "additionalProperties": false,
        "properties": {
            "id": {"type": "string", "minLength": 1, "description": "The person's id."}
        }
    })
}

/// Reads one person. A 404 becomes a not-found error the caller can branch on.
fn read_person(id: &str) -> Result<Person> {
    Request::get(format!(
        "/people/{}",
        cardhost_sdk::http::encode_component(id)
    ))
    .send_json()
}

/// The greeting for a person; pure, so it is unit-tested natively.
pub fn greeting(person: &Person) -> String {
    format!("Hello, {}!", person.name)
}

impl Connector for Hello {
    fn manifest() -> Manifest {
        Manifest::new("hello", "Hello", "0.1.0")
            .description("Reads people from a directory API and greets them.")
            .connection_schema(json!({
                "type": "object",
                "required": ["base_url"],
                "additionalProperties": false,
                "properties": {
                    "base_url": {
                        "type": "string",
                        "format": "uri",
                        "pattern": "^https?://",
                        "description": "Directory API root, e.g. https://directory.example.com"
                    }
                }
            }))
            .auth(AuthMethod::bearer(
                "token",
                "API token",
                SecretField::new("token", "API token"),
            ))
            .environment(Environment::new("default", "{base_url}"))
            .permission(
                Permission::new("people-read", "Read people")
                    .read("/people")
                    .read("/people/*"),
            )
            .card(
                CardEntry::new("read-person", "Read Person")
                    .description("Reads one person by id.")
                    .input(id_input())
                    .output(person_schema())
                    .permission("people-read"),
            )
            .card(
                CardEntry::new("greet-person", "Greet Person")
                    .description("Reads a person and returns a greeting for them.")
                    .input(id_input())
                    .output(json!({
                        "type": "object",
                        "required": ["greeting"],
                        "properties": {"greeting": {"type": "string"}}
                    }))
                    .permission("people-read"),
            )
    }

    fn invoke(card: &str, input: Value, _ctx: &Context) -> Result<Value> {
        let PersonInput { id } = parse_input(input)?;
        match card {
            "read-person" => to_output(&read_person(&id)?),
            "greet-person" => Ok(json!({ "greeting": greeting(&read_person(&id)?) })),
            other => Err(Error::InvalidInput(format!("unknown card `{other}`"))),
        }
    }

    fn test_connection(_ctx: &Context) -> ConnectionReport {
        let probe = Request::get("/people").query("limit", 1).send();
        let report = match probe.and_then(|r| r.error_for_status()) {
            Ok(_) => ConnectionReport::default().check("API token", true, "the directory answered"),
            Err(e) => ConnectionReport::default().check("API token", false, e.to_string()),
        };
        report.finish("the token works")
    }
}

cardhost_sdk::export_connector!(Hello);

#[cfg(test)]
mod tests {
    use super::*;
    use cardhost_sdk::http::Response;
    use cardhost_sdk::testing::mock_http;

    #[test]
    fn greets_by_name() {
        let p = Person {
            id: "1".into(),
            name: "Aiko".into(),
        };
        assert_eq!(greeting(&p), "Hello, Aiko!");
    }

    #[test]
    fn greet_card_reads_the_person_it_was_asked_for() {
        mock_http(|req| {
            assert_eq!(req.url, "/people/a%2Fb");
            Ok(Response {
                status: 200,
                headers: vec![],
                body: br#"{"id":"a/b","name":"Ren"}"#.to_vec(),
            })
        });
        let out = Hello::invoke(
            "greet-person",
            json!({"id": "a/b"}),
            &Context::for_test(json!({})),
        )
        .unwrap();
        assert_eq!(out, json!({"greeting": "Hello, Ren!"}));
    }

    #[test]
    fn missing_person_is_not_found() {
        mock_http(|_| {
            Ok(Response {
                status: 404,
                headers: vec![],
                body: br#"{"message":"no such person"}"#.to_vec(),
            })
        });
        let err = Hello::invoke(
            "read-person",
            json!({"id": "9"}),
            &Context::for_test(json!({})),
        );
        assert_eq!(err.unwrap_err(), Error::NotFound("no such person".into()));
    }
}
