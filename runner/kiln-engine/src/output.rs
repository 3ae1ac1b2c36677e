//! The build's output stream: one pipe that every command writes to (stdout and stderr, as
//! CodeBuild's log merges them), read by one thread that masks secrets, splits lines, attributes them
//! to phases, writes the per-phase logs and hands each line to a [`Reporter`] for the terminal.
//!
//! kiln's own messages (phase changes, "Running command …") travel through the same pipe as control
//! records tagged with a per-build random nonce, so the order on screen and in the logs is the order
//! things happened. A `sync` record lets the engine wait until everything a finished command wrote
//! has been processed before it closes the phase.

use std::fs::File;
use std::io::{self, BufWriter, Read, Write};
use std::os::fd::OwnedFd;
use std::path::Path;
use std::process::Stdio;
use std::sync::{mpsc, Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use kiln_secrets::{Masker, StreamMasker};

use crate::transitions::{PhaseStatus, PhaseType};

/// The longest line kept whole; longer output is split into pieces, masked as one stream so a
/// secret straddling a cut is still masked.
const MAX_LINE: usize = 64 * 1024;

/// What kind of line a [`Reporter`] is shown.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LineKind {
    /// Output of a build command.
    Output,
    /// A message from kiln itself.
    Kiln,
}

/// Receives the build's progress, in order, from the output thread.
pub trait Reporter: Send {
    fn phase_started(&mut self, phase: PhaseType);
    fn phase_ended(&mut self, phase: PhaseType, status: PhaseStatus, duration: Duration);
    fn line(&mut self, phase: PhaseType, kind: LineKind, text: &str);
}

/// A reporter that shows nothing (logs are still written).
pub struct Silent;
impl Reporter for Silent {
    fn phase_started(&mut self, _: PhaseType) {}
    fn phase_ended(&mut self, _: PhaseType, _: PhaseStatus, _: Duration) {}
    fn line(&mut self, _: PhaseType, _: LineKind, _: &str) {}
}

/// The engine's handle on the output thread.
pub struct Pump {
    writer: File,
    marker: Vec<u8>,
    acks: mpsc::Receiver<u64>,
    seq: u64,
    capture: Capture,
    thread: Option<JoinHandle<io::Result<()>>>,
}

/// Output captured for matching `on-failure: RETRY-…-regex` against (masked, bounded).
type Capture = Arc<Mutex<Option<String>>>;
/// The most output kept by a capture.
const MAX_CAPTURE: usize = 1024 * 1024;

