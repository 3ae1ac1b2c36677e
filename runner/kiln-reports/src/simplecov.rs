//! SimpleCov JSON (`SIMPLECOV`), every shape the simplecov gem writes:
//!
//! - `.resultset.json`: `{"<command>": {"coverage": {"<path>": <file>}, "timestamp": n}, ...}`
//!   where `<file>` is a bare array of line counts (before 0.18) or `{"lines": [...],
//!   "branches": {"[:if, 0, 3, 0, 5, 12]": {"[:then, 1, ...]": 2, ...}}}`;
//! - `coverage/coverage.json` (simplecov_json_formatter): `{"meta": {...}, "coverage":
//!   {"<path>": {"lines": [...], "branches": [{"type", "start_line", "end_line",
//!   "coverage"}]}}, "groups": {...}}`.
//!
//! Several commands in one resultset are merged (kiln proposal, as the fact sheet proposes):
//! per file, line counts and branch counts are added index by index / key by key. A line
//! entry `null` or `"ignored"` is not relevant; 0 is missed; > 0 covered; branches alike.
//! Rows use the path as written (SimpleCov writes absolute paths). The simplecov-json gem's
//! `{"files": [...]}` and Dart's `{"type": "CodeCoverage", "coverage": [...]}` are not this
//! format and are rejected with a located warning.

use crate::builder::Sink;
use crate::input::Input;
use crate::json::{Num, fatal};
use crate::model::CodeCoverage;
use crate::xml::Fatal;
use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use std::collections::BTreeMap;
use std::fmt;

#[derive(Default)]
struct FileAcc {
    lines: Vec<Option<u64>>,
    branches: BTreeMap<String, Option<u64>>,
}

struct Acc {
    files: BTreeMap<String, FileAcc>,
    entries: usize,
    budget: usize,
}

impl Acc {
    fn charge<E: de::Error>(&mut self, n: usize) -> Result<(), E> {
        self.entries += n;
        if self.entries > self.budget {
            return Err(E::custom(format!("more than {} line and branch entries, kiln's limit for one coverage file", self.budget)));
        }
        Ok(())
    }
}

fn add(slot: &mut Option<u64>, v: Option<u64>) {
    if let Some(v) = v {
        *slot = Some(slot.unwrap_or(0).saturating_add(v));
    }
}

/// A line or branch count: number → Some, `null` / `"ignored"` / anything else → None.
fn hit(v: Num) -> Option<u64> {
    v.count()
}

struct Top<'a>(&'a mut Acc);

impl<'de> Visitor<'de> for Top<'_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a SimpleCov JSON object (`{\"<command>\": {\"coverage\": ...}}` or `{\"meta\": ..., \"coverage\": ...}`)")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        while let Some(key) = map.next_key::<String>()? {
            match key.as_str() {
                "coverage" => map.next_value_seed(Files(self.0))?,
                "meta" | "groups" | "timestamp" | "errors" => {
                    map.next_value::<IgnoredAny>()?;
                }
                _ => map.next_value_seed(Command(self.0, &key))?,
            }
        }
        Ok(())
    }
}

impl<'de> DeserializeSeed<'de> for Top<'_> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_map(self)
    }
}

struct Command<'a, 'k>(&'a mut Acc, &'k str);

impl<'de> Visitor<'de> for Command<'_, '_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "`{}` to be a SimpleCov command's result, an object with \"coverage\"", self.1)
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let mut coverage = false;
        while let Some(key) = map.next_key::<String>()? {
            if key == "coverage" {
                coverage = true;
                map.next_value_seed(Files(&mut *self.0))?;
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        if !coverage {
            return Err(de::Error::custom(format!("`{}` has no \"coverage\"", self.1)));
        }
        Ok(())
    }
}

impl<'de> DeserializeSeed<'de> for Command<'_, '_> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_map(self)
    }
}

struct Files<'a>(&'a mut Acc);

impl<'de> Visitor<'de> for Files<'_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("\"coverage\" to be an object mapping source files to their line counts")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        while let Some(path) = map.next_key::<String>()? {
            map.next_value_seed(OneFile(&mut *self.0, path))?;
        }
        Ok(())
    }
}

