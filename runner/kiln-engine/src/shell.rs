//! The build's shell session.
//!
//! Buildspec 0.2 promises "all build commands in the same instance of the default shell": `cd`,
//! variables, functions and shell options carry from command to command and phase to phase. kiln runs
//! each command as its own shell process (so each can be confined, timed and killed on its own) and
//! carries the session across processes: before a command the shell loads the state the previous
//! command saved; an `EXIT` trap saves it again, also when the command calls `exit`. For bash the
//! state is every non-readonly variable (`declare -p`), every function (`declare -f`), `set -o` and
//! `shopt` options and the working directory. POSIX `sh` (CodeBuild's default) has no way to list
//! unexported variables or functions, so there the session runs with `set -a` (every assignment is
//! exported) and carries exported variables, `set` flags and the directory; functions do not carry.
//! Version 0.1 runs every command in a fresh shell with no carried state, as CodeBuild documents.

use std::ffi::OsString;
use std::io;
use std::path::{Path, PathBuf};
use std::process::Command;

use kiln_spec::Version;

/// Which shell runs the commands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ShellKind {
    Bash,
    Sh,
}

impl ShellKind {
    /// From `env.shell` (`None` = CodeBuild's Linux default, `/bin/sh`).
    pub fn from_spec(shell: Option<&str>) -> Result<ShellKind, String> {
        match shell {
            None | Some("/bin/sh" | "sh") => Ok(ShellKind::Sh),
            Some("bash") => Ok(ShellKind::Bash),
            Some(other) => Err(format!("the shell `{other}` is for Windows images; kiln runs Linux builds with `bash` or `/bin/sh`")),
        }
    }

    /// The program to run.
    pub fn program(self) -> &'static str {
        match self {
            ShellKind::Bash => "bash",
            ShellKind::Sh => "/bin/sh",
        }
    }
}

const BASH_WRAPPER: &str = r#"# kiln: run one buildspec command inside the build's shell session.
__kiln_dir=$1
__kiln_persist=$3
if [ "$__kiln_persist" = 1 ] && [ -f "$__kiln_dir/state" ]; then . "$__kiln_dir/state"; fi
export CODEBUILD_BUILD_SUCCEEDING=$2
__kiln_save() {
  __kiln_rc=$?
  if [ "$__kiln_persist" = 1 ]; then
    {
      for __kiln_n in $(compgen -v); do
        case $__kiln_n in
          BASH|BASH_*|BASHOPTS|BASHPID|EUID|UID|PPID|SHELLOPTS|FUNCNAME|GROUPS|HISTCMD|LINENO|RANDOM|SECONDS|SRANDOM|EPOCHREALTIME|EPOCHSECONDS|PIPESTATUS|DIRSTACK|COMP_*|_|__kiln_*|OPTIND|OPTARG|PWD|OLDPWD|SHLVL) continue ;;
        esac
        case ${!__kiln_n@a} in *r*) continue ;; esac
        declare -p "$__kiln_n" 2>/dev/null
      done
      declare -f | sed '/^__kiln_save ()/,/^}/d'
      set +o | grep -v -e ' monitor$' -e ' history$'
      shopt -p | grep -v -e login_shell -e restricted_shell
      printf 'cd -- %q 2>/dev/null\n' "$PWD"
    } > "$__kiln_dir/state.new" && mv -f "$__kiln_dir/state.new" "$__kiln_dir/state"
  fi
  exit $__kiln_rc
}
trap __kiln_save EXIT
. "$__kiln_dir/cmd"
"#;

