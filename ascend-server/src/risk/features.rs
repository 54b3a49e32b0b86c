//! Reading an action once into typed [`ActionFeatures`].
//!
//! Hints are looked up by key in `risk_indicators`, then `action_details` (and its nested
//! `parameters` / `arguments` objects), then `context` (and `context.arguments.keyword_args`, where
//! the Python MCP decorator puts tool arguments). Which keys are read lives in [`super::tables`].
//! Unknown shapes are ignored, never an error: a hint the engine cannot read contributes nothing.

use ascend_runtime::AgentAction;
use serde::Serialize;
use serde_json::{Map, Value};

use super::config::RiskConfig;
use super::content::{self, Scan};
use super::findings::Findings;
use super::tables::{self, PathClass, PathMatch};
use super::{AgentProfile, DataClass, RiskInput, Verb, money, operations, paths};

/// MCP facts of an action.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct McpFeatures {
    /// MCP server name (may be empty when only the tool is known).
    pub server: String,
    /// Tool name, lowercase.
    pub tool: String,
    /// `readOnlyHint`.
    pub read_only_hint: Option<bool>,
    /// `destructiveHint`.
    pub destructive_hint: Option<bool>,
    /// `idempotentHint`.
    pub idempotent_hint: Option<bool>,
    /// `openWorldHint`.
    pub open_world_hint: Option<bool>,
    /// The server's per-tool override (score floor).
    pub risk_override: Option<f64>,
    /// The catalogue baseline of the tool, when known.
    pub baseline: Option<f64>,
}

/// What the engine read from an action. The policy engine builds its Cedar context from this.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ActionFeatures {
    /// The operation (riskiest verb token of the action type and MCP tool).
    pub verb: Verb,
    /// First segment of the action type, lowercase (`database` for `database.write`).
    pub domain: String,
    /// Normalised environment (lowercase; empty input → `production`).
    pub environment: String,
    /// Whether the environment is production.
    pub production: bool,
    /// Sensitivity of the data touched.
    pub data_class: DataClass,
    /// Personal data is involved (indicator, classification or resource).
    pub pii: bool,
    /// Financial records are involved.
    pub financial: bool,
    /// Identities, roles or keys are involved.
    pub identity: bool,
    /// Logging or audit data is involved.
    pub audit: bool,
    /// Backups or snapshots are involved.
    pub backup: bool,
    /// Number of records or targets, when the action says.
    pub record_count: Option<i64>,
    /// 100+ records, a `bulk` hint, or an unbounded SQL delete.
    pub bulk: bool,
    /// Money amount in whole currency units, when given.
    pub amount: Option<i64>,
    /// `amount_threshold: "exceeded"` (or an amount at or above a numeric threshold).
    pub amount_threshold_exceeded: bool,
    /// Money or data goes to an external party.
    pub external_transfer: bool,
    /// The call leaves the organisation (CVSS AV:N).
    pub external_call: bool,
    /// The most sensitive path the action names, as given.
    pub path: Option<String>,
    /// What that path holds.
    pub path_class: PathClass,
    /// MCP floor increment of that path.
    pub path_increment: f64,
    /// Reason text of that path.
    pub path_label: Option<&'static str>,
    /// Recursive operation.
    pub recursive: bool,
    /// A destructive shell or SQL command (`rm -rf`, `DROP TABLE`, …).
    pub destructive_command: bool,
    /// A human is in the loop (CVSS UI:R).
    pub human_in_loop: bool,
    /// A human co-signs (CVSS PR:H).
    pub human_cosigned: bool,
    /// The effect crosses tenants (CVSS S:C).
    pub cross_tenant: bool,
    /// `compliance_flags`, lowercase.
    pub compliance_flags: Vec<String>,
    /// MCP facts, when the action is an MCP tool call.
    pub mcp: Option<McpFeatures>,
    /// The agent.
    pub agent: AgentProfile,
    /// What the content analysers found in the arguments (SQL, shell, paths, messages, …),
    /// each a risk factor with its points and floor.
    pub findings: Findings,
}

