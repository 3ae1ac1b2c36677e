//! `kiln cache ls | rm | prune` over the build cache store (`kiln-cache`), and the two commands
//! CodeBuild's images provide that a build's `cache.key` uses: `codebuild-hash-files` and
//! `codebuild-glob-search` (kiln runs itself under those names inside the build).

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, Subcommand};
use kiln_cache::{Store, StoreOptions, Which};

use crate::exit;

#[derive(Args)]
pub struct CacheArgs {
    /// The store (default: ~/.cache/kiln/build-cache).
    #[arg(long, global = true, value_name = "DIR")]
    cache_dir: Option<PathBuf>,
    #[command(subcommand)]
    command: CacheCommand,
}

#[derive(Subcommand)]
enum CacheCommand {
    /// List the entries, most recently used first.
    Ls {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Remove entries: by key, the unkeyed ones, or all.
    Rm {
        /// The key of the entries to remove.
        key: Option<String>,
        /// Remove the unkeyed entries (one per cache version).
        #[arg(long, conflicts_with = "key")]
        unkeyed: bool,
        /// Remove everything.
        #[arg(long, conflicts_with_all = ["key", "unkeyed"])]
        all: bool,
    },
    /// Remove least recently used entries until the store is under a size, and/or entries not
    /// used for a time; then unreferenced blobs.
    Prune {
        /// e.g. 2GiB, 500MiB.
        #[arg(long, value_name = "SIZE")]
        max_size: Option<String>,
        /// Days since last use.
        #[arg(long, value_name = "DAYS")]
        older_than: Option<u64>,
    },
}

fn open(dir: Option<&Path>) -> Result<Store, String> {
    let dir = kiln_engine::build_cache::store_dir(dir).ok_or("no store: set --cache-dir (HOME is not set)")?;
    Store::open(&dir, StoreOptions::default()).map_err(|e| e.to_string())
}

fn size(s: &str) -> Result<u64, String> {
    let t = s.trim();
    let (num, mult) = [("GiB", 1u64 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10), ("GB", 1_000_000_000), ("MB", 1_000_000), ("KB", 1000), ("B", 1)]
        .iter()
        .find_map(|(suf, m)| t.strip_suffix(suf).map(|n| (n.trim(), *m)))
        .unwrap_or((t, 1));
    num.parse::<u64>().ok().and_then(|n| n.checked_mul(mult)).ok_or_else(|| format!("`{s}` is not a size (e.g. 2GiB, 500MiB, 1000000)"))
}

fn when(ms: u64) -> String {
    let t = time::OffsetDateTime::from_unix_timestamp((ms / 1000) as i64).unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    t.format(&time::format_description::well_known::Rfc3339).unwrap_or_default()
}

pub fn run(args: CacheArgs) -> ExitCode {
    let store = match open(args.cache_dir.as_deref()) {
        Ok(s) => s,
        Err(e) => return exit::internal(&e),
    };
    let result = match args.command {
        CacheCommand::Ls { json } => store.list().map_err(|e| e.to_string()).map(|entries| {
            if json {
                let rows: Vec<_> = entries
                    .iter()
                    .map(|e| serde_json::json!({ "key": e.key, "version": e.version, "files": e.files, "bytes": e.bytes, "created": when(e.created_ms), "lastUsed": when(e.last_used_ms), "manifestSha256": e.manifest_sha256 }))
                    .collect();
                println!("{}", serde_json::to_string_pretty(&rows).unwrap_or_default());
            } else if entries.is_empty() {
                println!("the cache is empty");
            } else {
                println!("{:<40} {:<14} {:>8} {:>12}  {:<20}  version", "KEY", "MANIFEST", "FILES", "BYTES", "LAST USED");
                for e in &entries {
                    let key = e.key.clone().unwrap_or_else(|| "(unkeyed)".into());
                    println!("{key:<40} {:<14} {:>8} {:>12}  {:<20}  {}", &e.manifest_sha256[..12.min(e.manifest_sha256.len())], e.files, e.bytes, when(e.last_used_ms), &e.version[..12.min(e.version.len())]);
                }
            }
        }),
        CacheCommand::Rm { key, unkeyed, all } => {
            let which = match (key, unkeyed, all) {
                (Some(k), _, _) => Which::Key(k),
                (None, true, _) => Which::Unkeyed,
                (None, _, true) => Which::All,
                _ => return exit::usage("say what to remove: a KEY, --unkeyed or --all"),
            };
            store.remove(&which).map_err(|e| e.to_string()).map(|r| println!("removed {} entr{}, {} blob(s), {} bytes freed", r.removed.len(), if r.removed.len() == 1 { "y" } else { "ies" }, r.blobs_removed, r.bytes_freed))
        }
        CacheCommand::Prune { max_size, older_than } => {
            let max = match max_size.as_deref().map(size).transpose() {
                Ok(m) => m,
                Err(e) => return exit::usage(&e),
            };
            let age = older_than.map(|d| Duration::from_secs(d * 86_400));
            store.prune(max, age).map_err(|e| e.to_string()).map(|r| println!("pruned {} entr{}, {} blob(s), {} bytes freed", r.removed.len(), if r.removed.len() == 1 { "y" } else { "ies" }, r.blobs_removed, r.bytes_freed))
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => exit::internal(&e),
    }
}

/// `codebuild-hash-files GLOB...` inside a build: one sha256 over the matching files of
/// `$CODEBUILD_SRC_DIR` (kiln-cache's `hash_files` says exactly how).
pub fn hash_files(globs: &[String]) -> ExitCode {
    let root = std::env::var_os("CODEBUILD_SRC_DIR").map(PathBuf::from).unwrap_or_else(|| PathBuf::from("."));
    match kiln_cache::hash_files(&root, globs) {
        Ok(Some(h)) => {
            println!("{h}");
            ExitCode::SUCCESS
        }
        Ok(None) => {
            eprintln!("codebuild-hash-files: no files found matching {}", globs.join(" "));
            ExitCode::from(1)
        }
        Err(e) => {
            eprintln!("codebuild-hash-files: {e}");
            ExitCode::from(2)
        }
    }
}

/// `codebuild-glob-search GLOB...` inside a build: the matching files below the working
/// directory, one per line.
pub fn glob_search(globs: &[String]) -> ExitCode {
    match kiln_cache::glob_search(Path::new("."), globs) {
        Ok(l) if l.files.is_empty() => {
            println!("No files found matching the glob patterns");
            ExitCode::SUCCESS
        }
        Ok(l) => {
            for f in &l.files {
                println!("{}", f.display());
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("codebuild-glob-search: {e}");
            ExitCode::from(2)
        }
    }
}
