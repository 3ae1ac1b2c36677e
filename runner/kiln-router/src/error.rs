//! The router's errors: each says what was wrong and what the caller can do.

use std::net::SocketAddr;

/// An error from starting or reconfiguring a router.
#[derive(Debug, thiserror::Error)]
pub enum RouterError {
    /// A configuration field is out of range.
    #[error("router configuration: {field} {problem}")]
    InvalidConfig { field: &'static str, problem: String },
    /// The listener could not be bound.
    #[error("router could not listen on {addr}: {source} (pick another address, or port 0 for a free one)")]
    Bind {
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
    /// A target group name is empty, too long or has characters outside `[A-Za-z0-9._+=,@-]`.
    #[error("target group name {name:?} is not valid: use 1-100 letters, digits or . _ + = , @ -")]
    InvalidGroupName { name: String },
    /// An instance id is empty, too long or has control characters or spaces.
    #[error("instance id {id:?} is not valid: use 1-128 visible characters without spaces")]
    InvalidInstanceId { id: String },
    /// Two groups have the same name.
    #[error("target group {name:?} already exists")]
    DuplicateGroup { name: String },
    /// Two instances have the same id (ids are unique across all groups).
    #[error("instance {id:?} already exists in group {group:?}; remove it first or choose another id")]
    DuplicateInstance { id: String, group: String },
    /// No group of that name.
    #[error("no target group named {name:?} (groups: {known})")]
    UnknownGroup { name: String, known: String },
    /// No instance of that id.
    #[error("no instance {id:?} in any target group")]
    UnknownInstance { id: String },
    /// The weights do not name each group once, or do not sum to 100.
    #[error("weights {given}: {problem}")]
    InvalidWeights { given: String, problem: String },
    /// A group still has weight and cannot be removed.
    #[error("target group {name:?} still has weight {weight}%; shift its weight to other groups first")]
    GroupHasWeight { name: String, weight: u8 },
    /// Draining an instance that can still get new requests would never finish.
    #[error(
        "instance {id:?} still receives new requests (in service, in group {group:?} with weight {weight}%); take it out of service, remove it or set its group's weight to 0 before draining"
    )]
    StillRouted { id: String, group: String, weight: u8 },
    /// A health check setting is invalid.
    #[error("health check of instance {instance:?}: {problem}")]
    InvalidHealthCheck { instance: String, problem: String },
    /// The router was shut down.
    #[error("the router has been shut down")]
    ShutDown,
}
