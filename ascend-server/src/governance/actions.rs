//! Actions after the decision: read (expiring a due approval first, so a poll never shows an
//! expired approval as pending), list, vote, expire, report the outcome.

use serde_json::{Value, json};

use ascend_runtime::Decision;

use super::Governance;
use super::access::{self, Operation};
use crate::approvals;
use crate::audit::Event;
use crate::error::{Error, Result};
use crate::model::{
    ActionFilter, ActionOutcome, ActionRecord, Principal, PushKind, Vote, WebhookEvent, now,
};
use crate::redact::redact;
use crate::state::BusEvent;
use crate::store::{OutcomeCheck, OutcomeWrite};

/// A reviewer's vote.
#[derive(Debug, Clone)]
pub struct VoteInput {
    /// Approve (true) or deny (false).
    pub approve: bool,
    /// Comment; required to deny.
    pub comment: Option<String>,
}

/// An outcome report.
#[derive(Debug, Clone)]
pub struct OutcomeInput {
    /// Completed or failed.
    pub outcome: ActionOutcome,
    /// The report as sent (stored redacted).
    pub detail: Value,
}

impl Governance {
    /// One action of the caller's organisation (404 for another organisation's, or another
    /// agent's for a bound agent key).
    pub async fn action(&self, p: &Principal, id: i64) -> Result<ActionRecord> {
        access::authorize(p, Operation::ReadActions)?;
        let a = self.load(p, Operation::ReadActions, id).await?;
        self.expire_if_due(a).await
    }

    /// Actions of the caller's organisation, newest first, and the total matching.
    pub async fn list_actions(
        &self,
        p: &Principal,
        mut filter: ActionFilter,
    ) -> Result<(Vec<ActionRecord>, u64)> {
        access::authorize(p, Operation::ReadActions)?;
        filter.agent_id = filter.agent_id.map(|a| crate::ident::fold(&a));
        if let Some(bound) = access::bound_agent(p, Operation::ReadActions) {
            filter.agent_id = Some(bound.to_owned());
        }
        if let Some(key) = access::own_key(p, Operation::ReadActions) {
            filter.submitted_key = Some(key.to_owned());
        }
        self.state.store.list_actions(p.org_id, filter).await
    }

    /// Approve or deny a pending action. Returns the action after the vote.
    pub async fn vote(&self, p: &Principal, id: i64, input: VoteInput) -> Result<ActionRecord> {
        access::authorize(p, Operation::Vote)?;
        let comment = input.comment.filter(|c| !c.trim().is_empty());
        if !input.approve && comment.is_none() {
            return Err(Error::field("reason", "a reason is required to deny"));
        }
        let a = self.load(p, Operation::Vote, id).await?;
        let a = self.expire_if_due(a).await?;
        if a.body.decision == Decision::Denied && a.body.reason == "expired" {
            return Err(Error::Conflict(format!(
                "the approval of action {} expired",
                a.id
            )));
        }
        // A halt freezes: while the agent or its organisation is halted nothing pending can
        // become allowed (denying stays possible).
        let halt = self.state.kill_status(p.org_id, Some(&a.agent_id))?;
        if input.approve && halt.blocked {
            return Err(Error::Conflict(format!(
                "agent {:?} is halted ({}): pending actions cannot be approved until the kill \
                 switch is released",
                a.agent_id,
                halt.reason.as_deref().unwrap_or("no reason given")
            )));
        }
        let submitter = self.state.keys.people_of(&a.submitted_key);
        let vote = Vote {
            key_id: p.key_id.clone(),
            approver: p.name.clone(),
            owner: p.people.first().cloned(),
            approve: input.approve,
            comment,
            at: now(),
        };
        let voter = p.people.clone();
        let org = p.org_id;
        let actor = p.name.clone();
        let decided = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let flag = decided.clone();
        let changed = self
            .state
            .store
            .update_action(
                org,
                a.id,
                Box::new(move |action| {
                    let people = approvals::People {
                        voter: &voter,
                        submitter: &submitter,
                    };
                    let done = approvals::apply_vote(action, vote.clone(), people)?;
                    flag.store(done, std::sync::atomic::Ordering::Relaxed);
                    let event = Event::Voted {
                        action_id: action.id,
                        vote: &vote,
                        status: &action.body.status,
                        decided: done,
                    };
                    Ok(Some(event.draft(org, &actor, vote.at)))
                }),
            )
            .await?
            .ok_or_else(|| Error::Internal("a vote changed nothing".into()))?;
        self.state.metrics.vote(input.approve);
        if decided.load(std::sync::atomic::Ordering::Relaxed) {
            self.announce_decision(&changed);
        }
        Ok(changed)
    }

    /// Deny a pending action whose approval expired (no-op when it is not due) and announce it.
    pub async fn expire(&self, org_id: i64, id: i64) -> Result<()> {
        let at = now();
        let changed = self
            .state
            .store
            .update_action(
                org_id,
                id,
                Box::new(move |action| {
                    if !approvals::expire(action, at) {
                        return Ok(None);
                    }
                    let event = Event::Expired {
                        action_id: action.id,
                    };
                    Ok(Some(event.draft(org_id, "system", at)))
                }),
            )
            .await?;
        if let Some(a) = changed {
            self.announce_decision(&a);
        }
        Ok(())
    }

