//! Manual approvals: nothing runs. The scheduler opens the request in the store (with its
//! timeout: the action's `timeoutInMinutes`, else 7 days, CodePipeline's default); this prints
//! it with the command that answers it. The answer (`kiln pipeline approve|reject`, or the
//! Approve/Reject buttons of `kiln ui --allow-approvals`) is written to the store by whichever
//! process gives it, with who (the OS user), when, and the comment; `CustomData` and
//! `ExternalEntityLink` are kept on the request.

use kiln_pipeline::exec::traits::{ApprovalAction, ApprovalRequest};

use crate::Log;

/// Prints an open approval request.
pub struct PrintApproval {
    pub log: Log,
}

/// The time as RFC 3339 (UTC, seconds).
pub fn rfc3339(ms: i64) -> String {
    let t = time::OffsetDateTime::from_unix_timestamp_nanos(ms as i128 * 1_000_000).unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    t.replace_nanosecond(0).unwrap_or(t).format(&time::format_description::well_known::Rfc3339).unwrap_or_default()
}

impl ApprovalAction for PrintApproval {
    fn requested(&self, r: &ApprovalRequest) {
        let mut text = format!("[{}/{}] waiting for approval (expires {})", r.stage, r.action, rfc3339(r.expires_at));
        if let Some(c) = &r.custom_data {
            text.push_str(&format!("\n    {c}"));
        }
        if let Some(l) = &r.external_entity_link {
            text.push_str(&format!("\n    review: {l}"));
        }
        text.push_str(&format!(
            "\n    approve: kiln pipeline approve {id} --action {s}/{a} --comment '…'\n    reject:  kiln pipeline reject {id} --action {s}/{a} --comment '…'",
            id = r.execution_id,
            s = r.stage,
            a = r.action
        ));
        (self.log)(text);
    }
}
