//! What a component imports and exports, and which of its imports a linker does not provide.
//!
//! wasmtime's linker checks every import when it pre-instantiates a component, but it stops at
//! the first one it cannot satisfy, with a message that names wasmtime's internals ("a matching
//! implementation was not found in the linker"). A JavaScript or Python plugin whose toolchain
//! pulled in `wasi:http` then fails obscurely. [`unlinked_imports`] names *every* import the
//! linker does not provide: it typechecks the component against a copy of the linker, and each
//! time an import fails it records it, stands in a trapping stub for it in the copy (the copy is
//! only ever typechecked, never instantiated) and checks again, until the copy satisfies the
//! whole component. The answer is the linker's own, so it cannot drift from what kiln links.

use wasmtime::Engine;
use wasmtime::component::types::{ComponentInstance, ComponentItem};
use wasmtime::component::{Component, Linker, LinkerInstance, ResourceType};

/// One import or export of a component, as `kiln plugin inspect` lists it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct InterfaceItem {
    /// The name (for an interface, `namespace:package/interface@version`).
    pub name: String,
    /// `instance`, `func`, `resource`, `type`, `module`, `component` or `core func`.
    pub kind: &'static str,
    /// For an instance: the resources it holds, in order.
    pub resources: Vec<String>,
    /// For an instance: its functions, in order (resource functions as the component model
    /// names them: `[constructor]fields`, `[method]fields.get`, `[static]…`).
    pub functions: Vec<String>,
    /// For an import that the host does not link: why (the first item it lacks).
    pub unlinked: Option<String>,
}

/// A component's imports and exports (see [`crate::Host::interface`]).
#[derive(Debug, Clone, serde::Serialize)]
pub struct ComponentInterface {
    /// What it imports, in the component's order.
    pub imports: Vec<InterfaceItem>,
    /// What it exports, in the component's order.
    pub exports: Vec<InterfaceItem>,
    /// Whether the imports were checked against a linker (every world kiln runs has one).
    pub checked: bool,
}

impl ComponentInterface {
    /// The imports the host does not link.
    pub fn unlinked(&self) -> impl Iterator<Item = &InterfaceItem> {
        self.imports.iter().filter(|i| i.unlinked.is_some())
    }
}

/// An import a linker does not provide, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnlinkedImport {
    /// The import's name.
    pub name: String,
    /// `instance`, `func`, …
    pub kind: &'static str,
    /// Why, in a few words (the first item it lacks, or how it differs).
    pub reason: String,
}

/// List the component's imports and exports; with a linker, mark the imports it does not link.
pub(crate) fn describe<T: 'static>(
    engine: &Engine,
    component: &Component,
    linker: Option<&Linker<T>>,
) -> ComponentInterface {
    let ty = component.component_type();
    let unlinked = linker.map(|l| unlinked_imports(engine, l, component));
    let item = |name: &str, item: &ComponentItem| {
        let (resources, functions) = match item {
            ComponentItem::ComponentInstance(i) => members(engine, i),
            _ => (Vec::new(), Vec::new()),
        };
        InterfaceItem {
            name: name.to_string(),
            kind: kind(item),
            resources,
            functions,
            unlinked: None,
        }
    };
    let imports = ty
        .imports(engine)
        .map(|(name, e)| {
            let mut it = item(name, &e.ty);
            it.unlinked = unlinked
                .as_ref()
                .and_then(|u| u.iter().find(|u| u.name == name))
                .map(|u| u.reason.clone());
            it
        })
        .collect();
    let exports = ty
        .exports(engine)
        .map(|(name, e)| item(name, &e.ty))
        .collect();
    ComponentInterface {
        imports,
        exports,
        checked: linker.is_some(),
    }
}

fn members(engine: &Engine, instance: &ComponentInstance) -> (Vec<String>, Vec<String>) {
    let (mut resources, mut functions) = (Vec::new(), Vec::new());
    for (name, e) in instance.exports(engine) {
        match e.ty {
            ComponentItem::Resource(_) => resources.push(name.to_string()),
            ComponentItem::ComponentFunc(_) => functions.push(name.to_string()),
            _ => {}
        }
    }
    (resources, functions)
}

fn kind(item: &ComponentItem) -> &'static str {
    match item {
        ComponentItem::ComponentFunc(_) => "func",
        ComponentItem::CoreFunc(_) => "core func",
        ComponentItem::Module(_) => "module",
        ComponentItem::Component(_) => "component",
        ComponentItem::ComponentInstance(_) => "instance",
        ComponentItem::Type(_) => "type",
        ComponentItem::Resource(_) => "resource",
    }
}

