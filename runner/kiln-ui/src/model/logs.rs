//! A phase's log as a page shows it: the last lines of `logs/<PHASE>.log` (the first screen of a
//! 100,000-line log must not wait for all of it), how many came before, and the raw file's
//! place for the rest. Logs are already masked by the engine.

use std::io::{Read, Seek, SeekFrom};

use kiln_record::{Kind, RecordId, Records, RelPath};

/// At most this many bytes are read from the end of a log for its tail.
const TAIL_BYTES: u64 = 512 * 1024;
/// Lines are counted in logs up to this size (beyond, "earlier lines" has no number).
const COUNT_LIMIT: u64 = 256 * 1024 * 1024;
/// A line longer than this is cut on the page (the raw file has it whole).
pub const LINE_CHARS: usize = 4000;

/// One phase's log.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PhaseLog {
    /// `BUILD`, `INSTALL`, …
    pub phase: String,
    /// The record-relative path (`logs/BUILD.log`).
    pub rel: String,
    pub bytes: u64,
    /// Lines in the file (`None` past [`COUNT_LIMIT`]).
    pub total_lines: Option<u64>,
    /// The lines shown: the last ones.
    pub lines: Vec<String>,
    /// Whether lines before `lines` were left out.
    pub truncated: bool,
}

impl PhaseLog {
    /// Lines left out before the shown ones, when known.
    pub fn earlier(&self) -> Option<u64> {
        self.total_lines.map(|t| t.saturating_sub(self.lines.len() as u64))
    }
}

/// Read the tail of `logs/<phase>.log` of build `id`: at most `max_lines` lines. `None` when the
/// phase has no log.
pub fn phase_log(records: &Records, id: &RecordId, phase: &str, max_lines: usize) -> Option<PhaseLog> {
    let rel_s = format!("logs/{phase}.log");
    let rel = RelPath::parse(&rel_s)?;
    let input = records.open(Kind::Build, id, &rel).ok()?;
    let size = input.metadata().len();
    let mut file = input.into_file();
    let total_lines = (size <= COUNT_LIMIT).then(|| count_lines(&mut file, size)).flatten();
    let (lines, truncated) = tail(&mut file, size, max_lines).ok()?;
    Some(PhaseLog { phase: phase.to_string(), rel: rel_s, bytes: size, total_lines, lines, truncated })
}

fn count_lines(file: &mut std::fs::File, size: u64) -> Option<u64> {
    file.seek(SeekFrom::Start(0)).ok()?;
    let mut buf = vec![0u8; 1 << 20];
    let (mut n, mut last) = (0u64, b'\n');
    let mut reader = file.take(size);
    loop {
        let got = reader.read(&mut buf).ok()?;
        if got == 0 {
            break;
        }
        n += memchr::memchr_iter(b'\n', &buf[..got]).count() as u64;
        last = buf[got - 1];
    }
    // A last line without its newline (a build still writing) counts too.
    Some(if size > 0 && last != b'\n' { n + 1 } else { n })
}

/// The last `max_lines` lines of the file's last [`TAIL_BYTES`].
fn tail(file: &mut std::fs::File, size: u64, max_lines: usize) -> std::io::Result<(Vec<String>, bool)> {
    let start = size.saturating_sub(TAIL_BYTES);
    file.seek(SeekFrom::Start(start))?;
    let mut buf = Vec::with_capacity((size - start) as usize);
    file.take(size - start).read_to_end(&mut buf)?;
    let mut text = String::from_utf8_lossy(&buf).into_owned();
    if start > 0 {
        // The first line is cut: drop it.
        let cut = text.find('\n').map(|i| i + 1).unwrap_or(text.len());
        text.drain(..cut);
    }
    let all: Vec<&str> = text.lines().collect();
    let from = all.len().saturating_sub(max_lines);
    let lines = all[from..].iter().map(|l| clip(l)).collect();
    Ok((lines, start > 0 || from > 0))
}

/// A line cut to [`LINE_CHARS`] characters.
pub fn clip(line: &str) -> String {
    match line.char_indices().nth(LINE_CHARS) {
        Some((i, _)) => format!("{}… [line cut at {LINE_CHARS} characters]", &line[..i]),
        None => line.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_tail_of_a_long_log_is_shown_with_the_count_of_what_came_before() {
        let d = tempfile::tempdir().unwrap();
        let r = Records::new(d.path());
        let id = RecordId::parse("b1").unwrap();
        let logs = r.dir(Kind::Build, &id).join("logs");
        std::fs::create_dir_all(&logs).unwrap();
        let text: String = (1..=100_000).map(|i| format!("line {i}\n")).collect();
        std::fs::write(logs.join("BUILD.log"), text).unwrap();
        std::fs::write(logs.join("INSTALL.log"), "one\ntwo without newline").unwrap();
        let l = phase_log(&r, &id, "BUILD", 300).unwrap();
        assert_eq!(l.lines.len(), 300);
        assert_eq!(l.lines.last().unwrap(), "line 100000");
        assert_eq!(l.lines[0], "line 99701");
        assert_eq!(l.total_lines, Some(100_000));
        assert_eq!(l.earlier(), Some(99_700));
        assert!(l.truncated);
        let i = phase_log(&r, &id, "INSTALL", 300).unwrap();
        assert_eq!(i.lines, vec!["one", "two without newline"]);
        assert_eq!((i.total_lines, i.truncated), (Some(2), false));
        assert!(phase_log(&r, &id, "POST_BUILD", 10).is_none());
        assert!(phase_log(&r, &id, "../x", 10).is_none());
        assert!(clip(&"é".repeat(5000)).ends_with("[line cut at 4000 characters]"));
    }
}
