//! [`Lenient`]: one element of a list that is read on its own, so that an element of a shape this
//! reader does not know (a newer kiln's report type, a hand-edited record) costs that element and
//! not the whole record.

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// An element read as `T`, or kept as it was with the reason it could not be.
#[derive(Clone, Debug, PartialEq)]
pub enum Lenient<T> {
    Ok(T),
    Unreadable {
        /// The element as JSON.
        raw: serde_json::Value,
        /// Why it is not a `T` (serde's message, with the field).
        error: String,
    },
}

impl<T> Lenient<T> {
    /// The element, when it could be read.
    pub fn ok(&self) -> Option<&T> {
        match self {
            Lenient::Ok(t) => Some(t),
            Lenient::Unreadable { .. } => None,
        }
    }
}

impl<'de, T: serde::de::DeserializeOwned> Deserialize<'de> for Lenient<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = serde_json::Value::deserialize(d)?;
        Ok(match T::deserialize(&raw) {
            Ok(t) => Lenient::Ok(t),
            Err(e) => Lenient::Unreadable { raw, error: e.to_string() },
        })
    }
}

impl<T: Serialize> Serialize for Lenient<T> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Lenient::Ok(t) => t.serialize(s),
            Lenient::Unreadable { raw, .. } => raw.serialize(s),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    struct Two {
        a: u8,
    }

    #[test]
    fn a_bad_element_costs_only_itself_and_keeps_its_json() {
        let v: Vec<Lenient<Two>> = serde_json::from_str(r#"[{"a":1},{"a":"x"},{"a":3}]"#).unwrap();
        assert_eq!(v[0], Lenient::Ok(Two { a: 1 }));
        assert_eq!(v[2].ok(), Some(&Two { a: 3 }));
        match &v[1] {
            Lenient::Unreadable { raw, error } => {
                assert_eq!(raw["a"], "x");
                assert!(error.contains("invalid type"), "{error}");
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(serde_json::to_string(&v).unwrap(), r#"[{"a":1},{"a":"x"},{"a":3}]"#);
    }
}