const SH_WRAPPER: &str = r#"# kiln: run one buildspec command inside the build's shell session (POSIX sh).
__kiln_dir=$1
__kiln_persist=$3
if [ "$__kiln_persist" = 1 ] && [ -f "$__kiln_dir/state" ]; then . "$__kiln_dir/state"; fi
export CODEBUILD_BUILD_SUCCEEDING=$2
[ "$__kiln_persist" = 1 ] && set -a
__kiln_save() {
  __kiln_rc=$?
  if [ "$__kiln_persist" = 1 ]; then
    {
      export -p | grep -v -e '^export __kiln_' -e '^export PWD=' -e '^export OLDPWD=' -e '^export PPID='
      case $- in *e*) echo 'set -e' ;; esac
      case $- in *u*) echo 'set -u' ;; esac
      case $- in *x*) echo 'set -x' ;; esac
      case $- in *f*) echo 'set -f' ;; esac
      printf "cd -- '%s' 2>/dev/null\n" "$(printf '%s' "$PWD" | sed "s/'/'\\\\''/g")"
    } > "$__kiln_dir/state.new" && mv -f "$__kiln_dir/state.new" "$__kiln_dir/state"
  fi
  exit $__kiln_rc
}
trap __kiln_save EXIT
. "$__kiln_dir/cmd"
"#;

const QUERY: &str = r#"__kiln_dir=$1
if [ -f "$__kiln_dir/state" ]; then . "$__kiln_dir/state" >/dev/null 2>&1; fi
shift
for __kiln_n in "$@"; do
  eval "__kiln_set=\${$__kiln_n+1}"
  if [ "$__kiln_set" = 1 ]; then eval "printf '%s=%s\\000' \"\$__kiln_n\" \"\$$__kiln_n\""; fi
done
"#;

const EXPAND: &str = r#"__kiln_dir=$1
if [ -f "$__kiln_dir/state" ]; then . "$__kiln_dir/state" >/dev/null 2>&1; fi
shift
for __kiln_e in "$@"; do
  eval "__kiln_r=\"$__kiln_e\"" && printf '%s\000' "$__kiln_r"
done
"#;

/// A build's shell session: where its state lives and how to run a command in it.
pub struct ShellSession {
    kind: ShellKind,
    persistent: bool,
    dir: PathBuf,
    work_dir: PathBuf,
    env: Vec<(OsString, OsString)>,
}

impl ShellSession {
    /// A session whose state is kept in `state_dir`, starting in `work_dir` with exactly `env`.
    pub fn new(kind: ShellKind, version: Version, state_dir: &Path, work_dir: &Path, env: Vec<(OsString, OsString)>) -> io::Result<Self> {
        std::fs::create_dir_all(state_dir)?;
        let wrapper = match kind {
            ShellKind::Bash => BASH_WRAPPER,
            ShellKind::Sh => SH_WRAPPER,
        };
        std::fs::write(state_dir.join("wrapper"), wrapper)?;
        std::fs::write(state_dir.join("query"), QUERY)?;
        std::fs::write(state_dir.join("expand"), EXPAND)?;
        Ok(ShellSession { kind, persistent: version == Version::V0_2, dir: state_dir.to_path_buf(), work_dir: work_dir.to_path_buf(), env })
    }

    pub fn kind(&self) -> ShellKind {
        self.kind
    }

    fn base(&self, script: &str) -> Command {
        let mut cmd = Command::new(self.kind.program());
        if self.kind == ShellKind::Bash {
            cmd.args(["--noprofile", "--norc"]);
        }
        cmd.arg(self.dir.join(script)).arg(&self.dir);
        cmd.env_clear().envs(self.env.iter().map(|(k, v)| (k, v))).current_dir(&self.work_dir);
        cmd.stdin(std::process::Stdio::null());
        cmd
    }

    /// A process that runs `text` in the session. `succeeding` sets `CODEBUILD_BUILD_SUCCEEDING`.
    pub fn command(&self, text: &str, succeeding: bool) -> io::Result<Command> {
        std::fs::write(self.dir.join("cmd"), text)?;
        let mut cmd = self.base("wrapper");
        cmd.arg(if succeeding { "1" } else { "0" }).arg(if self.persistent { "1" } else { "0" });
        Ok(cmd)
    }

    /// A process that prints `NAME=value\0` for each of `names` set in the session's current state.
    pub fn query_command(&self, names: &[String]) -> Command {
        let mut cmd = self.base("query");
        cmd.args(names);
        cmd
    }

    /// A process that expands each of `words` as a double-quoted shell word (variables and `$(…)`)
    /// in the session's current state, printing each result followed by `\0`.
    pub fn expand_command(&self, words: &[String]) -> Command {
        let mut cmd = self.base("expand");
        cmd.args(words);
        cmd
    }
}

