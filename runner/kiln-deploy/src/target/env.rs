//! The environment of a hook script.
//!
//! "During each deployment lifecycle event, hook scripts can access the following environment
//! variables: APPLICATION_NAME, DEPLOYMENT_ID, DEPLOYMENT_GROUP_NAME, DEPLOYMENT_GROUP_ID,
//! LIFECYCLE_EVENT … These environment variables are local to each deployment lifecycle event"
//! (user guide, AppSpec 'hooks' section, "Environment variable availability for hooks"). The
//! agents add `BUNDLE_BUCKET`/`BUNDLE_KEY`/`BUNDLE_VERSION`/`BUNDLE_ETAG` for S3 bundles and
//! `BUNDLE_COMMIT` for GitHub ones, nothing for local bundles (fact sheet §4); a kiln revision is
//! a local bundle, so those five are the whole list. The agent passes its own environment too;
//! kiln's drivers start hooks from a clean one (the sandbox's rule: nothing leaks by default),
//! so only these variables and what the driver documents (PATH, HOME of `runas`) are set.

use kiln_spec::appspec::Event;

/// The deployment's part of the hook environment.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HookContext {
    pub deployment_id: String,
    pub application_name: String,
    pub deployment_group_name: String,
    pub deployment_group_id: String,
}

/// The variables for a hook of `event`, in the user guide's order.
pub fn hook_environment(ctx: &HookContext, event: Event) -> Vec<(String, String)> {
    vec![
        ("APPLICATION_NAME".into(), ctx.application_name.clone()),
        ("DEPLOYMENT_ID".into(), ctx.deployment_id.clone()),
        ("DEPLOYMENT_GROUP_NAME".into(), ctx.deployment_group_name.clone()),
        ("DEPLOYMENT_GROUP_ID".into(), ctx.deployment_group_id.clone()),
        ("LIFECYCLE_EVENT".into(), event.name().to_string()),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_five_variables() {
        let ctx = HookContext {
            deployment_id: "d-AB1CDEF23".into(),
            application_name: "WordPress_App".into(),
            deployment_group_name: "WordPress_DepGroup".into(),
            deployment_group_id: "b1a2189b-dd90-4ef5-8f40-4c1c5EXAMPLE".into(),
        };
        let env = hook_environment(&ctx, Event::AfterInstall);
        let names: Vec<&str> = env.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(names, ["APPLICATION_NAME", "DEPLOYMENT_ID", "DEPLOYMENT_GROUP_NAME", "DEPLOYMENT_GROUP_ID", "LIFECYCLE_EVENT"]);
        assert_eq!(env[4].1, "AfterInstall");
    }
}
