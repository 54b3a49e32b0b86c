//! The policy engine: Cedar policies turn an assessed action into allowed, denied or pending.
//!
//! # Vocabulary
//!
//! Principal `Agent::"<agent_id>"`, action `Action::"<action_type>"` (the submitted string,
//! exactly: `Action::"database.write"`), resource `Resource::"<resource>"`. The context carries
//! the risk assessment and typed facts of the action; see [`schema::CONTEXT_ATTRIBUTES`] for the
//! full list (`risk_score`, `risk_level`, `cvss_score` ×10, `techniques`, `action_verb`,
//! `action_family`, `record_count`, `amount`, `pii_involved`, `external_transfer`, `mcp_tool`,
//! `path_sensitive`, `environment`, …). To match families of actions, use
//! `context.action_family == "delete"` (any delete, whatever the action type string) or
//! `context.action_verb`.
//!
//! # Semantics (risk-model.md §7)
//!
//! - **Default deny**: an action no enforced permit matches is denied, with a reason saying so.
//! - **Forbid wins**. A matching forbid without `@approval` denies. If every matching forbid
//!   carries `@approval` and some permit matches, the decision is **pending**, naming the
//!   approvers and stages of all of them; if no permit matches, default deny applies.
//! - Every decision names the policies that determined it: `rule_id`/`rule_name` of the first
//!   determining policy in load order (files sorted by name, policies in file order),
//!   `determining` (all of them) and `policy_violations` (names of every matching forbid).
//! - **Log-only** policies (`@mode("log_only")`) are evaluated beside the enforced ones; the ids
//!   of those that match are reported in `log_only`; they never change the outcome.
//! - **Errors deny**: if an enforced policy fails to evaluate (e.g. integer overflow), the
//!   decision is denied and the failure reported in `errors`. Errors of log-only policies are
//!   reported (prefixed `log-only`) without denying.
//! - **Validation at load**: policies are type-checked (strict mode) against the schema of the
//!   context above; a policy naming a missing attribute, an unknown entity type or a wrongly
//!   typed comparison is refused with the file, policy id and message.
//!
//! # Annotations
//!
//! | annotation | meaning |
//! |---|---|
//! | `@id("block-bulk-deletions")` | the `rule_id` (default `<file>:<n>`); unique across files |
//! | `@name("Block Bulk Deletions")` | the `rule_name` (default: the id) |
//! | `@reason("...")` | the decision's `reason` when this policy determines it |
//! | `@approval("stage1:finance_manager, stage2:cfo")` | forbid only: pending instead of denied. Comma-separated approvers, one stage each in order; `stageN:` prefixes group approvers into stage N. `@approval` alone = one stage, approver `admin` |
//! | `@approvers("alice@example.com, bob")` | extra named approvers (with `@approval`) |
//! | `@mode("log_only")` | evaluate and report, never enforce (default `enforce`) |
//! | `@description`, `@severity`, `@owner` | free text, ignored |
//!
//! Any other annotation is refused at load, so a typo cannot silently change a rule's meaning.
//!
//! # Speed
//!
//! Policies are parsed and validated once per load. Each request builds its context directly
//! from typed values ([`schema::build_context`]) and evaluates only the policies whose scope can
//! match its action and resource ([`index`]). Reload ([`PolicyEngine::reload_from_dir`]) builds
//! a complete new set and swaps it in atomically ([`arc_swap`]): a request sees the old set or
//! the new one, never a mix.

pub mod cache;
pub mod index;
pub mod load;
pub mod schema;
pub mod synth;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arc_swap::ArcSwap;
use ascend_runtime::{AgentAction, Decision};
use cedar_policy::{
    Authorizer, Decision as CedarDecision, Entities, EntityId, EntityTypeName, EntityUid, PolicyId,
    Request, Response,
};
use serde::Serialize;

use crate::risk::RiskAssessment;
use cache::{CacheStats, Counters, DecisionCache};
use index::{Bucket, Index};
use load::PolicyMeta;

/// The default policy set, embedded (ascend-server/policies/*.cedar), in load order.
pub const DEFAULT_POLICY_FILES: &[(&str, &str)] = &[
    (
        "10-destructive.cedar",
        include_str!("../../policies/10-destructive.cedar"),
    ),
    (
        "20-financial.cedar",
        include_str!("../../policies/20-financial.cedar"),
    ),
    ("30-mcp.cedar", include_str!("../../policies/30-mcp.cedar")),
    (
        "80-strict-mode-trial.cedar",
        include_str!("../../policies/80-strict-mode-trial.cedar"),
    ),
    (
        "90-risk-bands.cedar",
        include_str!("../../policies/90-risk-bands.cedar"),
    ),
];

