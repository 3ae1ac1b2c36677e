//! A step plugin for kiln's tests that imports `wasi:http/types` and `wasi:http/outgoing-handler`
//! (as a JS plugin built by componentize-js without `--disable http`, or a Python plugin built
//! against a world that includes wasi:http, does). kiln links no wasi:http, so loading it must
//! fail with an error naming both imports; `run` is never reached.

mod http {
    wit_bindgen::generate!({ path: "wit", world: "imports-http", generate_all });
}

use http::wasi::http::outgoing_handler;
use http::wasi::http::types::{Fields, OutgoingRequest};
use kiln_plugin_sdk::{Error, Step, StepPlugin, export_step};

struct HttpFetch;

impl StepPlugin for HttpFetch {
    type Config = kiln_plugin_sdk::serde_json::Value;
    fn run(step: &mut Step<Self::Config>) -> Result<(), Error> {
        let request = OutgoingRequest::new(Fields::new());
        let _ = request.set_authority(Some("example.com"));
        match outgoing_handler::handle(request, None) {
            Ok(_) => step.set_summary("ESCAPED: sent an HTTP request"),
            Err(e) => step.set_summary(format!("blocked: {e:?}")),
        }
        Ok(())
    }
}

export_step!(HttpFetch, manifest = "kiln-plugin.toml");