impl Default for ActionFeatures {
    fn default() -> Self {
        Self {
            verb: Verb::Other,
            domain: String::new(),
            environment: "production".to_owned(),
            production: true,
            data_class: DataClass::Internal,
            pii: false,
            financial: false,
            identity: false,
            audit: false,
            backup: false,
            record_count: None,
            bulk: false,
            amount: None,
            amount_threshold_exceeded: false,
            external_transfer: false,
            external_call: false,
            path: None,
            path_class: PathClass::None,
            path_increment: 0.0,
            path_label: None,
            recursive: false,
            destructive_command: false,
            human_in_loop: false,
            human_cosigned: false,
            cross_tenant: false,
            compliance_flags: Vec::new(),
            mcp: None,
            agent: AgentProfile::default(),
            findings: Findings::default(),
        }
    }
}

/// The maps hints are read from, in priority order.
struct Sources<'a> {
    maps: [Option<&'a Map<String, Value>>; 6],
}

impl<'a> Sources<'a> {
    fn new(action: &'a AgentAction) -> Self {
        let nested = |m: &'a Map<String, Value>, k: &str| m.get(k).and_then(Value::as_object);
        let kwargs = nested(&action.context, "arguments").and_then(|a| nested(a, "keyword_args"));
        Self {
            maps: [
                Some(&action.risk_indicators),
                Some(&action.action_details),
                nested(&action.action_details, "parameters"),
                nested(&action.action_details, "arguments"),
                Some(&action.context),
                kwargs,
            ],
        }
    }

    /// Every value stored under `key`, in priority order.
    fn all(&self, key: &'a str) -> impl Iterator<Item = &'a Value> + '_ {
        self.maps
            .iter()
            .flatten()
            .filter_map(move |m| small_map_get(m, key))
    }

    /// Whether any of `keys` holds a truthy value.
    fn any_truthy(&self, keys: &'a [&'a str]) -> bool {
        keys.iter().any(|k| self.all(k).any(truthy))
    }
}

/// `m.get(key)`, by comparison rather than hashing for the small maps actions carry (the
/// engine probes dozens of hint names per action; hashing each one dominated its cost).
pub(crate) fn small_map_get<'a>(m: &'a Map<String, Value>, key: &str) -> Option<&'a Value> {
    if m.len() <= 16 {
        m.iter().find(|(k, _)| k.as_str() == key).map(|(_, v)| v)
    } else {
        m.get(key)
    }
}

fn truthy(v: &Value) -> bool {
    match v {
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_f64().is_some_and(|f| f != 0.0),
        Value::String(s) => {
            let s = s.trim();
            s.eq_ignore_ascii_case("true")
                || s.eq_ignore_ascii_case("yes")
                || s == "1"
                || s.eq_ignore_ascii_case("external")
        }
        _ => false,
    }
}

/// A non-negative whole number from a JSON number or a string like `"50,000 USD"`.
pub(crate) fn number(v: &Value) -> Option<i64> {
    let f = match v {
        Value::Number(n) => n.as_f64()?,
        Value::String(s) => {
            let cleaned: String = s
                .chars()
                .filter(|c| c.is_ascii_digit() || *c == '.' || *c == '-')
                .collect();
            cleaned.parse::<f64>().ok()?
        }
        _ => return None,
    };
    if !f.is_finite() {
        return None;
    }
    // Saturating float → int conversion; negative amounts count by magnitude.
    Some(f.abs().floor().min(1e15) as i64)
}

fn tokens(s: &str) -> impl Iterator<Item = &str> {
    s.split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|t| !t.is_empty())
}

fn verb_of(s: &str) -> Verb {
    let mut best = Verb::Other;
    for tok in operations::words(s) {
        for (needle, verb) in tables::VERB_TOKENS {
            if tok.eq_ignore_ascii_case(needle) && verb.rank() > best.rank() {
                best = *verb;
            }
        }
    }
    best
}

fn lookup_class(table: &[(&str, DataClass)], s: &str) -> Option<DataClass> {
    let s = s.trim();
    table
        .iter()
        .find(|(k, _)| s.eq_ignore_ascii_case(k))
        .map(|(_, c)| *c)
}

/// The rows of [`tables::RESOURCE_PATTERNS`] that match a lower-case name: a needle with `_`
/// anywhere in it, any other needle at the start of one of its alphanumeric tokens (the name is
/// split into tokens once for all rows).
pub(crate) fn resource_patterns(
    name_lower: &str,
) -> impl Iterator<Item = &'static tables::ResourcePattern> + '_ {
    let toks: Vec<&str> = tokens(name_lower).collect();
    tables::RESOURCE_PATTERNS.iter().filter(move |p| {
        if p.needle.contains('_') {
            name_lower.contains(p.needle)
        } else {
            toks.iter().any(|t| t.starts_with(p.needle))
        }
    })
}

