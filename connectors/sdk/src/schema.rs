//! JSON Schemas derived from Rust types with [schemars], so a card's input
//! struct and the schema the host validates against cannot disagree.
//!
//! Both schemas are JSON Schema draft 2020-12, with shared types under
//! `$defs`. They follow serde's *deserialize* contract:
//!
//! - **Inputs**: a field of type `Option<T>` may be left out, but **not** be
//!   `null` (the host refuses `null` before the card runs). A field that
//!   takes `null` on purpose, e.g. to clear a value, is an [`Update<T>`].
//!   `#[serde(deny_unknown_fields)]` becomes `additionalProperties: false`.
//! - **Outputs** describe what a reader may rely on: an `Option<T>` field may
//!   be `null` or absent.
//!
//! Constraints are schemars attributes on the fields:
//! `#[schemars(length(min = 1, max = 255))]`, `#[schemars(range(min = 1, max = 100))]`,
//! `#[schemars(regex(pattern = "^[a-z]+$"))]`, `#[schemars(email)]`,
//! `#[schemars(extend("format" = "date"))]`; doc comments become descriptions
//! and `enum`s of unit variants become `enum` lists. Anything else JSON
//! Schema can say goes in `#[schemars(extend("key" = value))]`.

use schemars::generate::SchemaSettings;
use schemars::{JsonSchema, Schema, SchemaGenerator};
use serde::de::{Deserialize, Deserializer};
use serde::ser::{Serialize, Serializer};
use serde_json::{Map, Value};
use std::borrow::Cow;
use std::marker::PhantomData;

fn generate<T: JsonSchema>() -> Value {
    let generator = SchemaSettings::draft2020_12()
        .for_deserialize()
        .into_generator();
    let mut schema = generator.into_root_schema_for::<T>().to_value();
    if let Some(root) = schema.as_object_mut() {
        // The Rust type's name is no title for a flow builder.
        root.remove("title");
    }
    schema
}

/// Whether `text` is a calendar date `YYYY-MM-DD` that exists (a schema's
/// `pattern` checks only the shape: `2023-02-29` fits it).
pub fn is_date(text: &str) -> bool {
    let b = text.as_bytes();
    if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
        return false;
    }
    let num = |part: &str| -> Option<u32> {
        part.bytes()
            .all(|c| c.is_ascii_digit())
            .then(|| part.parse().ok())
            .flatten()
    };
    let (Some(year), Some(month), Some(day)) =
        (num(&text[0..4]), num(&text[5..7]), num(&text[8..10]))
    else {
        return false;
    };
    let leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
    let days = match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if leap => 29,
        2 => 28,
        _ => return false,
    };
    (1..=days).contains(&day)
}

/// The input schema of `T`: optional fields may be left out but not be
/// `null` (see the [module docs](self)).
pub fn input_schema<T: JsonSchema>() -> Value {
    let mut schema = generate::<T>();
    refuse_null_in_optional_fields(&mut schema);
    schema
}

/// The output schema of `T`.
pub fn output_schema<T: JsonSchema>() -> Value {
    generate::<T>()
}

/// Removes the `null` that schemars allows for every `Option<T>` from the
/// properties an object does not require, in every object schema of `schema`
/// (`$defs` included). An [`Update<T>`] says `{"const": null}`, which stays.
fn refuse_null_in_optional_fields(schema: &mut Value) {
    match schema {
        Value::Object(map) => {
            let required: Vec<String> = map
                .get("required")
                .and_then(Value::as_array)
                .map(|r| {
                    r.iter()
                        .filter_map(Value::as_str)
                        .map(str::to_string)
                        .collect()
                })
                .unwrap_or_default();
            if let Some(Value::Object(properties)) = map.get_mut("properties") {
                for (name, property) in properties.iter_mut() {
                    if !required.contains(name) {
                        strip_null(property);
                    }
                }
            }
            for value in map.values_mut() {
                refuse_null_in_optional_fields(value);
            }
        }
        Value::Array(items) => items.iter_mut().for_each(refuse_null_in_optional_fields),
        _ => {}
    }
}

