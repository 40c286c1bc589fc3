//! RFC 7644 §3.5.2 PATCH operations on one user.

use super::ENTERPRISE_USER;
use super::errors::ScimError;
use super::filter::{self, CORE_USER, get_ci};
use serde_json::{Map, Value};

fn key_of(map: &Map<String, Value>, name: &str) -> String {
    map.keys()
        .find(|k| k.eq_ignore_ascii_case(name))
        .cloned()
        .unwrap_or_else(|| name.to_string())
}

fn immutable(name: &str) -> bool {
    name.eq_ignore_ascii_case("id") || name.eq_ignore_ascii_case("meta")
}

/// Merges `value` into `target`: objects key by key (complex attributes
/// and extensions), arrays appended (`add`) or replaced.
fn merge(target: &mut Map<String, Value>, key: &str, value: Value, add: bool) {
    let key = key_of(target, key);
    match (target.get_mut(&key), value) {
        (Some(Value::Object(existing)), Value::Object(incoming)) => {
            for (k, v) in incoming {
                merge(existing, &k, v, add);
            }
        }
        (Some(Value::Array(existing)), Value::Array(incoming)) if add => {
            for item in incoming {
                if !existing.contains(&item) {
                    existing.push(item);
                }
            }
        }
        (_, value) => {
            target.insert(key, value);
        }
    }
}

fn root<'a>(
    user: &'a mut Value,
    urn: Option<&str>,
    create: bool,
) -> Result<Option<&'a mut Map<String, Value>>, ScimError> {
    let map = user
        .as_object_mut()
        .ok_or_else(|| ScimError::bad("invalidSyntax", "the user is not an object"))?;
    match urn {
        None => Ok(Some(map)),
        Some(u) if u.eq_ignore_ascii_case(CORE_USER) => Ok(Some(map)),
        Some(u) if u.eq_ignore_ascii_case(ENTERPRISE_USER) => {
            let key = key_of(map, ENTERPRISE_USER);
            if create {
                let entry = map.entry(key).or_insert_with(|| Value::Object(Map::new()));
                Ok(entry.as_object_mut())
            } else {
                Ok(map.get_mut(&key).and_then(Value::as_object_mut))
            }
        }
        Some(u) => Err(ScimError::bad(
            "invalidPath",
            format!("unknown schema `{u}`"),
        )),
    }
}

/// Splits `attr[filter].sub` into its parts.
fn split_value_path(path: &str) -> Result<(String, Option<String>, Option<String>), ScimError> {
    let Some(open) = path.find('[') else {
        return Ok((path.to_string(), None, None));
    };
    let close = path
        .rfind(']')
        .filter(|c| *c > open)
        .ok_or_else(|| ScimError::bad("invalidPath", format!("`{path}` has no closing `]`")))?;
    let sub = path[close + 1..].strip_prefix('.').map(str::to_string);
    if sub.is_none() && close + 1 != path.len() {
        return Err(ScimError::bad(
            "invalidPath",
            format!("`{path}` is not a path"),
        ));
    }
    Ok((
        path[..open].to_string(),
        Some(path[open + 1..close].to_string()),
        sub,
    ))
}

