//! Parsed `build.json`s, kept while their file is unchanged (same size and modification time),
//! so that listing hundreds of builds does not parse hundreds of files per request.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use kiln_record::{Build, Kind, RecordId, Records};

type Entry = (u64, SystemTime, Arc<Build>);

/// The cache.
pub struct BuildCache {
    records: Records,
    map: Mutex<HashMap<RecordId, Entry>>,
}

impl BuildCache {
    pub fn new(records: Records) -> BuildCache {
        BuildCache { records, map: Mutex::new(HashMap::new()) }
    }

    /// Build `id`, from the cache when its file has not changed.
    pub fn get(&self, id: &RecordId) -> Result<Arc<Build>, kiln_record::ReadError> {
        let path = self.records.dir(Kind::Build, id).join("build.json");
        let stamp = std::fs::symlink_metadata(&path).ok().and_then(|m| Some((m.len(), m.modified().ok()?)));
        if let Some((len, mtime)) = stamp
            && let Some((l, t, b)) = self.map.lock().unwrap_or_else(|p| p.into_inner()).get(id)
            && *l == len
            && *t == mtime
        {
            return Ok(b.clone());
        }
        let b = Arc::new(self.records.build(id)?);
        if let Some((len, mtime)) = stamp {
            self.map.lock().unwrap_or_else(|p| p.into_inner()).insert(id.clone(), (len, mtime, b.clone()));
        }
        Ok(b)
    }

    /// Every readable build, newest first, and the ones that could not be read (with why).
    pub fn all(&self) -> (Vec<Arc<Build>>, Vec<String>) {
        let (mut ok, mut bad) = (Vec::new(), Vec::new());
        for id in self.records.ids(Kind::Build) {
            match self.get(&id) {
                Ok(b) => ok.push(b),
                Err(e) => bad.push(e.to_string()),
            }
        }
        ok.sort_by(|a, b| b.start_time.cmp(&a.start_time).then_with(|| b.build_number.cmp(&a.build_number)));
        (ok, bad)
    }
}
