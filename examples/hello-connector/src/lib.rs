//! Hello: the smallest useful cardhost connector.
//!
//! It talks to a "people directory" API with a bearer token: one card reads a
//! person, one greets them by name. To start a connector of your own, run
//! `cardhost new connector NAME`: it writes a crate that builds outside this
//! repository.
//!
//! Each card is one `impl Card`: id, title, description, the permissions it
//! uses, typed input and output (their JSON Schemas are derived from the
//! types) and the body. `CARDS` lists them once; the manifest and `invoke`
//! are made from that list.

use cardhost_sdk::http::{Request, encode_component};
use cardhost_sdk::{
    AuthMethod, Card, Cards, Connector, Context, Environment, JsonSchema, Manifest, Permission,
    Result, SecretField, cards, json, manifest,
};
use serde::{Deserialize, Serialize};

/// The connector. It holds no state: each invocation runs in a fresh instance.
pub struct Hello;

/// The input of both cards: which person.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PersonId {
    /// The person's id.
    #[schemars(length(min = 1))]
    pub id: String,
}

/// What the upstream returns for a person, and what Read Person outputs.
#[derive(Debug, Deserialize, Serialize, PartialEq, JsonSchema)]
pub struct Person {
    /// Upstream id.
    pub id: String,
    /// Display name.
    pub name: String,
}

/// Greet Person's output.
#[derive(Debug, Serialize, JsonSchema)]
pub struct Greeting {
    /// "Hello, Aiko!"
    pub greeting: String,
}

/// Reads one person. A 404 becomes a not-found error the caller can branch on.
fn read_person(id: &str) -> Result<Person> {
    Request::get(format!("/people/{}", encode_component(id))).send_json()
}

/// The greeting for a person; pure, so it is unit-tested natively.
pub fn greeting(person: &Person) -> String {
    format!("Hello, {}!", person.name)
}

/// Read Person.
pub struct ReadPerson;

impl Card for ReadPerson {
    type Input = PersonId;
    type Output = Person;
    const ID: &'static str = "read-person";
    const TITLE: &'static str = "Read Person";
    const DESCRIPTION: &'static str = "Reads one person by id.";
    const PERMISSIONS: &'static [&'static str] = &["people-read"];

    fn run(input: PersonId, _ctx: &Context) -> Result<Person> {
        read_person(&input.id)
    }
}

/// Greet Person.
pub struct GreetPerson;

impl Card for GreetPerson {
    type Input = PersonId;
    type Output = Greeting;
    const ID: &'static str = "greet-person";
    const TITLE: &'static str = "Greet Person";
    const DESCRIPTION: &'static str = "Reads a person and returns a greeting for them.";
    const PERMISSIONS: &'static [&'static str] = &["people-read"];

    fn run(input: PersonId, _ctx: &Context) -> Result<Greeting> {
        let person = read_person(&input.id)?;
        Ok(Greeting {
            greeting: greeting(&person),
        })
    }
}

impl Connector for Hello {
    const CARDS: Cards = cards![ReadPerson, GreetPerson];

    fn manifest() -> Manifest {
        manifest!("hello", "Hello")
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
            .cards(Self::CARDS)
    }
    // `invoke` runs the card of `CARDS` with the id asked for; the default
    // `test_connection` reads `/people` (the first fixed path `people-read`
    // allows) to check the token.
}

cardhost_sdk::export_connector!(Hello);

#[cfg(test)]
mod tests {
    use super::*;
    use cardhost_sdk::testing::{check_manifest, invoke, json as answer, mock_http};
    use cardhost_sdk::{Error, Value};

    fn ctx() -> Context {
        Context::for_test(json!({"base_url": "https://directory.example"}))
    }

    #[test]
    fn the_manifest_passes_the_hosts_checks() {
        check_manifest::<Hello>();
    }

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
            assert_eq!(req.url, "/people/a%20b");
            answer(200, json!({"id": "a b", "name": "Ren"}))
        });
        let out = invoke::<Hello>("greet-person", json!({"id": "a b"}), &ctx()).unwrap();
        assert_eq!(out, json!({"greeting": "Hello, Ren!"}));
    }

    #[test]
    fn missing_person_is_not_found() {
        mock_http(|_| answer(404, json!({"message": "no such person"})));
        let err = invoke::<Hello>("read-person", json!({"id": "9"}), &ctx());
        assert_eq!(err.unwrap_err(), Error::NotFound("no such person".into()));
    }

    #[test]
    fn the_schema_refuses_what_the_card_cannot_take() {
        mock_http(|_| panic!("nothing is sent"));
        for bad in [
            json!({}),
            json!({"id": ""}),
            json!({"id": "1", "extra": true}),
        ] {
            let err = invoke::<Hello>("read-person", bad.clone(), &ctx());
            assert!(matches!(err, Err(Error::InvalidInput(_))), "{bad}");
        }
    }

    #[test]
    fn the_connection_test_reads_the_people_list() {
        mock_http(|req| {
            assert_eq!(req.url, "/people");
            answer(200, Value::Array(vec![]))
        });
        let mut ctx = ctx();
        ctx.permissions = vec!["people-read".into()];
        assert!(Hello::test_connection(&ctx).ok);
    }
}
