//! Who holds a lease: `host:pid:start-time:uuid`. On the same host, a lease whose process is
//! gone (no such pid, or a pid reused by a process that started at another time) is dead at
//! once, so `kill -9` then resume does not wait for the lease to run out; on another host, or
//! for a live process (a second scheduler in this process has another uuid), only the lease's
//! expiry ends it.

use super::plan::Liveness;

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname").map(|s| s.trim().to_string()).unwrap_or_else(|_| "localhost".into())
}

/// A process's start time (clock ticks since boot, `/proc/<pid>/stat` field 22).
fn start_time(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) is in parentheses and may hold spaces: count from after it.
    let rest = &stat[stat.rfind(')')? + 1..];
    rest.split_whitespace().nth(19)?.parse().ok()
}

/// This process's identity as a lease owner (a fresh uuid per scheduler).
pub fn new_owner() -> String {
    let pid = std::process::id();
    format!("{}:{pid}:{}:{}", hostname(), start_time(pid).unwrap_or(0), uuid::Uuid::new_v4())
}

/// Liveness by process table, for owners on this host.
pub struct ProcessTable {
    host: String,
    /// The owner id of the scheduler asking (its own leases are alive only while it runs them).
    me: String,
    running: std::collections::HashSet<String>,
}

impl ProcessTable {
    pub fn new(me: &str) -> Self {
        ProcessTable { host: hostname(), me: me.to_string(), running: Default::default() }
    }

    /// The attempts this scheduler is running now ([`key`]).
    pub fn set_running(&mut self, keys: impl IntoIterator<Item = String>) {
        self.running = keys.into_iter().collect();
    }
}

/// The key of an action attempt in [`ProcessTable::set_running`].
pub fn key(stage: &str, action: &str, attempt: i64) -> String {
    format!("{stage}\u{0}{action}\u{0}{attempt}")
}

impl Liveness for ProcessTable {
    fn alive(&self, owner: &str, stage: &str, action: &str, attempt: i64) -> bool {
        let mut parts = owner.rsplitn(4, ':');
        let (Some(_uuid), Some(start), Some(pid), Some(host)) = (parts.next(), parts.next(), parts.next(), parts.next()) else { return true };
        if host != self.host {
            return true;
        }
        if owner == self.me {
            // This scheduler's own lease: live only while it runs the attempt (an earlier drive
            // of this scheduler may have been dropped).
            return self.running.contains(&key(stage, action, attempt));
        }
        let (Ok(pid), Ok(start)) = (pid.parse::<u32>(), start.parse::<u64>()) else { return true };
        start_time(pid) == Some(start)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_dead_process_on_this_host_holds_no_lease() {
        let me = new_owner();
        let table = ProcessTable::new(&me);
        let other_here = new_owner();
        assert!(table.alive(&other_here, "s", "a", 1), "another scheduler of this live process");
        assert!(!table.alive(&me, "s", "a", 1), "its own lease, not running");
        let mut table = table;
        table.set_running([key("s", "a", 1)]);
        assert!(table.alive(&me, "s", "a", 1));
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let pid = child.id();
        child.wait().unwrap();
        let dead = format!("{}:{pid}:12345:x", hostname());
        assert!(!table.alive(&dead, "s", "a", 1));
        assert!(table.alive("elsewhere:1:1:x", "s", "a", 1), "another host: only expiry ends it");
        assert!(table.alive("garbage", "s", "a", 1));
    }
}
