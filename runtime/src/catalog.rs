//! The catalog: every card a connector offers, the ones it declares and the
//! ones the host adds to every connector (the Custom API Action), with what
//! the CLI, the server and the OpenAPI document show of each. An invocation
//! looks its card up here, so a host card is checked like any other.

use crate::bindings::types as wit;
use crate::manifest::{CardSpec, Manifest};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::Arc;

pub use crate::manifest::CUSTOM_API_ACTION;

/// Who runs a card.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Runner {
    /// The connector, in the sandbox.
    Guest,
    /// The host: one raw request through the broker, with the connection's
    /// credentials and within its granted permissions.
    CustomApiAction,
}

/// One card of the catalog.
#[derive(Debug, Clone)]
pub struct CatalogCard {
    /// Its declaration and compiled schemas.
    pub spec: Arc<CardSpec>,
    /// Who runs it.
    pub runner: Runner,
}

/// A connector's cards: declared ones in manifest order, then the host's.
#[derive(Debug, Default)]
pub struct Catalog {
    cards: Vec<CatalogCard>,
    index: HashMap<String, usize>,
}

impl Catalog {
    /// The catalog of a validated manifest.
    pub fn of(manifest: &Manifest) -> Self {
        let mut cards: Vec<CatalogCard> = manifest
            .raw
            .cards
            .iter()
            .filter_map(|c| manifest.cards.get(&c.id))
            .map(|spec| CatalogCard {
                spec: spec.clone(),
                runner: Runner::Guest,
            })
            .collect();
        cards.push(CatalogCard {
            spec: Arc::new(custom_api_action(manifest)),
            runner: Runner::CustomApiAction,
        });
        let index = cards
            .iter()
            .enumerate()
            .map(|(i, c)| (c.spec.card.id.clone(), i))
            .collect();
        Self { cards, index }
    }

    /// The card `id`, declared or the host's.
    pub fn get(&self, id: &str) -> Option<&CatalogCard> {
        self.index.get(id).map(|&i| &self.cards[i])
    }

    /// Every card, declared ones first.
    pub fn iter(&self) -> impl Iterator<Item = &CatalogCard> {
        self.cards.iter()
    }

    /// How many cards, the host's included.
    pub fn len(&self) -> usize {
        self.cards.len()
    }

    /// Whether there are none (never: the host's cards are always there).
    pub fn is_empty(&self) -> bool {
        self.cards.is_empty()
    }

    /// The entries the catalog shows (`cardhost cards`,
    /// `GET /v1/connectors/{id}`, the OpenAPI document).
    pub fn entries(&self, connector: &str) -> Vec<Value> {
        self.cards
            .iter()
            .map(|c| {
                let spec = &c.spec;
                json!({
                    "connector": connector,
                    "id": spec.card.id,
                    "title": spec.card.title,
                    "description": spec.card.description,
                    "permissions": spec.card.permissions,
                    "input_schema": spec.input_schema,
                    "output_schema": spec.output_schema,
                })
            })
            .collect()
    }
}

/// The Custom API Action of a connector: every permission it declares, used
/// within what the connection was granted.
fn custom_api_action(manifest: &Manifest) -> CardSpec {
    let card = wit::Card {
        id: CUSTOM_API_ACTION.into(),
        title: "Custom API Action".into(),
        description: "Sends a raw request to this connector's API, with the connection's credentials and within its granted permissions.".into(),
        permissions: manifest.permissions.keys().cloned().collect(),
        input_schema: custom_api_action_input_schema().to_string(),
        output_schema: custom_api_action_output_schema().to_string(),
    };
    CardSpec::compile(card).expect("the Custom API Action's schemas are valid JSON Schemas")
}

/// The input schema of the host's Custom API Action card.
pub fn custom_api_action_input_schema() -> Value {
    json!({
        "type": "object",
        "required": ["method", "relative_url"],
        "additionalProperties": false,
        "properties": {
            "method": {"type": "string", "enum": ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"], "description": "HTTP method."},
            "relative_url": {"type": "string", "pattern": "^/", "description": "Path relative to the connection's base URL, e.g. /api/v1/crews?per_page=5."},
            "query": {"type": "object", "additionalProperties": {"type": ["string", "number", "boolean"]}, "description": "Query parameters."},
            "headers": {"type": "object", "additionalProperties": {"type": "string"}, "description": "Request headers (credentials are added by cardhost and may not be set)."},
            "body": {"description": "Request body: JSON, or a string sent as is."}
        }
    })
}

/// The output schema of the Custom API Action card.
pub fn custom_api_action_output_schema() -> Value {
    json!({
        "type": "object",
        "required": ["status", "headers", "body"],
        "properties": {
            "status": {"type": "integer"},
            "headers": {"type": "object", "additionalProperties": {"type": "string"}},
            "body": {"description": "JSON when the response is JSON, else text."}
        }
    })
}