impl Pump {
    /// Start the output thread, writing logs into `logs_dir`.
    pub fn start(logs_dir: &Path, masker: Masker, reporter: Box<dyn Reporter>) -> io::Result<Pump> {
        std::fs::create_dir_all(logs_dir)?;
        let (read_fd, write_fd) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).map_err(io::Error::from)?;
        let nonce = uuid::Uuid::new_v4().simple().to_string();
        let marker = format!("\0kiln:{nonce}:").into_bytes();
        let (ack_tx, acks) = mpsc::channel();
        let capture: Capture = Arc::default();
        let mut reader = Reader {
            marker: marker.clone(),
            masker,
            reporter,
            phase: PhaseType::Submitted,
            build_log: BufWriter::new(File::create(logs_dir.join("build.log"))?),
            phase_log: None,
            logs_dir: logs_dir.to_path_buf(),
            acks: ack_tx,
            capture: capture.clone(),
            long_line: None,
        };
        let source = File::from(read_fd);
        let thread = std::thread::Builder::new().name("kiln-output".into()).spawn(move || reader.run(source))?;
        Ok(Pump { writer: File::from(write_fd), marker, acks, seq: 0, capture, thread: Some(thread) })
    }

    /// stdout and stderr for a command: both ends of the shared pipe.
    pub fn child_stdio(&self) -> io::Result<(Stdio, Stdio)> {
        let a: OwnedFd = self.writer.try_clone()?.into();
        let b: OwnedFd = self.writer.try_clone()?.into();
        Ok((Stdio::from(a), Stdio::from(b)))
    }

    fn control(&mut self, body: &str) {
        let mut rec = self.marker.clone();
        rec.extend_from_slice(body.replace('\n', " ").as_bytes());
        rec.push(b'\n');
        // A failed write means the reader is gone; the logs then end here, which `finish` reports.
        let _ = self.writer.write_all(&rec);
    }

    /// Mark the start of `phase`.
    pub fn phase_started(&mut self, phase: PhaseType) {
        self.control(&format!("start:{}", phase.as_str()));
    }

    /// Mark the end of `phase` (after [`Pump::sync`], so its output is complete).
    pub fn phase_ended(&mut self, phase: PhaseType, status: PhaseStatus, duration: Duration) {
        self.control(&format!("end:{}:{}:{}", phase.as_str(), status.as_str(), duration.as_millis()));
    }

    /// A message from kiln, shown in the current phase.
    pub fn note(&mut self, text: &str) {
        for line in text.lines() {
            self.control(&format!("note:{line}"));
        }
    }

    /// Wait until the output thread has processed everything written to the pipe so far.
    pub fn sync(&mut self) {
        self.seq += 1;
        let seq = self.seq;
        self.control(&format!("sync:{seq}"));
        while let Ok(got) = self.acks.recv_timeout(Duration::from_secs(10)) {
            if got >= seq {
                break;
            }
        }
    }

    /// Start keeping command output (replacing what was kept).
    pub fn capture_start(&self) {
        *self.capture.lock().unwrap_or_else(|e| e.into_inner()) = Some(String::new());
    }

    /// Stop keeping output and return what was kept since [`Pump::capture_start`] (call after [`Pump::sync`]).
    pub fn capture_take(&self) -> String {
        self.capture.lock().unwrap_or_else(|e| e.into_inner()).take().unwrap_or_default()
    }

    /// Close the stream and wait for the logs to be flushed.
    pub fn finish(mut self) -> io::Result<()> {
        self.control("eof");
        drop(self.writer);
        match self.thread.take().map(JoinHandle::join) {
            Some(Ok(r)) => r,
            Some(Err(_)) => Err(io::Error::other("the output thread panicked")),
            None => Ok(()),
        }
    }
}

struct Reader {
    marker: Vec<u8>,
    masker: Masker,
    reporter: Box<dyn Reporter>,
    phase: PhaseType,
    build_log: BufWriter<File>,
    phase_log: Option<BufWriter<File>>,
    logs_dir: std::path::PathBuf,
    acks: mpsc::Sender<u64>,
    capture: Capture,
    /// While a line longer than [`MAX_LINE`] is being split: the masker its pieces go through.
    long_line: Option<StreamMasker>,
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

impl Reader {
    fn new(logs_dir: &Path, marker: Vec<u8>, masker: Masker, reporter: Box<dyn Reporter>, acks: mpsc::Sender<u64>, capture: Capture) -> io::Result<Reader> {
        Ok(Reader { marker, masker, reporter, phase: PhaseType::Build, build_log: BufWriter::new(File::create(logs_dir.join("build.log"))?), phase_log: None, logs_dir: logs_dir.to_path_buf(), acks, capture, long_line: None })
    }

    fn run(&mut self, mut source: impl Read) -> io::Result<()> {
        let mut buf: Vec<u8> = Vec::with_capacity(8192);
        let mut chunk = vec![0u8; 64 * 1024];
        loop {
            let n = match source.read(&mut chunk) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            buf.extend_from_slice(&chunk[..n]);
            if self.drain(&mut buf, false)? {
                break;
            }
        }
        self.drain(&mut buf, true)?;
        self.build_log.flush()?;
        if let Some(l) = self.phase_log.as_mut() {
            l.flush()?;
        }
        Ok(())
    }

