//! The EC2/on-premises AppSpec: `os`, `files`, `file_exists_behavior` (the top-level key, a
//! sibling of `files`), then `permissions` and `hooks` in their own modules.
//!
//! Source: user guide "AppSpec 'files' section" ("source … relative to the root of the
//! revision … destination … The location on the instance where the files should be copied");
//! the agents' `FileInfo` / `RawFileMapping` (source and destination both required, non-empty).

use super::model::{FileExistsBehavior, FileMapping, Os, ServerAppSpec};
use super::{anchor, hooks, inside_revision, missing, nonempty, permissions};
use crate::model::Spanned;
use crate::read::{Ctx, Field, KeyCase};
use crate::yaml::{Node, NodeKind};

pub(super) fn server(cx: &mut Ctx, root: &Node, fields: &[Field]) -> Option<ServerAppSpec> {
    let get = |k: &str| fields.iter().find(|f| f.key == k);
    let os = match get("os") {
        Some(f) => os(cx, f.value),
        None => {
            let d = cx.error("E1030", "the AppSpec file has no `os`".into(), anchor(root));
            d.label = Some("an EC2/on-premises AppSpec file needs `os`".into());
            d.help = Some("add `os: linux` (or `os: windows`) after `version`; a file for ECS or Lambda needs `Resources` instead".into());
            None
        }
    };
    let os_value = os.as_ref().map(|o| o.value);
    let files = get("files").map(|f| files(cx, f.value, os_value)).unwrap_or_default();
    let file_exists_behavior = get("file_exists_behavior").and_then(|f| file_exists_behavior(cx, f.value));
    let permissions = get("permissions").map(|f| permissions::permissions(cx, f, os_value)).unwrap_or_default();
    let hooks = get("hooks").map(|f| hooks::server_hooks(cx, f.value, os_value)).unwrap_or_default();
    Some(ServerAppSpec { os: os?, files, file_exists_behavior, permissions, hooks })
}

/// The entries of an EC2/on-premises mapping: the agents read keys by exact name, so a key that
/// differs only in case is an error (it would be ignored), not a match.
pub(super) fn exact_fields<'n>(cx: &mut Ctx, node: &'n Node, what: &str, allowed: &[&'n str]) -> Vec<Field<'n>> {
    let mut out = Vec::new();
    for f in cx.fields_cased(node, what, allowed, KeyCase::Insensitive) {
        let written = f.key_node.as_scalar().unwrap_or(f.key);
        if written == f.key {
            out.push(f);
            continue;
        }
        let d = cx.error("E1020", format!("`{written}` in `{what}` is not read by CodeDeploy: EC2/on-premises AppSpec keys are case-sensitive"), f.key_node.span);
        d.label = Some(format!("write `{}`", f.key));
        d.help = Some(format!("rename it to `{}`; the CodeDeploy agent looks keys up by their exact name and silently ignores `{written}`", f.key));
    }
    out
}

fn os(cx: &mut Ctx, node: &Node) -> Option<Spanned<Os>> {
    cx.one_of(node, "os", &[("linux", Os::Linux), ("windows", Os::Windows)], "E1031")
}

fn file_exists_behavior(cx: &mut Ctx, node: &Node) -> Option<Spanned<FileExistsBehavior>> {
    use FileExistsBehavior::*;
    cx.one_of(node, "file_exists_behavior", &[("DISALLOW", Disallow), ("OVERWRITE", Overwrite), ("RETAIN", Retain)], "E1040")
}

/// Keys that people put in a `files` entry although they belong elsewhere.
const MISPLACED_FILE_KEYS: [&str; 5] = ["mode", "owner", "group", "overwrite", "file_exists_behavior"];

fn files(cx: &mut Ctx, node: &Node, os: Option<Os>) -> Vec<FileMapping> {
    let items = match &node.kind {
        _ if node.is_null() => return Vec::new(),
        NodeKind::Seq(items) => items,
        _ => {
            cx.expected("files", "a list of `- source: … destination: …` entries", node);
            return Vec::new();
        }
    };
    let mut out = Vec::new();
    for item in items {
        if !matches!(item.kind, NodeKind::Map(_)) {
            cx.expected("an entry of files", "a mapping with `source` and `destination`", item);
            continue;
        }
        let mut allowed = vec!["source", "destination"];
        allowed.extend(MISPLACED_FILE_KEYS);
        let (mut source, mut destination) = (None, None);
        let (mut has_source, mut has_destination) = (false, false);
        for f in exact_fields(cx, item, "files", &allowed) {
            match f.key {
                "source" => {
                    has_source = true;
                    source = nonempty(cx, f.value, "files[].source", "E1101");
                }
                "destination" => {
                    has_destination = true;
                    destination = nonempty(cx, f.value, "files[].destination", "E1102");
                }
                key => {
                    let d = cx.warn("W1105", format!("`{key}` does not belong in a `files` entry; CodeDeploy ignores it"), f.key_node.span);
                    d.label = Some("not a `files` key".into());
                    d.help = Some(if matches!(key, "overwrite" | "file_exists_behavior") {
                        "use the top-level `file_exists_behavior: OVERWRITE` (a sibling of `files`, not inside an entry)".into()
                    } else {
                        format!("set it in a `permissions` entry for the destination, e.g. `permissions: [{{object: <destination>, {key}: …}}]`")
                    });
                }
            }
        }
        if !has_source {
            missing(cx, "E1101", item, "files[]", "source", "add `source:`: the file or directory in the revision to copy (`/` for all of it)".into());
        }
        if !has_destination {
            missing(cx, "E1102", item, "files[]", "destination", "add `destination:`: the absolute directory on the instance to copy into".into());
        }
        let (Some(source), Some(destination)) = (source, destination) else { continue };
        inside_revision(cx, &source, "files[].source", "E1104");
        if !is_absolute(&destination.value, os) {
            let d = cx.error("E1103", format!("`files[].destination` `{}` is not an absolute path", destination.value), destination.span);
            d.label = Some("expected an absolute directory on the instance".into());
            d.help = Some(match os {
                Some(Os::Windows) => "write the full path, e.g. `C:\\inetpub\\wwwroot`".into(),
                _ => format!("write the full path, e.g. `/{}`", destination.value.trim_start_matches("./")),
            });
        }
        out.push(FileMapping { source, destination });
    }
    out
}

/// Whether a destination is absolute for `os`: `/…` on Linux; `C:\…`, `C:/…`, `\\…` (or `/…`) on
/// Windows.
fn is_absolute(path: &str, os: Option<Os>) -> bool {
    let b = path.as_bytes();
    let drive = b.len() >= 3 && b[0].is_ascii_alphabetic() && b[1] == b':' && matches!(b[2], b'\\' | b'/');
    match os {
        Some(Os::Windows) => drive || path.starts_with('\\') || path.starts_with('/'),
        _ => path.starts_with('/'),
    }
}
