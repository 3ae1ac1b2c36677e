//! `noop-step`: returns an empty result at once; used to measure the host's per-call cost.

use kiln_plugin_sdk::{Error, Step, StepPlugin, export_step};

struct Noop;

impl StepPlugin for Noop {
    type Config = kiln_plugin_sdk::serde_json::Value;
    fn run(_step: &mut Step<Self::Config>) -> Result<(), Error> {
        Ok(())
    }
}

export_step!(Noop);
