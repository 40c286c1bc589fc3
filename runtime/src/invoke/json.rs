//! A card's output, parsed once into the tree the schema check reads — and
//! refused when an object names a key twice.
//!
//! `serde_json` keeps the last of two equal keys without a word, and other
//! parsers keep the first: output such as `{"admin": false, "admin": true}`
//! would mean one thing to the schema check and another to a flow reading
//! the raw text. One meaning or none, so a duplicate is an error naming the
//! key and where it is.

use serde::de::{DeserializeSeed, Deserializer, Error as _, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};
use std::fmt;

/// Parses `text` as one JSON value whose objects have unique keys.
pub(crate) fn parse_unique(text: &str) -> Result<Value, serde_json::Error> {
    let mut de = serde_json::Deserializer::from_str(text);
    let value = Unique { at: &Pointer::Root }.deserialize(&mut de)?;
    de.end()?;
    Ok(value)
}

/// Where a value sits, as a JSON pointer built only when an error needs it.
enum Pointer<'a> {
    Root,
    Key(&'a Pointer<'a>, &'a str),
    Index(&'a Pointer<'a>, usize),
}

impl fmt::Display for Pointer<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Pointer::Root => Ok(()),
            Pointer::Key(parent, key) => {
                write!(f, "{parent}/")?;
                f.write_str(&key.replace('~', "~0").replace('/', "~1"))
            }
            Pointer::Index(parent, i) => write!(f, "{parent}/{i}"),
        }
    }
}

struct Unique<'a> {
    at: &'a Pointer<'a>,
}

impl<'de> DeserializeSeed<'de> for Unique<'_> {
    type Value = Value;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Value, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Unique<'_> {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }

    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(v.into())
    }

    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(v.into())
    }

    fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
        // JSON text never holds a NaN or an infinity.
        Ok(serde_json::Number::from_f64(v).map_or(Value::Null, Value::Number))
    }

    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_owned()))
    }

    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }

    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(0));
        loop {
            let at = Pointer::Index(self.at, items.len());
            match seq.next_element_seed(Unique { at: &at })? {
                Some(item) => items.push(item),
                None => return Ok(Value::Array(items)),
            }
        }
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut object = Map::new();
        while let Some(key) = map.next_key::<String>()? {
            let value = map.next_value_seed(Unique {
                at: &Pointer::Key(self.at, &key),
            })?;
            match object.entry(key) {
                serde_json::map::Entry::Vacant(slot) => {
                    slot.insert(value);
                }
                serde_json::map::Entry::Occupied(taken) => {
                    let key = taken.key();
                    return Err(A::Error::custom(match self.at {
                        Pointer::Root => {
                            format!("the key `{key}` appears twice in the top-level object")
                        }
                        at => format!("the key `{key}` appears twice in the object at `{at}`"),
                    }));
                }
            }
        }
        Ok(Value::Object(object))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn parses_what_serde_json_parses() {
        let text = r#"{"a": [1, -2, 3.5, 1e400, "x\u00e9", null, true, {"b": {}}], "c": 18446744073709551615}"#;
        let mine = parse_unique(text);
        let theirs: Result<Value, _> = serde_json::from_str(text);
        // An out-of-range float is an error for both.
        assert_eq!(mine.is_err(), theirs.is_err());
        let text =
            r#"{"a": [1, -2, 3.5, "x\u00e9", null, true, {"b": {}}], "c": 18446744073709551615}"#;
        assert_eq!(
            parse_unique(text).unwrap(),
            serde_json::from_str::<Value>(text).unwrap()
        );
        assert_eq!(parse_unique(" 7 ").unwrap(), json!(7));
    }

    #[test]
    fn a_key_named_twice_is_refused_with_where() {
        let e = parse_unique(r#"{"user": {"admin": false, "admin": true}}"#).unwrap_err();
        assert!(
            e.to_string()
                .contains("the key `admin` appears twice in the object at `/user`"),
            "{e}"
        );
        let e = parse_unique(r#"[{"a/b": [0, {"x": 1, "x": 1}]}]"#).unwrap_err();
        assert!(e.to_string().contains("at `/0/a~1b/1`"), "{e}");
        let e = parse_unique(r#"{"a": 1, "a": 1}"#).unwrap_err();
        assert!(
            e.to_string().contains("twice in the top-level object"),
            "{e}"
        );
        // Equal after unescaping is equal.
        assert!(parse_unique(r#"{"a": 1, "\u0061": 2}"#).is_err());
        // The same key in sibling objects is fine.
        assert!(parse_unique(r#"[{"a": 1}, {"a": 2}]"#).is_ok());
    }

    #[test]
    fn trailing_text_is_refused() {
        assert!(parse_unique(r#"{"a": 1} {"a": 2}"#).is_err());
    }
}
