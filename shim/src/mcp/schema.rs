//! Portable tool schemas: an optional field is declared with its one type and may be absent.
//! schemars writes `Option<T>` as `"type": ["T", "null"]` (or an `anyOf` with a `null` branch),
//! which clients that map schemas onto a single-type dialect reject. `portable` is a schemars
//! transform that removes the `null` alternatives; a client's explicit `null` is still accepted,
//! since serde reads it as `None`. It also drops schemars' numeric `format`s (`uint32`,
//! `double`...), which are not JSON Schema formats and only cost context.

use rmcp::schemars::Schema;
use serde_json::{Map, Value};

/// Keywords whose value is one subschema.
const SUBSCHEMA: &[&str] = &["items", "additionalProperties", "not"];
/// Keywords whose value is a map of names to subschemas.
const SUBSCHEMA_MAPS: &[&str] = &["properties", "$defs", "patternProperties"];
/// Keywords whose value is a list of alternative subschemas.
const ALTERNATIVES: &[&str] = &["anyOf", "oneOf"];
/// The formats schemars invents for Rust's number types.
const RUST_NUMBER_FORMATS: &[&str] = &[
    "int8", "int16", "int32", "int64", "uint", "uint8", "uint16", "uint32", "uint64", "float",
    "double",
];

/// The schemars transform: `#[schemars(transform = crate::mcp::schema::portable)]`.
pub fn portable(schema: &mut Schema) {
    if let Some(object) = schema.as_object_mut() {
        portable_object(object);
    }
}

fn portable_object(object: &mut Map<String, Value>) {
    // A branch merged in may bring its own nullable alternatives: repeat until none is left.
    while collapse_null_alternatives(object) {}
    if let Some(Value::Array(types)) = object.get_mut("type") {
        types.retain(|t| t != "null");
        if types.len() == 1 {
            let only = types.remove(0);
            object.insert("type".into(), only);
        }
    }
    // An optional enum lists null among its values.
    if let Some(Value::Array(values)) = object.get_mut("enum") {
        values.retain(|v| !v.is_null());
    }
    if object
        .get("format")
        .and_then(Value::as_str)
        .is_some_and(|f| RUST_NUMBER_FORMATS.contains(&f))
    {
        object.remove("format");
    }
    for key in SUBSCHEMA {
        if let Some(Value::Object(sub)) = object.get_mut(*key) {
            portable_object(sub);
        }
    }
    for key in SUBSCHEMA_MAPS {
        if let Some(Value::Object(map)) = object.get_mut(*key) {
            for sub in map.values_mut().filter_map(Value::as_object_mut) {
                portable_object(sub);
            }
        }
    }
    for key in ALTERNATIVES {
        if let Some(Value::Array(branches)) = object.get_mut(*key) {
            for sub in branches.iter_mut().filter_map(Value::as_object_mut) {
                portable_object(sub);
            }
        }
    }
}

/// Removes the `null` branches of `anyOf`/`oneOf`; a single branch left replaces the keyword, and
/// keywords already present (the field's description) win over the branch's. Returns whether a
/// branch was merged in.
fn collapse_null_alternatives(object: &mut Map<String, Value>) -> bool {
    let mut merged = false;
    for key in ALTERNATIVES {
        let Some(Value::Array(branches)) = object.get_mut(*key) else {
            continue;
        };
        branches.retain(|b| b.get("type").and_then(Value::as_str) != Some("null"));
        if branches.len() == 1
            && let Some(Value::Array(mut rest)) = object.remove(*key)
            && let Some(Value::Object(only)) = rest.pop()
        {
            for (k, v) in only {
                object.entry(k).or_insert(v);
            }
            merged = true;
        }
    }
    merged
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn run(v: Value) -> Value {
        let mut schema = Schema::try_from(v).unwrap();
        portable(&mut schema);
        schema.to_value()
    }

    #[test]
    fn a_nullable_type_list_becomes_its_one_type() {
        let out = run(json!({
            "type": "object",
            "properties": {
                "cwd": {"type": ["string", "null"], "description": "d"},
                "port": {"type": ["integer", "null"], "format": "uint32", "minimum": 1},
            }
        }));
        assert_eq!(
            out["properties"]["cwd"],
            json!({"type": "string", "description": "d"})
        );
        assert_eq!(
            out["properties"]["port"],
            json!({"type": "integer", "minimum": 1})
        );
    }

    #[test]
    fn a_nullable_any_of_becomes_its_other_branch() {
        let out = run(json!({
            "properties": {
                "strict": {
                    "description": "outer",
                    "anyOf": [
                        {"description": "inner", "anyOf": [{"type": "boolean"}, {"type": "string"}]},
                        {"type": "null"}
                    ]
                }
            }
        }));
        assert_eq!(
            out["properties"]["strict"],
            json!({"description": "outer", "anyOf": [{"type": "boolean"}, {"type": "string"}]})
        );
    }

    #[test]
    fn nested_schemas_are_reached() {
        let out = run(json!({
            "properties": {
                "list": {"type": ["array", "null"], "items": {"type": ["string", "null"]}},
                "map": {"type": "object", "additionalProperties": {"type": ["integer", "null"]}},
            },
            "$defs": {"D": {"oneOf": [{"type": "null"}, {"type": "number", "format": "double"}]}}
        }));
        assert_eq!(
            out["properties"]["list"],
            json!({"type": "array", "items": {"type": "string"}})
        );
        assert_eq!(
            out["properties"]["map"]["additionalProperties"],
            json!({"type": "integer"})
        );
        assert_eq!(out["$defs"]["D"], json!({"type": "number"}));
        let optional_enum = run(json!({"type": ["string", "null"], "enum": ["a", "b", null]}));
        assert_eq!(optional_enum, json!({"type": "string", "enum": ["a", "b"]}));
        let twice = run(
            json!({"anyOf": [{"anyOf": [{"type": "null"}, {"type": "string"}]}, {"type": "null"}]}),
        );
        assert_eq!(twice, json!({"type": "string"}));
    }

    #[test]
    fn a_real_choice_of_types_stays() {
        let choice = json!({"anyOf": [{"type": "boolean"}, {"type": "string"}]});
        assert_eq!(run(choice.clone()), choice);
        let formatted = json!({"type": "string", "format": "date-time"});
        assert_eq!(run(formatted.clone()), formatted);
    }
}
