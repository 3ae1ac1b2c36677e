//! A small JSON Schema subset for plugin config (`with:` maps).
//!
//! Supported keywords: `type` (a name or a list of names: object, array, string, integer,
//! number, boolean, null), `properties`, `required`, `additionalProperties` (boolean),
//! `items`, `enum`, `minimum`, `maximum`, `minLength`, `maxLength`, `description`, `default`.
//! Any other keyword is rejected when the manifest loads, so a schema never silently means
//! less than it says.

use serde_json::Value;

const KEYWORDS: &[&str] = &[
    "type",
    "properties",
    "required",
    "additionalProperties",
    "items",
    "enum",
    "minimum",
    "maximum",
    "minLength",
    "maxLength",
    "description",
    "default",
    "title",
    "$schema",
];

/// Check that `schema` only uses the supported keywords.
pub fn check_schema(schema: &Value) -> Result<(), String> {
    let obj = schema.as_object().ok_or("a schema must be an object")?;
    for (k, v) in obj {
        if !KEYWORDS.contains(&k.as_str()) {
            return Err(format!("unsupported keyword {k:?}"));
        }
        match k.as_str() {
            "properties" => {
                for (name, sub) in v.as_object().ok_or("`properties` must be an object")? {
                    check_schema(sub).map_err(|e| format!("properties.{name}: {e}"))?;
                }
            }
            "items" => check_schema(v).map_err(|e| format!("items: {e}"))?,
            "required" if !v.as_array().is_some_and(|a| a.iter().all(Value::is_string)) => {
                return Err("`required` must be a list of strings".into());
            }
            "additionalProperties" if !v.is_boolean() => {
                return Err("`additionalProperties` must be a boolean".into());
            }
            _ => {}
        }
    }
    Ok(())
}

/// Validate `value` against `schema`; each error names the JSON path (`with.key[0]`).
pub fn validate(schema: &Value, value: &Value) -> Vec<String> {
    let mut errors = Vec::new();
    walk(schema, value, "with", &mut errors);
    errors
}

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(n) if n.is_i64() || n.is_u64() => "integer",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

fn type_matches(want: &str, v: &Value) -> bool {
    let have = type_name(v);
    want == have || (want == "number" && have == "integer")
}

fn walk(schema: &Value, value: &Value, path: &str, errors: &mut Vec<String>) {
    let Some(s) = schema.as_object() else { return };
    if let Some(t) = s.get("type") {
        let wants: Vec<&str> = match t {
            Value::String(one) => vec![one.as_str()],
            Value::Array(many) => many.iter().filter_map(Value::as_str).collect(),
            _ => vec![],
        };
        if !wants.is_empty() && !wants.iter().any(|w| type_matches(w, value)) {
            errors.push(format!(
                "{path}: expected {}, found {}",
                wants.join(" or "),
                type_name(value)
            ));
            return;
        }
    }
    if let Some(Value::Array(allowed)) = s.get("enum")
        && !allowed.contains(value)
    {
        let list: Vec<String> = allowed.iter().map(Value::to_string).collect();
        errors.push(format!("{path}: {value} is not one of {}", list.join(", ")));
    }
    if let Some(n) = value.as_f64() {
        if let Some(min) = s.get("minimum").and_then(Value::as_f64)
            && n < min
        {
            errors.push(format!("{path}: {value} is less than the minimum {min}"));
        }
        if let Some(max) = s.get("maximum").and_then(Value::as_f64)
            && n > max
        {
            errors.push(format!("{path}: {value} is more than the maximum {max}"));
        }
    }
    if let Some(text) = value.as_str() {
        let len = text.chars().count() as u64;
        if let Some(min) = s.get("minLength").and_then(Value::as_u64)
            && len < min
        {
            errors.push(format!("{path}: shorter than {min} characters"));
        }
        if let Some(max) = s.get("maxLength").and_then(Value::as_u64)
            && len > max
        {
            errors.push(format!("{path}: longer than {max} characters"));
        }
    }
    if let (Some(items), Value::Array(arr)) = (s.get("items"), value) {
        for (i, item) in arr.iter().enumerate() {
            walk(items, item, &format!("{path}[{i}]"), errors);
        }
    }
    if let Value::Object(map) = value {
        let props = s.get("properties").and_then(Value::as_object);
        if let Some(Value::Array(req)) = s.get("required") {
            for key in req.iter().filter_map(Value::as_str) {
                if !map.contains_key(key) {
                    errors.push(format!("{path}: missing required key `{key}`"));
                }
            }
        }
        for (k, v) in map {
            match props.and_then(|p| p.get(k)) {
                Some(sub) => walk(sub, v, &format!("{path}.{k}"), errors),
                None if s.get("additionalProperties") == Some(&Value::Bool(false)) => {
                    let known: Vec<&str> = props
                        .map(|p| p.keys().map(String::as_str).collect())
                        .unwrap_or_default();
                    errors.push(format!(
                        "{path}: unknown key `{k}` (known: {})",
                        known.join(", ")
                    ));
                }
                None => {}
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn validates_the_subset() {
        let schema = json!({
            "type": "object", "additionalProperties": false, "required": ["level"],
            "properties": {
                "level": {"type": "string", "enum": ["low", "high"]},
                "max": {"type": "integer", "minimum": 1},
                "paths": {"type": "array", "items": {"type": "string"}}
            }
        });
        check_schema(&schema).unwrap();
        assert!(validate(&schema, &json!({"level": "low", "max": 3, "paths": ["a"]})).is_empty());
        let errs = validate(
            &schema,
            &json!({"level": "mid", "max": 0, "paths": [1], "x": true}),
        );
        assert_eq!(errs.len(), 4, "{errs:?}");
        assert!(
            errs.iter()
                .any(|e| e.contains("with.paths[0]: expected string"))
        );
        assert!(errs.iter().any(|e| e.contains("unknown key `x`")));
        assert!(validate(&schema, &json!({}))[0].contains("missing required key `level`"));
    }

    #[test]
    fn rejects_unsupported_keywords() {
        assert!(
            check_schema(&json!({"type": "object", "oneOf": []}))
                .unwrap_err()
                .contains("oneOf")
        );
        assert!(
            check_schema(&json!({"properties": {"a": {"pattern": "x"}}}))
                .unwrap_err()
                .contains("properties.a")
        );
    }
}