/// Errors loading policies.
#[derive(Debug, thiserror::Error)]
pub enum PolicyError {
    /// A file or directory could not be read.
    #[error("cannot read policies from {path}: {source}")]
    Io {
        /// The path.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// A directory holds no `.cedar` file.
    #[error("no .cedar policy files in {0}")]
    NoPolicies(PathBuf),
    /// A file is not valid Cedar.
    #[error("{file}: {message}")]
    Parse {
        /// File name.
        file: String,
        /// Parser message(s) with line and column.
        message: String,
    },
    /// A policy's annotations are invalid.
    #[error("{file}: policy `{policy}`: {message}")]
    Annotation {
        /// File name.
        file: String,
        /// Policy id.
        policy: String,
        /// What is wrong.
        message: String,
    },
    /// Two policies share an id.
    #[error("duplicate policy id `{id}` (in {first} and {second})")]
    DuplicateId {
        /// The id.
        id: String,
        /// File of the first.
        first: String,
        /// File of the second.
        second: String,
    },
    /// Policies do not type-check against the context the engine provides.
    #[error("policy validation failed: {}", .errors.join("; "))]
    Validation {
        /// One message per problem: `file: policy `id` (name): message`.
        errors: Vec<String>,
    },
    /// An internal inconsistency (should not happen).
    #[error("internal policy engine error: {0}")]
    Internal(String),
}

/// The three outcomes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    /// The action may run.
    Allow,
    /// The action must not run.
    Deny,
    /// A human must approve first.
    Pending,
}

impl Outcome {
    /// The protocol decision.
    pub fn decision(self) -> Decision {
        match self {
            Outcome::Allow => Decision::Allowed,
            Outcome::Deny => Decision::Denied,
            Outcome::Pending => Decision::Pending,
        }
    }
}

/// What a pending decision needs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Approval {
    /// Approver roles or names, in stage order (union over the matching approval forbids).
    pub approvers: Vec<String>,
    /// Number of sequential stages (the largest among the matching approval forbids).
    pub stages: u32,
    /// Why approval is needed.
    pub reason: String,
}

/// The policy engine's answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PolicyDecision {
    /// Allow, deny or pending.
    pub outcome: Outcome,
    /// Id of the determining policy (none for default deny).
    pub rule_id: Option<String>,
    /// Name of the determining policy.
    pub rule_name: Option<String>,
    /// Why.
    pub reason: String,
    /// Names of every matching enforced forbid.
    pub policy_violations: Vec<String>,
    /// Present when pending.
    pub approval: Option<Approval>,
    /// Ids of log-only policies that matched (never enforced).
    pub log_only: Vec<String>,
    /// Evaluation errors (enforced ones denied the action).
    pub errors: Vec<String>,
    /// Ids of every policy that determined the outcome, in load order.
    pub determining: Vec<String>,
}

impl PolicyDecision {
    fn new(outcome: Outcome, reason: String) -> Self {
        Self {
            outcome,
            rule_id: None,
            rule_name: None,
            reason,
            policy_violations: Vec::new(),
            approval: None,
            log_only: Vec::new(),
            errors: Vec::new(),
            determining: Vec::new(),
        }
    }
}

/// A loaded, validated, indexed policy set.
struct LoadedSet {
    meta: Vec<PolicyMeta>,
    by_id: HashMap<PolicyId, usize>,
    index: Index,
    naive: Bucket,
    cache: DecisionCache,
}

impl LoadedSet {
    fn build(sources: &[(String, String)]) -> Result<Self, PolicyError> {
        let loaded = load::load_sources(sources)?;
        let index = Index::build(&loaded.policies, &loaded.meta)?;
        let all: Vec<usize> = (0..loaded.policies.len()).collect();
        let naive = Bucket::build(&all, &loaded.policies, &loaded.meta)?;
        let by_id = loaded
            .meta
            .iter()
            .enumerate()
            .map(|(i, m)| (PolicyId::new(&m.id), i))
            .collect();
        Ok(Self {
            meta: loaded.meta,
            by_id,
            index,
            naive,
            cache: DecisionCache::default(),
        })
    }
}

/// How a request selects its policies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Evaluation {
    /// Only the policies whose scope can match, answered from the decision cache when the same
    /// request was decided before (the default).
    Indexed,
    /// Only the policies whose scope can match, always evaluated by Cedar (for differential
    /// tests and benchmarks).
    IndexedUncached,
    /// The whole set (for differential tests and benchmarks).
    Naive,
}

