//! `permissions` (EC2/on-premises, Linux only): object, pattern, except, owner, group, mode,
//! acls, context and type, checked as the CodeDeploy agent checks them before it applies any.
//!
//! Sources: user guide "AppSpec 'permissions' section"; Ruby agent `application_specification.rb`
//! (object required, `type` only `file`/`directory`, refused on Windows), `mode_info.rb` (1–4
//! octal digits), `ace_info.rb` (ACL entries), `context_info.rb` (`type` required, the user read
//! from `name`), `range_info.rb` (SELinux ranges); Rust agent `parse.rs` (the same rules).

use super::model::{AclEntry, AclKind, Mode, ObjectType, Os, Permission, SelinuxContext};
use super::server::exact_fields;
use super::{missing, nonempty};
use crate::model::Spanned;
use crate::read::{Ctx, Field};
use crate::yaml::{Node, NodeKind};

const KEYS: [&str; 9] = ["object", "pattern", "except", "owner", "group", "mode", "acls", "context", "type"];

pub(super) fn permissions(cx: &mut Ctx, f: &Field, os: Option<Os>) -> Vec<Permission> {
    let items = match &f.value.kind {
        _ if f.value.is_null() => return Vec::new(),
        NodeKind::Seq(items) => items,
        _ => {
            cx.expected("permissions", "a list of `- object: …` entries", f.value);
            return Vec::new();
        }
    };
    if os == Some(Os::Windows) && !items.is_empty() {
        let d = cx.error("E1200", "`permissions` applies to Linux instances only; CodeDeploy fails a Windows deployment that has it".into(), f.key_node.span);
        d.label = Some("not allowed with `os: windows`".into());
        d.help = Some("remove `permissions`, and set Windows permissions in a hook script (e.g. with icacls in AfterInstall)".into());
        return Vec::new();
    }
    items.iter().filter(|i| !i.is_null()).filter_map(|i| permission(cx, i)).collect()
}

fn permission(cx: &mut Ctx, item: &Node) -> Option<Permission> {
    if !matches!(item.kind, NodeKind::Map(_)) {
        cx.expected("an entry of permissions", "a mapping with `object`", item);
        return None;
    }
    let mut p = Permission { object: Spanned::default(), pattern: None, except: Vec::new(), owner: None, group: None, mode: None, acls: Vec::new(), context: None, types: vec![ObjectType::File, ObjectType::Directory] };
    let mut object = None;
    for f in exact_fields(cx, item, "permissions", &KEYS) {
        let what = format!("permissions[].{}", f.key);
        match f.key {
            "object" => object = Some(nonempty(cx, f.value, &what, "E1201")),
            "pattern" => p.pattern = cx.string(f.value, &what),
            "except" => p.except = list(cx, f.value, &what),
            "owner" => p.owner = cx.string(f.value, &what),
            "group" => p.group = cx.string(f.value, &what),
            "mode" => p.mode = mode(cx, f.value),
            "acls" => {
                for entry in list(cx, f.value, &what) {
                    match parse_acl(&entry.value) {
                        Ok(acl) => p.acls.push(Spanned::new(acl, entry.span)),
                        Err((code, why)) => {
                            let d = cx.error(code, format!("invalid ACL entry `{}`: {why}", entry.value), entry.span);
                            d.label = Some("refused by the CodeDeploy agent".into());
                            d.help = Some(if code == "E1207" {
                                "set the owner's, group's and others' own permissions with `mode`; ACL entries name a user or group (`u:bob:rw`), or are `m::rw` masks".into()
                            } else {
                                "write `[d:][u|g|m|o:]name:perms`, e.g. `u:bob:rw`, `g:web:r-x`, `m::rw`, `d:u:bob:rwx`; perms are r, w, x, - or one octal digit".into()
                            });
                        }
                    }
                }
            }
            "context" => p.context = context(cx, f.value),
            _ => {
                let types: Vec<Option<Spanned<ObjectType>>> =
                    list_nodes(cx, f.value, &what).into_iter().map(|n| cx.one_of(n, &what, &[("file", ObjectType::File), ("directory", ObjectType::Directory)], "E1203")).collect();
                p.types = types.into_iter().flatten().map(|t| t.value).collect();
            }
        }
    }
    match object {
        None => missing(cx, "E1201", item, "permissions[]", "object", "add `object:`: the file or directory on the instance the entry applies to".into()),
        Some(o) => p.object = o?,
    }
    Some(p)
}