/// Undoes schemars's `allow_null`: `type: [T, "null"]` or
/// `anyOf: [S, {"type": "null"}]`.
fn strip_null(property: &mut Value) {
    let Value::Object(map) = property else {
        return;
    };
    if let Some(Value::Array(types)) = map.get_mut("type") {
        types.retain(|t| t != "null");
        if types.len() == 1 {
            let only = types.remove(0);
            map.insert("type".into(), only);
        }
        return;
    }
    let is_null = |s: &Value| s == &serde_json::json!({"type": "null"});
    if let Some(Value::Array(any)) = map.get("anyOf")
        && any.len() == 2
        && any.iter().any(is_null)
    {
        let Some(Value::Array(any)) = map.remove("anyOf") else {
            return;
        };
        let Some(Value::Object(rest)) = any.into_iter().find(|s| !is_null(s)) else {
            return;
        };
        for (key, value) in rest {
            map.entry(key).or_insert(value);
        }
    }
}

/// An input field that may be left out, set, or set to `null` (which means
/// something, e.g. "clear this value"), for partial updates:
///
/// ```
/// use cardhost_sdk::{JsonSchema, Update};
/// use serde::{Deserialize, Serialize};
///
/// #[derive(Deserialize, Serialize, JsonSchema)]
/// struct Change {
///     /// New email; `null` removes it.
///     #[serde(default, skip_serializing_if = "Update::is_keep")]
///     email: Update<String>,
/// }
/// ```
///
/// Left out it is [`Update::Keep`] and, with the attributes above, left out
/// again when the struct is serialised into an upstream request.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Update<T> {
    /// Not given: leave the value as it is.
    #[default]
    Keep,
    /// Given as `null`.
    Clear,
    /// Given.
    Set(T),
}

impl<T> Update<T> {
    /// Whether the field was left out (for `skip_serializing_if`).
    pub fn is_keep(&self) -> bool {
        matches!(self, Update::Keep)
    }

    /// The value, when one was set.
    pub fn as_set(&self) -> Option<&T> {
        match self {
            Update::Set(v) => Some(v),
            _ => None,
        }
    }
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Update<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        // Only called for a present field; `default` covers a missing one.
        Ok(match Option::<T>::deserialize(deserializer)? {
            Some(v) => Update::Set(v),
            None => Update::Clear,
        })
    }
}

impl<T: Serialize> Serialize for Update<T> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Update::Set(v) => v.serialize(serializer),
            _ => serializer.serialize_none(),
        }
    }
}

impl<T: JsonSchema> JsonSchema for Update<T> {
    fn inline_schema() -> bool {
        true
    }

    fn schema_name() -> Cow<'static, str> {
        format!("Update_{}", T::schema_name()).into()
    }

    fn json_schema(generator: &mut SchemaGenerator) -> Schema {
        let value = generator.subschema_for::<T>();
        schemars::json_schema!({"anyOf": [value, {"const": null}]})
    }
}

/// Upstream JSON passed through as it came (unknown fields and all),
/// described by the schema of `S`: a struct that exists for its
/// `#[derive(JsonSchema)]`, so the output schema is written as Rust.
///
/// ```
/// use cardhost_sdk::{JsonSchema, Raw, Value, json};
///
/// /// A department as the upstream returns it.
/// #[derive(JsonSchema)]
/// #[allow(dead_code)]
/// struct Department {
///     /// The upstream's id.
///     id: String,
///     /// Parent department; null at the top.
///     parent_id: Option<String>,
/// }
///
/// let record: Raw<Department> = json!({"id": "d1", "parent_id": null, "extra": 1}).into();
/// assert_eq!(record.value["extra"], 1);
/// ```
pub struct Raw<S> {
    /// The JSON, unchanged.
    pub value: Value,
    shape: PhantomData<fn() -> S>,
}

impl<S> Raw<S> {
    /// Wraps `value`.
    pub fn new(value: Value) -> Self {
        Self {
            value,
            shape: PhantomData,
        }
    }
}

impl<S> From<Value> for Raw<S> {
    fn from(value: Value) -> Self {
        Self::new(value)
    }
}

impl<S> Clone for Raw<S> {
    fn clone(&self) -> Self {
        Self::new(self.value.clone())
    }
}