/// Sensitive-path rating of one path: (class, increment, label).
pub(crate) fn rate_path(path: &str) -> (PathClass, f64, Option<&'static str>) {
    let norm = paths::normalize(path).path;
    let mut best = (PathClass::None, 0.0, None);
    let parts: Vec<&str> = norm.split('/').collect();
    let template = parts
        .last()
        .is_some_and(|last| tables::ENV_TEMPLATES.contains(last));
    for p in tables::PATH_PATTERNS {
        let hit = match p.matches {
            PathMatch::DirPrefix(d) => {
                norm == d || (norm.starts_with(d) && norm.as_bytes().get(d.len()) == Some(&b'/'))
            }
            PathMatch::Component(c) => parts.contains(&c),
            PathMatch::ComponentPrefix(c) => parts.iter().any(|part| {
                *part == c
                    || (part.starts_with(c)
                        && matches!(part.as_bytes().get(c.len()), Some(b'.' | b'_' | b'-')))
            }),
            PathMatch::Suffix(s) => norm.ends_with(s),
            PathMatch::Contains(s) => norm.contains(s),
        };
        let hit = hit && !(template && p.class == PathClass::Secrets);
        if hit && (p.increment > best.1 || (p.increment == best.1 && p.class > best.0)) {
            best = (p.class, p.increment, Some(p.label));
        }
    }
    best
}

/// Read everything the engine needs from an input, for the process-wide organisation
/// ([`RiskConfig::global`]).
pub fn extract(input: &RiskInput<'_>) -> ActionFeatures {
    extract_with(input, RiskConfig::global())
}

