//! Shared pieces of the JSON parsers: lenient scalar types (real producers write numbers as
//! strings, floats where integers belong, `null` anywhere) and serde_json errors as located
//! warnings.

use crate::xml::{Fatal, Pos};
use serde::de::{self, Deserializer, IgnoredAny, Visitor};
use serde::Deserialize;
use std::fmt;

/// A string, or the text of a number or bool; `null` and anything else → empty.
#[derive(Debug, Default, Clone, PartialEq)]
pub(crate) struct Str(pub String);

/// A number (or a numeric string); anything else → `None`.
#[derive(Debug, Default, Clone, Copy, PartialEq)]
pub(crate) struct Num(pub Option<f64>);

impl Num {
    /// As a non-negative integer (truncated; saturating).
    pub(crate) fn count(self) -> Option<u64> {
        self.0.filter(|f| f.is_finite() && *f >= 0.0).map(|f| if f >= u64::MAX as f64 { u64::MAX } else { f as u64 })
    }
}

struct AnyScalar;

enum Scalar {
    Text(String),
    Number(f64),
    Other,
}

impl<'de> Visitor<'de> for AnyScalar {
    type Value = Scalar;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a string or number")
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Scalar, E> {
        Ok(Scalar::Text(v.to_string()))
    }
    fn visit_string<E: de::Error>(self, v: String) -> Result<Scalar, E> {
        Ok(Scalar::Text(v))
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Scalar, E> {
        Ok(Scalar::Number(v as f64))
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Scalar, E> {
        Ok(Scalar::Number(v as f64))
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Scalar, E> {
        Ok(Scalar::Number(v))
    }
    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Scalar, E> {
        Ok(Scalar::Text(v.to_string()))
    }
    fn visit_unit<E: de::Error>(self) -> Result<Scalar, E> {
        Ok(Scalar::Other)
    }
    fn visit_none<E: de::Error>(self) -> Result<Scalar, E> {
        Ok(Scalar::Other)
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Scalar, D::Error> {
        d.deserialize_any(self)
    }
    fn visit_seq<A: de::SeqAccess<'de>>(self, mut seq: A) -> Result<Scalar, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(Scalar::Other)
    }
    fn visit_map<A: de::MapAccess<'de>>(self, mut map: A) -> Result<Scalar, A::Error> {
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(Scalar::Other)
    }
}

impl<'de> Deserialize<'de> for Str {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Ok(Str(match d.deserialize_any(AnyScalar)? {
            Scalar::Text(s) => s,
            Scalar::Number(n) => n.to_string(),
            Scalar::Other => String::new(),
        }))
    }
}

impl<'de> Deserialize<'de> for Num {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Ok(Num(match d.deserialize_any(AnyScalar)? {
            Scalar::Number(n) => Some(n),
            Scalar::Text(s) => s.trim().parse().ok(),
            Scalar::Other => None,
        }))
    }
}

/// A serde_json error as a located fatal problem; shape errors mark the file as not the format.
pub(crate) fn fatal(e: serde_json::Error, what: &str) -> Fatal {
    use serde_json::error::Category;
    let pos = (e.line() > 0).then(|| Pos { line: e.line() as u64, column: e.column() as u64, offset: None });
    let text = e.to_string();
    // serde_json appends " at line L column C"; the position is reported separately.
    let text = text.split(" at line ").next().unwrap_or(&text).to_string();
    match e.classify() {
        Category::Io => Fatal::new(None, text),
        Category::Eof => Fatal::new(pos, format!("the file ends in the middle of the JSON ({text}): it is truncated")),
        Category::Syntax => Fatal::new(pos, format!("not well-formed JSON: {text}")),
        Category::Data => Fatal::new(pos, format!("{text}; expected {what}")).not_format(),
    }
}
