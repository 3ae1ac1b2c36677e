//! A hostile `file-scanner` for kiln-host's tests. `with: { attack: NAME }` picks the attack;
//! without one it is an honest scanner whose partial result is the file's length, so the tests
//! can check what the host fed it. Attacks the host must stop never return normally; attacks it
//! must deny report `ESCAPED:` in the summary when they worked.

use kiln_plugin_sdk::scanner::{FileFilter, FileOutcome, Partial, WalkStats};
use kiln_plugin_sdk::{Error, FileScanner, Step, export_file_scanner};
use std::io::Read;

#[derive(serde::Deserialize, Default)]
#[serde(default)]
struct Config {
    attack: String,
    exclude: Vec<String>,
    max_file_size: Option<u64>,
}

struct Hostile {
    attack: String,
    hoard: Vec<Vec<u8>>,
}

impl FileScanner for Hostile {
    type Config = Config;

    fn new(cfg: &Config) -> Result<Self, Error> {
        if cfg.attack == "init-fails" {
            return Err(Error::InvalidConfig("attack: init-fails".into()));
        }
        Ok(Hostile {
            attack: cfg.attack.clone(),
            hoard: Vec::new(),
        })
    }

    fn filter(cfg: &Config) -> FileFilter {
        FileFilter {
            exclude: cfg.exclude.clone(),
            only: Vec::new(),
            max_file_size: cfg.max_file_size.unwrap_or(10 << 20),
        }
    }

    fn scan_file(&mut self, path: &str, contents: &[u8]) -> FileOutcome {
        match self.attack.as_str() {
            "loop" => loop {
                std::hint::black_box(&self.hoard);
            },
            // Keeps every file it sees, and 8 MiB more per file: hits the memory cap.
            "alloc" => {
                self.hoard.push(contents.to_vec());
                self.hoard.push(vec![1u8; 8 << 20]);
            }
            // A partial result far larger than the file: hits the output cap.
            "partial-flood" => return FileOutcome::Scanned(vec![b'x'; 16 << 20]),
            "panic" => panic!("scanner panicked on {path}"),
            "skip-all" => return FileOutcome::Skipped("x".repeat(10_000)),
            _ => {}
        }
        FileOutcome::Scanned(format!("{}", contents.len()).into_bytes())
    }

    fn finish(
        &mut self,
        partials: Vec<Partial>,
        stats: WalkStats,
        step: &mut Step<Config>,
    ) -> Result<(), Error> {
        // Whatever the host fed, reading outside the preopens must still fail here.
        let escaped = ["/etc/passwd", "/src/../../etc/passwd"]
            .iter()
            .filter_map(|p| {
                let mut s = String::new();
                std::fs::File::open(p)
                    .and_then(|mut f| f.read_to_string(&mut s))
                    .ok()
                    .map(|_| format!("ESCAPED: read {p}"))
            })
            .collect::<Vec<_>>();
        let fed: Vec<String> = partials
            .iter()
            .map(|p| format!("{}={}", p.path, String::from_utf8_lossy(&p.data)))
            .collect();
        step.write_output("fed.txt", "text/plain", fed.join("\n").as_bytes())?;
        step.set_summary(format!(
            "{}files={} bytes={} skipped={} oversized={} unreadable={} excluded={} too-deep={} not-regular={}",
            escaped.join(" "),
            stats.scanned_files,
            stats.scanned_bytes,
            stats.skipped,
            stats.oversized,
            stats.unreadable,
            stats.excluded,
            stats.too_deep,
            stats.not_regular
        ));
        Ok(())
    }
}

export_file_scanner!(Hostile, manifest = "kiln-plugin.toml");