    /// Expire every pending approval that is due (the background sweep).
    pub async fn expire_due(&self) -> Result<usize> {
        let due = self.state.store.expired_pending(now()).await?;
        let n = due.len();
        for (org, id) in due {
            if let Err(e) = self.expire(org, id).await {
                tracing::warn!(error = %e, action = id, "could not expire an approval");
            }
        }
        Ok(n)
    }

    /// Record how an allowed action ended (once; only for actions that were allowed to run).
    /// The report is stored redacted.
    pub async fn report_outcome(&self, p: &Principal, id: i64, input: OutcomeInput) -> Result<()> {
        self.state
            .store
            .record_outcome(outcome_report(p, id, input)?)
            .await
    }

    /// [`Governance::report_outcome`] for a reporter that does not wait for it (an in-process
    /// agent): checked for the caller now, committed with the store's next write (within its
    /// flush interval at the latest). A report the stored action refuses is logged, not
    /// returned.
    pub fn report_outcome_later(&self, p: &Principal, id: i64, input: OutcomeInput) -> Result<()> {
        self.state
            .store
            .record_outcome_later(outcome_report(p, id, input)?)
    }

    async fn load(&self, p: &Principal, op: Operation, id: i64) -> Result<ActionRecord> {
        let a = self
            .state
            .store
            .get_action(p.org_id, id)
            .await?
            .ok_or_else(|| Error::NotFound(format!("action {id} not found")))?;
        let other_agent = access::bound_agent(p, op).is_some_and(|b| a.agent_id != b);
        let other_key = access::own_key(p, op).is_some_and(|k| a.submitted_key != k);
        if other_agent || other_key {
            return Err(Error::NotFound(format!("action {id} not found")));
        }
        Ok(a)
    }

    async fn expire_if_due(&self, a: ActionRecord) -> Result<ActionRecord> {
        let due = a.body.decision == Decision::Pending
            && a.approval
                .as_ref()
                .and_then(|x| x.expires_at)
                .is_some_and(|exp| exp <= now());
        if !due {
            return Ok(a);
        }
        self.expire(a.org_id, a.id).await?;
        self.state
            .store
            .get_action(a.org_id, a.id)
            .await?
            .ok_or_else(|| Error::NotFound(format!("action {} not found", a.id)))
    }

    /// Tell connected SDKs and webhooks that a pending action was decided.
    fn announce_decision(&self, a: &ActionRecord) {
        let b = &a.body;
        self.state.publish(BusEvent {
            key_id: Some(a.submitted_key.clone()),
            org_id: a.org_id,
            agent_id: Some(a.agent_id.clone()),
            push: Some(PushKind::Decision),
            webhook: match b.decision {
                Decision::Allowed => Some(WebhookEvent::ActionApproved),
                Decision::Denied => Some(WebhookEvent::ActionDenied),
                Decision::Pending => None,
            },
            data: json!({
                "action_id": a.id.to_string(),
                "decision": b.decision.as_str(),
                "status": b.status,
                "agent_id": a.agent_id,
                "reason": b.reason,
                "approver": b.approved_by,
                "approved_by": b.approved_by,
                "approved_at": b.approved_at,
                "comments": b.comments,
            }),
        });
    }
}

/// An outcome report checked for its caller, with the check the stored action must pass.
fn outcome_report(p: &Principal, id: i64, input: OutcomeInput) -> Result<OutcomeWrite> {
    access::authorize(p, Operation::ReportOutcome)?;
    if let Some(d) = input.detail.get("duration_ms")
        && !d.is_null()
        && !d.is_number()
    {
        return Err(Error::field("duration_ms", "must be a number"));
    }
    let org = p.org_id;
    let actor = p.name.clone();
    let bound = access::bound_agent(p, Operation::ReportOutcome).map(str::to_owned);
    let own_key = access::own_key(p, Operation::ReportOutcome).map(str::to_owned);
    let outcome = input.outcome;
    let detail = redact(&input.detail);
    let at = now();
    let report = detail.clone();
    let check: OutcomeCheck = Box::new(move |action| {
        if bound.as_deref().is_some_and(|b| b != action.agent_id)
            || own_key
                .as_deref()
                .is_some_and(|k| k != action.submitted_key)
        {
            return Err(Error::NotFound(format!("action {id} not found")));
        }
        if let Some(prev) = action.outcome {
            return Err(Error::Conflict(format!(
                "action {id} was already reported as {}",
                prev.as_str()
            )));
        }
        if !action.allowed {
            return Err(Error::Conflict(format!(
                "action {id} was not allowed to run (status {})",
                action.status
            )));
        }
        let event = Event::Outcome {
            action_id: id,
            outcome,
            report: &report,
        };
        Ok(event.draft(org, &actor, at))
    });
    Ok(OutcomeWrite {
        org_id: org,
        id,
        outcome,
        detail,
        at,
        check,
    })
}
