//! JSON Schema defaults, filled in as the host does for connection fields
//! and card inputs.

use serde_json::Value;

/// `value` with the top-level `default`s of `schema` filled in where a
/// property is missing (`null` counts as an empty object). Borrowed when
/// nothing was missing, so the common case copies nothing.
pub fn with_defaults<'a>(schema: &Value, value: &'a Value) -> std::borrow::Cow<'a, Value> {
    use std::borrow::Cow;
    let Some(props) = schema.get("properties").and_then(Value::as_object) else {
        return Cow::Borrowed(value);
    };
    let present = match value {
        Value::Object(obj) => Some(obj),
        Value::Null => None,
        _ => return Cow::Borrowed(value),
    };
    let missing: Vec<(String, Value)> = props
        .iter()
        .filter(|(name, _)| !present.is_some_and(|o| o.contains_key(*name)))
        .filter_map(|(name, prop)| Some((name.clone(), prop.get("default")?.clone())))
        .collect();
    if missing.is_empty() && present.is_some() {
        return Cow::Borrowed(value);
    }
    let mut filled = present.cloned().unwrap_or_default();
    filled.extend(missing);
    Cow::Owned(Value::Object(filled))
}