/// A list the agents iterate: a single scalar makes the Ruby agent fail with UnknownError
/// (`undefined method 'each'`, agent issue #369) and the Rust agent refuse the file.
fn list_nodes<'n>(cx: &mut Ctx, node: &'n Node, what: &str) -> Vec<&'n Node> {
    match &node.kind {
        _ if node.is_null() => Vec::new(),
        NodeKind::Seq(items) => items.iter().filter(|i| !i.is_null()).collect(),
        NodeKind::Scalar { value, .. } => {
            let d = cx.error("E1202", format!("`{what}` must be a list, found the single value `{value}`"), node.span);
            d.label = Some("expected a list".into());
            d.help = Some(format!("write `[{value}]`, or `- {value}` on the next line; the CodeDeploy agent fails on a single value (agent issue #369)"));
            Vec::new()
        }
        NodeKind::Map(_) => {
            cx.expected(what, "a list", node);
            Vec::new()
        }
    }
}

fn list(cx: &mut Ctx, node: &Node, what: &str) -> Vec<Spanned<String>> {
    let item = format!("an item of {what}");
    list_nodes(cx, node, what).into_iter().filter_map(|n| cx.string(n, &item)).collect()
}

/// `mode`: 1 to 4 octal digits (left-padded to 3), as `mode_info.rb` requires.
fn mode(cx: &mut Ctx, node: &Node) -> Option<Spanned<Mode>> {
    let NodeKind::Scalar { value, plain } = &node.kind else {
        cx.expected("permissions[].mode", "an octal mode such as 644", node);
        return None;
    };
    let text = value.trim();
    let problem = if text.is_empty() {
        Some("it is empty".to_string())
    } else if let Some(c) = text.chars().find(|c| !('0'..='7').contains(c)) {
        Some(format!("`{c}` is not an octal digit"))
    } else if text.len() > 4 {
        Some(format!("it has {} digits; a mode has 1 to 4", text.len()))
    } else {
        None
    };
    if let Some(problem) = problem {
        let d = cx.error("E1204", format!("invalid `mode` `{text}`: {problem}"), node.span);
        d.label = Some("expected an octal mode such as 644, 755 or 4755".into());
        d.help = Some("write the mode as octal digits like chmod's (644, 0755); symbolic modes such as u+x are not supported".into());
        return None;
    }
    if *plain && text.len() > 1 && text.starts_with('0') {
        let d = cx.warn("W1205", format!("an unquoted `mode: {text}` is read as an octal number by the CodeDeploy Ruby agent, which then applies the wrong mode"), node.span);
        d.label = Some("leading zero".into());
        let short = match text.trim_start_matches('0') {
            "" => "0",
            s => s,
        };
        d.help = Some(format!("write `mode: {short}` or quote it: `mode: \"{text}\"` (the user guide's advice)"));
    }
    let bits = u32::from_str_radix(text, 8).ok()?;
    Some(Spanned::new(Mode(bits), node.span))
}