/// The Cedar policy engine. `Send + Sync`; share it behind an `Arc`.
pub struct PolicyEngine {
    current: ArcSwap<LoadedSet>,
    authorizer: Authorizer,
    entities: Entities,
    agent_type: EntityTypeName,
    action_type: EntityTypeName,
    resource_type: EntityTypeName,
    counters: Counters,
}

impl std::fmt::Debug for PolicyEngine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PolicyEngine")
            .field("policies", &self.policy_count())
            .finish()
    }
}

fn type_name(s: &str) -> Result<EntityTypeName, PolicyError> {
    s.parse()
        .map_err(|e| PolicyError::Internal(format!("entity type {s}: {e}")))
}

impl PolicyEngine {
    fn with_set(set: LoadedSet) -> Result<Self, PolicyError> {
        Ok(Self {
            current: ArcSwap::from_pointee(set),
            authorizer: Authorizer::new(),
            entities: Entities::empty(),
            agent_type: type_name(schema::PRINCIPAL_TYPE)?,
            action_type: type_name(schema::ACTION_TYPE)?,
            resource_type: type_name(schema::RESOURCE_TYPE)?,
            counters: Counters::default(),
        })
    }

    /// The embedded default policy set (`ascend-server/policies/*.cedar`).
    pub fn with_default_policies() -> Result<Self, PolicyError> {
        Self::from_sources(&default_sources())
    }

    /// Every `*.cedar` file of `dir`, in file-name order.
    pub fn from_dir(dir: &Path) -> Result<Self, PolicyError> {
        Self::from_sources(&load::read_dir(dir)?)
    }

    /// Policies from (file name, text) pairs, in the given order.
    pub fn from_sources(sources: &[(String, String)]) -> Result<Self, PolicyError> {
        Self::with_set(LoadedSet::build(sources)?)
    }

    /// Load `dir` and swap it in atomically; on error the current set stays.
    pub fn reload_from_dir(&self, dir: &Path) -> Result<usize, PolicyError> {
        self.reload_from_sources(&load::read_dir(dir)?)
    }

    /// Load sources and swap them in atomically; on error the current set stays.
    pub fn reload_from_sources(&self, sources: &[(String, String)]) -> Result<usize, PolicyError> {
        let set = LoadedSet::build(sources)?;
        let n = set.meta.len();
        self.current.store(Arc::new(set));
        Ok(n)
    }

    /// Number of policies (enforced and log-only) in the current set.
    pub fn policy_count(&self) -> usize {
        self.current.load().meta.len()
    }

    /// Decision cache hits and misses since the engine was built.
    pub fn cache_stats(&self) -> CacheStats {
        self.counters.stats()
    }

    /// Ids of the current policies, in load order.
    pub fn policy_ids(&self) -> Vec<String> {
        self.current
            .load()
            .meta
            .iter()
            .map(|m| m.id.clone())
            .collect()
    }

    /// Decide an assessed action (indexed evaluation).
    pub fn evaluate(
        &self,
        action: &AgentAction,
        environment: &str,
        risk: &RiskAssessment,
    ) -> PolicyDecision {
        self.evaluate_with(action, environment, risk, Evaluation::Indexed)
    }

    /// Decide with a chosen evaluation strategy (the naive one exists for differential tests and
    /// benchmarks; both give identical decisions).
    pub fn evaluate_with(
        &self,
        action: &AgentAction,
        environment: &str,
        risk: &RiskAssessment,
        how: Evaluation,
    ) -> PolicyDecision {
        let set = self.current.load();
        let uid = |t: &EntityTypeName, s: &str| {
            EntityUid::from_type_name_and_id(t.clone(), EntityId::new(s))
        };
        let principal = uid(&self.agent_type, &action.agent_id);
        let act = uid(&self.action_type, &action.action_type);
        let resource = uid(&self.resource_type, &action.resource);
        let bucket = match how {
            Evaluation::Indexed | Evaluation::IndexedUncached => set.index.lookup(&act, &resource),
            Evaluation::Naive => &set.naive,
        };
        let evaluate = || {
            self.evaluate_bucket(
                &set,
                bucket,
                principal,
                act,
                resource,
                action,
                environment,
                risk,
            )
        };
        if how != Evaluation::Indexed {
            return evaluate();
        }
        let mut key = Vec::with_capacity(256);
        for part in [&action.agent_id, &action.action_type, &action.resource] {
            schema::encode_str(part, &mut key);
        }
        schema::encode_context(action, environment, risk, bucket.context_mask, &mut key);
        if let Some(hit) = set.cache.get(&key) {
            self.counters.hit();
            return (*hit).clone();
        }
        self.counters.miss();
        let d = evaluate();
        set.cache.put(key.into_boxed_slice(), Arc::new(d.clone()));
        d
    }

