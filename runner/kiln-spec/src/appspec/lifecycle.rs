//! CodeDeploy's lifecycle events and the order they run in, per compute platform and deployment
//! type, as data. The deploy engine asks [`lifecycle`] for the events of one target and runs them
//! in that order: a hookable event runs the appspec's scripts (EC2/on-premises) or Lambda hook
//! (ECS, Lambda); a reserved one ([`Event::is_reserved`]) is work kiln does itself (download the
//! revision, install its files, block or allow traffic).
//!
//! Sources. The user guide's order diagrams are images; the orders come from its hook
//! availability table and event lists, which agree with the CodeDeploy agent's
//! `DEFAULT_ORDERED_LIFECYCLE_EVENTS` (aws/aws-codedeploy-agent, `lib/aws/codedeploy/local/deployer.rb`):
//!
//! > Lifecycle event hook availability (user guide, "AppSpec 'hooks' section", EC2/On-Premises):
//! >
//! > | Lifecycle event name | In-place deployment¹ | Blue/green: Original instances | Blue/green: Replacement instances | Blue/green rollback: Original instances | Blue/green rollback: Replacement instances |
//! > |---|---|---|---|---|---|
//! > | ApplicationStop | ✓ | | ✓ | | |
//! > | DownloadBundle² | ✓ | | ✓ | | |
//! > | BeforeInstall | ✓ | | ✓ | | |
//! > | Install² | ✓ | | ✓ | | |
//! > | AfterInstall | ✓ | | ✓ | | |
//! > | ApplicationStart | ✓ | | ✓ | | |
//! > | ValidateService | ✓ | | ✓ | | |
//! > | BeforeBlockTraffic | ✓ | ✓ | | | ✓ |
//! > | BlockTraffic² | ✓ | ✓ | | | ✓ |
//! > | AfterBlockTraffic | ✓ | ✓ | | | ✓ |
//! > | BeforeAllowTraffic | ✓ | | ✓ | ✓ | |
//! > | AllowTraffic² | ✓ | | ✓ | ✓ | |
//! > | AfterAllowTraffic | ✓ | | ✓ | ✓ | |
//! >
//! > ¹Also applies to the rollback of an in-place deployment. ² Reserved for CodeDeploy operations.
//! > Cannot be used to run scripts.
//! >
//! > For in-place deployments, the six hooks related to blocking and allowing traffic apply only if
//! > you specify a Classic Load Balancer, Application Load Balancer, or Network Load Balancer from
//! > Elastic Load Balancing in the deployment group.
//!
//! ECS: "BeforeInstall … AfterInstall … AfterAllowTestTraffic … BeforeAllowTraffic …
//! AfterAllowTraffic" with "The Start, Install, TestTraffic, AllowTraffic, and End events in the
//! deployment cannot be scripted" (the API and the event table call TestTraffic `AllowTestTraffic`;
//! kiln uses that name). Lambda: "BeforeAllowTraffic … AfterAllowTraffic" with "The Start,
//! AllowTraffic, and End events in the deployment cannot be scripted". Start and End are diagram
//! markers, not events an instance reports, so they are not in the lists (a hook named after them
//! is refused as reserved).

use serde::Serialize;

/// A CodeDeploy lifecycle event, by its CodeDeploy name.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub enum Event {
    ApplicationStop,
    DownloadBundle,
    BeforeInstall,
    Install,
    AfterInstall,
    ApplicationStart,
    ValidateService,
    BeforeBlockTraffic,
    BlockTraffic,
    AfterBlockTraffic,
    BeforeAllowTraffic,
    AllowTraffic,
    AfterAllowTraffic,
    AllowTestTraffic,
    AfterAllowTestTraffic,
}