/// One ACL entry, as `ace_info.rb` reads it: `[d|default:][u|user|g|group|m|mask|o|other:]name:perms`.
/// The error carries its code: E1207 for an unnamed user/group/other entry, E1206 otherwise.
pub(super) fn parse_acl(text: &str) -> Result<AclEntry, (&'static str, String)> {
    let bad = |why: &str| Err(("E1206", why.to_string()));
    let parts: Vec<&str> = text.split(':').collect();
    if !(2..=4).contains(&parts.len()) {
        return bad("an entry has 2 to 4 parts separated by `:`");
    }
    let is_default = |p: &str| matches!(p, "d" | "default");
    let mut default = false;
    let mut kind = None;
    let mut rest = &parts[..];
    if rest.len() == 4 {
        if !is_default(rest[0]) {
            return bad("with 4 parts the first must be `d` or `default`");
        }
        default = true;
        rest = &rest[1..];
    }
    if rest.len() == 3 {
        if is_default(rest[0]) {
            if default {
                return bad("`default` is given twice");
            }
            default = true;
        } else {
            kind = Some(match rest[0] {
                "u" | "user" => AclKind::User,
                "g" | "group" => AclKind::Group,
                "m" | "mask" => AclKind::Mask,
                "o" | "other" => AclKind::Other,
                other => return bad(&format!("`{other}` is not an entry type (u, g, m, o or user, group, mask, other)")),
            });
        }
        rest = &rest[1..];
    }
    let (name_part, perms) = (rest[0], rest[1]);
    let mut name = String::new();
    match (name_part, kind) {
        ("m" | "mask", None) => kind = Some(AclKind::Mask),
        ("o" | "other", None) => kind = Some(AclKind::Other),
        (n, k) => {
            kind = Some(k.unwrap_or(AclKind::User));
            name = n.to_string();
        }
    }
    let kind = kind.unwrap_or(AclKind::User);
    if matches!(kind, AclKind::Mask | AclKind::Other) && !name.is_empty() {
        return bad("a mask or other entry takes no name");
    }
    if !default && kind != AclKind::Mask && name.is_empty() {
        return Err(("E1207", "an entry without a user or group name sets the base permissions, which CodeDeploy refuses".into()));
    }
    let (mut read, mut write, mut execute) = (false, false, false);
    if perms.len() == 1 && perms.as_bytes()[0].is_ascii_digit() && perms.as_bytes()[0] <= b'7' {
        let bits = perms.as_bytes()[0] - b'0';
        (read, write, execute) = (bits & 4 != 0, bits & 2 != 0, bits & 1 != 0);
    } else {
        for c in perms.chars() {
            match c {
                'r' => read = true,
                'w' => write = true,
                'x' => execute = true,
                '-' => {}
                other => return bad(&format!("`{other}` is not a permission (r, w, x, - or one octal digit)")),
            }
        }
    }
    Ok(AclEntry { default, kind, name, read, write, execute })
}

/// `context`: `type` required; the user from `name` (what the agents read) or `user` (what the
/// user guide documents, which the agents ignore: kiln reads it and warns).
fn context(cx: &mut Ctx, node: &Node) -> Option<SelinuxContext> {
    let (mut user, mut name, mut type_, mut range) = (None, None, None, None);
    for f in exact_fields(cx, node, "permissions[].context", &["user", "name", "type", "range"]) {
        let what = format!("permissions[].context.{}", f.key);
        match f.key {
            "user" => {
                user = cx.string(f.value, &what);
                let d = cx.warn("W1210", "the CodeDeploy agents read the SELinux user from `name` and ignore `user` (although the user guide documents `user`)".into(), f.key_node.span);
                d.label = Some("ignored by the CodeDeploy agent".into());
                d.help = Some("write `name:` instead of `user:` so CodeDeploy applies it too; kiln reads either".into());
            }
            "name" => name = cx.string(f.value, &what),
            "type" => type_ = Some(nonempty(cx, f.value, &what, "E1208")),
            _ => {
                range = cx.string(f.value, &what);
                if let Some(r) = &range
                    && let Err(why) = check_range(r.value.trim())
                {
                    let d = cx.error("E1209", format!("invalid SELinux range `{}`: {why}", r.value), r.span);
                    d.label = Some("refused by the CodeDeploy agent".into());
                    d.help = Some("write `s<n>[-s<n>][:c<n>[.c<n>][,…]]`, e.g. `s0` or `s0-s1:c0.c1023` (categories up to c1023)".into());
                    range = None;
                }
            }
        }
    }
    let Some(type_) = type_ else {
        let d = cx.error("E1208", "`permissions[].context` has no `type`".into(), crate::read::anchor(node));
        d.label = Some("`type` is required here".into());
        d.help = Some("add the SELinux type, e.g. `type: httpd_sys_content_t`; the CodeDeploy agent refuses a context without it".into());
        return None;
    };
    Some(SelinuxContext { user: name.or(user), type_: type_?, range })
}

