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
    /// Everything the output thread has read so far has been reported: a reporter that
    /// buffers lines shows them now (it is called after every read from the pipe, before the
    /// thread waits for more, and at the end).
    fn flush(&mut self) {}
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
        // Best effort: a smaller pipe is only slower.
        let _ = nix::fcntl::fcntl(&read_fd, nix::fcntl::FcntlArg::F_SETPIPE_SZ(PIPE_SIZE));
        let nonce = uuid::Uuid::new_v4().simple().to_string();
        let marker = format!("\0kiln:{nonce}:").into_bytes();
        let (ack_tx, acks) = mpsc::channel();
        let capture: Capture = Arc::default();
        let mut reader = Reader::new(logs_dir, marker.clone(), masker, reporter, ack_tx, capture.clone())?;
        reader.set_phase(PhaseType::Submitted);
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
    /// `[PHASE] `: what every line of build.log starts with in the current phase.
    phase_tag: Vec<u8>,
    build_log: BufWriter<File>,
    phase_log: Option<BufWriter<File>>,
    logs_dir: std::path::PathBuf,
    acks: mpsc::Sender<u64>,
    capture: Capture,
    /// While a line longer than [`MAX_LINE`] is being split: the masker its pieces go through.
    long_line: Option<StreamMasker>,
    /// How many bytes at the head of the buffer are known to be a partial line holding no
    /// newline and no start of a control record (so a long partial line is not scanned again
    /// on every read).
    scanned: usize,
    /// Masked output, reused from one block of lines to the next.
    masked: Vec<u8>,
}

/// Size of one read from the pipe (its default capacity).
const READ_SIZE: usize = 256 * 1024;
/// The output pipe's capacity asked of the kernel (the default is 64 KiB; a larger one lets a
/// fast writer go on while the output thread writes the logs, with fewer context switches).
/// Unprivileged processes may ask up to `/proc/sys/fs/pipe-max-size` (1 MiB by default).
const PIPE_SIZE: i32 = 1024 * 1024;

impl Reader {
    fn new(logs_dir: &Path, marker: Vec<u8>, masker: Masker, reporter: Box<dyn Reporter>, acks: mpsc::Sender<u64>, capture: Capture) -> io::Result<Reader> {
        let phase = PhaseType::Build;
        Ok(Reader {
            marker,
            masker,
            reporter,
            phase,
            phase_tag: phase_tag(phase),
            build_log: BufWriter::with_capacity(READ_SIZE, File::create(logs_dir.join("build.log"))?),
            phase_log: None,
            logs_dir: logs_dir.to_path_buf(),
            acks,
            capture,
            long_line: None,
            scanned: 0,
            masked: Vec::new(),
        })
    }

    fn set_phase(&mut self, phase: PhaseType) {
        self.phase = phase;
        self.phase_tag = phase_tag(phase);
    }

    fn run(&mut self, mut source: impl Read) -> io::Result<()> {
        let mut buf: Vec<u8> = Vec::with_capacity(2 * READ_SIZE);
        let mut chunk = vec![0u8; READ_SIZE];
        loop {
            let n = match source.read(&mut chunk) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            buf.extend_from_slice(&chunk[..n]);
            let eof = self.drain(&mut buf, false)?;
            // Everything read so far has been handled: show it before waiting for more.
            self.reporter.flush();
            if eof {
                break;
            }
        }
        self.drain(&mut buf, true)?;
        self.reporter.flush();
        self.build_log.flush()?;
        if let Some(l) = self.phase_log.as_mut() {
            l.flush()?;
        }
        Ok(())
    }

    /// Process complete lines and control records in `buf`, and the pieces of a line too long
    /// to keep whole; what is left (a partial line, a partial record) stays in `buf` for the
    /// next read. Returns true at the end-of-stream record.
    ///
    /// One pass over the buffer: `pos` is where the current line starts, `scan` how far the
    /// line is known to hold no newline and no record. The complete lines up to the next NUL
    /// byte (the first byte of every record) are masked and written as one block.
    fn drain(&mut self, buf: &mut Vec<u8>, at_eof: bool) -> io::Result<bool> {
        let mlen = self.marker.len();
        let mut pos = 0;
        let mut scan = self.scanned.min(buf.len());
        let mut eof = false;
        loop {
            let nul = find_nul(&buf[scan..]).map(|i| scan + i);
            let end = nul.unwrap_or(buf.len());
            if let Some(i) = memchr::memrchr(b'\n', &buf[scan..end]) {
                self.output_lines(&buf[pos..scan + i])?;
                pos = scan + i + 1;
            }
            scan = end;
            let Some(z) = nul else { break };
            let tail = &buf[z..];
            if !tail.starts_with(&self.marker) {
                if tail.len() < mlen && self.marker.starts_with(tail) {
                    // Perhaps the first bytes of a record: wait for the rest. Never cut here.
                    break;
                }
                // A NUL byte of the build's own output.
                scan = z + 1;
                continue;
            }
            let body_at = z + mlen;
            let Some(len) = memchr::memchr(b'\n', &buf[body_at..]) else { break };
            let body = String::from_utf8_lossy(&buf[body_at..body_at + len]).into_owned();
            let after = body_at + len + 1;
            // A partial line written before the record joins what comes next (so a secret
            // printed in two pieces by two commands is still masked as one), except at the end
            // of a phase or of the stream: it is moved up to just before the next output.
            if z > pos && (body.starts_with("end:") || body == "eof") {
                self.output_line(&buf[pos..z])?;
                pos = after;
            } else {
                buf.copy_within(pos..z, after - (z - pos));
                pos = after - (z - pos);
            }
            scan = after;
            if self.control(&body)? {
                eof = true;
                break;
            }
        }
        // A line too long to keep whole goes out in pieces, cut only where it is certainly
        // output: before `scan`, never through what may be the start of a record.
        while scan - pos > MAX_LINE {
            self.long_line_piece(&buf[pos..pos + MAX_LINE])?;
            pos += MAX_LINE;
        }
        if at_eof && pos < buf.len() {
            self.output_line(&buf[pos..])?;
            pos = buf.len();
            scan = pos;
        }
        buf.drain(..pos);
        self.scanned = scan - pos;
        Ok(eof)
    }

