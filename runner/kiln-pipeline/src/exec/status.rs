//! Status names exactly as the CodePipeline API spells them (service-2.json enums,
//! codepipeline.md §6).

use serde::Serialize;

macro_rules! names {
    ($(#[$m:meta])* $name:ident { $($v:ident),* $(,)? }) => {
        $(#[$m])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
        pub enum $name { $($v),* }
        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$v),*];
            /// The API's spelling.
            pub fn as_str(self) -> &'static str {
                match self { $($name::$v => stringify!($v)),* }
            }
            pub fn parse(s: &str) -> Option<$name> {
                match s { $(stringify!($v) => Some($name::$v),)* _ => None }
            }
        }
        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result { f.write_str(self.as_str()) }
        }
    };
}

names!(
    /// `PipelineExecutionStatus`.
    ExecutionStatus { Cancelled, InProgress, Stopped, Stopping, Succeeded, Superseded, Failed }
);
names!(
    /// `StageExecutionStatus`.
    StageStatus { Cancelled, InProgress, Failed, Stopped, Stopping, Succeeded, Skipped }
);
names!(
    /// `ActionExecutionStatus`.
    ActionStatus { InProgress, Abandoned, Succeeded, Failed }
);
names!(
    /// The state of a manual approval (kiln's: the API has only the answer, Approved or Rejected).
    ApprovalStatus { Pending, Approved, Rejected, Expired }
);

impl ExecutionStatus {
    /// An execution in this status will not change again (a Failed or Stopped one may still be
    /// retried, which makes it InProgress again).
    pub fn is_final(self) -> bool {
        !matches!(self, ExecutionStatus::InProgress | ExecutionStatus::Stopping)
    }
}

/// `ExecutionType`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ExecutionType {
    Standard,
    Rollback,
}

impl ExecutionType {
    pub fn as_str(self) -> &'static str {
        match self {
            ExecutionType::Standard => "STANDARD",
            ExecutionType::Rollback => "ROLLBACK",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "STANDARD" => Some(ExecutionType::Standard),
            "ROLLBACK" => Some(ExecutionType::Rollback),
            _ => None,
        }
    }
}

/// `StageRetryMode`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum RetryMode {
    FailedActions,
    AllActions,
}

impl RetryMode {
    pub fn as_str(self) -> &'static str {
        match self {
            RetryMode::FailedActions => "FAILED_ACTIONS",
            RetryMode::AllActions => "ALL_ACTIONS",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "FAILED_ACTIONS" => Some(RetryMode::FailedActions),
            "ALL_ACTIONS" => Some(RetryMode::AllActions),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_with_the_apis_spelling() {
        assert_eq!(ExecutionStatus::ALL.iter().map(|s| s.as_str()).collect::<Vec<_>>(), ["Cancelled", "InProgress", "Stopped", "Stopping", "Succeeded", "Superseded", "Failed"]);
        assert_eq!(ActionStatus::ALL.iter().map(|s| s.as_str()).collect::<Vec<_>>(), ["InProgress", "Abandoned", "Succeeded", "Failed"]);
        for s in StageStatus::ALL {
            assert_eq!(StageStatus::parse(s.as_str()), Some(*s));
        }
        assert_eq!(RetryMode::parse("ALL_ACTIONS"), Some(RetryMode::AllActions));
    }
}
