//! An OpenSSH server for tests: its own host key and config, bound to 127.0.0.1 on a free port,
//! accepting one generated client key; `known_hosts` written for it. Shared by the ssh driver's
//! tests and `kiln deploy`'s (runner/kiln/tests/deploy_ssh.rs, through `#[path]`).
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::{Duration, Instant};

const SSHD: &str = "/usr/sbin/sshd";

pub struct Server {
    pub child: Child,
    pub port: u16,
    pub dir: PathBuf,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn keygen(path: &Path) {
    let ok = Command::new("ssh-keygen").args(["-q", "-t", "ed25519", "-N", "", "-f"]).arg(path).status().unwrap();
    assert!(ok.success());
}

pub fn user() -> String {
    nix::unistd::User::from_uid(nix::unistd::geteuid()).unwrap().unwrap().name
}

/// Start sshd on a free loopback port, accepting `client.pub`.
pub fn sshd(dir: &Path) -> Option<Server> {
    if !Path::new(SSHD).exists() || Command::new("ssh-keygen").arg("-?").output().is_err() {
        eprintln!("SKIPPED: OpenSSH server or ssh-keygen is not installed (scripts/test installs openssh-server)");
        return None;
    }
    keygen(&dir.join("host_key"));
    keygen(&dir.join("client"));
    std::fs::copy(dir.join("client.pub"), dir.join("authorized_keys")).unwrap();
    if nix::unistd::geteuid().is_root() {
        // sshd run as root wants its privilege separation directory.
        let _ = std::fs::create_dir_all("/run/sshd");
    }
    for _ in 0..5 {
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let config = format!(
            "Port {port}\nListenAddress 127.0.0.1\nHostKey {d}/host_key\nPidFile {d}/sshd.pid\nAuthorizedKeysFile {d}/authorized_keys\nStrictModes no\nUsePAM no\nPasswordAuthentication no\nKbdInteractiveAuthentication no\nPubkeyAuthentication yes\nPermitRootLogin prohibit-password\nAllowUsers {u}\nLogLevel ERROR\n",
            d = dir.display(),
            u = user()
        );
        std::fs::write(dir.join("sshd_config"), config).unwrap();
        let child = Command::new(SSHD).args(["-D", "-e", "-f"]).arg(dir.join("sshd_config")).stderr(std::fs::File::create(dir.join("sshd.log")).unwrap()).spawn().unwrap();
        let mut server = Server { child, port, dir: dir.to_path_buf() };
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                let host_pub = std::fs::read_to_string(dir.join("host_key.pub")).unwrap();
                let mut parts = host_pub.split_whitespace();
                std::fs::write(dir.join("known_hosts"), format!("[127.0.0.1]:{port} {} {}\n", parts.next().unwrap(), parts.next().unwrap())).unwrap();
                return Some(server);
            }
            if let Ok(Some(_)) = server.child.try_wait() {
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = server.child.kill();
        eprintln!("sshd did not start: {}", std::fs::read_to_string(dir.join("sshd.log")).unwrap_or_default());
        server.port = 0;
    }
    panic!("sshd would not start on a free port; see the messages above");
}

