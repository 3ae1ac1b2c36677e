//! Driver for `bench/cache.sh`: makes the benchmark trees and runs one save or restore.
//!
//! ```text
//! cache_bench gen-small DIR FILES        node_modules-like tree: FILES small files in DIR/node_modules
//! cache_bench gen-large DIR COUNT MIB    COUNT files of MIB MiB each in DIR/big
//! cache_bench save STORE SRC KEY PATH    save PATH (a cache.paths glob) of working copy SRC as KEY
//! cache_bench restore STORE DEST KEY PATH
//! ```
//! `save` and `restore` print `files bytes` of what they stored or wrote.

use std::fs;
use std::io::Write;
use std::path::Path;

use kiln_cache::{CachePaths, RestoreRequest, Roots, SaveOutcome, SaveRequest, Store, StoreOptions};

/// A small deterministic generator (xorshift), so every run makes the same tree.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

fn roots(src: &Path) -> Roots {
    Roots { src: src.to_path_buf(), home: src.join(".bench-home"), allowed: Vec::new() }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let arg = |i: usize| args.get(i).unwrap_or_else(|| panic!("missing argument {i}; see the doc comment")).as_str();
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    match arg(1) {
        "gen-small" => {
            let dir = Path::new(arg(2)).join("node_modules");
            let files: u64 = arg(3).parse().unwrap();
            for i in 0..files {
                // ~1,500 packages, a few levels deep; sizes 100 B .. 8 KiB, skewed small.
                let pkg = i % 1500;
                let sub = ["", "lib/", "dist/", "lib/util/"][(i / 1500 % 4) as usize];
                let path = dir.join(format!("pkg-{pkg}/{sub}file-{i}.js"));
                fs::create_dir_all(path.parent().unwrap()).unwrap();
                let size = 100 + (rng.next() % 8000) * (rng.next() % 4 + 1) / 4;
                let body: Vec<u8> = (0..size).map(|_| b"abcdefghij {}();\n"[(rng.next() % 17) as usize]).collect();
                fs::write(path, body).unwrap();
            }
        }
        "gen-large" => {
            let dir = Path::new(arg(2)).join("big");
            fs::create_dir_all(&dir).unwrap();
            let (count, mib): (u64, u64) = (arg(3).parse().unwrap(), arg(4).parse().unwrap());
            for n in 0..count {
                let mut f = fs::File::create(dir.join(format!("blob-{n}.bin"))).unwrap();
                let mut chunk = vec![0u8; 1 << 20];
                for _ in 0..mib {
                    for w in chunk.chunks_mut(8) {
                        w.copy_from_slice(&rng.next().to_le_bytes());
                    }
                    f.write_all(&chunk).unwrap();
                }
            }
        }
        "save" => {
            let store = Store::open(Path::new(arg(2)), StoreOptions { max_bytes: u64::MAX, ..Default::default() }).unwrap();
            let roots = roots(Path::new(arg(3)));
            let paths = CachePaths::new(&[arg(5).to_string()], &roots).unwrap();
            let r = store.save(&SaveRequest { paths: &paths, key: Some(arg(4)), roots: &roots }).unwrap();
            match r.outcome {
                SaveOutcome::Saved { files, bytes, .. } => println!("{files} {bytes}"),
                other => panic!("not saved: {other:?}"),
            }
        }
        "restore" => {
            let store = Store::open(Path::new(arg(2)), StoreOptions::default()).unwrap();
            let roots = roots(Path::new(arg(3)));
            let paths = CachePaths::new(&[arg(5).to_string()], &roots).unwrap();
            let r = store.restore(&RestoreRequest { paths: &paths, key: Some(arg(4)), fallback_keys: &[], roots: &roots }).unwrap();
            let done = r.restored.clone().unwrap_or_else(|| panic!("not restored: {r:?}"));
            assert!(r.skipped.is_empty(), "{r:?}");
            println!("{} {}", done.files, done.bytes);
        }
        other => panic!("unknown command {other}"),
    }
}