impl<S> std::fmt::Debug for Raw<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.value.fmt(f)
    }
}

impl<S> PartialEq for Raw<S> {
    fn eq(&self, other: &Self) -> bool {
        self.value == other.value
    }
}

impl<S> Serialize for Raw<S> {
    fn serialize<Ser: Serializer>(&self, serializer: Ser) -> Result<Ser::Ok, Ser::Error> {
        self.value.serialize(serializer)
    }
}

impl<'de, S> Deserialize<'de> for Raw<S> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Value::deserialize(deserializer).map(Self::new)
    }
}

/// `JsonSchema` for a wrapper that carries JSON described by `S`: the
/// schema is `S`'s.
macro_rules! schema_of_shape {
    ($wrapper:ident) => {
        impl<S: JsonSchema> JsonSchema for $wrapper<S> {
            fn inline_schema() -> bool {
                S::inline_schema()
            }

            fn schema_name() -> Cow<'static, str> {
                S::schema_name()
            }

            fn schema_id() -> Cow<'static, str> {
                S::schema_id()
            }

            fn json_schema(generator: &mut SchemaGenerator) -> Schema {
                S::json_schema(generator)
            }
        }
    };
}

schema_of_shape!(Raw);

/// Upstream JSON handed on as the upstream's own text: checked to be JSON,
/// never parsed into a tree or written out again in the guest. The host
/// parses it once, for the output schema — described, as with [`Raw`], by
/// the schema of `S` — and refuses it if it is not valid there (a key named
/// twice included). For a card whose output is what the upstream answered,
/// this is the cheapest path: one copy in the guest, one parse in the host.
///
/// ```
/// use cardhost_sdk::{JsonSchema, Passthrough};
///
/// /// A department as the upstream returns it.
/// #[derive(JsonSchema)]
/// #[allow(dead_code)]
/// struct Department {
///     /// The upstream's id.
///     id: String,
/// }
///
/// let body = br#"{"id": "d1", "extra": [1, 2]}"#.to_vec();
/// let record: Passthrough<Department> = Passthrough::from_bytes(body).unwrap();
/// assert_eq!(record.as_str(), r#"{"id": "d1", "extra": [1, 2]}"#);
/// assert!(Passthrough::<Department>::from_bytes(b"{oops".to_vec()).is_err());
/// ```
pub struct Passthrough<S> {
    json: Box<serde_json::value::RawValue>,
    shape: PhantomData<fn() -> S>,
}

impl<S> Passthrough<S> {
    /// Takes `body` as it is, if it is one JSON value (UTF-8, balanced,
    /// nothing after it).
    pub fn from_bytes(body: Vec<u8>) -> serde_json::Result<Self> {
        let text = String::from_utf8(body).map_err(|e| {
            <serde_json::Error as serde::de::Error>::custom(format!("not UTF-8: {e}"))
        })?;
        Self::from_text(text)
    }

    /// Takes `text` as it is, if it is one JSON value.
    pub fn from_text(text: String) -> serde_json::Result<Self> {
        serde_json::value::RawValue::from_string(text).map(|json| Self {
            json,
            shape: PhantomData,
        })
    }

    /// `value`, written out once (for a card that reaches the same output
    /// through a parsed record on another path).
    pub fn from_value(value: &Value) -> Self {
        Self {
            json: serde_json::value::to_raw_value(value).expect("a JSON value always serialises"),
            shape: PhantomData,
        }
    }

    /// The JSON text.
    pub fn as_str(&self) -> &str {
        self.json.get()
    }

    /// Parses it, for a card that needs to look inside after all.
    pub fn parse(&self) -> serde_json::Result<Value> {
        serde_json::from_str(self.json.get())
    }
}

impl<S> Clone for Passthrough<S> {
    fn clone(&self) -> Self {
        Self {
            json: self.json.clone(),
            shape: PhantomData,
        }
    }
}

impl<S> std::fmt::Debug for Passthrough<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.json.get())
    }
}

impl<S> Serialize for Passthrough<S> {
    fn serialize<Ser: Serializer>(&self, serializer: Ser) -> Result<Ser::Ok, Ser::Error> {
        self.json.serialize(serializer)
    }
}

