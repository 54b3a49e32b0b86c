//! Who may do what: one table covering every operation of the governance service
//! (role × organisation × bound agent id). Handlers, the CLI, the embedded backend and the
//! console never decide this themselves; every operation of [`super::Governance`] asks here
//! first.
//!
//! Organisation: a principal only ever sees its own organisation (every operation is scoped by
//! `principal.org_id`; another organisation's records answer 404). Binding: a key bound to an
//! agent acts for that agent only — it submits, registers and reports only as that agent, and
//! (for agent-role keys) reads only that agent's actions and events.

use crate::error::{Error, Result};
use crate::model::{Principal, Role};

/// Every operation of the governance service.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Operation {
    /// Submit an action for a decision.
    Submit,
    /// Read actions, their status and approval state; list them.
    ReadActions,
    /// Approve or deny a pending action.
    Vote,
    /// Report that an allowed action completed or failed.
    ReportOutcome,
    /// Read kill switch state; open the event stream.
    ReadKillSwitch,
    /// Turn a kill switch on or off.
    SetKillSwitch,
    /// Create an API key.
    CreateKey,
    /// List, revoke and rotate API keys.
    ManageKeys,
    /// Create and list organisations (the platform operator).
    ManageOrgs,
    /// Read the service's metrics (every organisation's counts: the operator).
    ReadMetrics,
    /// Reload the policy set.
    ReloadPolicies,
    /// Register or update an agent.
    RegisterAgent,
    /// List webhooks.
    ReadWebhooks,
    /// Create, change, delete or test webhooks.
    ManageWebhooks,
    /// Read the MCP registry.
    ReadMcpRegistry,
    /// Register, change, (de)activate or delete MCP servers.
    ManageMcpRegistry,
    /// Read, export and verify the audit trail.
    ReadAudit,
}

/// How a key bound to one agent is limited for an operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Binding {
    /// Not limited (organisation-wide operations).
    None,
    /// Limited to its agent whatever its role.
    Always,
    /// Limited to its agent when it has the agent role (a bound reviewer still reviews the
    /// organisation).
    AgentRole,
}

/// The table: the least role each operation needs and how a binding limits it.
///
/// Webhooks are open to agent keys (the Python SDK manages them with the agent's own key), but
/// an agent key sees and manages only its own: a bound key those of its agent, a fleet key
/// those it created ([`own_key`]); the signing secret is shown once, at creation.
pub const TABLE: &[(Operation, Role, Binding)] = &[
    (Operation::Submit, Role::Agent, Binding::Always),
    (Operation::ReadActions, Role::Agent, Binding::AgentRole),
    (Operation::Vote, Role::Reviewer, Binding::Always),
    (Operation::ReportOutcome, Role::Agent, Binding::AgentRole),
    (Operation::ReadKillSwitch, Role::Agent, Binding::Always),
    (Operation::SetKillSwitch, Role::Admin, Binding::None),
    (Operation::CreateKey, Role::Admin, Binding::None),
    (Operation::ManageKeys, Role::Admin, Binding::None),
    (Operation::ManageOrgs, Role::Operator, Binding::None),
    (Operation::ReadMetrics, Role::Operator, Binding::None),
    (Operation::ReloadPolicies, Role::Admin, Binding::None),
    (Operation::RegisterAgent, Role::Agent, Binding::Always),
    (Operation::ReadWebhooks, Role::Agent, Binding::AgentRole),
    (Operation::ManageWebhooks, Role::Agent, Binding::AgentRole),
    (Operation::ReadMcpRegistry, Role::Agent, Binding::None),
    (Operation::ManageMcpRegistry, Role::Admin, Binding::None),
    (Operation::ReadAudit, Role::Reviewer, Binding::None),
];

fn rule(op: Operation) -> (Role, Binding) {
    TABLE
        .iter()
        .find(|(o, _, _)| *o == op)
        .map(|(_, r, b)| (*r, *b))
        // Default deny: an operation missing from the table needs more than any key has.
        .unwrap_or((Role::Admin, Binding::Always))
}

/// Fail with 403 unless `p` may perform `op`.
pub fn authorize(p: &Principal, op: Operation) -> Result<()> {
    let (role, _) = rule(op);
    if p.role >= role && TABLE.iter().any(|(o, _, _)| *o == op) {
        Ok(())
    } else {
        Err(Error::Forbidden(format!(
            "this operation needs the {role} role; the key has the {} role",
            p.role
        )))
    }
}