    /// Evaluate one request against one bucket with Cedar.
    #[allow(clippy::too_many_arguments)]
    fn evaluate_bucket(
        &self,
        set: &LoadedSet,
        bucket: &Bucket,
        principal: EntityUid,
        act: EntityUid,
        resource: EntityUid,
        action: &AgentAction,
        environment: &str,
        risk: &RiskAssessment,
    ) -> PolicyDecision {
        let context = match schema::build_context(action, environment, risk, bucket.context_mask) {
            Ok(c) => c,
            Err(e) => return internal_deny(format!("cannot build the policy context: {e}")),
        };
        let request = match Request::new(principal, act, resource, context, None) {
            Ok(r) => r,
            Err(e) => return internal_deny(format!("cannot build the policy request: {e}")),
        };
        self.decide(set, bucket, &request, action)
    }

    fn run(&self, request: &Request, set: &cedar_policy::PolicySet) -> Option<Response> {
        if set.is_empty() {
            None
        } else {
            Some(self.authorizer.is_authorized(request, set, &self.entities))
        }
    }

    fn decide(
        &self,
        set: &LoadedSet,
        bucket: &Bucket,
        request: &Request,
        action: &AgentAction,
    ) -> PolicyDecision {
        let idx = |id: &PolicyId| set.by_id.get(id).copied().unwrap_or(usize::MAX);
        let meta = |i: usize| set.meta.get(i);
        let sorted = |ids: &mut dyn Iterator<Item = &PolicyId>| {
            let mut v: Vec<usize> = ids.map(idx).collect();
            v.sort_unstable();
            v.dedup();
            v
        };
        let describe_errors = |resp: &Response, prefix: &str| -> Vec<String> {
            let mut errs: Vec<(usize, String)> = resp
                .diagnostics()
                .errors()
                .map(|e| {
                    let i = match e {
                        cedar_policy::AuthorizationError::PolicyEvaluationError(pe) => {
                            idx(pe.policy_id())
                        }
                    };
                    let file = meta(i).map_or("?", |m| m.file.as_str());
                    (i, format!("{prefix}{file}: {e}"))
                })
                .collect();
            errs.sort();
            errs.into_iter().map(|(_, s)| s).collect()
        };

        let no_permit = || {
            format!(
                "no policy permits action `{}` on resource `{}`",
                action.action_type, action.resource
            )
        };

        let mut decision = match self.run(request, &bucket.active) {
            None => PolicyDecision::new(Outcome::Deny, no_permit()),
            Some(resp) => {
                let reasons = sorted(&mut resp.diagnostics().reason());
                let errors = describe_errors(&resp, "");
                if !errors.is_empty() {
                    let first = resp
                        .diagnostics()
                        .errors()
                        .map(|e| match e {
                            cedar_policy::AuthorizationError::PolicyEvaluationError(pe) => {
                                idx(pe.policy_id())
                            }
                        })
                        .min()
                        .unwrap_or(usize::MAX);
                    let mut d = PolicyDecision::new(
                        Outcome::Deny,
                        format!("policy evaluation failed: {}", errors[0]),
                    );
                    if let Some(m) = meta(first) {
                        d.rule_id = Some(m.id.clone());
                        d.rule_name = Some(m.name.clone());
                        d.determining.push(m.id.clone());
                    }
                    if resp.decision() == CedarDecision::Deny {
                        d.policy_violations = reasons
                            .iter()
                            .filter_map(|&i| meta(i).map(|m| m.name.clone()))
                            .collect();
                    }
                    d.errors = errors;
                    d
                } else {
                    match resp.decision() {
                        CedarDecision::Allow => {
                            let mut d = PolicyDecision::new(Outcome::Allow, String::new());
                            fill_rule(&mut d, &reasons, &set.meta, |m| {
                                format!("allowed by policy \"{}\"", m.name)
                            });
                            d
                        }
                        CedarDecision::Deny if reasons.is_empty() => {
                            PolicyDecision::new(Outcome::Deny, no_permit())
                        }
                        CedarDecision::Deny => {
                            self.forbidden(set, bucket, request, &reasons, no_permit)
                        }
                    }
                }
            }
        };

        // Log-only policies: evaluated beside, never enforced.
        let mut log_only: Vec<usize> = Vec::new();
        for log_set in [&bucket.log_forbids, &bucket.log_permits] {
            if let Some(resp) = self.run(request, log_set) {
                log_only.extend(sorted(&mut resp.diagnostics().reason()));
                decision
                    .errors
                    .extend(describe_errors(&resp, "log-only policy in "));
            }
        }
        log_only.sort_unstable();
        decision.log_only = log_only
            .into_iter()
            .filter_map(|i| meta(i).map(|m| m.id.clone()))
            .collect();
        decision
    }