    /// Process complete lines and control records in `buf`; returns true at the end-of-stream record.
    fn drain(&mut self, buf: &mut Vec<u8>, at_eof: bool) -> io::Result<bool> {
        loop {
            let marker_at = find(buf, &self.marker);
            let newline_at = buf.iter().position(|b| *b == b'\n');
            match (marker_at, newline_at) {
                (Some(m), nl) if nl.is_none_or(|nl| m <= nl) => {
                    let start = m + self.marker.len();
                    let Some(end) = buf[start..].iter().position(|b| *b == b'\n') else { return Ok(false) };
                    let body = String::from_utf8_lossy(&buf[start..start + end]).into_owned();
                    buf.drain(m..start + end + 1);
                    // A partial line written before the record stays at the head of the buffer and
                    // joins what comes next (so a secret printed in two pieces by two commands is
                    // still masked as one), except at the end of a phase or of the stream.
                    if m > 0 && (body.starts_with("end:") || body == "eof") {
                        let data: Vec<u8> = buf.drain(..m).collect();
                        self.output_line(&data)?;
                    }
                    if self.control(&body)? {
                        return Ok(true);
                    }
                }
                (_, Some(nl)) => {
                    let line: Vec<u8> = buf.drain(..=nl).collect();
                    self.output_line(&line[..line.len() - 1])?;
                }
                (_, None) => {
                    // Never cut through what may be the first bytes of a record whose rest is
                    // still on its way: the cut would print the nonce and lose the record.
                    let maybe_record = (1..self.marker.len().min(buf.len() + 1)).rev().find(|&k| buf.ends_with(&self.marker[..k])).unwrap_or(0);
                    if buf.len() - maybe_record > MAX_LINE {
                        let data: Vec<u8> = buf.drain(..MAX_LINE).collect();
                        self.long_line_piece(&data)?;
                        continue;
                    }
                    if at_eof && !buf.is_empty() {
                        let data: Vec<u8> = std::mem::take(buf);
                        self.output_line(&data)?;
                        continue;
                    }
                    return Ok(false);
                }
            }
        }
    }

    fn control(&mut self, body: &str) -> io::Result<bool> {
        let (kind, rest) = body.split_once(':').unwrap_or((body, ""));
        match kind {
            "start" => {
                if let Some(p) = parse_phase(rest) {
                    self.phase = p;
                    if let Some(mut l) = self.phase_log.take() {
                        l.flush()?;
                    }
                    self.reporter.phase_started(p);
                }
            }
            "end" => {
                let mut parts = rest.split(':');
                let (p, s, ms) = (parts.next().and_then(parse_phase), parts.next().and_then(parse_status), parts.next().and_then(|m| m.parse::<u64>().ok()));
                if let (Some(p), Some(s), Some(ms)) = (p, s, ms) {
                    let text = format!("Phase complete: {} State: {}", p.as_str(), s.as_str());
                    // A phase that wrote nothing gets no log file of its own, only this line in
                    // build.log (creating files is most of a small build's cost).
                    writeln!(self.build_log, "[{}] [kiln] {text}", self.phase.as_str())?;
                    if let Some(l) = self.phase_log.as_mut() {
                        writeln!(l, "[kiln] {text}")?;
                    }
                    self.reporter.phase_ended(p, s, Duration::from_millis(ms));
                }
            }
            "note" => {
                let text = self.masker.mask_str(rest);
                self.write_logs(LineKind::Kiln, &text)?;
                self.reporter.line(self.phase, LineKind::Kiln, &text);
            }
            "sync" => {
                if let Ok(n) = rest.parse::<u64>() {
                    self.build_log.flush()?;
                    let _ = self.acks.send(n);
                }
            }
            "eof" => return Ok(true),
            _ => {}
        }
        Ok(false)
    }

    /// A piece of a line too long to keep whole: masked as part of one stream with the rest of
    /// the line, and shown as far as it is certainly not the start of a secret.
    fn long_line_piece(&mut self, raw: &[u8]) -> io::Result<()> {
        let masker = &self.masker;
        let masked = self.long_line.get_or_insert_with(|| masker.stream()).push(raw);
        if masked.is_empty() { Ok(()) } else { self.emit_line(&masked) }
    }

    /// A complete line (or the last piece of a long one).
    fn output_line(&mut self, raw: &[u8]) -> io::Result<()> {
        let raw = raw.strip_suffix(b"\r").unwrap_or(raw);
        let masked = match self.long_line.take() {
            Some(mut stream) => {
                let mut m = stream.push(raw);
                m.extend(stream.finish());
                m
            }
            None => self.masker.mask_bytes(raw),
        };
        self.emit_line(&masked)
    }