/// An SELinux MLS/MCS range as `range_info.rb` checks it: `s#[-s#][:c#[.c#](,c#[.c#])*]`, high
/// sensitivity ≥ low, categories ≤ c1023, no category twice.
pub(super) fn check_range(range: &str) -> Result<(), String> {
    fn num(part: &str, prefix: char, what: &str) -> Result<u32, String> {
        part.strip_prefix(prefix)
            .filter(|d| !d.is_empty() && d.bytes().all(|b| b.is_ascii_digit()))
            .and_then(|d| d.parse().ok())
            .ok_or_else(|| format!("`{part}` is not a {what} (`{prefix}` and a number)"))
    }
    let (levels, categories) = match range.split_once(':') {
        Some((l, c)) => (l, Some(c)),
        None => (range, None),
    };
    let (low, high) = match levels.split_once('-') {
        Some((l, h)) => (num(l, 's', "sensitivity")?, num(h, 's', "sensitivity")?),
        None => {
            let l = num(levels, 's', "sensitivity")?;
            (l, l)
        }
    };
    if high < low {
        return Err(format!("the high sensitivity s{high} is below the low one s{low}"));
    }
    let Some(categories) = categories else { return Ok(()) };
    let mut seen = Vec::new();
    for part in categories.split(',') {
        let (lo, hi) = match part.split_once('.') {
            Some((a, b)) => (num(a, 'c', "category")?, num(b, 'c', "category")?),
            None => {
                let c = num(part, 'c', "category")?;
                (c, c)
            }
        };
        if lo > 1023 || hi > 1023 {
            return Err(format!("`{part}`: categories go up to c1023"));
        }
        if hi < lo {
            return Err(format!("`{part}`: the range ends before it starts"));
        }
        for c in lo..=hi {
            if seen.contains(&c) {
                return Err(format!("category c{c} is given twice"));
            }
            seen.push(c);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn acl_entries_as_the_agent_reads_them() {
        let ok = |s: &str| parse_acl(s).map(|a| a.to_setfacl()).map_err(|e| e.1);
        assert_eq!(ok("u:bob:rw"), Ok("user:bob:rw-".into()));
        assert_eq!(ok("bob:7"), Ok("user:bob:rwx".into()));
        assert_eq!(ok("g:web:r-x"), Ok("group:web:r-x".into()));
        assert_eq!(ok("m::rw"), Ok("mask::rw-".into()));
        assert_eq!(ok("d:u:bob:rwx"), Ok("default:user:bob:rwx".into()));
        assert_eq!(ok("default:o::r"), Ok("default:other::r--".into()));
        assert_eq!(ok("d:bob:r"), Ok("default:user:bob:r--".into()));
        assert_eq!(parse_acl("u::rwx").unwrap_err().0, "E1207");
        assert_eq!(parse_acl("o::r--").unwrap_err().0, "E1207");
        assert_eq!(parse_acl("g::r").unwrap_err().0, "E1207");
        for bad in ["rw", "a:b:c:d:e", "x:bob:rw", "m:bob:rw", "u:bob:rwz", "d:d:bob:r", "q:u:bob:r"] {
            assert_eq!(parse_acl(bad).unwrap_err().0, "E1206", "{bad}");
        }
    }

    #[test]
    fn selinux_ranges_as_the_agent_checks_them() {
        for ok in ["s0", "s0-s1", "s0:c0", "s0-s15:c0.c1023", "s1:c0,c5,c7.c9"] {
            assert_eq!(check_range(ok), Ok(()), "{ok}");
        }
        for bad in ["", "s", "0", "s1-s0", "s0:", "s0:c1024", "s0:c5.c1", "s0:c1,c1", "s0:c0.c3,c2", "s0-", "sx"] {
            assert!(check_range(bad).is_err(), "{bad}");
        }
    }
}
