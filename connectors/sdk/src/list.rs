//! The standard output of a list card:
//!
//! ```json
//! {"departments": [...], "has_more": false, "total_count": 45}
//! ```
//!
//! The items go under their type's plural ([`ListItem::KEY`]; `items` for
//! plain JSON values), beside `has_more` and the paging details `P`, whose
//! fields are flattened in. [`Total`] (`total_count`) is the default; a
//! connector whose upstream pages otherwise (continuation tokens, SCIM
//! indexes) gives its own serialisable `P`.

use crate::schema::{Raw, merge_object};
use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::ser::{Error as _, Serialize, SerializeMap, Serializer};
use serde_json::Value;
use std::borrow::Cow;

/// A type that list cards return many of, and the key they go under.
pub trait ListItem {
    /// The key of the items in a [`List`] (`users`).
    const KEY: &'static str;
}

impl ListItem for Value {
    const KEY: &'static str = "items";
}

impl<S: ListItem> ListItem for Raw<S> {
    const KEY: &'static str = S::KEY;
}

/// The default paging details: how many items match in all.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, JsonSchema)]
pub struct Total {
    /// How many items match, as the upstream counts them; null when it does
    /// not say.
    pub total_count: Option<u64>,
}

/// Items, whether more exist than were returned, and paging details `P`.
#[derive(Debug, Clone, PartialEq)]
pub struct List<T, P = Total> {
    /// The items, in the upstream's order.
    pub items: Vec<T>,
    /// Whether more items match than were returned.
    pub has_more: bool,
    /// Paging details, flattened into the output.
    pub paging: P,
}

impl<T> List<T> {
    /// A list with its total.
    pub fn new(items: Vec<T>, has_more: bool, total_count: Option<u64>) -> Self {
        Self {
            items,
            has_more,
            paging: Total { total_count },
        }
    }
}

impl<T, P> List<T, P> {
    /// A list with other paging details.
    pub fn with_paging(items: Vec<T>, has_more: bool, paging: P) -> Self {
        Self {
            items,
            has_more,
            paging,
        }
    }
}

impl<T: Serialize + ListItem, P: Serialize> Serialize for List<T, P> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let paging = match serde_json::to_value(&self.paging).map_err(S::Error::custom)? {
            Value::Object(map) => map,
            Value::Null => Default::default(),
            _ => return Err(S::Error::custom("list paging details must be a struct")),
        };
        let mut map = serializer.serialize_map(Some(2 + paging.len()))?;
        map.serialize_entry(T::KEY, &self.items)?;
        map.serialize_entry("has_more", &self.has_more)?;
        for (key, value) in &paging {
            map.serialize_entry(key, value)?;
        }
        map.end()
    }
}

impl<T: JsonSchema + ListItem, P: JsonSchema> JsonSchema for List<T, P> {
    fn schema_name() -> Cow<'static, str> {
        format!("List_of_{}", T::schema_name()).into()
    }

    fn json_schema(generator: &mut SchemaGenerator) -> Schema {
        let items = generator.subschema_for::<T>();
        let mut schema = json_schema!({
            "type": "object",
            "required": [T::KEY, "has_more"],
            "properties": {
                T::KEY: {"type": "array", "items": items, "description": "The items, in the upstream's order."},
                "has_more": {"type": "boolean", "description": "Whether more items match than were returned."}
            }
        });
        if let Some(obj) = schema.as_object_mut() {
            merge_object(obj, P::json_schema(generator));
        }
        schema
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::output_schema;
    use serde_json::json;

    #[derive(JsonSchema)]
    #[allow(dead_code)]
    struct Crew {
        id: String,
    }

    impl ListItem for Crew {
        const KEY: &'static str = "employees";
    }

    #[derive(serde::Serialize, JsonSchema)]
    struct Page {
        page: Option<u32>,
        total_count: Option<u64>,
    }

    #[test]
    fn items_go_under_their_key_with_paging_flattened() {
        let list: List<Raw<Crew>, Page> = List::with_paging(
            vec![json!({"id": "c1", "x": 1}).into()],
            true,
            Page {
                page: Some(2),
                total_count: None,
            },
        );
        assert_eq!(
            serde_json::to_value(&list).unwrap(),
            json!({"employees": [{"id": "c1", "x": 1}], "has_more": true, "page": 2, "total_count": null})
        );
        let schema = output_schema::<List<Raw<Crew>, Page>>();
        assert_eq!(schema["required"], json!(["employees", "has_more"]));
        assert_eq!(
            schema["properties"]["employees"]["items"]["$ref"],
            "#/$defs/Crew"
        );
        assert_eq!(
            schema["properties"]["page"]["type"],
            json!(["integer", "null"])
        );
        let plain = serde_json::to_value(List::new(vec![json!(1)], false, Some(1))).unwrap();
        assert_eq!(
            plain,
            json!({"items": [1], "has_more": false, "total_count": 1})
        );
    }
}