/// Split `NAME=value\0…` output of [`ShellSession::query_command`].
pub fn parse_query_output(out: &[u8]) -> Vec<(String, String)> {
    out.split(|b| *b == 0)
        .filter(|r| !r.is_empty())
        .filter_map(|r| {
            let s = String::from_utf8_lossy(r);
            s.split_once('=').map(|(k, v)| (k.to_string(), v.to_string()))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(s: &ShellSession, text: &str) -> (i32, String) {
        let out = s.command(text, true).unwrap().output().unwrap();
        (out.status.code().unwrap_or(-1), String::from_utf8_lossy(&out.stdout).trim().to_string())
    }

    fn session(kind: ShellKind, version: Version) -> (tempfile::TempDir, ShellSession) {
        let t = tempfile::tempdir().unwrap();
        std::fs::create_dir(t.path().join("src")).unwrap();
        let env = vec![("PATH".into(), std::env::var_os("PATH").unwrap()), ("FROM_SPEC".into(), "v".into())];
        let s = ShellSession::new(kind, version, &t.path().join("state"), &t.path().join("src"), env).unwrap();
        (t, s)
    }

    #[test]
    fn bash_session_carries_cd_vars_functions_and_options() {
        let (_t, s) = session(ShellKind::Bash, Version::V0_2);
        assert_eq!(run(&s, "mkdir -p a/b && cd a/b").0, 0);
        assert!(run(&s, "pwd").1.ends_with("/src/a/b"));
        run(&s, "X='two words'; export Y=\"multi\nline\"; arr=(1 2 3); greet() { echo \"hi $1\"; }");
        assert_eq!(run(&s, "echo \"$X|$Y|${arr[2]}\"").1, "two words|multi\nline|3");
        assert_eq!(run(&s, "greet kiln").1, "hi kiln");
        assert_eq!(run(&s, "bash -c 'printf %s \"${Y:-unset}\"'").1, "multi\nline", "exported vars stay exported");
        assert_eq!(run(&s, "set -o pipefail; false | true").0, 1);
        assert_eq!(run(&s, "false | true").0, 1, "pipefail carried over");
        assert_eq!(run(&s, "echo $FROM_SPEC").1, "v");
    }

    #[test]
    fn exit_in_a_command_keeps_state_and_reports_status() {
        let (_t, s) = session(ShellKind::Bash, Version::V0_2);
        assert_eq!(run(&s, "Z=kept; exit 7").0, 7);
        assert_eq!(run(&s, "echo $Z").1, "kept");
    }

    #[test]
    fn sh_session_carries_cd_and_variables() {
        let (_t, s) = session(ShellKind::Sh, Version::V0_2);
        run(&s, "mkdir -p d && cd d; PLAIN=1; export EXP=\"it's\"");
        assert_eq!(run(&s, "echo \"$PLAIN $EXP\"; pwd").1.lines().next().unwrap(), "1 it's");
        assert!(run(&s, "pwd").1.ends_with("/src/d"));
        assert_eq!(run(&s, "set -e; false; echo unreachable").0, 1);
    }

    #[test]
    fn version_0_1_runs_each_command_in_a_fresh_shell() {
        let (_t, s) = session(ShellKind::Bash, Version::V0_1);
        run(&s, "mkdir d; cd d; export V=1");
        assert!(run(&s, "pwd").1.ends_with("/src"));
        assert_eq!(run(&s, "echo ${V:-unset}").1, "unset");
    }

    #[test]
    fn query_and_expand_read_the_session_state() {
        let (_t, s) = session(ShellKind::Bash, Version::V0_2);
        run(&s, "export TAG=v1.2; NOT_EXPORTED=x");
        let out = s.query_command(&["TAG".into(), "NOT_EXPORTED".into(), "MISSING".into()]).output().unwrap();
        assert_eq!(parse_query_output(&out.stdout), vec![("TAG".into(), "v1.2".into()), ("NOT_EXPORTED".into(), "x".into())]);
        let out = s.expand_command(&["app-$TAG".into(), "$(echo sub)-x".into()]).output().unwrap();
        assert_eq!(out.stdout, b"app-v1.2\0sub-x\0");
    }
}