/// The agent `p` is limited to for `op`, if any.
pub fn bound_agent(p: &Principal, op: Operation) -> Option<&str> {
    let bound = p.agent_id.as_deref()?;
    match rule(op).1 {
        Binding::None => None,
        Binding::Always => Some(bound),
        Binding::AgentRole => (p.role == Role::Agent).then_some(bound),
    }
}

/// The key a fleet key (an unbound agent key) is limited to for `op`: it reads and reports
/// only the actions it submitted, and sees and manages only the webhooks it created.
pub fn own_key(p: &Principal, op: Operation) -> Option<&str> {
    let scoped = matches!(
        op,
        Operation::ReadActions
            | Operation::ReportOutcome
            | Operation::ReadWebhooks
            | Operation::ManageWebhooks
    );
    (scoped && p.is_fleet_key()).then_some(p.key_id.as_str())
}

/// The agent an operation acts for: `requested` (None or empty: the key's own agent), checked
/// against the key's binding, in its canonical form ([`crate::ident`]). Fails with 403 when a
/// bound key names another agent, 422 when the id holds control or bidi characters.
pub fn acting_agent(
    p: &Principal,
    op: Operation,
    requested: Option<&str>,
) -> Result<Option<String>> {
    let requested = match requested.map(str::trim).filter(|a| !a.is_empty()) {
        Some(a) => Some(crate::ident::identifier("agent_id", a)?),
        None => None,
    };
    match (bound_agent(p, op), requested) {
        (Some(bound), Some(asked)) if asked != bound && asked != "unknown" => Err(
            Error::Forbidden(format!("this key acts for agent {bound:?}, not {asked:?}")),
        ),
        (Some(bound), _) => Ok(Some(bound.to_owned())),
        (None, asked) => Ok(asked),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(role: Role, agent: Option<&str>) -> Principal {
        Principal {
            key_id: "k".into(),
            org_id: 1,
            role,
            agent_id: agent.map(str::to_owned),
            name: "n".into(),
            people: vec!["n".into()],
        }
    }

    #[test]
    fn every_operation_is_in_the_table_once() {
        use Operation::*;
        let all = [
            Submit,
            ReadActions,
            Vote,
            ReportOutcome,
            ReadKillSwitch,
            SetKillSwitch,
            CreateKey,
            ManageKeys,
            ManageOrgs,
            ReadMetrics,
            ReloadPolicies,
            RegisterAgent,
            ReadWebhooks,
            ManageWebhooks,
            ReadMcpRegistry,
            ManageMcpRegistry,
            ReadAudit,
        ];
        for op in all {
            assert_eq!(
                TABLE.iter().filter(|(o, _, _)| *o == op).count(),
                1,
                "{op:?}"
            );
        }
        assert_eq!(TABLE.len(), all.len());
    }

    #[test]
    fn roles_are_ordered() {
        assert!(authorize(&key(Role::Agent, None), Operation::Vote).is_err());
        assert!(authorize(&key(Role::Reviewer, None), Operation::Vote).is_ok());
        assert!(authorize(&key(Role::Reviewer, None), Operation::SetKillSwitch).is_err());
        assert!(authorize(&key(Role::Admin, None), Operation::SetKillSwitch).is_ok());
        assert!(authorize(&key(Role::Agent, None), Operation::ReadAudit).is_err());
    }

    #[test]
    fn bound_keys_act_for_their_agent_only() {
        let a = key(Role::Agent, Some("a"));
        assert_eq!(
            acting_agent(&a, Operation::Submit, None)
                .unwrap()
                .as_deref(),
            Some("a")
        );
        assert_eq!(
            acting_agent(&a, Operation::Submit, Some("a"))
                .unwrap()
                .as_deref(),
            Some("a")
        );
        assert!(acting_agent(&a, Operation::Submit, Some("b")).is_err());
        // A bound reviewer reads the organisation's actions; a bound agent only its own.
        assert_eq!(
            bound_agent(&key(Role::Reviewer, Some("a")), Operation::ReadActions),
            None
        );
        assert_eq!(bound_agent(&a, Operation::ReadActions), Some("a"));
        let free = key(Role::Agent, None);
        assert_eq!(
            acting_agent(&free, Operation::Submit, Some("b"))
                .unwrap()
                .as_deref(),
            Some("b")
        );
    }
}