    fn control(&mut self, body: &str) -> io::Result<bool> {
        let (kind, rest) = body.split_once(':').unwrap_or((body, ""));
        match kind {
            "start" => {
                if let Some(p) = parse_phase(rest) {
                    self.set_phase(p);
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
        if masked.is_empty() { Ok(()) } else { self.emit_lines(&masked, false) }
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
        self.emit_lines(&masked, false)
    }

    /// Complete lines, `\n`-separated (without the last `\n`), masked as one block: a secret
    /// is masked wherever a line-by-line masking would mask it (every match inside a line is
    /// a match in the block), and one that spans lines (a multi-line value) is masked whole.
    fn output_lines(&mut self, raw: &[u8]) -> io::Result<()> {
        let mut raw = raw;
        if self.long_line.is_some() {
            // The first line ends the long line being split.
            let (first, rest) = match memchr::memchr(b'\n', raw) {
                Some(nl) => (&raw[..nl], Some(&raw[nl + 1..])),
                None => (raw, None),
            };
            self.output_line(first)?;
            match rest {
                Some(rest) => raw = rest,
                None => return Ok(()),
            }
        }
        let mut masked = std::mem::take(&mut self.masked);
        masked.clear();
        self.masker.mask_into(raw, &mut masked);
        let done = self.emit_lines(&masked, true);
        self.masked = masked;
        done
    }

    /// Write already masked lines (`\n`-separated; with `strip_cr`, a `\r` ending a line is
    /// dropped) to the logs, the retry capture and the reporter.
    fn emit_lines(&mut self, masked: &[u8], strip_cr: bool) -> io::Result<()> {
        // Checking UTF-8 first is several times faster than `from_utf8_lossy` on valid text.
        let text = match std::str::from_utf8(masked) {
            Ok(t) => std::borrow::Cow::Borrowed(t),
            Err(_) => String::from_utf8_lossy(masked),
        };
        self.open_phase_log()?;
        // When no line loses a `\r`, the phase log's lines are the block itself: one write.
        let strip_cr = strip_cr && text.as_bytes().contains(&b'\r');
        if !strip_cr
            && let Some(l) = self.phase_log.as_mut()
        {
            l.write_all(text.as_bytes())?;
            l.write_all(b"\n")?;
        }
        let mut capture = self.capture.lock().unwrap_or_else(|e| e.into_inner());
        let bytes = text.as_bytes();
        let mut start = 0;
        loop {
            let end = memchr::memchr(b'\n', &bytes[start..]).map_or(bytes.len(), |i| start + i);
            let mut line = &text[start..end];
            if strip_cr {
                line = line.strip_suffix('\r').unwrap_or(line);
                if let Some(l) = self.phase_log.as_mut() {
                    l.write_all(line.as_bytes())?;
                    l.write_all(b"\n")?;
                }
            }
            self.build_log.write_all(&self.phase_tag)?;
            self.build_log.write_all(line.as_bytes())?;
            self.build_log.write_all(b"\n")?;
            if let Some(c) = capture.as_mut()
                && c.len() < MAX_CAPTURE
            {
                c.push_str(line);
                c.push('\n');
            }
            self.reporter.line(self.phase, LineKind::Output, line);
            if end == bytes.len() {
                return Ok(());
            }
            start = end + 1;
        }
    }

    fn open_phase_log(&mut self) -> io::Result<()> {
        if self.phase_log.is_none() {
            let file = std::fs::OpenOptions::new().create(true).append(true).open(self.logs_dir.join(format!("{}.log", self.phase.as_str())))?;
            self.phase_log = Some(BufWriter::with_capacity(READ_SIZE, file));
        }
        Ok(())
    }

    fn write_logs(&mut self, kind: LineKind, text: &str) -> io::Result<()> {
        let tag = if kind == LineKind::Kiln { "[kiln] " } else { "" };
        writeln!(self.build_log, "[{}] {tag}{text}", self.phase.as_str())?;
        self.open_phase_log()?;
        if let Some(l) = self.phase_log.as_mut() {
            writeln!(l, "{tag}{text}")?;
        }
        Ok(())
    }
}

/// Where the first NUL byte of `bytes` is (vectorised: a byte-by-byte loop here was a tenth of
/// the output thread's time).
fn find_nul(bytes: &[u8]) -> Option<usize> {
    memchr::memchr(0, bytes)
}

fn phase_tag(phase: PhaseType) -> Vec<u8> {
    format!("[{}] ", phase.as_str()).into_bytes()
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
mod tests;
