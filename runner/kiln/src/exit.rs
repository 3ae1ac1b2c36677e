//! Exit codes: 0 the build succeeded (or the files are valid), 1 the build failed, 2 kiln could not
//! run it (bad flags, an invalid buildspec, no sandbox, an I/O problem).

use std::process::ExitCode;

/// The build ran and failed (or timed out).
pub const BUILD_FAILED: u8 = 1;
/// The buildspec is invalid.
pub const INVALID: u8 = 2;

/// Print a kiln error and return the exit code for it.
pub fn internal(msg: &str) -> ExitCode {
    eprintln!("error: {msg}");
    ExitCode::from(2)
}

/// Print a usage error and return the exit code for it.
pub fn usage(msg: &str) -> ExitCode {
    eprintln!("error: {msg}\n\nFor more information, try 'kiln --help'.");
    ExitCode::from(2)
}