/// Read everything the engine needs from an input, judging recipients and hosts against
/// `config`.
pub fn extract_with(input: &RiskInput<'_>, config: &RiskConfig) -> ActionFeatures {
    let action = input.action;
    let src = Sources::new(action);
    let mut f = ActionFeatures {
        agent: input.agent.clone(),
        ..ActionFeatures::default()
    };

    // Environment.
    let env = input.environment.trim();
    let env = if env.is_empty() {
        action
            .context
            .get("environment")
            .and_then(Value::as_str)
            .map(str::trim)
            .filter(|e| !e.is_empty())
            .unwrap_or("production")
    } else {
        env
    };
    f.environment = env.to_ascii_lowercase();
    resource_environment(&action.resource, &mut f);
    f.production = f.environment.starts_with("prod");

    // MCP tool.
    let action_type = action.action_type.as_str();
    let is_mcp = input.mcp.is_some()
        || action.mcp_server_name.is_some()
        || action_type
            .get(..4)
            .is_some_and(|p| p.eq_ignore_ascii_case("mcp."));
    if is_mcp {
        let mut m = McpFeatures::default();
        let tool_name = match input.mcp {
            Some(c) if !c.tool.is_empty() => c.tool,
            _ => action
                .action_details
                .get("tool_name")
                .and_then(Value::as_str)
                .unwrap_or_else(|| action_type.rsplit('.').next().unwrap_or(action_type)),
        };
        m.tool = tool_name
            .rsplit(['.', '/', ':'])
            .next()
            .unwrap_or(tool_name)
            .trim()
            .to_ascii_lowercase();
        m.server = match input.mcp {
            Some(c) if !c.server.is_empty() => c.server.to_owned(),
            _ => action.mcp_server_name.clone().unwrap_or_default(),
        };
        if let Some(c) = input.mcp {
            m.read_only_hint = c.read_only_hint;
            m.destructive_hint = c.destructive_hint;
            m.idempotent_hint = c.idempotent_hint;
            m.open_world_hint = c.open_world_hint;
            m.risk_override = c.risk_override.filter(|o| o.is_finite());
        }
        m.baseline = tables::MCP_TOOL_BASELINES
            .iter()
            .find(|b| b.tool == m.tool)
            .map(|b| b.floor);
        f.mcp = Some(m);
    }

    // Verb and domain.
    f.verb = verb_of(action_type);
    if let Some(m) = &f.mcp {
        let tv = verb_of(&m.tool);
        if tv.rank() > f.verb.rank() {
            f.verb = tv;
        }
    }
    if operations::has_word(action_type, tables::DRY_RUN_WORDS) {
        // A quote, an estimate or a simulation performs nothing.
        f.verb = Verb::Read;
    }
    f.domain = tokens(action_type)
        .next()
        .unwrap_or_default()
        .to_ascii_lowercase();

    // Data class: explicit classification and resource patterns, raised by the flags below.
    let mut explicit: Option<DataClass> = None;
    let raise = |c: Option<DataClass>, slot: &mut Option<DataClass>| {
        if let Some(c) = c {
            *slot = Some(slot.map_or(c, |s| s.max(c)));
        }
    };
    for key in ["data_classification", "classification", "data_class"] {
        for v in src.all(key) {
            raise(
                v.as_str()
                    .and_then(|s| lookup_class(tables::CLASSIFICATIONS, s)),
                &mut explicit,
            );
        }
    }
    for key in ["data_sensitivity", "sensitivity"] {
        for v in src.all(key) {
            raise(
                v.as_str()
                    .and_then(|s| lookup_class(tables::SENSITIVITIES, s)),
                &mut explicit,
            );
        }
    }
    let resource_lower = action.resource.to_ascii_lowercase();
    for p in resource_patterns(&resource_lower) {
        raise(Some(p.class), &mut explicit);
        f.financial |= p.financial;
        f.identity |= p.identity;
        f.audit |= p.audit;
        f.backup |= p.backup;
    }
    let mut class = explicit.unwrap_or(DataClass::Internal);
    if src.any_truthy(&["pii_involved", "pii", "contains_pii", "personal_data"]) {
        f.pii = true;
    }
    if src.any_truthy(&["financial_data"]) {
        f.financial = true;
    }
    for v in src.all("compliance_flags") {
        if let Some(arr) = v.as_array() {
            for flag in arr.iter().filter_map(Value::as_str) {
                let flag = flag.trim().to_ascii_lowercase();
                if let Some(c) = lookup_class(tables::COMPLIANCE_FLAGS, &flag) {
                    class = class.max(c);
                }
                if !f.compliance_flags.contains(&flag) {
                    f.compliance_flags.push(flag);
                }
            }
        }
    }

    f.pii |= class >= DataClass::Pii;

    // Paths.
    let consider_path = |p: &str, f: &mut ActionFeatures| {
        let p = p.trim();
        if p.is_empty() {
            return;
        }
        let (pc, inc, label) = rate_path(p);
        if f.path.is_none() || inc > f.path_increment {
            f.path = Some(p.to_owned());
            f.path_class = pc;
            f.path_increment = inc;
            f.path_label = label;
        }
    };
    for key in tables::PATH_KEYS {
        for v in src.all(key) {
            if let Some(s) = v.as_str() {
                consider_path(s, &mut f);
            }
        }
    }
    if paths::looks_like_path(&action.resource) && f.path.as_deref() != Some(&action.resource) {
        consider_path(&action.resource, &mut f);
    }
    if let Some(rid) = action.resource_id.as_deref()
        && paths::looks_like_path(rid)
    {
        consider_path(rid, &mut f);
    }
    match f.path_class {
        PathClass::Credentials | PathClass::Secrets => {
            class = class.max(DataClass::Restricted);
            f.identity = true;
        }
        PathClass::SystemConfig | PathClass::System => class = class.max(DataClass::Confidential),
        PathClass::None => {}
    }
    if f.pii {
        class = class.max(DataClass::Pii);
    }
    if f.financial {
        class = class.max(DataClass::Confidential);
    }
    f.data_class = class;

    // Records.
    let mut count: Option<i64> = None;
    let mut bump = |n: i64| count = Some(count.map_or(n, |c| c.max(n)));
    for key in tables::COUNT_KEYS {
        for v in src.all(key) {
            if let Some(n) = number(v) {
                bump(n);
            }
        }
    }
    for key in tables::TARGET_LIST_KEYS {
        for v in src.all(key) {
            if let Some(arr) = v.as_array() {
                bump(i64::try_from(arr.len()).unwrap_or(i64::MAX));
            }
        }
    }
    let bulk_hint = src.any_truthy(&["bulk", "bulk_operation", "batch"]);
    if bulk_hint {
        bump(tables::BULK_IMPLIED_COUNT);
    }

    f.record_count = count;
    f.bulk = count.is_some_and(|c| c >= 100);
    f.recursive |= src.any_truthy(tables::RECURSIVE_KEYS);

    // Money.
    let mut amount: Option<i64> = None;
    for key in tables::AMOUNT_KEYS {
        for v in src.all(key) {
            if let Some(n) = number(v) {
                amount = Some(amount.map_or(n, |a| a.max(n)));
            }
        }
    }
    f.amount = amount;
    f.amount_threshold_exceeded = src.any_truthy(&["threshold_exceeded"])
        || src.all("amount_threshold").any(|v| match v {
            Value::String(s) => {
                let s = s.trim().to_ascii_lowercase();
                matches!(
                    s.as_str(),
                    "exceeded" | "exceeds" | "above" | "over" | "true"
                ) || number(v).zip(amount).is_some_and(|(t, a)| a >= t && t > 0)
            }
            Value::Bool(b) => *b,
            Value::Number(_) => number(v).zip(amount).is_some_and(|(t, a)| a >= t),
            _ => false,
        });
    f.external_transfer = src.any_truthy(tables::EXTERNAL_KEYS)
        || tables::DESTINATION_KEYS.iter().any(|k| {
            src.all(k).any(|v| {
                v.as_str()
                    .is_some_and(|s| s.to_ascii_lowercase().contains("external"))
            })
        });

    // Reach and humans.
    let mcp_open_world = f
        .mcp
        .as_ref()
        .is_some_and(|m| m.open_world_hint == Some(true));
    f.external_call = f.external_transfer
        || f.verb == Verb::Send
        || mcp_open_world
        || tokens(action_type).any(|t| {
            tables::EXTERNAL_TOKENS
                .iter()
                .any(|e| t.eq_ignore_ascii_case(e))
        });
    f.human_in_loop = src.any_truthy(tables::HUMAN_IN_LOOP_KEYS);
    f.human_cosigned = src.any_truthy(tables::HUMAN_COSIGN_KEYS);
    f.cross_tenant = src.any_truthy(tables::CROSS_TENANT_KEYS);

    money_features(action, &mut f);
    analyze_content(action, config, &mut f);

    // A destructive command run through an execution verb destroys.
    if f.destructive_command && f.verb == Verb::Execute {
        f.verb = Verb::Delete;
    }
    f
}

