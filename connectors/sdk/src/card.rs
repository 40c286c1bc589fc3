//! A card as one unit: its id, text, typed input and output, permissions and
//! body in one `impl`, from which both its manifest entry (with schemas
//! derived from the types) and its dispatch are made.

use crate::manifest::CardEntry;
use crate::schema::{input_schema, output_schema};
use crate::{Context, Error, Result, Value};
use schemars::JsonSchema;
use serde::Serialize;
use serde::de::DeserializeOwned;

/// One action of a connector.
///
/// ```
/// use cardhost_sdk::{Card, Context, JsonSchema, Result};
/// use serde::{Deserialize, Serialize};
///
/// /// Greet Person's input.
/// #[derive(Deserialize, JsonSchema)]
/// #[serde(deny_unknown_fields)]
/// pub struct Who {
///     /// The name to greet.
///     #[schemars(length(min = 1, max = 100))]
///     pub name: String,
/// }
///
/// /// Greet Person's output.
/// #[derive(Serialize, JsonSchema)]
/// pub struct Greeting {
///     /// The words.
///     pub greeting: String,
/// }
///
/// pub struct GreetPerson;
///
/// impl Card for GreetPerson {
///     type Input = Who;
///     type Output = Greeting;
///     const ID: &'static str = "greet-person";
///     const TITLE: &'static str = "Greet Person";
///     const DESCRIPTION: &'static str = "Returns a greeting.";
///
///     fn run(input: Who, _ctx: &Context) -> Result<Greeting> {
///         Ok(Greeting { greeting: format!("Hello, {}!", input.name) })
///     }
/// }
/// ```
///
/// The host validates the input against `Input`'s schema before `run` and
/// the output against `Output`'s after, so `run` sees only inputs that fit.
pub trait Card {
    /// What the card takes. Its schema is the card's input schema
    /// ([`input_schema`](crate::schema::input_schema)).
    type Input: DeserializeOwned + JsonSchema;
    /// What the card returns. Its schema is the card's output schema.
    type Output: Serialize + JsonSchema;
    /// Stable kebab-case id (`list-users`).
    const ID: &'static str;
    /// Catalog title (`List Users`).
    const TITLE: &'static str;
    /// Catalog description: what the card does, in a sentence or two.
    const DESCRIPTION: &'static str;
    /// Ids of the manifest permissions whose rules cover every request the
    /// card makes. The host refuses any other request.
    const PERMISSIONS: &'static [&'static str] = &[];

    /// Runs the card.
    fn run(input: Self::Input, ctx: &Context) -> Result<Self::Output>;

    /// The card's manifest entry, schemas derived from its types.
    fn entry() -> CardEntry {
        CardEntry {
            id: Self::ID.into(),
            title: Self::TITLE.into(),
            description: Self::DESCRIPTION.into(),
            input_schema: input_schema::<Self::Input>(),
            output_schema: output_schema::<Self::Output>(),
            permissions: Self::PERMISSIONS.iter().map(|p| p.to_string()).collect(),
        }
    }
}

/// A [`Card`] with its types erased, so a connector can list its cards in
/// one table ([`Connector::CARDS`](crate::Connector::CARDS), made with
/// [`cards!`](crate::cards)).
#[derive(Clone, Copy)]
pub struct CardDef {
    /// The card's id.
    pub id: &'static str,
    entry: fn() -> CardEntry,
    run: fn(Value, &Context) -> Result<Value>,
    run_json: fn(&str, &Context) -> Result<String>,
}

impl std::fmt::Debug for CardDef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CardDef").field("id", &self.id).finish()
    }
}

/// A connector's cards, in catalog order.
pub type Cards = &'static [CardDef];

fn run_erased<C: Card>(input: Value, ctx: &Context) -> Result<Value> {
    let input: C::Input = crate::parse_input(input)?;
    crate::to_output(&C::run(input, ctx)?)
}