    /// Write an already masked line to the logs, the retry capture and the reporter.
    fn emit_line(&mut self, masked: &[u8]) -> io::Result<()> {
        let text = String::from_utf8_lossy(masked);
        self.write_logs(LineKind::Output, &text)?;
        if let Some(c) = self.capture.lock().unwrap_or_else(|e| e.into_inner()).as_mut() {
            if c.len() < MAX_CAPTURE {
                c.push_str(&text);
                c.push('\n');
            }
        }
        self.reporter.line(self.phase, LineKind::Output, &text);
        Ok(())
    }

    fn write_logs(&mut self, kind: LineKind, text: &str) -> io::Result<()> {
        let tag = if kind == LineKind::Kiln { "[kiln] " } else { "" };
        writeln!(self.build_log, "[{}] {tag}{text}", self.phase.as_str())?;
        if self.phase_log.is_none() {
            let file = std::fs::OpenOptions::new().create(true).append(true).open(self.logs_dir.join(format!("{}.log", self.phase.as_str())))?;
            self.phase_log = Some(BufWriter::new(file));
        }
        if let Some(l) = self.phase_log.as_mut() {
            writeln!(l, "{tag}{text}")?;
        }
        Ok(())
    }
}

fn parse_phase(s: &str) -> Option<PhaseType> {
    use PhaseType::*;
    [Submitted, Queued, Provisioning, DownloadSource, Install, PreBuild, Build, PostBuild, UploadArtifacts, Finalizing, Completed]
        .into_iter()
        .find(|p| p.as_str() == s)
}

fn parse_status(s: &str) -> Option<PhaseStatus> {
    use PhaseStatus::*;
    [Succeeded, Failed, Fault, TimedOut, Stopped].into_iter().find(|p| p.as_str() == s)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};

    #[derive(Clone, Default)]
    struct Collect(Arc<Mutex<Vec<String>>>);
    impl Reporter for Collect {
        fn phase_started(&mut self, p: PhaseType) {
            self.0.lock().unwrap().push(format!("start {}", p.as_str()));
        }
        fn phase_ended(&mut self, p: PhaseType, s: PhaseStatus, _: Duration) {
            self.0.lock().unwrap().push(format!("end {} {}", p.as_str(), s.as_str()));
        }
        fn line(&mut self, p: PhaseType, k: LineKind, t: &str) {
            self.0.lock().unwrap().push(format!("{} {k:?} {t}", p.as_str()));
        }
    }

    #[test]
    fn orders_lines_masks_secrets_and_writes_phase_logs() {
        let dir = tempfile::tempdir().unwrap();
        let seen = Collect::default();
        let masker = Masker::new(["hunter2-secret"]).unwrap();
        let mut pump = Pump::start(dir.path(), masker, Box::new(seen.clone())).unwrap();
        pump.phase_started(PhaseType::Build);
        let (out, _) = pump.child_stdio().unwrap();
        let mut child = std::process::Command::new("sh")
            .args(["-c", "printf 'a hunter2-'; sleep 0.05; printf 'secret b\\npartial'"])
            .stdout(out)
            .spawn()
            .unwrap();
        child.wait().unwrap();
        pump.note("Running command x");
        pump.sync();
        pump.phase_ended(PhaseType::Build, PhaseStatus::Succeeded, Duration::from_millis(5));
        pump.finish().unwrap();
        let lines = seen.0.lock().unwrap().clone();
        assert_eq!(
            lines,
            vec![
                "start BUILD",
                "BUILD Output a *** b",
                "BUILD Kiln Running command x",
                "BUILD Output partial",
                "end BUILD SUCCEEDED",
            ]
        );
        let log = std::fs::read_to_string(dir.path().join("BUILD.log")).unwrap();
        assert!(log.contains("a *** b") && !log.contains("hunter2"));
        assert!(std::fs::read_to_string(dir.path().join("build.log")).unwrap().contains("[BUILD] a *** b"));
    }