/// Environment words in a resource name (`production_db`, `prod-customer-uploads`,
/// `staging_db`) say where the effect lands, whatever environment the request declared:
/// production words win, then non-production words. Paths are not environment names.
fn resource_environment(resource: &str, f: &mut ActionFeatures) {
    if resource.is_empty() || paths::looks_like_path(resource) {
        return;
    }
    if operations::has_word(resource, tables::PRODUCTION_WORDS) {
        if !f.environment.starts_with("prod") {
            f.findings.add(
                "production_resource",
                tables::PRODUCTION_RESOURCE_POINTS,
                super::findings::Floor::None,
                || format!("resource `{resource}` is named for production"),
            );
        }
        f.environment = "production".to_owned();
    } else if let Some(w) = operations::words(resource).find(|w| {
        tables::NON_PRODUCTION_WORDS
            .iter()
            .any(|n| w.eq_ignore_ascii_case(n))
    }) {
        f.environment = match w.to_ascii_lowercase().as_str() {
            "dev" => "development".to_owned(),
            "stage" | "stg" => "staging".to_owned(),
            "testing" | "qa" | "ci" => "test".to_owned(),
            other => other.to_owned(),
        };
    }
}

/// Money: the amount in US dollars (currencies and minor units read), payments recognised by
/// their shape (an amount, a currency and a beneficiary), and money leaving by default.
fn money_features(action: &AgentAction, f: &mut ActionFeatures) {
    let maps = content::maps_of(action);
    let minor = minor_units(action);
    let Some(a) = money::amount(&maps, minor) else {
        return;
    };
    let currency_given = tables::CURRENCY_KEYS
        .iter()
        .any(|k| content::args_of(&maps, k).next().is_some());
    if matches!(f.verb, Verb::Send | Verb::Other)
        && currency_given
        && money::names_beneficiary(&maps)
    {
        f.verb = Verb::Transfer;
    }
    f.amount = Some(money::whole(a.usd));
    let leaves_by_nature =
        operations::has_word(&action.action_type, tables::OUTBOUND_PAYMENT_WORDS);
    if f.verb == Verb::Transfer
        && !money::marked_internal(&maps)
        && (money::names_beneficiary(&maps) || f.external_transfer || leaves_by_nature)
    {
        f.external_transfer = true;
    }
}