/// Every import of `component` that `linker` does not provide (empty when it links them all).
pub(crate) fn unlinked_imports<T: 'static>(
    engine: &Engine,
    linker: &Linker<T>,
    component: &Component,
) -> Vec<UnlinkedImport> {
    let ty = component.component_type();
    let imports: Vec<(&str, ComponentItem)> =
        ty.imports(engine).map(|(n, e)| (n, e.ty)).collect();
    // Each resource the component imports, with the import that introduces it: a later import
    // that mentions it again (`use wasi:io/streams.{input-stream}`) only aliases it, and a stub
    // must not define it a second time.
    let mut introduced: Vec<(ResourceType, usize)> = Vec::new();
    for (i, (_, item)) in imports.iter().enumerate() {
        resources_of(engine, item, &mut |r| {
            if !introduced.iter().any(|(seen, _)| *seen == r) {
                introduced.push((r, i));
            }
        });
    }
    let mut probe = linker.clone();
    probe.allow_shadowing(true);
    let mut found: Vec<UnlinkedImport> = Vec::new();
    // Each round stubs one more import, so this ends after at most one round per import.
    for _ in 0..=imports.len() {
        let Err(e) = probe.substituted_component_type(component) else {
            return found;
        };
        let head = e.to_string();
        let failing = imports
            .iter()
            .enumerate()
            .find(|(_, (name, _))| head.contains(&format!("`{name}`")));
        let Some((index, (name, item))) = failing else {
            // Not an import's error (wasmtime's wording changed?): report it as it is.
            found.push(UnlinkedImport {
                name: "?".into(),
                kind: "?",
                reason: format!("{e:#}"),
            });
            return found;
        };
        if found.iter().any(|u| u.name == *name) {
            // Stubbing it did not satisfy the linker (an import kiln cannot stand in for,
            // e.g. an `async func`): say what is left and stop.
            if let Some(u) = found.iter_mut().find(|u| u.name == *name) {
                u.reason = reason(&e);
            }
            return found;
        }
        found.push(UnlinkedImport {
            name: name.to_string(),
            kind: kind(item),
            reason: reason(&e),
        });
        let own: Vec<ResourceType> = introduced
            .iter()
            .filter(|(_, i)| *i == index)
            .map(|(r, _)| *r)
            .collect();
        let mut defined = Vec::new();
        if stub(engine, &mut probe.root(), name, item, &own, &mut defined).is_err() {
            return found;
        }
    }
    found
}

/// Calls `f` with every resource type `item` holds (nested instances included).
fn resources_of(engine: &Engine, item: &ComponentItem, f: &mut dyn FnMut(ResourceType)) {
    match item {
        ComponentItem::Resource(r) => f(*r),
        ComponentItem::ComponentInstance(i) => {
            for (_, e) in i.exports(engine) {
                resources_of(engine, &e.ty, f);
            }
        }
        _ => {}
    }
}

/// The type of every resource a stub defines (never used: stubs are only typechecked).
struct Stub;

/// Define `name` in `l` as `item` with trapping functions and placeholder resources. Only the
/// resources in `own` (the ones this import introduces) are defined; the others are aliases of
/// resources an earlier import already supplied.
fn stub<T: 'static>(
    engine: &Engine,
    l: &mut LinkerInstance<'_, T>,
    name: &str,
    item: &ComponentItem,
    own: &[ResourceType],
    defined: &mut Vec<ResourceType>,
) -> wasmtime::Result<()> {
    match item {
        ComponentItem::ComponentFunc(_) => {
            let what = name.to_string();
            l.func_new(name, move |_, _, _, _| {
                wasmtime::bail!("`{what}` is not linked by kiln")
            })
        }
        ComponentItem::Resource(r) => {
            if own.contains(r) && !defined.contains(r) {
                defined.push(*r);
                l.resource(name, ResourceType::host::<Stub>(), |_, _| Ok(()))?;
            }
            Ok(())
        }
        ComponentItem::ComponentInstance(i) => {
            let mut inner = l.instance(name)?;
            for (export, e) in i.exports(engine) {
                stub(engine, &mut inner, export, &e.ty, own, defined)?;
            }
            Ok(())
        }
        ComponentItem::Type(_) => Ok(()),
        ComponentItem::Module(_) | ComponentItem::Component(_) | ComponentItem::CoreFunc(_) => {
            wasmtime::bail!("cannot stand in for a {}", kind(item))
        }
    }
}