    #[test]
    fn a_secret_across_the_cut_of_an_over_long_line_is_masked() {
        let dir = tempfile::tempdir().unwrap();
        let seen = Collect::default();
        let mut pump = Pump::start(dir.path(), Masker::new(["hunter2-secret"]).unwrap(), Box::new(seen.clone())).unwrap();
        pump.phase_started(PhaseType::Build);
        // The reader sees MAX_LINE - 6 bytes and the secret with no newline, so it must cut the
        // line through the secret; the newline comes later.
        let mut first = vec![b'a'; MAX_LINE - 6];
        first.extend_from_slice(b"hunter2-secret");
        pump.writer.write_all(&first).unwrap();
        std::thread::sleep(Duration::from_millis(200));
        pump.writer.write_all(b" end\n").unwrap();
        pump.sync();
        pump.finish().unwrap();
        let lines = seen.0.lock().unwrap().clone();
        let text: String = lines.iter().filter_map(|l| l.strip_prefix("BUILD Output ")).collect();
        assert_eq!(text, format!("{}*** end", "a".repeat(MAX_LINE - 6)));
        let log = std::fs::read_to_string(dir.path().join("BUILD.log")).unwrap().replace('\n', "");
        assert!(!log.contains("hunter2") && log.ends_with("*** end"));
    }

    #[test]
    fn a_secret_printed_half_by_one_command_and_half_by_the_next_is_masked() {
        let dir = tempfile::tempdir().unwrap();
        let seen = Collect::default();
        let mut pump = Pump::start(dir.path(), Masker::new(["hunter2-secret"]).unwrap(), Box::new(seen.clone())).unwrap();
        pump.phase_started(PhaseType::Build);
        for half in ["printf 'x hunter2-'", "printf 'secret y\\n'"] {
            pump.note("Running command");
            let (out, _) = pump.child_stdio().unwrap();
            std::process::Command::new("sh").args(["-c", half]).stdout(out).status().unwrap();
            pump.sync();
        }
        pump.phase_ended(PhaseType::Build, PhaseStatus::Succeeded, Duration::ZERO);
        pump.finish().unwrap();
        let lines = seen.0.lock().unwrap().clone();
        assert!(lines.contains(&"BUILD Output x *** y".to_string()), "{lines:?}");
        assert!(!std::fs::read_to_string(dir.path().join("build.log")).unwrap().contains("hunter2"));
    }

    #[test]
    fn forged_control_records_without_the_nonce_are_plain_output() {
        let dir = tempfile::tempdir().unwrap();
        let seen = Collect::default();
        let mut pump = Pump::start(dir.path(), Masker::new(Vec::<String>::new()).unwrap(), Box::new(seen.clone())).unwrap();
        let (out, _) = pump.child_stdio().unwrap();
        std::process::Command::new("sh").args(["-c", "printf '\\000kiln:guess:eof\\n'; echo after"]).stdout(out).status().unwrap();
        pump.sync();
        pump.finish().unwrap();
        let lines = seen.0.lock().unwrap().clone();
        assert!(lines.iter().any(|l| l.ends_with("after")), "{lines:?}");
    }

