//! `run-as` (top level, and per phase): which user runs which phase's commands.
//!
//! CodeBuild's buildspec reference: "run-as: Optional sequence. Available to Linux users only.
//! Specifies a Linux user that runs commands in this buildspec file", top level for every
//! command, or per phase for that phase only. The user must exist in the build image; whether
//! CodeBuild creates it or changes file ownership is not documented. kiln's choices:
//!
//! - The user must exist on the host (the build sees the host's `/etc/passwd`); a name that does
//!   not is a failed PROVISIONING phase naming it.
//! - A **root** kiln runs those commands as that user inside the build's user namespace
//!   (`kiln_sandbox::Sandbox::apply_as`): mapped to the same uid and gid on the host, with no
//!   capability at all. The working copy, the build's `$TMPDIR` and `$HOME` and the shell's
//!   state directory are handed to the build's run-as user (the top-level one, else the first
//!   phase's), so that the user can write them; root phases of the same build still can (root
//!   inside the namespace keeps `CAP_DAC_OVERRIDE` over mapped users' files). An `--in-place`
//!   build's project is never chowned.
//! - An ordinary user's kiln cannot switch users (its namespace maps only itself); naming that
//!   same user is honoured, any other is not applied and a notice says so.
//! - The shell session moves with the user: at a phase whose user differs from the running
//!   shell's, the shell ends (its state saved), the state files are handed to the next user, and
//!   the next command starts a shell as that user from the saved state (`cd`, variables).

use std::io;
use std::path::Path;

use kiln_spec::{BuildSpec, PhaseName};

/// A host user a phase runs as.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct User {
    pub name: String,
    pub uid: u32,
    pub gid: u32,
}

impl User {
    pub fn ids(&self) -> (u32, u32) {
        (self.uid, self.gid)
    }
}

/// Who runs each phase.
#[derive(Clone, Debug, Default)]
pub struct Plan {
    top: Option<User>,
    phases: Vec<(PhaseName, User)>,
    /// Why `run-as` is not applied (an ordinary user's kiln), for the notices.
    pub not_applied: Option<String>,
}

fn lookup(name: &str) -> Result<User, String> {
    match nix::unistd::User::from_name(name) {
        Ok(Some(u)) => Ok(User { name: name.to_string(), uid: u.uid.as_raw(), gid: u.gid.as_raw() }),
        Ok(None) => Err(format!("`run-as: {name}`: there is no user {name} on this host; create it (the build runs on the host's users, as CodeBuild's on its image's) or remove run-as")),
        Err(e) => Err(format!("`run-as: {name}`: cannot look the user up: {e}")),
    }
}

/// The users of `spec`. `Err` names a user that does not exist (when kiln can apply run-as).
pub fn plan(spec: &BuildSpec) -> Result<Plan, String> {
    let names: Vec<&str> = spec.run_as.iter().chain(spec.phases.iter().filter_map(|p| p.run_as.as_ref())).map(|u| u.value.as_str()).collect();
    if names.is_empty() {
        return Ok(Plan::default());
    }
    let me = nix::unistd::getuid();
    if !me.is_root() {
        let own = nix::unistd::User::from_uid(me).ok().flatten().map(|u| u.name);
        if names.iter().all(|n| own.as_deref() == Some(*n)) {
            return Ok(Plan::default());
        }
        let users: Vec<String> = names.iter().map(|n| format!("`run-as: {n}`")).collect();
        return Ok(Plan { not_applied: Some(format!("{} not applied: only a kiln running as root can run commands as another user; they run as the user who started kiln", users.join(", "))), ..Plan::default() });
    }
    let top = spec.run_as.as_ref().map(|u| lookup(&u.value)).transpose()?;
    let mut phases = Vec::new();
    for p in &spec.phases {
        if let Some(u) = &p.run_as {
            phases.push((p.name, lookup(&u.value)?));
        }
    }
    Ok(Plan { top, phases, not_applied: None })
}