impl<'de> DeserializeSeed<'de> for Files<'_> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_map(self)
    }
}

struct OneFile<'a>(&'a mut Acc, String);

impl<'de> Visitor<'de> for OneFile<'_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "`{}` to map to an array of line counts or an object with \"lines\"", self.1)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<(), A::Error> {
        Lines(self.0, self.1).visit_seq(seq)
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let OneFile(acc, path) = self;
        acc.files.entry(path.clone()).or_default();
        while let Some(key) = map.next_key::<String>()? {
            match key.as_str() {
                "lines" => map.next_value_seed(Lines(&mut *acc, path.clone()))?,
                "branches" => map.next_value_seed(Branches(&mut *acc, path.clone()))?,
                _ => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(())
    }
}

impl<'de> DeserializeSeed<'de> for OneFile<'_> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

struct Lines<'a>(&'a mut Acc, String);

impl<'de> Visitor<'de> for Lines<'_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "the lines of `{}` to be an array of counts", self.1)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let Lines(acc, path) = self;
        let mut i = 0;
        while let Some(v) = seq.next_element::<Num>()? {
            acc.charge::<A::Error>(1)?;
            let file = acc.files.entry(path.clone()).or_default();
            if file.lines.len() <= i {
                file.lines.push(None);
            }
            add(&mut file.lines[i], hit(v));
            i += 1;
        }
        acc.files.entry(path).or_default();
        Ok(())
    }
}

impl<'de> DeserializeSeed<'de> for Lines<'_> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_seq(self)
    }
}

/// Branches: the resultset's nested object, or coverage.json's array (keyed by position).
struct Branches<'a>(&'a mut Acc, String);

#[derive(serde::Deserialize)]
struct ArrayBranch {
    #[serde(default)]
    coverage: Num,
}

impl<'de> Visitor<'de> for Branches<'_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "the branches of `{}` to be an object or an array", self.1)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let Branches(acc, path) = self;
        let mut i = 0usize;
        while let Some(b) = seq.next_element::<ArrayBranch>()? {
            acc.charge::<A::Error>(1)?;
            let file = acc.files.entry(path.clone()).or_default();
            add(file.branches.entry(format!("#{i}")).or_default(), hit(b.coverage));
            i += 1;
        }
        Ok(())
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let Branches(acc, path) = self;
        while let Some(condition) = map.next_key::<String>()? {
            let legs: BTreeMap<String, Num> = map.next_value()?;
            acc.charge::<A::Error>(legs.len())?;
            let file = acc.files.entry(path.clone()).or_default();
            for (leg, n) in legs {
                add(file.branches.entry(format!("{condition} {leg}")).or_default(), hit(n));
            }
        }
        Ok(())
    }
    fn visit_unit<E: de::Error>(self) -> Result<(), E> {
        Ok(())
    }
}

impl<'de> DeserializeSeed<'de> for Branches<'_> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

pub(crate) fn parse(input: &mut Input, sink: &mut Sink) -> Result<(), Fatal> {
    let mut acc = Acc { files: BTreeMap::new(), entries: 0, budget: sink.limits().coverage_lines };
    let mut de = serde_json::Deserializer::from_reader(input);
    let what = "SimpleCov's JSON (a `.resultset.json` or a simplecov_json_formatter `coverage.json`)";
    let result = Top(&mut acc).deserialize(&mut de).map_err(|e| fatal(e, what)).and_then(|()| de.end().map_err(|e| fatal(e, "nothing after the object")));
    if result.is_ok() {
        for (path, f) in acc.files {
            let count = |it: &mut dyn Iterator<Item = &Option<u64>>| it.fold((0u64, 0u64), |(c, m), v| match v {
                Some(0) => (c, m + 1),
                Some(_) => (c + 1, m),
                None => (c, m),
            });
            let (lc, lm) = count(&mut f.lines.iter());
            let (bc, bm) = count(&mut f.branches.values());
            sink.coverage(CodeCoverage::new(path, lc, lm, bc, bm));
        }
    }
    result
}