impl Event {
    /// Every event.
    pub const ALL: [Event; 15] = [
        Event::ApplicationStop,
        Event::DownloadBundle,
        Event::BeforeInstall,
        Event::Install,
        Event::AfterInstall,
        Event::ApplicationStart,
        Event::ValidateService,
        Event::BeforeBlockTraffic,
        Event::BlockTraffic,
        Event::AfterBlockTraffic,
        Event::BeforeAllowTraffic,
        Event::AllowTraffic,
        Event::AfterAllowTraffic,
        Event::AllowTestTraffic,
        Event::AfterAllowTestTraffic,
    ];

    /// The event's CodeDeploy name (`AfterInstall`), as appspecs, `LIFECYCLE_EVENT` and the API write it.
    pub fn name(self) -> &'static str {
        match self {
            Event::ApplicationStop => "ApplicationStop",
            Event::DownloadBundle => "DownloadBundle",
            Event::BeforeInstall => "BeforeInstall",
            Event::Install => "Install",
            Event::AfterInstall => "AfterInstall",
            Event::ApplicationStart => "ApplicationStart",
            Event::ValidateService => "ValidateService",
            Event::BeforeBlockTraffic => "BeforeBlockTraffic",
            Event::BlockTraffic => "BlockTraffic",
            Event::AfterBlockTraffic => "AfterBlockTraffic",
            Event::BeforeAllowTraffic => "BeforeAllowTraffic",
            Event::AllowTraffic => "AllowTraffic",
            Event::AfterAllowTraffic => "AfterAllowTraffic",
            Event::AllowTestTraffic => "AllowTestTraffic",
            Event::AfterAllowTestTraffic => "AfterAllowTestTraffic",
        }
    }

    /// The event named exactly `name` (names are case-sensitive).
    pub fn from_name(name: &str) -> Option<Event> {
        Event::ALL.into_iter().find(|e| e.name() == name)
    }

    /// Reserved for CodeDeploy (kiln) itself: no script or hook function can run in it.
    pub fn is_reserved(self) -> bool {
        matches!(self, Event::DownloadBundle | Event::Install | Event::BlockTraffic | Event::AllowTraffic | Event::AllowTestTraffic)
    }

    /// Whether an appspec for `platform` may attach scripts or a hook function to this event:
    /// it occurs in one of the platform's lifecycles and is not reserved.
    pub fn is_hookable(self, platform: ComputePlatform) -> bool {
        !self.is_reserved() && occurs_on(platform, self)
    }
}

impl std::fmt::Display for Event {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// What a deployment runs on: the API's `ComputePlatform`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
pub enum ComputePlatform {
    /// EC2 instances and on-premises servers (the API's `Server`).
    Server,
    #[serde(rename = "ECS")]
    Ecs,
    Lambda,
}

impl ComputePlatform {
    /// How messages name the platform: "EC2/on-premises", "ECS", "Lambda".
    pub fn describe(self) -> &'static str {
        match self {
            ComputePlatform::Server => "EC2/on-premises",
            ComputePlatform::Ecs => "ECS",
            ComputePlatform::Lambda => "Lambda",
        }
    }

    /// The name with its article, for messages: "an EC2/on-premises", "an ECS", "a Lambda".
    pub fn a(self) -> &'static str {
        match self {
            ComputePlatform::Server => "an EC2/on-premises",
            ComputePlatform::Ecs => "an ECS",
            ComputePlatform::Lambda => "a Lambda",
        }
    }

    /// The API's name: `Server`, `ECS`, `Lambda`.
    pub fn api_name(self) -> &'static str {
        match self {
            ComputePlatform::Server => "Server",
            ComputePlatform::Ecs => "ECS",
            ComputePlatform::Lambda => "Lambda",
        }
    }

    /// Whether `event` occurs in any lifecycle of this platform (reserved events included).
    pub fn has_event(self, event: Event) -> bool {
        occurs_on(self, event)
    }

    /// The events an appspec for this platform may hook, in lifecycle order.
    pub fn hookable_events(self) -> Vec<Event> {
        all_events(self).iter().copied().filter(|e| !e.is_reserved()).collect()
    }
}

