//! The load-time index: which policies can apply to a request's (action, resource).
//!
//! Cedar evaluates a policy's scope before its conditions, so a policy whose action or resource
//! scope cannot match a request contributes nothing to the decision (not satisfied, no error).
//! Leaving it out of the evaluated set therefore gives **identical** decisions while evaluating
//! fewer policies. With no entity hierarchy (the engine passes no entities), the scope tests are:
//!
//! - `action == A` matches only `A`; `action in [A, B]` only `A` or `B`; `action` anything;
//! - `resource == R`, `resource in R`, `resource is T in R` match only `R`; `resource` and
//!   `resource is T` are kept for every request (conservative).
//!
//! The index keys buckets by every action named in a scope (plus "any other action") and every
//! resource named in a scope (plus "any other resource"); identical buckets are shared. When the
//! number of (action, resource) combinations would exceed [`MAX_BUCKETS`], only actions are
//! indexed. `tests/policy_differential.rs` checks indexed against naive on 10,000 random requests.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

use cedar_policy::{ActionConstraint, Effect, EntityUid, Policy, PolicySet, ResourceConstraint};

use super::PolicyError;
use super::load::{Mode, PolicyMeta};

/// Upper bound on (action, resource) combinations before the index falls back to actions only.
pub const MAX_BUCKETS: usize = 4096;

/// The policies one request evaluates, split the way the decision procedure needs them.
#[derive(Debug, Default)]
pub struct Bucket {
    /// Enforced permits and forbids.
    pub active: PolicySet,
    /// Enforced permits only (consulted when only approval forbids matched).
    pub permits: PolicySet,
    /// Log-only forbids.
    pub log_forbids: PolicySet,
    /// Log-only permits.
    pub log_permits: PolicySet,
    /// Number of policies in this bucket.
    pub len: usize,
    /// Context attributes its policies read.
    pub context_mask: u64,
}

impl Bucket {
    /// A bucket of the given members (indices into `policies`/`meta`).
    pub fn build(
        members: &[usize],
        policies: &[Policy],
        meta: &[PolicyMeta],
    ) -> Result<Self, PolicyError> {
        let mut b = Bucket {
            len: members.len(),
            ..Bucket::default()
        };
        let add = |set: &mut PolicySet, p: &Policy| {
            set.add(p.clone())
                .map_err(|e| PolicyError::Internal(e.to_string()))
        };
        for &i in members {
            let (p, m) = (&policies[i], &meta[i]);
            b.context_mask |= m.context_attrs;
            match (m.mode, m.effect) {
                (Mode::Enforce, Effect::Permit) => {
                    add(&mut b.active, p)?;
                    add(&mut b.permits, p)?;
                }
                (Mode::Enforce, Effect::Forbid) => add(&mut b.active, p)?,
                (Mode::LogOnly, Effect::Permit) => add(&mut b.log_permits, p)?,
                (Mode::LogOnly, Effect::Forbid) => add(&mut b.log_forbids, p)?,
            }
        }
        Ok(b)
    }
}

struct ActionSlot {
    by_resource: HashMap<EntityUid, Arc<Bucket>>,
    other: Arc<Bucket>,
}

/// Buckets by (action, resource).
pub struct Index {
    by_action: HashMap<EntityUid, ActionSlot>,
    other: ActionSlot,
    distinct_buckets: usize,
}

fn admits_action(c: &ActionConstraint, a: Option<&EntityUid>) -> bool {
    match c {
        ActionConstraint::Any => true,
        ActionConstraint::Eq(x) => Some(x) == a,
        ActionConstraint::In(xs) => a.is_some_and(|a| xs.contains(a)),
    }
}

fn admits_resource(c: &ResourceConstraint, r: Option<&EntityUid>) -> bool {
    match c {
        ResourceConstraint::Any | ResourceConstraint::Is(_) => true,
        ResourceConstraint::Eq(x) | ResourceConstraint::In(x) | ResourceConstraint::IsIn(_, x) => {
            Some(x) == r
        }
    }
}

impl Index {
    /// Index `policies` (same order as `meta`).
    pub fn build(policies: &[Policy], meta: &[PolicyMeta]) -> Result<Self, PolicyError> {
        let scopes: Vec<(ActionConstraint, ResourceConstraint)> = policies
            .iter()
            .map(|p| (p.action_constraint(), p.resource_constraint()))
            .collect();
        let mut actions: BTreeSet<EntityUid> = BTreeSet::new();
        let mut resources: BTreeSet<EntityUid> = BTreeSet::new();
        for (a, r) in &scopes {
            match a {
                ActionConstraint::Any => {}
                ActionConstraint::Eq(x) => {
                    actions.insert(x.clone());
                }
                ActionConstraint::In(xs) => actions.extend(xs.iter().cloned()),
            }
            match r {
                ResourceConstraint::Any | ResourceConstraint::Is(_) => {}
                ResourceConstraint::Eq(x)
                | ResourceConstraint::In(x)
                | ResourceConstraint::IsIn(_, x) => {
                    resources.insert(x.clone());
                }
            }
        }
        if (actions.len() + 1).saturating_mul(resources.len() + 1) > MAX_BUCKETS {
            resources.clear();
        }

        let mut cache: HashMap<Vec<usize>, Arc<Bucket>> = HashMap::new();
        let mut bucket_for =
            |a: Option<&EntityUid>, r: Option<&EntityUid>, index_resources: bool| {
                let members: Vec<usize> = scopes
                    .iter()
                    .enumerate()
                    .filter(|(_, (ac, rc))| {
                        admits_action(ac, a) && (!index_resources || admits_resource(rc, r))
                    })
                    .map(|(i, _)| i)
                    .collect();
                if let Some(b) = cache.get(&members) {
                    return Ok::<_, PolicyError>(Arc::clone(b));
                }
                let b = Arc::new(Bucket::build(&members, policies, meta)?);
                cache.insert(members, Arc::clone(&b));
                Ok(b)
            };
        let index_resources = !resources.is_empty();
        let mut slot_for = |a: Option<&EntityUid>| -> Result<ActionSlot, PolicyError> {
            let mut by_resource = HashMap::new();
            for r in &resources {
                by_resource.insert(r.clone(), bucket_for(a, Some(r), true)?);
            }
            Ok(ActionSlot {
                by_resource,
                other: bucket_for(a, None, index_resources)?,
            })
        };
        let mut by_action = HashMap::new();
        for a in &actions {
            by_action.insert(a.clone(), slot_for(Some(a))?);
        }
        let other = slot_for(None)?;
        Ok(Self {
            by_action,
            other,
            distinct_buckets: cache.len(),
        })
    }

    /// The bucket of a request.
    pub fn lookup(&self, action: &EntityUid, resource: &EntityUid) -> &Bucket {
        let slot = self.by_action.get(action).unwrap_or(&self.other);
        slot.by_resource.get(resource).unwrap_or(&slot.other)
    }

    /// Number of distinct buckets built.
    pub fn distinct_buckets(&self) -> usize {
        self.distinct_buckets
    }
}
