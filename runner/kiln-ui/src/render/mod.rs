//! HTML, written with maud: every `(value)` is escaped, so a record's text (a log line, a test
//! message, a finding) is shown as text whatever it holds; nothing here writes `PreEscaped` but
//! the stylesheet.

pub mod build;
pub mod deployment;
pub mod layout;
pub mod lists;
pub mod ops;