/// Card-processor APIs (Stripe) count amounts in the currency's minor unit.
fn minor_units(action: &AgentAction) -> bool {
    operations::has_word(&action.action_type, &["stripe"])
        || action.resource.eq_ignore_ascii_case("stripe")
}

/// Run the content analysers and fold what they found into the features.
fn analyze_content(action: &AgentAction, config: &RiskConfig, f: &mut ActionFeatures) {
    let mut scan = Scan::new(config, f.production);
    scan.findings = std::mem::take(&mut f.findings);
    let tool = f.mcp.as_ref().map(|m| m.tool.as_str());
    let maps = content::maps_of(action);
    let present = content::Present::of(&maps);
    content::scan_action(action, f.verb, &f.domain, present, &mut scan);
    content::path_uses(action, f.verb, tool, f.recursive, present, &mut scan);
    operations::apply(
        &action.action_type,
        &action.resource,
        f.verb,
        &maps,
        &mut scan,
    );
    if f.verb == Verb::Transfer {
        let amount = money::amount(&maps, minor_units(action));
        operations::payments(amount, f.verb, &maps, f.external_transfer, &mut scan);
    }
    merge(scan, f);
}

/// Fold a [`Scan`] into the features.
fn merge(scan: Scan<'_>, f: &mut ActionFeatures) {
    if scan.verb.rank() > f.verb.rank() {
        f.verb = scan.verb;
    }
    f.destructive_command |= scan.destructive;
    f.recursive |= scan.recursive;
    if let Some(n) = scan.record_count {
        f.record_count = Some(f.record_count.map_or(n, |c| c.max(n)));
    }
    f.bulk = f.record_count.is_some_and(|c| c >= 100);
    if scan.external {
        f.external_call = true;
        if f.verb != Verb::Transfer {
            f.external_transfer = true;
        }
    } else if scan.urls_internal == Some(true) && !f.external_transfer {
        // `http_request` to `inventory.internal`: the action-type word said "web", the URL
        // says the call stays inside.
        f.external_call = false;
    }
    f.audit |= scan.defense_off;
    f.backup |= scan.backup;
    f.identity |= scan.identity;
    let mut class = f.data_class;
    for t in &scan.tables {
        for p in resource_patterns(t) {
            class = class.max(p.class);
            f.financial |= p.financial;
            f.identity |= p.identity;
            f.audit |= p.audit;
            f.backup |= p.backup;
        }
    }
    if scan.pii {
        f.pii = true;
        class = class.max(DataClass::Pii);
    }
    if scan.secrets {
        class = class.max(DataClass::Restricted);
    }
    f.data_class = class;
    for p in &scan.paths {
        if f.path.as_deref() == Some(p.as_str()) {
            continue;
        }
        let (pc, inc, label) = rate_path(p);
        if f.path.is_none() || inc > f.path_increment {
            f.path = Some(p.clone());
            f.path_class = pc;
            f.path_increment = inc;
            f.path_label = label;
        }
    }
    f.findings = scan.findings;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_are_rated_by_component() {
        assert_eq!(rate_path("/etc/config.yaml").0, PathClass::SystemConfig);
        assert_eq!(rate_path("/etcetera/x").0, PathClass::None);
        assert_eq!(rate_path("~/.ssh").0, PathClass::Credentials);
        assert_eq!(rate_path("/app/.env.local").0, PathClass::Secrets);
        assert_eq!(rate_path("/app/.envoy").0, PathClass::None);
        assert_eq!(rate_path("C:\\Windows\\System32").0, PathClass::System);
    }

    #[test]
    fn numbers_are_read_leniently() {
        assert_eq!(number(&Value::from("50,000 USD")), Some(50_000));
        assert_eq!(number(&Value::from(150)), Some(150));
        assert_eq!(number(&Value::from(-20.7)), Some(20));
        assert_eq!(number(&Value::from("abc")), None);
        assert_eq!(number(&Value::Bool(true)), None);
    }

    #[test]
    fn verbs_pick_the_riskiest_token() {
        assert_eq!(verb_of("database.write"), Verb::Write);
        assert_eq!(verb_of("data_access"), Verb::Read);
        assert_eq!(verb_of("mcp.delete_file"), Verb::Delete);
        assert_eq!(verb_of("list_directory"), Verb::List);
        assert_eq!(verb_of("transaction"), Verb::Transfer);
        assert_eq!(verb_of("whatever"), Verb::Other);
    }
}
