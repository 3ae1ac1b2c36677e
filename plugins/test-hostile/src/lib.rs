//! A hostile plugin for kiln-host's tests. `with: { attack: NAME, ... }` picks the attack.
//!
//! Attacks that the host should *deny* return `Ok` with a summary starting `blocked:` (the
//! attempt failed inside the guest) or `ESCAPED:` (it worked: the test fails). Attacks that the
//! host should *stop* (loops, floods, traps) never return normally.

use kiln_plugin_sdk::{Error, Finding, Location, Severity, Step, StepPlugin, export_step, log};
use std::io::{Read, Write};

#[derive(serde::Deserialize, Default)]
#[serde(default)]
struct Config {
    attack: String,
    /// A path to try to read (read attacks).
    path: String,
    /// A TCP port on 127.0.0.1 (network attacks).
    port: u16,
    /// How many items to flood with.
    count: u64,
}

struct Hostile;

fn read_attempt(path: &str) -> String {
    match std::fs::File::open(path).and_then(|mut f| {
        let mut s = String::new();
        f.read_to_string(&mut s).map(|_| s)
    }) {
        Ok(content) => format!(
            "ESCAPED: read {} bytes from {path}: {}",
            content.len(),
            content.chars().take(64).collect::<String>()
        ),
        Err(e) => format!("blocked: {path}: {:?}", e.kind()),
    }
}

/// Recursion whose frames live on the wasm stack only (hits the engine's `max_wasm_stack`).
#[inline(never)]
#[allow(unconditional_recursion)]
fn recurse(depth: u64) -> u64 {
    let r = recurse(std::hint::black_box(depth + 1));
    std::hint::black_box(r) + depth
}

/// Recursion with big locals: they live on the shadow stack in linear memory, which overflows
/// first (the guest's own stack, 1 MiB by default).
#[inline(never)]
#[allow(unconditional_recursion)]
fn recurse_big(depth: u64, buf: &mut [u8; 64]) -> u64 {
    let mut local = [0u8; 4096];
    local[(depth % 4096) as usize] = buf[(depth % 64) as usize];
    let r = recurse_big(std::hint::black_box(depth + 1), std::hint::black_box(buf));
    std::hint::black_box(&mut local);
    r + local[(r % 4096) as usize] as u64
}

impl StepPlugin for Hostile {
    type Config = Config;