/// The path a guest takes: the input text straight into `C::Input`, the
/// output straight to text, with no `Value` tree on either side (a
/// [`Passthrough`](crate::Passthrough) output is copied, not parsed).
fn run_json_erased<C: Card>(input: &str, ctx: &Context) -> Result<String> {
    let input: C::Input =
        serde_json::from_str(input).map_err(|e| Error::InvalidInput(e.to_string()))?;
    serde_json::to_string(&C::run(input, ctx)?)
        .map_err(|e| Error::Internal(format!("cannot encode output: {e}")))
}

impl CardDef {
    /// Erases card `C`.
    pub const fn of<C: Card>() -> Self {
        Self {
            id: C::ID,
            entry: C::entry,
            run: run_erased::<C>,
            run_json: run_json_erased::<C>,
        }
    }

    /// The card's manifest entry.
    pub fn entry(&self) -> CardEntry {
        (self.entry)()
    }

    /// Decodes `input`, runs the card and encodes its output.
    pub fn run(&self, input: Value, ctx: &Context) -> Result<Value> {
        (self.run)(input, ctx)
    }

    /// Decodes the input text, runs the card and encodes its output as
    /// text: what the component does when the host calls the card.
    pub fn run_json(&self, input: &str, ctx: &Context) -> Result<String> {
        (self.run_json)(input, ctx)
    }
}

/// Lists a connector's cards for [`Connector::CARDS`](crate::Connector::CARDS):
/// `cards![ListUsers, ReadUser]`.
#[macro_export]
macro_rules! cards {
    ($($card:ty),* $(,)?) => {
        &[$($crate::CardDef::of::<$card>()),*]
    };
}

/// Runs the card of `cards` named `card`; an unknown id is an invalid-input
/// error that suggests the nearest id.
pub fn dispatch(cards: Cards, card: &str, input: Value, ctx: &Context) -> Result<Value> {
    match cards.iter().find(|c| c.id == card) {
        Some(def) => def.run(input, ctx),
        None => Err(Error::InvalidInput(format!(
            "unknown card `{card}`{}",
            did_you_mean(card, cards.iter().map(|c| c.id))
        ))),
    }
}

/// `"; did you mean `x`?"` when one of `known` is close to `word` (the
/// host's rule), else `""`.
pub fn did_you_mean<'a>(word: &str, known: impl IntoIterator<Item = &'a str>) -> String {
    cardhost_rules::text::suggestion(word, known)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::NoInput;
    use serde_json::json;

    struct Ping;

    impl Card for Ping {
        type Input = NoInput;
        type Output = Value;
        const ID: &'static str = "ping";
        const TITLE: &'static str = "Ping";
        const DESCRIPTION: &'static str = "Answers pong.";
        fn run(_: NoInput, _: &Context) -> Result<Value> {
            Ok(json!("pong"))
        }
    }

    const CARDS: Cards = cards![Ping];

    #[test]
    fn dispatch_runs_the_card_and_suggests_near_misses() {
        let ctx = Context::for_test(json!({}));
        assert_eq!(dispatch(CARDS, "ping", json!({}), &ctx), Ok(json!("pong")));
        assert_eq!(
            dispatch(CARDS, "pnig", json!({}), &ctx),
            Err(Error::InvalidInput(
                "unknown card `pnig`; did you mean `ping`?".into()
            ))
        );
        assert_eq!(
            dispatch(CARDS, "list-everything", json!({}), &ctx),
            Err(Error::InvalidInput("unknown card `list-everything`".into()))
        );
        assert!(matches!(
            dispatch(CARDS, "ping", json!({"x": 1}), &ctx),
            Err(Error::InvalidInput(m)) if m.contains("unknown field")
        ));
    }

    #[test]
    fn entries_carry_derived_schemas() {
        let e = CARDS[0].entry();
        assert_eq!(e.id, "ping");
        assert_eq!(e.input_schema["additionalProperties"], false);
        assert_eq!(
            e.output_schema,
            json!({"$schema": "https://json-schema.org/draft/2020-12/schema"})
        );
    }
}