/// wasmtime's explanation of a failed import, in a few words: the first item kiln lacks
/// (`resource fields`), or how it differs.
fn reason(e: &wasmtime::Error) -> String {
    let chain: Vec<String> = e.chain().map(|c| c.to_string()).collect();
    // The innermost item named: "instance export `fields` has the wrong type".
    let item = chain.iter().rev().find_map(|c| {
        let rest = c.strip_prefix("instance export `")?;
        Some(rest.split('`').next()?.to_string())
    });
    let last = chain.last().map(String::as_str).unwrap_or_default();
    let missing = last.strip_suffix(" implementation is missing");
    match (item, missing) {
        (Some(item), Some(what)) => format!("kiln provides no {what} `{item}` for it"),
        (None, Some(_)) => "kiln provides nothing by that name".into(),
        (Some(item), None) => format!("its `{item}` does not match kiln's: {last}"),
        (None, None) => format!("does not match what kiln provides: {last}"),
    }
}

/// What to do about `unlinked` imports of a plugin of `world` (`kiln:plugin/step@0.1.0`):
/// one line per kind of import.
pub(crate) fn help(unlinked: &[UnlinkedImport], world: &str) -> Vec<String> {
    let names = |pred: &dyn Fn(&str) -> bool| -> Vec<String> {
        unlinked
            .iter()
            .filter(|u| pred(&u.name))
            .map(|u| format!("`{}`", u.name))
            .collect()
    };
    let is_http = |n: &str| n.starts_with("wasi:http/");
    let is_wasi = |n: &str| n.starts_with("wasi:") && !is_http(n);
    let is_kiln = |n: &str| n.starts_with("kiln:");
    let mut help = Vec::new();
    if !names(&is_http).is_empty() {
        help.push(
            "kiln plugins get no network, and kiln links no wasi:http: remove what pulls it in. \
             JavaScript (jco / componentize-js): build with `--disable http --disable fetch-event` \
             (as `kiln plugin build` does) and do not call fetch(); Python (componentize-py): \
             build against kiln's world only (`componentize-py -d wit -w step componentize app`), \
             with no wasi:http in the WIT, and drop packages that need it (an HTTP client's WASI \
             transport); Rust: drop the crate that uses wasi:http"
                .to_string(),
        );
    }
    let wasi = names(&is_wasi);
    if !wasi.is_empty() {
        help.push(format!(
            "kiln links WASI 0.2 (wasi:cli, wasi:clocks, wasi:filesystem, wasi:io, wasi:random, \
             and wasi:sockets with every call refused), not {}: build for WASI 0.2 \
             (wasm32-wasip2) and drop the dependency that needs it",
            wasi.join(", ")
        ));
    }
    let kiln = names(&is_kiln);
    if !kiln.is_empty() {
        help.push(format!(
            "this kiln links the `{world}` world, which does not have {}: build the plugin \
             against that world (wit/kiln-plugin/v0.1.0, as `kiln plugin new` writes it) or \
             run it with a kiln that supports its version",
            kiln.join(", ")
        ));
    }
    let other = names(&|n| !is_http(n) && !is_wasi(n) && !is_kiln(n));
    if !other.is_empty() {
        help.push(format!(
            "kiln links only WASI 0.2 and the `{world}` world, not {}: target that world \
             only, or compose the component that provides it into the plugin first (e.g. \
             `wac plug`)",
            other.join(", ")
        ));
    }
    help
}

#[cfg(test)]
mod tests {
    use super::*;

    fn u(name: &str) -> UnlinkedImport {
        UnlinkedImport { name: name.into(), kind: "instance", reason: String::new() }
    }

    #[test]
    fn help_says_what_to_do_for_each_kind_of_import() {
        let h = help(&[u("wasi:http/types@0.2.3"), u("wasi:http/outgoing-handler@0.2.3")], "kiln:plugin/step@0.1.0");
        assert_eq!(h.len(), 1, "{h:?}");
        assert!(h[0].starts_with("kiln plugins get no network"), "{h:?}");
        assert!(h[0].contains("--disable http") && h[0].contains("componentize-py"), "{h:?}");

        let h = help(&[u("wasi:keyvalue/store@0.2.0"), u("kiln:plugin/signing@0.1.0"), u("acme:db/query")], "kiln:plugin/step@0.1.0");
        assert_eq!(h.len(), 3, "{h:?}");
        assert!(h[0].contains("not `wasi:keyvalue/store@0.2.0`"), "{h:?}");
        assert!(h[1].contains("`kiln:plugin/step@0.1.0` world, which does not have `kiln:plugin/signing@0.1.0`"), "{h:?}");
        assert!(h[2].contains("not `acme:db/query`"), "{h:?}");
    }
}