/// The deployment type and which set of targets the events are for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DeploymentType {
    /// In-place (EC2/on-premises only), and the rollback of an in-place deployment.
    InPlace,
    /// Blue/green: the events run on the replacement targets (the only ones with events on ECS
    /// and Lambda) or on the original ones (EC2: deregistered after the reroute).
    BlueGreen(Fleet),
    /// The rollback of an EC2 blue/green deployment: traffic goes back to the original instances
    /// (which allow traffic again) and leaves the replacement instances (which block it).
    BlueGreenRollback(Fleet),
}

/// Which instances of a blue/green deployment.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fleet {
    /// The new instances, task set or function version.
    Replacement,
    /// The instances serving traffic before the deployment.
    Original,
}

/// Why [`lifecycle`] has no list for a combination.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum LifecycleError {
    #[error("{} deployments are blue/green only; there is no in-place lifecycle", .0.describe())]
    InPlaceNotSupported(ComputePlatform),
    #[error("a blue/green deployment on {} needs a load balancer to reroute traffic", .0.describe())]
    NeedsLoadBalancer(ComputePlatform),
    #[error("only the replacement {} of a {} deployment has lifecycle events", if *.0 == ComputePlatform::Ecs { "task set" } else { "version" }, .0.describe())]
    NoEventsOnOriginal(ComputePlatform),
    #[error("CodeDeploy documents no lifecycle for the rollback of a {} deployment (traffic is shifted back; no hooks run)", .0.describe())]
    NoRollbackLifecycle(ComputePlatform),
}

use Event::*;

const SERVER_INSTALL: [Event; 7] = [ApplicationStop, DownloadBundle, BeforeInstall, Install, AfterInstall, ApplicationStart, ValidateService];
const BLOCK: [Event; 3] = [BeforeBlockTraffic, BlockTraffic, AfterBlockTraffic];
const ALLOW: [Event; 3] = [BeforeAllowTraffic, AllowTraffic, AfterAllowTraffic];
const SERVER_IN_PLACE_LB: [Event; 13] = [
    BeforeBlockTraffic,
    BlockTraffic,
    AfterBlockTraffic,
    ApplicationStop,
    DownloadBundle,
    BeforeInstall,
    Install,
    AfterInstall,
    ApplicationStart,
    ValidateService,
    BeforeAllowTraffic,
    AllowTraffic,
    AfterAllowTraffic,
];
const SERVER_REPLACEMENT: [Event; 10] =
    [ApplicationStop, DownloadBundle, BeforeInstall, Install, AfterInstall, ApplicationStart, ValidateService, BeforeAllowTraffic, AllowTraffic, AfterAllowTraffic];
const ECS: [Event; 8] = [BeforeInstall, Install, AfterInstall, AllowTestTraffic, AfterAllowTestTraffic, BeforeAllowTraffic, AllowTraffic, AfterAllowTraffic];
const LAMBDA: [Event; 3] = ALLOW;

