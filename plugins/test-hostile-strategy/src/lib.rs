//! A hostile deploy strategy for kiln-host's tests. `{"attack": NAME}` picks what `next` does
//! (or the constructor, for `construct-*`); attacks that probe the sandbox answer
//! `roll-back("blocked: …")` when the attempt failed and `roll-back("ESCAPED: …")` when it worked
//! (the test fails on `ESCAPED`).

use kiln_plugin_sdk::deploy::{Action, Observation};
use kiln_plugin_sdk::{DeployStrategy, export_deploy_strategy, log};

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct Config {
    attack: String,
}

struct Hostile {
    attack: String,
    calls: u64,
    hoard: Vec<Vec<u8>>,
}

fn trap() -> ! {
    #[cfg(target_arch = "wasm32")]
    core::arch::wasm32::unreachable();
    #[cfg(not(target_arch = "wasm32"))]
    unreachable!()
}

fn spin() -> ! {
    let mut x = 0u64;
    loop {
        x = std::hint::black_box(x.wrapping_add(1));
    }
}

fn grow(hoard: &mut Vec<Vec<u8>>) -> ! {
    loop {
        hoard.push(vec![1u8; 1 << 20]);
        std::hint::black_box(&hoard);
    }
}

impl DeployStrategy for Hostile {
    type Config = Config;

    fn new(config: Config) -> Result<Self, String> {
        match config.attack.as_str() {
            "construct-trap" => trap(),
            "construct-loop" => spin(),
            "construct-refuse" => return Err("attack refused on purpose".into()),
            _ => {}
        }
        Ok(Hostile { attack: config.attack, calls: 0, hoard: Vec::new() })
    }

    fn next(&mut self, obs: &Observation) -> Action {
        self.calls += 1;
        match self.attack.as_str() {
            "trap" => trap(),
            "panic" => panic!("hostile strategy panicked on purpose"),
            "loop" => spin(),
            "alloc" => grow(&mut self.hoard),
            // 4 MiB more kept on every call: the store lives for the whole deployment, so its
            // memory cap must stop this after a few calls.
            "leak" => {
                self.hoard.push(vec![7u8; 4 << 20]);
                Action::Wait(1)
            }
            "sleep" => {
                std::thread::sleep(std::time::Duration::from_secs(3600));
                Action::Succeed
            }
            "exit" => std::process::exit(3),
            "log-flood" => loop {
                log::info(&"x".repeat(64 << 10));
            },
            // Nonsense the host must refuse.
            "shift-250" => Action::ShiftTraffic(250),
            "empty-reason" => Action::RollBack(String::new()),
            "blank-reason" => Action::RollBack(" \n\t".into()),
            "empty-batch" => Action::DeployBatch(Vec::new()),
            "duplicate-ids" => Action::DeployBatch(vec!["i1".into(), "i1".into()]),
            "too-many-ids" => Action::AllowTraffic((0..obs.instances.len() + 1).map(|i| format!("i{i}")).collect()),
            "empty-id" => Action::BlockTraffic(vec![String::new()]),
            "huge-id" => Action::DeployBatch(vec!["i".repeat(1 << 20)]),
            "wait-zero" => Action::Wait(0),
            "wait-forever" => Action::Wait(u64::MAX),
            "bad-hook" => Action::RunHook("../../bin/sh -c reboot".into()),
            "huge-reason" => Action::RollBack("r".repeat(1 << 20)),
            // Well formed, but ids the deployment does not have: the deploy engine refuses them.
            "unknown-ids" => Action::DeployBatch(vec!["i-does-not-exist".into()]),
            // Never finishes.
            "forever" => Action::Wait(1000),
            // Sandbox probes.
            "read" => {
                let r = std::fs::read_to_string("/etc/passwd");
                Action::RollBack(match r {
                    Ok(t) => format!("ESCAPED: read {} bytes of /etc/passwd", t.len()),
                    Err(e) => format!("blocked: {:?}", e.kind()),
                })
            }
            "env" => {
                let vars: Vec<String> = std::env::vars().map(|(k, _)| k).collect();
                Action::RollBack(if vars.is_empty() { "blocked: empty environment".into() } else { format!("ESCAPED: env {}", vars.join(",")) })
            }
            "net" => Action::RollBack(match std::net::TcpStream::connect("127.0.0.1:22") {
                Ok(_) => "ESCAPED: connected to 127.0.0.1:22".into(),
                Err(e) => format!("blocked: {:?}", e.kind()),
            }),
            // The calls counter survives between calls (one store per deployment).
            "count" => {
                if self.calls >= 3 {
                    Action::RollBack(format!("counted {} calls", self.calls))
                } else {
                    Action::Wait(1)
                }
            }
            other => Action::RollBack(format!("unknown attack {other:?}")),
        }
    }
}

export_deploy_strategy!(Hostile, manifest = "kiln-plugin.toml");
