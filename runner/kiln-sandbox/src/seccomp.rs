//! What the build's processes may no longer do even where they can write: capabilities that
//! reach beyond the build's own files, and the system calls that make set-ID programs.
//!
//! * **Capability bounding set.** Root in the build's user namespace keeps what ordinary build
//!   tools use as root (`chown`, overriding file permissions, `setuid` to a mapped user, binding
//!   low ports and raw sockets in its own network namespace, `chroot`, `ptrace` of its own
//!   processes) and loses the rest for good, notably `CAP_SYS_ADMIN` (no mounts: the view in
//!   `view.rs` stays as built), `CAP_SETFCAP` (no `security.capability` xattrs, i.e. no file
//!   capabilities on files the host could later run), `CAP_FSETID`, `CAP_MKNOD`, `CAP_SETPCAP`
//!   and `CAP_SYS_RESOURCE`.
//! * **seccomp filter** (every build, every user): `chmod`/`fchmod`/`fchmodat`/`fchmodat2` with a
//!   set-user-ID or set-group-ID bit, and `open`/`openat`/`creat`/`mknod`/`mknodat` creating a
//!   file with one, fail with `EPERM`: a build cannot leave a set-ID file in its working copy or
//!   cache for the host to run. `openat2` returns `ENOSYS` (its mode is behind a pointer the
//!   filter cannot read; C libraries fall back to `openat`). `io_uring_*` (which would bypass
//!   the filter) and the kernel keyring calls (`keyctl`, `add_key`, `request_key`: the user's
//!   keyrings are shared with the host) fail with `EPERM`. x32 system call numbers get the same
//!   rules.

use std::collections::BTreeMap;
use std::io;

use seccompiler::{BpfProgram, SeccompAction, SeccompCmpArgLen, SeccompCmpOp, SeccompCondition, SeccompFilter, SeccompRule, TargetArch};

use crate::sys;

/// Capabilities root keeps inside the build's user namespace.
const KEEP: &[u32] = &[
    0,  // CAP_CHOWN
    1,  // CAP_DAC_OVERRIDE
    2,  // CAP_DAC_READ_SEARCH
    3,  // CAP_FOWNER
    5,  // CAP_KILL
    6,  // CAP_SETGID
    7,  // CAP_SETUID
    10, // CAP_NET_BIND_SERVICE
    12, // CAP_NET_ADMIN
    13, // CAP_NET_RAW
    18, // CAP_SYS_CHROOT
    19, // CAP_SYS_PTRACE
    29, // CAP_AUDIT_WRITE
];

/// The prepared filter and the capabilities to drop.
#[derive(Debug)]
pub(crate) struct Filter {
    /// One program per match action (`EPERM`, `ENOSYS`).
    programs: Vec<BpfProgram>,
    last_cap: u32,
}

fn has_bit(arg: u8, bit: u64) -> SeccompCondition {
    SeccompCondition::new(arg, SeccompCmpArgLen::Dword, SeccompCmpOp::MaskedEq(bit), bit).expect("valid condition")
}

/// Rules matching "argument `mode` has a set-ID bit", optionally only when argument `flags`
/// has `O_CREAT` or `O_TMPFILE` (the open calls, which ignore the mode otherwise).
fn set_id_mode(mode: u8, flags: Option<u8>) -> Vec<SeccompRule> {
    [libc::S_ISUID as u64, libc::S_ISGID as u64]
        .into_iter()
        .flat_map(|bit| {
            let with = |extra: Option<SeccompCondition>| SeccompRule::new(extra.into_iter().chain([has_bit(mode, bit)]).collect()).expect("valid rule");
            match flags {
                None => vec![with(None)],
                // O_CREAT, or O_TMPFILE (which also takes a mode).
                Some(arg) => [libc::O_CREAT as u64, (libc::O_TMPFILE & !libc::O_DIRECTORY) as u64].into_iter().map(|f| with(Some(has_bit(arg, f)))).collect(),
            }
        })
        .collect()
}

