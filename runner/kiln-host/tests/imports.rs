//! Imports kiln does not link: a plugin that imports `wasi:http` (as a JS or Python plugin
//! built with HTTP support does) is refused when it is loaded, with an error naming every
//! such import, the plugin and what to do; `Host::interface` lists a component's imports and
//! exports and marks the same imports.

mod common;

use common::host;
use kiln_host::builtin::{self, test_components};
use kiln_host::{Manifest, PluginError, PluginSource, World, read_source};

// The plugin's WIT says 0.2.3; the toolchain's component linker may merge it with the newer
// 0.2.x the standard library imports, so only the name and the 0.2 line are fixed.
const HTTP_IMPORTS: [&str; 2] = ["wasi:http/types@0.2.", "wasi:http/outgoing-handler@0.2."];

fn names_match(names: &[&str]) -> bool {
    names.len() == HTTP_IMPORTS.len() && names.iter().zip(HTTP_IMPORTS).all(|(n, p)| n.starts_with(p))
}

fn http_plugin() -> PluginSource {
    PluginSource::bytes("test-http-import.wasm", test_components::TEST_HTTP_IMPORT)
}

#[test]
fn a_plugin_importing_wasi_http_is_refused_naming_each_import_and_what_to_do() {
    let e = host().load(http_plugin()).unwrap_err();
    let msg = e.to_string();
    let PluginError::UnlinkedImports { plugin, world, imports, help } = &e else {
        panic!("expected UnlinkedImports, got {e:?}");
    };
    assert_eq!(plugin, "http-fetch");
    assert_eq!(world, "kiln:plugin/step@0.1.0");
    let names: Vec<&str> = imports.iter().map(|i| i.name.as_str()).collect();
    assert!(names_match(&names), "only the wasi:http imports, in order: {names:?}\n{msg}");
    assert!(imports.iter().all(|i| i.kind == "instance"), "{imports:?}");
    assert_eq!(imports[0].reason, "kiln provides no resource `fields` for it", "{msg}");
    assert_eq!(imports[1].reason, "kiln provides no function `handle` for it", "{msg}");
    assert_eq!(help.len(), 1, "{help:?}");

    let first = msg.lines().next().unwrap();
    assert_eq!(
        first,
        "plugin http-fetch: cannot run: it imports 2 interfaces that kiln does not link:"
    );
    for needle in [
        " (instance): kiln provides no resource `fields` for it",
        " (instance): kiln provides no function `handle` for it",
        "help: kiln plugins get no network, and kiln links no wasi:http",
        "`--disable http --disable fetch-event`",
        "componentize-py -d wit -w step",
        "`kiln plugin inspect PLUGIN` lists every import",
    ] {
        assert!(msg.contains(needle), "`{needle}` missing from\n{msg}");
    }
    assert!(!msg.contains("matching implementation was not found"), "wasmtime's wording leaked: {msg}");
}

#[test]
fn a_step_loaded_as_a_signer_names_the_kiln_imports_the_signer_world_lacks() {
    // hello-step reports progress, which the signer world does not have.
    let info = read_source(builtin::get("hello-step").unwrap()).unwrap();
    let mut manifest: Manifest = info.manifest.clone();
    manifest.world = World::Signer;
    let src = PluginSource::bytes("hello-step", info.bytes.clone()).with_manifest(manifest);
    let e = host().load_signer(src).unwrap_err();
    let PluginError::UnlinkedImports { imports, help, .. } = &e else {
        panic!("expected UnlinkedImports, got {e:?}");
    };
    let names: Vec<&str> = imports.iter().map(|i| i.name.as_str()).collect();
    assert_eq!(names, ["kiln:plugin/progress@0.1.0"], "{e}");
    assert!(
        help[0].contains("`kiln:plugin/signer@0.1.0` world, which does not have `kiln:plugin/progress@0.1.0`"),
        "{e}"
    );
}

#[test]
fn interface_lists_imports_and_exports_and_marks_the_unlinked_ones() {
    let info = read_source(http_plugin()).unwrap();
    let i = host().interface(&info).unwrap();
    assert!(i.checked);
    let unlinked: Vec<&str> = i.unlinked().map(|u| u.name.as_str()).collect();
    assert!(names_match(&unlinked), "{unlinked:?}");
    let types = i.imports.iter().find(|x| x.name.starts_with(HTTP_IMPORTS[0])).unwrap();
    assert_eq!(types.kind, "instance");
    for r in ["fields", "outgoing-request", "request-options", "future-incoming-response"] {
        assert!(types.resources.iter().any(|x| x == r), "{r} missing: {:?}", types.resources);
    }
    assert!(
        types.functions.contains(&"[constructor]fields".to_string())
            && types.functions.contains(&"[method]outgoing-request.set-authority".to_string()),
        "{types:?}"
    );
    let handler = i.imports.iter().find(|x| x.name.starts_with(HTTP_IMPORTS[1])).unwrap();
    assert_eq!(handler.functions, ["handle"]);
    // What kiln does link is listed, not marked.
    for linked in ["kiln:plugin/config@0.1.0", "wasi:cli/environment@", "wasi:io/streams@"] {
        let item = i.imports.iter().find(|x| x.name.starts_with(linked)).unwrap_or_else(|| panic!("{linked} not imported: {i:?}"));
        assert_eq!(item.unlinked, None, "{item:?}");
    }
    assert_eq!(i.exports.len(), 1, "{:?}", i.exports);
    assert_eq!(i.exports[0].name, "kiln:plugin/step-plugin@0.1.0");
    assert_eq!(i.exports[0].kind, "instance");
    assert_eq!(i.exports[0].functions, ["run"]);
}

#[test]
fn every_built_in_plugin_links_completely() {
    for name in builtin::NAMES {
        let info = read_source(builtin::get(name).unwrap()).unwrap();
        let i = host().interface(&info).unwrap();
        assert!(i.checked && !i.imports.is_empty(), "{name}");
        let unlinked: Vec<_> = i.unlinked().collect();
        assert!(unlinked.is_empty(), "{name}: {unlinked:?}");
    }
}
