//! The `file-scanner` world: implement [`FileScanner`] and call
//! [`export_file_scanner!`](crate::export_file_scanner). The host walks the source tree, reads
//! the files and feeds them to several instances of the plugin in parallel; each instance turns a
//! file's bytes into a partial result of the plugin's own format, and one instance gets all of
//! them, in path order, in [`FileScanner::finish`] to report findings and write outputs.

use crate::{Error, Step};
use std::any::Any;
use std::cell::RefCell;

/// Generated bindings for the `file-scanner` world (its imports are the step bindings' own).
#[doc(hidden)]
pub mod bindings {
    wit_bindgen::generate!({
        path: "../wit/kiln-plugin/v0.1.0",
        world: "file-scanner",
        pub_export_macro: true,
        export_macro_name: "__kiln_export_file_scanner_bindings",
        default_bindings_module: "kiln_plugin_sdk::scanner::bindings",
        with: {
            "kiln:plugin/types@0.1.0": crate::bindings::kiln::plugin::types,
            "kiln:plugin/log@0.1.0": crate::bindings::kiln::plugin::log,
            "kiln:plugin/progress@0.1.0": crate::bindings::kiln::plugin::progress,
            "kiln:plugin/config@0.1.0": crate::bindings::kiln::plugin::config,
        },
    });
}

use bindings::exports::kiln::plugin::file_scanner_plugin as wit;
/// Which files the host feeds: `exclude` globs and the size limit.
pub use wit::FileFilter;
/// What became of one file: `Scanned(partial)` or `Skipped(reason)`.
pub use wit::FileOutcome;
/// One file's non-empty partial result, as handed to [`FileScanner::finish`].
pub use wit::Partial;
/// What the host counted while walking (scanned, skipped, oversized, excluded …).
pub use wit::WalkStats;

impl Default for FileFilter {
    /// Every file, up to 10 MiB.
    fn default() -> Self {
        FileFilter {
            exclude: Vec::new(),
            only: Vec::new(),
            max_file_size: 10 << 20,
        }
    }
}

/// A scanner over the source tree's files (the `file-scanner` world).
///
/// Instances run in parallel and each sees only some of the files, in no particular order: put
/// everything `finish` needs about a file into that file's partial result.
pub trait FileScanner: Sized + 'static {
    /// The plugin's configuration (the buildspec's `with:` map), deserialized from JSON.
    type Config: serde::de::DeserializeOwned + 'static;

    /// Builds this instance's scanner (once per instance, before any file).
    fn new(config: &Self::Config) -> Result<Self, Error>;

    /// Which files to feed. Every instance must return the same filter.
    fn filter(config: &Self::Config) -> FileFilter {
        let _ = config;
        FileFilter::default()
    }

    /// Scans one file (`path` relative to the source root, `/`-separated).
    fn scan_file(&mut self, path: &str, contents: &[u8]) -> FileOutcome;

    /// After every file, on one instance: turn the partials (in path order) into findings and
    /// outputs through `step`, as a [`crate::StepPlugin`] would.
    fn finish(
        &mut self,
        partials: Vec<Partial>,
        stats: WalkStats,
        step: &mut Step<Self::Config>,
    ) -> Result<(), Error>;
}

thread_local! {
    /// This instance's scanner and its config, set by `init` (a component instance is one thread).
    static SCANNER: RefCell<Option<Box<dyn Any>>> = const { RefCell::new(None) };
}

fn scan_error(e: Error) -> wit::ScanError {
    match e {
        Error::InvalidConfig(m) => wit::ScanError::InvalidConfig(m),
        Error::Failed(m) => wit::ScanError::Failed(m),
    }
}

/// Glue called by [`export_file_scanner!`](crate::export_file_scanner).
#[doc(hidden)]
pub fn init<P: FileScanner>() -> Result<FileFilter, wit::ScanError> {
    let json = crate::bindings::kiln::plugin::config::get_json();
    let config: P::Config =
        serde_json::from_str(&json).map_err(|e| wit::ScanError::InvalidConfig(e.to_string()))?;
    let scanner = P::new(&config).map_err(scan_error)?;
    let filter = P::filter(&config);
    SCANNER.with(|s| *s.borrow_mut() = Some(Box::new((scanner, Some(config)))));
    Ok(filter)
}

