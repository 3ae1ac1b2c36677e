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

#[test]
fn what_is_shown_and_logged_does_not_depend_on_how_the_output_arrives() {
    // Lines, a NUL byte and a forged record prefix in the build's output, a CRLF line, a
    // note arriving in the middle of a partial line and a secret split around it.
    let mut stream = Vec::new();
    for i in 0..40 {
        stream.extend_from_slice(format!("line {i}\n").as_bytes());
    }
    stream.extend_from_slice(b"nul \0 inside\n\0kiln:0123-not-the-nonce:note:forged\nwindows\r\nx hunter2-");
    for body in ["note:Running command y", "sync:1"] {
        stream.extend_from_slice(MARKER);
        stream.extend_from_slice(body.as_bytes());
        stream.push(b'\n');
    }
    stream.extend_from_slice(b"secret y\nlast\n\0kil");
    let (whole, whole_log) = read_script(vec![stream.clone()], &["hunter2-secret"]);
    let texts: Vec<&str> = whole.iter().map(|(_, t)| t.as_str()).collect();
    assert_eq!(texts[..2], ["line 0", "line 1"]);
    assert_eq!(
        texts[40..],
        ["nul \u{0} inside", "\u{0}kiln:0123-not-the-nonce:note:forged", "windows", "Running command y", "x *** y", "last", "\u{0}kil"],
        "{whole:?}"
    );
    assert_eq!(whole.iter().filter(|(k, _)| *k == LineKind::Kiln).count(), 1);
    for size in [1, 2, 3, 5, 8, 13, 64, 333] {
        let chunks: Vec<Vec<u8>> = stream.chunks(size).map(<[u8]>::to_vec).collect();
        let (lines, log) = read_script(chunks, &["hunter2-secret"]);
        assert_eq!(lines, whole, "reads of {size} bytes");
        assert_eq!(log, whole_log, "reads of {size} bytes");
    }
}
