//! The blob layer alone: kiln's [`FsBlobs`] against `object_store`'s `LocalFileSystem` (the
//! design's suggestion for the content-addressed store), on the same blobs in the same run.
//! Each writes every blob once (create-only: kiln's no-replace rename, object_store's
//! `PutMode::Create`) and reads every blob back whole, one at a time as save and restore do.
//! object_store is driven by `futures::executor::block_on` outside any tokio runtime, which its
//! docs say performs the IO "on the current thread with no additional complexity or overheads":
//! its cheapest use from kiln's synchronous code.
//!
//! `cargo run --release -p kiln-cache --features bench-object-store --example blob_layer -- [SMALL] [LARGE_MIB] [ROUNDS]`

use std::io::Read;
use std::time::Instant;

use futures::executor::block_on;
use kiln_cache::{BlobStore, CAS_DIR, FsBlobs, sha256_hex};
use object_store::local::LocalFileSystem;
use object_store::path::Path as OPath;
use object_store::{ObjectStore, ObjectStoreExt, PutMode, PutOptions, PutPayload};

fn main() {
    let args: Vec<usize> = std::env::args().skip(1).map(|a| a.parse().unwrap()).collect();
    let (small, large_mib, rounds) = (args.first().copied().unwrap_or(20_000), args.get(1).copied().unwrap_or(64), args.get(2).copied().unwrap_or(3));
    let mut seed = 0x2545_f491_4f6c_dd1du64;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    let mut sets: Vec<(&str, Vec<(String, Vec<u8>)>)> = Vec::new();
    let small_set = (0..small).map(|i| {
        let len = 200 + (next() % 4000) as usize;
        let mut b: Vec<u8> = (0..len).map(|_| next() as u8).collect();
        b.extend_from_slice(&i.to_le_bytes());
        (sha256_hex(&b), b)
    });
    sets.push(("small files", small_set.collect()));
    let large_set = (0..4).map(|_| {
        let b: Vec<u8> = (0..large_mib << 20).map(|_| next() as u8).collect();
        (sha256_hex(&b), b)
    });
    sets.push(("4 large files", large_set.collect()));

    println!("| blobs | layer | op | median s (min-max) | MB/s | blobs/s |");
    println!("|---|---|---|---|---:|---:|");
    for (name, blobs) in &sets {
        let bytes: usize = blobs.iter().map(|(_, b)| b.len()).sum();
        let mut times: [Vec<f64>; 4] = Default::default();
        for _ in 0..rounds {
            let dir = tempfile::tempdir().unwrap();
            // kiln's FsBlobs
            std::fs::create_dir_all(dir.path().join("k").join(CAS_DIR)).unwrap();
            std::fs::create_dir_all(dir.path().join("k/tmp")).unwrap();
            let fs_blobs = FsBlobs::open(&dir.path().join("k").join(CAS_DIR), &dir.path().join("k/tmp")).unwrap();
            let t = Instant::now();
            for (d, b) in blobs {
                fs_blobs.put_bytes(d, b).unwrap();
            }
            times[0].push(t.elapsed().as_secs_f64());
            let t = Instant::now();
            let mut buf = Vec::new();
            for (d, _) in blobs {
                buf.clear();
                fs_blobs.open(d).unwrap().read_to_end(&mut buf).unwrap();
            }
            times[1].push(t.elapsed().as_secs_f64());
            // object_store's LocalFileSystem
            std::fs::create_dir_all(dir.path().join("o")).unwrap();
            let os = LocalFileSystem::new_with_prefix(dir.path().join("o")).unwrap();
            let opts = || PutOptions { mode: PutMode::Create, ..Default::default() };
            let t = Instant::now();
            for (d, b) in blobs {
                let path = OPath::from(format!("cas/sha256/{d}"));
                match block_on(os.put_opts(&path, PutPayload::from(b.clone()), opts())) {
                    Ok(_) | Err(object_store::Error::AlreadyExists { .. }) => {}
                    Err(e) => panic!("{e}"),
                }
            }
            times[2].push(t.elapsed().as_secs_f64());
            let t = Instant::now();
            for (d, _) in blobs {
                let path = OPath::from(format!("cas/sha256/{d}"));
                let got = block_on(async { os.get(&path).await.unwrap().bytes().await.unwrap() });
                assert!(!got.is_empty());
            }
            times[3].push(t.elapsed().as_secs_f64());
        }
        for (i, (layer, op)) in [("kiln FsBlobs", "put"), ("kiln FsBlobs", "get"), ("object_store LocalFileSystem", "put"), ("object_store LocalFileSystem", "get")].iter().enumerate() {
            let mut v = times[i].clone();
            v.sort_by(f64::total_cmp);
            let med = v[v.len() / 2];
            println!("| {name} ({} x ~{} KB) | {layer} | {op} | {med:.3} ({:.3}-{:.3}) | {:.0} | {:.0} |", blobs.len(), bytes / blobs.len() / 1000, v[0], v[v.len() - 1], bytes as f64 / 1e6 / med, blobs.len() as f64 / med);
        }
    }
}