fn with_state<P: FileScanner, R>(f: impl FnOnce(&mut (P, Option<P::Config>)) -> R) -> R {
    SCANNER.with(|s| {
        let mut slot = s.borrow_mut();
        let state = slot
            .as_mut()
            .and_then(|b| b.downcast_mut::<(P, Option<P::Config>)>())
            .expect("the host calls init before scan-file and finish");
        f(state)
    })
}

/// Glue called by [`export_file_scanner!`](crate::export_file_scanner).
#[doc(hidden)]
pub fn scan_file<P: FileScanner>(path: String, contents: Vec<u8>) -> FileOutcome {
    with_state::<P, _>(|(scanner, _)| scanner.scan_file(&path, &contents))
}

/// Glue called by [`export_file_scanner!`](crate::export_file_scanner).
#[doc(hidden)]
pub fn finish<P: FileScanner>(
    partials: Vec<Partial>,
    stats: WalkStats,
) -> Result<wit::ScanResult, wit::ScanError> {
    with_state::<P, _>(|(scanner, config)| {
        let config = config
            .take()
            .ok_or_else(|| wit::ScanError::Failed("finish was called twice".into()))?;
        let out = std::fs::metadata(crate::OUTPUT_ROOT)
            .is_ok()
            .then(|| crate::OUTPUT_ROOT.to_string());
        let mut step = Step::new(config, Some(crate::SOURCE_ROOT.to_string()), out);
        scanner.finish(partials, stats, &mut step).map_err(scan_error)?;
        let r = step.into_result();
        Ok(wit::ScanResult {
            findings: r.findings,
            outputs: r.outputs,
            summary: r.summary,
        })
    })
}

/// Exports a [`FileScanner`] implementation as the component's `file-scanner-plugin` interface.
///
/// `export_file_scanner!(MyScanner)` or, to embed the manifest (which must say
/// `world = "file-scanner"`), `export_file_scanner!(MyScanner, manifest = "kiln-plugin.toml")`.
#[macro_export]
macro_rules! export_file_scanner {
    ($ty:ident) => {
        impl $crate::scanner::bindings::exports::kiln::plugin::file_scanner_plugin::Guest for $ty {
            fn init() -> ::core::result::Result<
                $crate::scanner::FileFilter,
                $crate::scanner::bindings::exports::kiln::plugin::file_scanner_plugin::ScanError,
            > {
                $crate::scanner::init::<$ty>()
            }
            fn scan_file(
                path: ::std::string::String,
                contents: ::std::vec::Vec<u8>,
            ) -> $crate::scanner::FileOutcome {
                $crate::scanner::scan_file::<$ty>(path, contents)
            }
            fn finish(
                partials: ::std::vec::Vec<$crate::scanner::Partial>,
                stats: $crate::scanner::WalkStats,
            ) -> ::core::result::Result<
                $crate::scanner::bindings::exports::kiln::plugin::file_scanner_plugin::ScanResult,
                $crate::scanner::bindings::exports::kiln::plugin::file_scanner_plugin::ScanError,
            > {
                $crate::scanner::finish::<$ty>(partials, stats)
            }
        }
        $crate::scanner::bindings::__kiln_export_file_scanner_bindings!($ty with_types_in $crate::scanner::bindings);
    };
    ($ty:ident, manifest = $path:literal) => {
        #[unsafe(link_section = "kiln:plugin-manifest")]
        #[used]
        static __KILN_PLUGIN_MANIFEST: [u8; include_bytes!(concat!(env!("CARGO_MANIFEST_DIR"), "/", $path)).len()] =
            *include_bytes!(concat!(env!("CARGO_MANIFEST_DIR"), "/", $path));
        $crate::export_file_scanner!($ty);
    };
}