impl Filter {
    pub(crate) fn new() -> io::Result<Filter> {
        let arch = TargetArch::try_from(std::env::consts::ARCH).map_err(|e| io::Error::other(e.to_string()))?;
        let mut rules: BTreeMap<i64, Vec<SeccompRule>> = BTreeMap::new();
        let mut add = |nr: libc::c_long, r: Vec<SeccompRule>| {
            rules.insert(nr, r.clone());
            if arch == TargetArch::x86_64 {
                rules.insert(nr | 0x4000_0000, r);
            }
        };
        #[cfg(target_arch = "x86_64")]
        {
            add(libc::SYS_chmod, set_id_mode(1, None));
            add(libc::SYS_open, set_id_mode(2, Some(1)));
            add(libc::SYS_creat, set_id_mode(1, None));
            add(libc::SYS_mknod, set_id_mode(1, None));
        }
        add(libc::SYS_fchmod, set_id_mode(1, None));
        add(libc::SYS_fchmodat, set_id_mode(2, None));
        add(libc::SYS_fchmodat2, set_id_mode(2, None));
        add(libc::SYS_openat, set_id_mode(3, Some(2)));
        add(libc::SYS_mknodat, set_id_mode(2, None));
        for nr in [libc::SYS_io_uring_setup, libc::SYS_io_uring_enter, libc::SYS_io_uring_register, libc::SYS_keyctl, libc::SYS_add_key, libc::SYS_request_key] {
            add(nr, Vec::new());
        }
        // openat2 gets ENOSYS, in a second filter (one filter has one match action).
        let mut enosys = BTreeMap::new();
        enosys.insert(libc::SYS_openat2, Vec::new());
        let compile = |rules: BTreeMap<i64, Vec<SeccompRule>>, errno: i32| -> io::Result<BpfProgram> {
            let filter = SeccompFilter::new(rules, SeccompAction::Allow, SeccompAction::Errno(errno as u32), arch).map_err(|e| io::Error::other(e.to_string()))?;
            filter.try_into().map_err(|e: seccompiler::BackendError| io::Error::other(e.to_string()))
        };
        let programs = vec![compile(rules, libc::EPERM)?, compile(enosys, libc::ENOSYS)?];
        let last_cap = std::fs::read_to_string("/proc/sys/kernel/cap_last_cap").ok().and_then(|s| s.trim().parse().ok()).unwrap_or(40);
        Ok(Filter { programs, last_cap })
    }

    /// In the child, before it drops to a `run-as` user (which leaves no `CAP_SETPCAP` to do
    /// this with): drop the capabilities outside [`KEEP`] from the bounding and ambient sets.
    pub(crate) fn bound_capabilities(&self) -> io::Result<()> {
        for cap in 0..=self.last_cap {
            if !KEEP.contains(&cap) {
                match sys::prctl(libc::PR_CAPBSET_DROP, cap as libc::c_ulong, 0) {
                    Err(e) if e.raw_os_error() == Some(libc::EINVAL) => {}
                    other => other?,
                }
            }
        }
        sys::prctl(libc::PR_CAP_AMBIENT, libc::PR_CAP_AMBIENT_CLEAR_ALL as libc::c_ulong, 0)
    }

    /// In the child, as the last step before exec (after `PR_SET_NO_NEW_PRIVS`): install the
    /// filter.
    pub(crate) fn install(&self) -> io::Result<()> {
        for prog in &self.programs {
            let fprog = libc::sock_fprog { len: prog.len() as u16, filter: prog.as_ptr() as *mut libc::sock_filter };
            // SAFETY: the kernel copies the program; it lives for the duration of the call.
            if unsafe { libc::syscall(libc::SYS_seccomp, libc::SECCOMP_SET_MODE_FILTER, 0, &fprog as *const libc::sock_fprog) } != 0 {
                return Err(io::Error::last_os_error());
            }
        }
        Ok(())
    }
}
