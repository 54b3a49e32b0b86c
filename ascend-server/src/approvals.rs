//! The approval workflow: stages, distinct approvers, self-approval ban, expiry.
//!
//! These are pure functions over an [`ActionRecord`]; the governance service hands them to the
//! store, which applies them inside its write transaction so concurrent votes are serialised.

use ascend_runtime::Decision;
use serde_json::Value;

use crate::error::{Error, Result};
use crate::model::{ActionRecord, ApprovalState, Timestamp, Vote};

/// A fresh approval state.
pub fn new_state(
    stages: u32,
    required_approvers: Vec<String>,
    expires_at: Option<Timestamp>,
) -> ApprovalState {
    ApprovalState {
        stages_required: stages.max(1),
        required_approvers,
        votes: Vec::new(),
        expires_at,
        decided_at: None,
    }
}

/// Whether the approval's expiry has been reached at `now` (compared as times).
pub fn is_expired(state: &ApprovalState, now: Timestamp) -> bool {
    state.expires_at.is_some_and(|exp| exp <= now)
}

/// The people on both sides of a vote (separation of duties compares people, not keys): the
/// owner of the voter's key and of the key that created it, and the same of the submitter's.
#[derive(Debug, Clone, Copy)]
pub struct People<'a> {
    /// The voter's people.
    pub voter: &'a [String],
    /// The submitter's people.
    pub submitter: &'a [String],
}

/// Apply a reviewer's vote. Returns whether the action is now finally decided.
///
/// Errors: the action is not pending (409); the voter's key submitted it, or the voter is the
/// submitter's owner or created the submitter's key, or the submitter created the voter's key
/// (403); this person already voted under any key (409); the approval expired (409).
pub fn apply_vote(action: &mut ActionRecord, vote: Vote, people: People<'_>) -> Result<bool> {
    if action.body.decision != Decision::Pending {
        return Err(Error::Conflict(format!(
            "action {} is not pending (status {})",
            action.id, action.body.status
        )));
    }
    if vote.key_id == action.submitted_key {
        return Err(Error::Forbidden(
            "the key that submitted an action can never approve or deny it".into(),
        ));
    }
    if let Some(person) = people.voter.iter().find(|v| people.submitter.contains(v)) {
        return Err(Error::Forbidden(format!(
            "separation of duties: {person:?} is behind both the submitting key and this one; \
             another person must decide"
        )));
    }
    let state = action
        .approval
        .get_or_insert_with(|| new_state(1, Vec::new(), None));
    if is_expired(state, vote.at) {
        return Err(Error::Conflict(format!(
            "the approval of action {} expired",
            action.id
        )));
    }
    if state.votes.iter().any(|v| v.key_id == vote.key_id) {
        return Err(Error::Conflict(format!(
            "this key already voted on action {}",
            action.id
        )));
    }
    if let Some(owner) = &vote.owner
        && state.votes.iter().any(|v| v.owner.as_ref() == Some(owner))
    {
        return Err(Error::Conflict(format!(
            "{owner:?} already voted on action {} (under another key): each stage needs a \
             different person",
            action.id
        )));
    }
    let at = vote.at;
    let approver = vote.approver.clone();
    let comment = vote.comment.clone();
    let approve = vote.approve;
    state.votes.push(vote);
    let approvals = state.votes.iter().filter(|v| v.approve).count() as u32;
    let stages = state.stages_required;
    let b = &mut action.body;
    action.updated_at = at;
    if !approve {
        state.decided_at = Some(at);
        b.decision = Decision::Denied;
        b.status = Decision::Denied.as_status_str().to_owned();
        b.execution_allowed = false;
        b.approved_by = Some(approver.clone());
        b.approved_at = Some(at.to_rfc3339());
        b.reason = match &comment {
            Some(c) => format!("denied by {approver}: {c}"),
            None => format!("denied by {approver}"),
        };
        b.comments = comment;
        return Ok(true);
    }
    b.metadata
        .insert("approvals_received".into(), Value::from(approvals));
    b.metadata
        .insert("approvals_required".into(), Value::from(stages));
    if approvals >= stages {
        state.decided_at = Some(at);
        let names: Vec<&str> = state
            .votes
            .iter()
            .filter(|v| v.approve)
            .map(|v| v.approver.as_str())
            .collect();
        let names = names.join(", ");
        b.decision = Decision::Allowed;
        b.status = Decision::Allowed.as_status_str().to_owned();
        b.execution_allowed = true;
        b.reason = format!("approved by {names}");
        b.approved_by = Some(names);
        b.approved_at = Some(at.to_rfc3339());
        b.comments = comment;
        Ok(true)
    } else {
        b.comments = comment;
        Ok(false)
    }
}

/// Deny a pending action whose approval expired. Returns whether anything changed.
pub fn expire(action: &mut ActionRecord, now: Timestamp) -> bool {
    if action.body.decision != Decision::Pending {
        return false;
    }
    let Some(state) = action.approval.as_mut() else {
        return false;
    };
    if !is_expired(state, now) {
        return false;
    }
    state.decided_at = Some(now);
    let b = &mut action.body;
    b.decision = Decision::Denied;
    b.status = Decision::Denied.as_status_str().to_owned();
    b.execution_allowed = false;
    b.reason = "expired".to_owned();
    b.comments = Some("approval expired before anyone decided".to_owned());
    action.updated_at = now;
    true
}