/// The lifecycle events of one deployment target, in the order CodeDeploy runs them.
///
/// * EC2/on-premises in-place (also its rollback): ApplicationStop, DownloadBundle, BeforeInstall,
///   Install, AfterInstall, ApplicationStart, ValidateService; with a load balancer, the three
///   BlockTraffic events first and the three AllowTraffic events last.
/// * EC2 blue/green: replacement instances run the install events then the AllowTraffic ones;
///   original instances only the BlockTraffic ones. Its rollback swaps them: the originals allow
///   traffic again, the replacements block it. Blue/green always has a load balancer.
/// * ECS (blue/green, load balancer required): BeforeInstall, Install, AfterInstall,
///   AllowTestTraffic, AfterAllowTestTraffic, BeforeAllowTraffic, AllowTraffic, AfterAllowTraffic.
///   Without a test listener there is no test traffic, and CodeDeploy skips AfterAllowTestTraffic
///   (user guide, `deployment-steps-ecs.html`; `shared/reference/codedeploy.md` §3); the list has
///   both events, the deploy engine decides.
/// * Lambda (blue/green; `with_load_balancer` is ignored): BeforeAllowTraffic, AllowTraffic, AfterAllowTraffic.
pub fn lifecycle(platform: ComputePlatform, deployment: DeploymentType, with_load_balancer: bool) -> Result<&'static [Event], LifecycleError> {
    use ComputePlatform as P;
    use DeploymentType as D;
    match (platform, deployment) {
        (P::Server, D::InPlace) if with_load_balancer => Ok(&SERVER_IN_PLACE_LB),
        (P::Server, D::InPlace) => Ok(&SERVER_INSTALL),
        (P::Ecs | P::Server, D::BlueGreen(_) | D::BlueGreenRollback(_)) if !with_load_balancer => Err(LifecycleError::NeedsLoadBalancer(platform)),
        (P::Server, D::BlueGreen(Fleet::Replacement)) => Ok(&SERVER_REPLACEMENT),
        (P::Server, D::BlueGreen(Fleet::Original)) => Ok(&BLOCK),
        (P::Server, D::BlueGreenRollback(Fleet::Original)) => Ok(&ALLOW),
        (P::Server, D::BlueGreenRollback(Fleet::Replacement)) => Ok(&BLOCK),
        (P::Ecs | P::Lambda, D::InPlace) => Err(LifecycleError::InPlaceNotSupported(platform)),
        (P::Ecs | P::Lambda, D::BlueGreen(Fleet::Original)) => Err(LifecycleError::NoEventsOnOriginal(platform)),
        (P::Ecs | P::Lambda, D::BlueGreenRollback(_)) => Err(LifecycleError::NoRollbackLifecycle(platform)),
        (P::Ecs, D::BlueGreen(Fleet::Replacement)) => Ok(&ECS),
        (P::Lambda, D::BlueGreen(Fleet::Replacement)) => Ok(&LAMBDA),
    }
}

/// Every event of `platform`, in order: the longest list, which holds all the others'.
fn all_events(platform: ComputePlatform) -> &'static [Event] {
    match platform {
        ComputePlatform::Server => &SERVER_IN_PLACE_LB,
        ComputePlatform::Ecs => &ECS,
        ComputePlatform::Lambda => &LAMBDA,
    }
}