impl<'de, S> Deserialize<'de> for Passthrough<S> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Box::<serde_json::value::RawValue>::deserialize(deserializer).map(|json| Self {
            json,
            shape: PhantomData,
        })
    }
}

schema_of_shape!(Passthrough);

/// The input of a card that takes nothing: `{}` and nothing else.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NoInput {}

/// Merges the properties and `required` of the object schema `from` into
/// `into`, for hand-written [`JsonSchema`] impls that flatten one type into
/// another.
pub(crate) fn merge_object(into: &mut Map<String, Value>, from: Schema) {
    let Value::Object(from) = from.to_value() else {
        return;
    };
    for (key, value) in from {
        match (key.as_str(), into.get_mut(&key), value) {
            ("properties", Some(Value::Object(mine)), Value::Object(theirs)) => mine.extend(theirs),
            ("required", Some(Value::Array(mine)), Value::Array(theirs)) => mine.extend(theirs),
            ("type" | "title" | "description" | "additionalProperties", _, _) => {}
            (_, None, value) => {
                into.insert(key, value);
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_must_exist() {
        assert!(is_date("2024-02-29"));
        assert!(!is_date("2023-02-29"));
        assert!(!is_date("2024-13-01"));
        assert!(!is_date("2024-1-01"));
        assert!(!is_date("２０２4-01-01"));
    }
    use serde_json::json;

    #[derive(serde::Deserialize, JsonSchema)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Input {
        /// Required.
        #[schemars(length(min = 1))]
        name: String,
        /// Optional.
        #[schemars(regex(pattern = "^[a-z]+$"))]
        code: Option<String>,
        /// Optional, nested.
        inner: Option<Inner>,
        /// Clearable.
        #[serde(default)]
        email: Update<String>,
        #[serde(default)]
        flag: bool,
    }

    #[derive(serde::Deserialize, JsonSchema)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Inner {
        n: Option<u32>,
    }

    #[test]
    fn optional_input_fields_refuse_null_but_updates_take_it() {
        let s = input_schema::<Input>();
        assert_eq!(s["$schema"], "https://json-schema.org/draft/2020-12/schema");
        assert!(s.get("title").is_none());
        assert_eq!(s["additionalProperties"], false);
        assert_eq!(s["required"], json!(["name"]));
        let p = &s["properties"];
        assert_eq!(p["code"]["type"], "string");
        assert_eq!(p["code"]["pattern"], "^[a-z]+$");
        assert_eq!(p["code"]["description"], "Optional.");
        assert!(p["inner"].get("anyOf").is_none(), "{}", p["inner"]);
        assert_eq!(p["inner"]["$ref"], "#/$defs/Inner");
        assert_eq!(s["$defs"]["Inner"]["properties"]["n"]["type"], "integer");
        assert_eq!(p["email"]["anyOf"][1], json!({"const": null}));
        assert_eq!(p["flag"]["default"], false);
    }

    #[test]
    fn outputs_keep_null() {
        let s = output_schema::<Inner>();
        assert_eq!(s["properties"]["n"]["type"], json!(["integer", "null"]));
    }

    #[test]
    fn updates_tell_null_from_missing() {
        #[derive(serde::Deserialize, serde::Serialize)]
        struct U {
            #[serde(default, skip_serializing_if = "Update::is_keep")]
            a: Update<u8>,
            #[serde(default, skip_serializing_if = "Update::is_keep")]
            b: Update<u8>,
            #[serde(default, skip_serializing_if = "Update::is_keep")]
            c: Update<u8>,
        }
        let u: U = serde_json::from_value(json!({"a": 1, "b": null})).unwrap();
        assert_eq!(
            (&u.a, &u.b, &u.c),
            (&Update::Set(1), &Update::Clear, &Update::Keep)
        );
        assert_eq!(
            serde_json::to_value(&u).unwrap(),
            json!({"a": 1, "b": null})
        );
    }

    #[test]
    fn no_input_is_an_empty_closed_object() {
        let s = input_schema::<NoInput>();
        assert_eq!(s["type"], "object");
        assert_eq!(s["additionalProperties"], false);
    }
}