    /// Some enforced forbids matched (`reasons`, sorted): deny, or pending if all of them are
    /// approval gates and a permit matches.
    fn forbidden(
        &self,
        set: &LoadedSet,
        bucket: &Bucket,
        request: &Request,
        reasons: &[usize],
        no_permit: impl Fn() -> String,
    ) -> PolicyDecision {
        let metas: Vec<&PolicyMeta> = reasons.iter().filter_map(|&i| set.meta.get(i)).collect();
        let violations: Vec<String> = metas.iter().map(|m| m.name.clone()).collect();
        let hard: Vec<usize> = reasons
            .iter()
            .copied()
            .filter(|&i| set.meta.get(i).is_some_and(|m| m.approval.is_none()))
            .collect();
        if !hard.is_empty() {
            let mut d = PolicyDecision::new(Outcome::Deny, String::new());
            fill_rule(&mut d, &hard, &set.meta, |m| {
                format!("denied by policy \"{}\"", m.name)
            });
            d.determining = reasons
                .iter()
                .filter_map(|&i| set.meta.get(i).map(|m| m.id.clone()))
                .collect();
            d.policy_violations = violations;
            return d;
        }
        // Only approval gates matched: pending if something permits the action.
        let permitted = self.run(request, &bucket.permits).map(|resp| {
            let errs: Vec<String> = resp.diagnostics().errors().map(|e| e.to_string()).collect();
            (resp.decision() == CedarDecision::Allow, errs)
        });
        let mut d = match permitted {
            Some((_, errs)) if !errs.is_empty() => {
                // Cannot happen: the permits were already evaluated without error in the
                // combined set. Kept for safety: errors deny.
                let mut d = PolicyDecision::new(
                    Outcome::Deny,
                    format!("policy evaluation failed: {}", errs[0]),
                );
                d.errors = errs;
                d
            }
            Some((true, _)) => {
                let mut approvers: Vec<String> = Vec::new();
                let mut stages = 0;
                let mut why: Vec<String> = Vec::new();
                for m in &metas {
                    if let Some(a) = &m.approval {
                        for who in &a.approvers {
                            if !approvers.contains(who) {
                                approvers.push(who.clone());
                            }
                        }
                        stages = stages.max(a.stages);
                    }
                    why.push(
                        m.reason
                            .clone()
                            .unwrap_or_else(|| format!("policy \"{}\" requires approval", m.name)),
                    );
                }
                let mut d = PolicyDecision::new(Outcome::Pending, why.join("; "));
                d.rule_id = metas.first().map(|m| m.id.clone());
                d.rule_name = metas.first().map(|m| m.name.clone());
                d.approval = Some(Approval {
                    approvers,
                    stages: stages.max(1),
                    reason: d.reason.clone(),
                });
                d
            }
            _ => PolicyDecision::new(
                Outcome::Deny,
                format!(
                    "{}; approval rule \"{}\" would otherwise apply",
                    no_permit(),
                    metas.first().map_or("", |m| m.name.as_str())
                ),
            ),
        };
        d.determining = metas.iter().map(|m| m.id.clone()).collect();
        d.policy_violations = violations;
        d
    }
}

fn fill_rule(
    d: &mut PolicyDecision,
    determining: &[usize],
    meta: &[PolicyMeta],
    default_reason: impl Fn(&PolicyMeta) -> String,
) {
    d.determining = determining
        .iter()
        .filter_map(|&i| meta.get(i).map(|m| m.id.clone()))
        .collect();
    if let Some(m) = determining.first().and_then(|&i| meta.get(i)) {
        d.rule_id = Some(m.id.clone());
        d.rule_name = Some(m.name.clone());
        d.reason = m.reason.clone().unwrap_or_else(|| default_reason(m));
    }
}

fn internal_deny(message: String) -> PolicyDecision {
    let mut d = PolicyDecision::new(Outcome::Deny, message.clone());
    d.errors.push(message);
    d
}

/// The embedded default policy files as owned (name, text) pairs.
pub fn default_sources() -> Vec<(String, String)> {
    DEFAULT_POLICY_FILES
        .iter()
        .map(|(n, t)| ((*n).to_owned(), (*t).to_owned()))
        .collect()
}