/// Whether `event` occurs in any lifecycle of `platform`.
fn occurs_on(platform: ComputePlatform, event: Event) -> bool {
    all_events(platform).contains(&event)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ComputePlatform as P;
    use DeploymentType as D;

    fn names(events: &[Event]) -> Vec<&'static str> {
        events.iter().map(|e| e.name()).collect()
    }

    /// The user guide's availability table, column by column (✓ rows, top to bottom).
    #[test]
    fn server_lists_match_the_user_guides_availability_table() {
        let in_place = ["ApplicationStop", "DownloadBundle", "BeforeInstall", "Install", "AfterInstall", "ApplicationStart", "ValidateService"];
        assert_eq!(names(lifecycle(P::Server, D::InPlace, false).unwrap()), in_place);
        // "the six hooks related to blocking and allowing traffic apply only if you specify a
        // load balancer"; the agent's DEFAULT_ORDERED_LIFECYCLE_EVENTS puts the Block events first.
        let mut with_lb = vec!["BeforeBlockTraffic", "BlockTraffic", "AfterBlockTraffic"];
        with_lb.extend(in_place);
        with_lb.extend(["BeforeAllowTraffic", "AllowTraffic", "AfterAllowTraffic"]);
        assert_eq!(names(lifecycle(P::Server, D::InPlace, true).unwrap()), with_lb);

        let mut replacement = in_place.to_vec();
        replacement.extend(["BeforeAllowTraffic", "AllowTraffic", "AfterAllowTraffic"]);
        assert_eq!(names(lifecycle(P::Server, D::BlueGreen(Fleet::Replacement), true).unwrap()), replacement);
        assert_eq!(names(lifecycle(P::Server, D::BlueGreen(Fleet::Original), true).unwrap()), ["BeforeBlockTraffic", "BlockTraffic", "AfterBlockTraffic"]);
        assert_eq!(names(lifecycle(P::Server, D::BlueGreenRollback(Fleet::Original), true).unwrap()), ["BeforeAllowTraffic", "AllowTraffic", "AfterAllowTraffic"]);
        assert_eq!(names(lifecycle(P::Server, D::BlueGreenRollback(Fleet::Replacement), true).unwrap()), ["BeforeBlockTraffic", "BlockTraffic", "AfterBlockTraffic"]);
        assert_eq!(lifecycle(P::Server, D::BlueGreen(Fleet::Replacement), false), Err(LifecycleError::NeedsLoadBalancer(P::Server)));
    }

    #[test]
    fn ecs_and_lambda_lists_match_the_user_guide() {
        assert_eq!(
            names(lifecycle(P::Ecs, D::BlueGreen(Fleet::Replacement), true).unwrap()),
            ["BeforeInstall", "Install", "AfterInstall", "AllowTestTraffic", "AfterAllowTestTraffic", "BeforeAllowTraffic", "AllowTraffic", "AfterAllowTraffic"]
        );
        for lb in [true, false] {
            assert_eq!(names(lifecycle(P::Lambda, D::BlueGreen(Fleet::Replacement), lb).unwrap()), ["BeforeAllowTraffic", "AllowTraffic", "AfterAllowTraffic"]);
        }
        assert_eq!(lifecycle(P::Ecs, D::InPlace, true), Err(LifecycleError::InPlaceNotSupported(P::Ecs)));
        assert_eq!(lifecycle(P::Lambda, D::BlueGreen(Fleet::Original), false), Err(LifecycleError::NoEventsOnOriginal(P::Lambda)));
        assert_eq!(lifecycle(P::Ecs, D::BlueGreen(Fleet::Replacement), false), Err(LifecycleError::NeedsLoadBalancer(P::Ecs)));
        assert!(lifecycle(P::Ecs, D::BlueGreenRollback(Fleet::Original), true).is_err());
    }

    #[test]
    fn hookable_and_reserved_events_per_platform() {
        // "DownloadBundle / Install / BlockTraffic / AllowTraffic: reserved for the CodeDeploy agent".
        assert_eq!(
            names(&P::Server.hookable_events()),
            ["BeforeBlockTraffic", "AfterBlockTraffic", "ApplicationStop", "BeforeInstall", "AfterInstall", "ApplicationStart", "ValidateService", "BeforeAllowTraffic", "AfterAllowTraffic"]
        );
        // The ECS hooks list: BeforeInstall, AfterInstall, AfterAllowTestTraffic, BeforeAllowTraffic, AfterAllowTraffic.
        assert_eq!(names(&P::Ecs.hookable_events()), ["BeforeInstall", "AfterInstall", "AfterAllowTestTraffic", "BeforeAllowTraffic", "AfterAllowTraffic"]);
        assert_eq!(names(&P::Lambda.hookable_events()), ["BeforeAllowTraffic", "AfterAllowTraffic"]);
        for e in [DownloadBundle, Install, BlockTraffic, AllowTraffic, AllowTestTraffic] {
            assert!(e.is_reserved(), "{e}");
        }
        assert!(!ValidateService.is_hookable(P::Ecs));
        assert!(!AfterAllowTestTraffic.is_hookable(P::Server));
        // Every event of every list is known by name, and names round-trip.
        for e in Event::ALL {
            assert_eq!(Event::from_name(e.name()), Some(e));
        }
        assert_eq!(Event::from_name("afterinstall"), None);
    }
}