/// Applies one operation.
pub(super) fn apply(user: &mut Value, op: &Value) -> Result<(), ScimError> {
    let kind = get_ci(op, "op")
        .and_then(Value::as_str)
        .map(str::to_ascii_lowercase)
        .ok_or_else(|| ScimError::bad("invalidSyntax", "each operation needs an `op`"))?;
    if !matches!(kind.as_str(), "add" | "replace" | "remove") {
        return Err(ScimError::bad(
            "invalidSyntax",
            format!("`op` must be add, replace or remove, not `{kind}`"),
        ));
    }
    let value = get_ci(op, "value").cloned();
    let path = get_ci(op, "path").and_then(Value::as_str).map(str::trim);
    let Some(path) = path.filter(|p| !p.is_empty()) else {
        if kind == "remove" {
            return Err(ScimError::bad("noTarget", "`remove` needs a `path`"));
        }
        let Some(Value::Object(values)) = value else {
            return Err(ScimError::bad(
                "invalidValue",
                "without a `path`, `value` must be an object of attributes",
            ));
        };
        let map = user
            .as_object_mut()
            .ok_or_else(|| ScimError::bad("invalidSyntax", "not an object"))?;
        for (k, v) in values {
            if immutable(&k) {
                return Err(ScimError::bad(
                    "mutability",
                    format!("`{k}` cannot be changed"),
                ));
            }
            merge(map, &k, v, kind == "add");
        }
        return Ok(());
    };
    let (attr_text, value_filter, sub_after) = split_value_path(path)?;
    let parsed = filter::parse_path(&attr_text).map_err(|e| ScimError::bad("invalidPath", e))?;
    if parsed.urn.is_none() && immutable(&parsed.attr) {
        return Err(ScimError::bad(
            "mutability",
            format!("`{}` cannot be changed", parsed.attr),
        ));
    }
    let needs_value = kind != "remove";
    if needs_value && value.is_none() {
        return Err(ScimError::bad(
            "invalidValue",
            format!("`{kind}` needs a `value`"),
        ));
    }
    let Some(container) = root(user, parsed.urn.as_deref(), needs_value)? else {
        return Err(ScimError::bad("noTarget", format!("nothing at `{path}`")));
    };
    let key = key_of(container, &parsed.attr);
    if let Some(filter_text) = value_filter {
        let condition =
            filter::parse(&filter_text).map_err(|e| ScimError::bad("invalidFilter", e))?;
        let Some(Value::Array(items)) = container.get_mut(&key) else {
            return Err(ScimError::bad(
                "noTarget",
                format!("`{}` has no values", parsed.attr),
            ));
        };
        let mut hit = false;
        let mut kept = Vec::new();
        for mut item in std::mem::take(items) {
            if !filter::matches(&condition, &item)
                .map_err(|e| ScimError::bad("invalidFilter", e))?
            {
                kept.push(item);
                continue;
            }
            hit = true;
            match (&kind[..], &sub_after) {
                ("remove", None) => continue,
                (_, None) => item = value.clone().unwrap_or(Value::Null),
                ("remove", Some(sub)) => {
                    if let Some(obj) = item.as_object_mut() {
                        let k = key_of(obj, sub);
                        obj.remove(&k);
                    }
                }
                (_, Some(sub)) => {
                    if let Some(obj) = item.as_object_mut() {
                        let k = key_of(obj, sub);
                        obj.insert(k, value.clone().unwrap_or(Value::Null));
                    }
                }
            }
            kept.push(item);
        }
        *items = kept;
        if !hit && kind != "add" {
            return Err(ScimError::bad(
                "noTarget",
                format!("no value of `{path}` matches"),
            ));
        }
        return Ok(());
    }
    match (&kind[..], parsed.sub) {
        ("remove", None) => {
            container.remove(&key);
        }
        ("remove", Some(sub)) => {
            if let Some(Value::Object(obj)) = container.get_mut(&key) {
                let k = key_of(obj, &sub);
                obj.remove(&k);
            }
        }
        (_, None) => merge(
            container,
            &parsed.attr,
            value.unwrap_or(Value::Null),
            kind == "add",
        ),
        (_, Some(sub)) => {
            let entry = container
                .entry(key)
                .or_insert_with(|| Value::Object(Map::new()));
            let obj = entry.as_object_mut().ok_or_else(|| {
                ScimError::bad("invalidPath", format!("`{}` is not complex", parsed.attr))
            })?;
            merge(obj, &sub, value.unwrap_or(Value::Null), kind == "add");
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn user() -> Value {
        json!({
            "schemas": [CORE_USER],
            "id": "u1",
            "userName": "a",
            "name": {"givenName": "Ann", "familyName": "Lee"},
            "emails": [{"value": "a@x.example", "type": "work"}, {"value": "a@home.example", "type": "home"}],
            "meta": {"version": "W/\"1\""}
        })
    }

    fn op(value: Value) -> Result<Value, u16> {
        let mut u = user();
        apply(&mut u, &value)
            .map(|_| u)
            .map_err(|e| e.status.as_u16())
    }

    #[test]
    fn patch_operations() {
        let u = op(json!({"op": "Replace", "path": "active", "value": false})).unwrap();
        assert_eq!(u["active"], false);
        let u = op(json!({"op": "replace", "path": "name.givenName", "value": "Anne"})).unwrap();
        assert_eq!(u["name"], json!({"givenName": "Anne", "familyName": "Lee"}));
        let u = op(
            json!({"op": "add", "path": format!("{ENTERPRISE_USER}:department"), "value": "Bar"}),
        )
        .unwrap();
        assert_eq!(u[ENTERPRISE_USER]["department"], "Bar");
        let u = op(json!({"op": "replace", "path": "emails[type eq \"work\"].value", "value": "b@x.example"})).unwrap();
        assert_eq!(u["emails"][0]["value"], "b@x.example");
        assert_eq!(u["emails"][1]["value"], "a@home.example");
        let u = op(json!({"op": "remove", "path": "emails[type eq \"home\"]"})).unwrap();
        assert_eq!(u["emails"].as_array().unwrap().len(), 1);
        let u =
            op(json!({"op": "add", "value": {"title": "Host", "name": {"formatted": "Ann Lee"}}}))
                .unwrap();
        assert_eq!(u["title"], "Host");
        assert_eq!(u["name"]["givenName"], "Ann");
        assert_eq!(u["name"]["formatted"], "Ann Lee");
        let u = op(json!({"op": "remove", "path": "name"})).unwrap();
        assert!(u.get("name").is_none());
        assert_eq!(
            op(json!({"op": "replace", "path": "id", "value": "x"})),
            Err(400)
        );
        assert_eq!(op(json!({"op": "move", "path": "title"})), Err(400));
        assert_eq!(
            op(json!({"op": "replace", "path": "emails[type eq \"fax\"].value", "value": "x"})),
            Err(400)
        );
        assert_eq!(op(json!({"op": "replace", "path": "title"})), Err(400));
    }
}