impl Plan {
    /// Every user a command may run as (for `Policy::run_as_users`).
    pub fn users(&self) -> Vec<(u32, u32)> {
        let mut v: Vec<(u32, u32)> = self.top.iter().chain(self.phases.iter().map(|(_, u)| u)).map(User::ids).filter(|(u, _)| *u != 0).collect();
        v.sort_unstable();
        v.dedup();
        v
    }

    /// The user `phase`'s commands run as (`None`: kiln's own, root inside the namespace).
    pub fn user_for(&self, phase: PhaseName) -> Option<(u32, u32)> {
        self.phases.iter().find(|(p, _)| *p == phase).map(|(_, u)| u).or(self.top.as_ref()).map(User::ids).filter(|(u, _)| *u != 0)
    }

    /// The user of the build's files: the top-level one, else the first phase's.
    pub fn owner(&self) -> Option<(u32, u32)> {
        self.top.as_ref().or(self.phases.first().map(|(_, u)| u)).map(User::ids).filter(|(u, _)| *u != 0)
    }

    /// The users by name, for the record.
    pub fn describe(&self) -> Vec<String> {
        let mut out: Vec<String> = self.top.iter().map(|u| format!("{} (uid {}) for every phase", u.name, u.uid)).collect();
        out.extend(self.phases.iter().map(|(p, u)| format!("{} (uid {}) for {}", u.name, u.uid, p.key())));
        out
    }
}

/// Give `path` and everything under it to `uid:gid`, never following a symbolic link (a link
/// itself changes owner, not its target).
pub fn chown_tree(path: &Path, (uid, gid): (u32, u32)) -> io::Result<()> {
    for entry in walkdir::WalkDir::new(path).follow_links(false) {
        let entry = entry.map_err(io::Error::other)?;
        std::os::unix::fs::lchown(entry.path(), Some(uid), Some(gid))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(text: &str) -> BuildSpec {
        kiln_spec::parse_buildspec(text).spec.expect("valid")
    }

    #[test]
    fn phases_take_their_own_user_or_the_top_level_one() {
        let s = spec("version: 0.2\nrun-as: nobody\nphases:\n  install:\n    commands: [a]\n  build:\n    run-as: root\n    commands: [b]\n");
        let p = plan(&s).unwrap();
        if !nix::unistd::getuid().is_root() {
            assert!(p.not_applied.is_some());
            return;
        }
        let nobody = (65534, 65534);
        assert_eq!(p.user_for(PhaseName::Install), Some(nobody));
        assert_eq!(p.user_for(PhaseName::Build), None, "root runs as kiln's own user");
        assert_eq!(p.user_for(PhaseName::PostBuild), Some(nobody));
        assert_eq!(p.users(), vec![nobody]);
        assert_eq!(p.owner(), Some(nobody));
    }

    #[test]
    fn an_unknown_user_is_named() {
        let s = spec("version: 0.2\nphases:\n  build:\n    run-as: no-such-user-kiln\n    commands: [b]\n");
        match plan(&s) {
            Err(e) => assert!(e.contains("there is no user no-such-user-kiln"), "{e}"),
            Ok(p) => assert!(!nix::unistd::getuid().is_root() && p.not_applied.is_some()),
        }
    }

    #[test]
    fn chown_tree_never_follows_links() {
        if !nix::unistd::getuid().is_root() {
            return;
        }
        use std::os::unix::fs::MetadataExt;
        let d = tempfile::tempdir().unwrap();
        let outside = tempfile::NamedTempFile::new().unwrap();
        std::fs::create_dir(d.path().join("a")).unwrap();
        std::fs::write(d.path().join("a/f"), "x").unwrap();
        std::os::unix::fs::symlink(outside.path(), d.path().join("a/link")).unwrap();
        chown_tree(d.path(), (65534, 65534)).unwrap();
        assert_eq!(std::fs::metadata(d.path().join("a/f")).unwrap().uid(), 65534);
        assert_eq!(std::fs::metadata(outside.path()).unwrap().uid(), 0, "the link's target is not touched");
    }
}