    fn run(step: &mut Step<Config>) -> Result<(), Error> {
        let cfg = step.config();
        let count = if cfg.count == 0 { 100_000 } else { cfg.count };
        let summary = match cfg.attack.as_str() {
            "read" => read_attempt(&cfg.path),
            "write-src" => match std::fs::write("/src/pwned", b"x") {
                Ok(()) => "ESCAPED: wrote /src/pwned".into(),
                Err(e) => format!("blocked: {:?}", e.kind()),
            },
            "list-root" => match std::fs::read_dir("/") {
                Ok(rd) => {
                    let names: Vec<String> = rd
                        .filter_map(|e| e.ok())
                        .map(|e| e.file_name().to_string_lossy().into_owned())
                        .collect();
                    format!("listed: {}", names.join(","))
                }
                Err(e) => format!("blocked: {:?}", e.kind()),
            },
            "tcp" => match std::net::TcpStream::connect(("127.0.0.1", cfg.port)) {
                Ok(mut s) => {
                    let _ = s.write_all(b"hello from the guest");
                    "ESCAPED: connected".into()
                }
                Err(e) => format!("blocked: {:?}", e.kind()),
            },
            "udp" => match std::net::UdpSocket::bind("127.0.0.1:0")
                .and_then(|s| s.send_to(b"x", ("127.0.0.1", cfg.port)))
            {
                Ok(_) => "ESCAPED: sent a datagram".into(),
                Err(e) => format!("blocked: {:?}", e.kind()),
            },
            "dns" => match std::net::ToSocketAddrs::to_socket_addrs(&("localhost", 80)) {
                Ok(addrs) => format!("ESCAPED: resolved {:?}", addrs.collect::<Vec<_>>()),
                Err(e) => format!("blocked: {:?}", e.kind()),
            },
            "env" => {
                let vars: Vec<String> = std::env::vars().map(|(k, _)| k).collect();
                let args: Vec<String> = std::env::args().collect();
                if vars.is_empty()
                    && args.len() <= 1
                    && std::env::var("KILN_HOST_TEST_SECRET").is_err()
                {
                    "blocked: no environment".into()
                } else {
                    format!("ESCAPED: env {vars:?} args {args:?}")
                }
            }
            "env-list" => {
                let mut vars: Vec<String> =
                    std::env::vars().map(|(k, v)| format!("{k}={v}")).collect();
                vars.sort();
                format!("env: {}", vars.join(","))
            }
            "clock" => {
                let t = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .unwrap_or_default();
                let a = std::time::Instant::now();
                let b = std::time::Instant::now();
                format!(
                    "clock: wall_nanos_mod_1ms={} mono_delta={}",
                    t.subsec_nanos() % 1_000_000,
                    (b - a).as_nanos()
                )
            }
            "loop" => {
                let mut x = 0u64;
                loop {
                    x = std::hint::black_box(x.wrapping_add(1));
                }
            }
            "sleep" => {
                std::thread::sleep(std::time::Duration::from_secs(3600));
                "ESCAPED: slept".into()
            }
            "alloc" => {
                let mut hoard: Vec<Vec<u8>> = Vec::new();
                loop {
                    hoard.push(vec![1u8; 1 << 20]);
                    std::hint::black_box(&hoard);
                }
            }
            "recursion" => format!("ESCAPED: {}", recurse(0)),
            "recursion-big-frames" => {
                let mut buf = [1u8; 64];
                format!("ESCAPED: {}", recurse_big(0, &mut buf))
            }
            "log-flood" => {
                let line = "x".repeat(1024);
                for _ in 0..count {
                    log::info(&line);
                }
                "ESCAPED: logged everything".into()
            }
            "stdout-flood" => {
                let line = "y".repeat(1023);
                for _ in 0..count {
                    println!("{line}");
                }
                "stdout flooded".into()
            }
            "findings-flood" => {
                for i in 0..count {
                    step.report(Finding {
                        rule_id: "flood".into(),
                        severity: Severity::Note,
                        location: None,
                        message: format!("finding {i}"),
                        fingerprint: String::new(),
                    });
                }
                "flooded findings".into()
            }
            "output-flood" => {
                let chunk = vec![b'z'; 1 << 20];
                let mut f = std::fs::File::create("/out/big.bin")?;
                for _ in 0..count.min(1024) {
                    f.write_all(&chunk)?;
                }
                "ESCAPED: wrote everything".into()
            }
            "files-flood" => {
                for i in 0..count {
                    std::fs::write(format!("/out/f{i}"), b"x")?;
                }
                "ESCAPED: wrote every file".into()
            }
            "escape-output" => {
                std::fs::write("/out/ok.txt", b"fine")?;
                step.add_output("../../etc/passwd", "text/plain");
                "returned an escaping output path".into()
            }
            "escape-location" => {
                step.report(Finding {
                    rule_id: "r".into(),
                    severity: Severity::High,
                    location: Some(Location {
                        path: "/etc/passwd".into(),
                        start_line: 1,
                        start_col: 1,
                        end_line: 1,
                        end_col: 1,
                    }),
                    message: "m".into(),
                    fingerprint: String::new(),
                });
                "returned an absolute location".into()
            }
            "bad-utf8" => {
                // The canonical ABI requires valid UTF-8; lie about it and see the host refuse.
                let bytes = vec![b'o', b'k', 0xff, 0xfe];
                unsafe { String::from_utf8_unchecked(bytes) }
            }
            "panic" => panic!("hostile plugin panicked on purpose"),
            "trap" => {
                #[cfg(target_arch = "wasm32")]
                core::arch::wasm32::unreachable();
                #[cfg(not(target_arch = "wasm32"))]
                unreachable!()
            }
            "exit" => std::process::exit(3),
            "fail" => return Err(Error::failed("the plugin reports a failure")),
            "ok" => "ok".into(),
            other => return Err(Error::InvalidConfig(format!("attack: unknown {other:?}"))),
        };
        step.set_summary(summary);
        Ok(())
    }
}

export_step!(Hostile, manifest = "kiln-plugin.toml");