    /// A source that returns the given chunks, one per `read`, then end of file.
    struct Script(std::collections::VecDeque<Vec<u8>>);
    impl Read for Script {
        fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
            let Some(mut chunk) = self.0.pop_front() else { return Ok(0) };
            let n = chunk.len().min(out.len());
            out[..n].copy_from_slice(&chunk[..n]);
            if n < chunk.len() {
                self.0.push_front(chunk.split_off(n));
            }
            Ok(n)
        }
    }

    const MARKER: &[u8] = b"\0kiln:0123456789abcdef:";

    /// Runs the output thread's loop over `chunks` (each one `read`), in the BUILD phase; returns
    /// what the reporter saw and the BUILD phase log.
    fn read_script(chunks: Vec<Vec<u8>>, secrets: &[&str]) -> (Vec<(LineKind, String)>, String) {
        #[derive(Clone, Default)]
        struct Lines(Arc<Mutex<Vec<(LineKind, String)>>>);
        impl Reporter for Lines {
            fn phase_started(&mut self, _: PhaseType) {}
            fn phase_ended(&mut self, _: PhaseType, _: PhaseStatus, _: Duration) {}
            fn line(&mut self, _: PhaseType, k: LineKind, t: &str) {
                self.0.lock().unwrap().push((k, t.to_string()));
            }
        }
        let dir = tempfile::tempdir().unwrap();
        let seen = Lines::default();
        let (acks, _rx) = mpsc::channel();
        let mut reader = Reader::new(dir.path(), MARKER.to_vec(), Masker::new(secrets).unwrap(), Box::new(seen.clone()), acks, Capture::default()).unwrap();
        reader.run(Script(chunks.into())).unwrap();
        let lines = seen.0.lock().unwrap().clone();
        (lines, std::fs::read_to_string(dir.path().join("BUILD.log")).unwrap_or_default())
    }

    #[test]
    fn a_secret_across_a_read_boundary_and_the_max_line_cut_is_masked_and_pieces_stay_short() {
        const SECRET: &str = "hunter2-secret-value";
        // A line that must be cut at MAX_LINE, right through the secret, then a short line.
        let mut line = vec![b'a'; MAX_LINE - 7];
        line.extend_from_slice(SECRET.as_bytes());
        line.extend_from_slice(b"bbbb\nnext hunter2-secret-value line\n");
        let first_len = line.iter().position(|b| *b == b'\n').unwrap();
        let want = format!("{}***bbbb", "a".repeat(MAX_LINE - 7));
        // Every read boundary from before the cut to after the secret, and reads of 1 byte there.
        for at in (MAX_LINE - 12..MAX_LINE + 20).chain([100, first_len]) {
            let chunks = vec![line[..at].to_vec(), line[at..].to_vec()];
            let (lines, log) = read_script(chunks, &[SECRET]);
            let (short, pieces): (Vec<_>, Vec<_>) = lines.iter().map(|(_, t)| t.as_str()).partition(|t| t.starts_with("next"));
            assert_eq!(short, ["next *** line"], "read boundary at {at}");
            assert!(pieces.iter().all(|p| p.len() <= MAX_LINE), "read boundary at {at}: a piece is longer than MAX_LINE: {:?}", pieces.iter().map(|p| p.len()).collect::<Vec<_>>());
            assert_eq!(pieces.concat(), want, "read boundary at {at}");
            assert!(!log.contains("hunter2") && !log.replace('\n', "").contains(SECRET), "read boundary at {at}");
        }
        let bytewise: Vec<Vec<u8>> = std::iter::once(line[..MAX_LINE - 10].to_vec()).chain(line[MAX_LINE - 10..].iter().map(|b| vec![*b])).collect();
        let (lines, _) = read_script(bytewise, &[SECRET]);
        let text: String = lines.iter().filter(|(_, t)| !t.starts_with("next")).map(|(_, t)| t.as_str()).collect();
        assert_eq!(text, want, "one byte per read");
    }

    #[test]
    fn a_control_record_split_across_reads_is_not_cut_by_the_max_line_split() {
        // A partial line just short of MAX_LINE, then a record whose first bytes arrive with it:
        // cutting the line at MAX_LINE must not cut the record (which would print the nonce).
        let mut first = vec![b'a'; MAX_LINE - 3];
        first.extend_from_slice(&MARKER[..8]);
        let mut second = MARKER[8..].to_vec();
        second.extend_from_slice(b"note:hello\n tail\n");
        let (lines, log) = read_script(vec![first, second], &[]);
        assert!(lines.contains(&(LineKind::Kiln, "hello".to_string())), "{:?}", lines.iter().map(|(k, t)| (k, t.len())).collect::<Vec<_>>());
        let text: String = lines.iter().filter(|(k, _)| *k == LineKind::Output).map(|(_, t)| t.as_str()).collect();
        assert_eq!(text, format!("{} tail", "a".repeat(MAX_LINE - 3)));
        assert!(!log.contains("0123456789abcdef"), "the nonce is never output");
    }
}
