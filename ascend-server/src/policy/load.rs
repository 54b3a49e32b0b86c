//! Loading policy files: parsing, annotations, ids, schema validation.

use std::collections::{BTreeSet, HashMap};
use std::path::Path;
use std::str::FromStr;

use cedar_policy::{
    ActionConstraint, Effect, Policy, PolicyId, PolicySet, Schema, ValidationMode, Validator,
};
use miette::Diagnostic;

use super::PolicyError;
use super::schema;

/// Whether a policy is enforced or only recorded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Enforced (the default).
    Enforce,
    /// Evaluated and reported in `log_only`, never enforced (`@mode("log_only")`).
    LogOnly,
}

/// What an `@approval` forbid requires.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApprovalSpec {
    /// Approver roles or names, in stage order.
    pub approvers: Vec<String>,
    /// Number of sequential stages.
    pub stages: u32,
}

/// Everything the engine keeps about one policy besides the Cedar policy itself.
#[derive(Debug, Clone)]
pub struct PolicyMeta {
    /// `@id`, or `<file>:<n>` (n = position in the file, from 1).
    pub id: String,
    /// `@name`, or the id.
    pub name: String,
    /// `@reason`, when given.
    pub reason: Option<String>,
    /// File the policy came from.
    pub file: String,
    /// Permit or forbid.
    pub effect: Effect,
    /// Enforced or log-only.
    pub mode: Mode,
    /// `@approval` (forbids only).
    pub approval: Option<ApprovalSpec>,
    /// Context attributes the policy reads (bit mask over [`schema::CONTEXT_ATTRIBUTES`]).
    pub context_attrs: u64,
}

/// Context attributes a policy reads: every `context.x`, `context["x"]` and `context has x`;
/// any other use of `context` as a whole (or an unreadable policy) means all attributes.
pub fn referenced_attributes(p: &Policy) -> u64 {
    fn is_context(v: &serde_json::Value) -> bool {
        v.get("Var").and_then(serde_json::Value::as_str) == Some("context")
    }
    fn walk(v: &serde_json::Value, mask: &mut u64) {
        match v {
            serde_json::Value::Object(map) => {
                if is_context(v) {
                    *mask = schema::ALL_ATTRIBUTES;
                    return;
                }
                for (key, inner) in map {
                    if (key == "." || key == "has") && inner.get("left").is_some_and(is_context) {
                        match inner
                            .get("attr")
                            .and_then(serde_json::Value::as_str)
                            .and_then(schema::attribute_bit)
                        {
                            Some(bit) => *mask |= bit,
                            None => *mask = schema::ALL_ATTRIBUTES,
                        }
                    } else {
                        walk(inner, mask);
                    }
                }
            }
            serde_json::Value::Array(items) => items.iter().for_each(|i| walk(i, mask)),
            _ => {}
        }
    }
    match p.to_json() {
        Ok(json) => {
            let mut mask = 0;
            walk(&json, &mut mask);
            mask
        }
        Err(_) => schema::ALL_ATTRIBUTES,
    }
}

/// Annotations the engine understands; any other annotation is refused (catches typos such as
/// `@aproval`, which would otherwise silently turn an approval gate into a hard deny).
pub const KNOWN_ANNOTATIONS: &[&str] = &[
    "id",
    "name",
    "reason",
    "approval",
    "approvers",
    "mode",
    "description",
    "severity",
    "owner",
];

/// Parse `@approval` / `@approvers` values (see the module docs of [`super`]).
pub fn parse_approval(approval: &str, approvers: Option<&str>) -> ApprovalSpec {
    let mut roles = Vec::new();
    let mut stage_numbers = BTreeSet::new();
    for (pos, entry) in approval
        .split(',')
        .map(str::trim)
        .filter(|e| !e.is_empty())
        .enumerate()
    {
        let stage_prefix = |prefix: &str| -> Option<u32> {
            let (word, digits) = (prefix.get(..5)?, prefix.get(5..)?);
            if word.eq_ignore_ascii_case("stage")
                && !digits.is_empty()
                && digits.chars().all(|c| c.is_ascii_digit())
            {
                digits.parse().ok()
            } else {
                None
            }
        };
        let (stage, role) = match entry
            .split_once(':')
            .and_then(|(p, r)| stage_prefix(p).map(|n| (n, r.trim())))
        {
            Some(found) => found,
            None => (u32::try_from(pos + 1).unwrap_or(u32::MAX), entry),
        };
        if !role.is_empty() {
            stage_numbers.insert(stage);
            roles.push(role.to_owned());
        }
    }
    for name in approvers
        .unwrap_or("")
        .split(',')
        .map(str::trim)
        .filter(|e| !e.is_empty())
    {
        if !roles.iter().any(|r| r == name) {
            roles.push(name.to_owned());
        }
    }
    if roles.is_empty() {
        roles.push("admin".to_owned());
    }
    ApprovalSpec {
        approvers: roles,
        stages: u32::try_from(stage_numbers.len())
            .unwrap_or(u32::MAX)
            .max(1),
    }
}

/// "line L, column C" of a byte offset.
fn line_col(src: &str, offset: usize) -> (usize, usize) {
    let upto = src.get(..offset.min(src.len())).unwrap_or(src);
    let line = upto.matches('\n').count() + 1;
    let col = upto.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, col)
}

fn describe(diag: &dyn Diagnostic, msg: String, src: Option<&str>) -> String {
    let mut out = String::new();
    if let (Some(src), Some(label)) = (src, diag.labels().and_then(|mut l| l.next())) {
        let (line, col) = line_col(src, label.offset());
        out.push_str(&format!("line {line}, column {col}: "));
    }
    out.push_str(&msg);
    if let Some(help) = diag.help() {
        out.push_str(&format!(" (help: {help})"));
    }
    out
}

/// The policies of all files, validated, in load order, with their metadata.
pub struct Loaded {
    /// Cedar policies, ids already set to `meta[i].id`.
    pub policies: Vec<Policy>,
    /// Metadata, same order.
    pub meta: Vec<PolicyMeta>,
}

/// Parse and validate sources (file name, text), in the given order.
pub fn load_sources(sources: &[(String, String)]) -> Result<Loaded, PolicyError> {
    let mut policies = Vec::new();
    let mut meta: Vec<PolicyMeta> = Vec::new();
    let mut seen: HashMap<String, String> = HashMap::new();

    for (file, text) in sources {
        let set = PolicySet::from_str(text).map_err(|errs| {
            let msgs: Vec<String> = errs
                .iter()
                .map(|e| describe(e, e.to_string(), Some(text)))
                .collect();
            PolicyError::Parse {
                file: file.clone(),
                message: msgs.join("; "),
            }
        })?;
        if set.templates().next().is_some() {
            return Err(PolicyError::Parse {
                file: file.clone(),
                message: "policy templates (?principal / ?resource slots) are not supported"
                    .to_owned(),
            });
        }
        // The parser numbers policies policy0, policy1, … in source order.
        let mut in_file: Vec<(usize, &Policy)> = set
            .policies()
            .map(|p| {
                let id: &str = p.id().as_ref();
                let n = id
                    .strip_prefix("policy")
                    .and_then(|d| d.parse::<usize>().ok())
                    .unwrap_or(usize::MAX);
                (n, p)
            })
            .collect();
        in_file.sort_by_key(|(n, _)| *n);

        for (pos, (_, p)) in in_file.into_iter().enumerate() {
            let fallback = format!("{file}:{}", pos + 1);
            let id = p
                .annotation("id")
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map_or(fallback, str::to_owned);
            let bad = |message: String| PolicyError::Annotation {
                file: file.clone(),
                policy: id.clone(),
                message,
            };
            for (key, _) in p.annotations() {
                if !KNOWN_ANNOTATIONS.contains(&key) {
                    return Err(bad(format!(
                        "unknown annotation @{key} (known: {})",
                        KNOWN_ANNOTATIONS.join(", ")
                    )));
                }
            }
            if let Some(first) = seen.get(&id) {
                return Err(PolicyError::DuplicateId {
                    id,
                    first: first.clone(),
                    second: file.clone(),
                });
            }
            let mode = match p.annotation("mode").map(str::trim) {
                None | Some("enforce") | Some("active") => Mode::Enforce,
                Some("log_only") | Some("log-only") | Some("shadow") => Mode::LogOnly,
                Some(other) => {
                    return Err(bad(format!(
                        "@mode(\"{other}\") is not one of \"enforce\", \"log_only\""
                    )));
                }
            };
            let approval = match p.annotation("approval") {
                None => {
                    if p.annotation("approvers").is_some() {
                        return Err(bad("@approvers needs @approval on the same policy".into()));
                    }
                    None
                }
                Some(value) => {
                    if p.effect() != Effect::Forbid {
                        return Err(bad(
                            "@approval only applies to forbid policies (a permit cannot require approval)"
                                .into(),
                        ));
                    }
                    Some(parse_approval(value, p.annotation("approvers")))
                }
            };
            let name = p
                .annotation("name")
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map_or_else(|| id.clone(), str::to_owned);
            let reason = p
                .annotation("reason")
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_owned);
            seen.insert(id.clone(), file.clone());
            let context_attrs = referenced_attributes(p);
            policies.push(p.new_id(PolicyId::new(&id)));
            meta.push(PolicyMeta {
                id,
                name,
                reason,
                file: file.clone(),
                effect: p.effect(),
                mode,
                approval,
                context_attrs,
            });
        }
    }

    let texts: HashMap<&str, &str> = sources
        .iter()
        .map(|(f, t)| (f.as_str(), t.as_str()))
        .collect();
    validate(&policies, &meta, &texts)?;
    Ok(Loaded { policies, meta })
}

/// Validate against the schema of the context the engine provides. Actions are free strings, so
/// the schema declares every action the policies name (plus a placeholder).
fn validate(
    policies: &[Policy],
    meta: &[PolicyMeta],
    texts: &HashMap<&str, &str>,
) -> Result<(), PolicyError> {
    let mut actions: BTreeSet<String> = BTreeSet::new();
    let mut set = PolicySet::new();
    for p in policies {
        let mut note = |uid: &cedar_policy::EntityUid| {
            if uid.type_name().to_string() == schema::ACTION_TYPE {
                actions.insert(uid.id().unescaped().to_owned());
            }
        };
        match p.action_constraint() {
            ActionConstraint::Any => {}
            ActionConstraint::Eq(uid) => note(&uid),
            ActionConstraint::In(uids) => uids.iter().for_each(&mut note),
        }
        for uid in p.entity_literals() {
            note(&uid);
        }
        set.add(p.clone())
            .map_err(|e| PolicyError::Internal(e.to_string()))?;
    }
    let json = schema::schema_json(actions.iter().map(String::as_str));
    let schema = Schema::from_json_value(json)
        .map_err(|e| PolicyError::Internal(format!("generated schema is invalid: {e}")))?;
    let result = Validator::new(schema).validate(&set, ValidationMode::Strict);
    let by_id: HashMap<&str, &PolicyMeta> = meta.iter().map(|m| (m.id.as_str(), m)).collect();
    let mut errors: Vec<String> = result
        .validation_errors()
        .map(|e| {
            let id = e.policy_id().to_string();
            let (file, name) = by_id
                .get(id.as_str())
                .map_or(("?", id.as_str()), |m| (m.file.as_str(), m.name.as_str()));
            let detail = describe(e, e.to_string(), texts.get(file).copied());
            format!("{file}: policy `{id}` ({name}): {detail}")
        })
        .collect();
    errors.sort();
    errors.dedup();
    if errors.is_empty() {
        Ok(())
    } else {
        Err(PolicyError::Validation { errors })
    }
}

/// Read every `*.cedar` file of a directory, sorted by file name.
pub fn read_dir(dir: &Path) -> Result<Vec<(String, String)>, PolicyError> {
    let io = |source| PolicyError::Io {
        path: dir.to_path_buf(),
        source,
    };
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(io)? {
        let entry = entry.map_err(io)?;
        let path = entry.path();
        if path.extension().and_then(|e| e.to_str()) != Some("cedar") || !path.is_file() {
            continue;
        }
        let name = entry.file_name().to_string_lossy().into_owned();
        let text = std::fs::read_to_string(&path).map_err(|source| PolicyError::Io {
            path: path.clone(),
            source,
        })?;
        files.push((name, text));
    }
    if files.is_empty() {
        return Err(PolicyError::NoPolicies(dir.to_path_buf()));
    }
    files.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(files)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn referenced_attributes_are_found() {
        let mask = |src: &str| referenced_attributes(&Policy::parse(None, src).expect("parses"));
        let bit = |n: &str| schema::attribute_bit(n).expect("known attribute");
        assert_eq!(mask("permit(principal, action, resource);"), 0);
        assert_eq!(
            mask(
                r#"permit(principal, action, resource) when { context.amount > 1 && context has mcp && context["bulk"] };"#
            ),
            bit("amount") | bit("mcp") | bit("bulk")
        );
        assert_eq!(
            mask("permit(principal, action, resource) when { context == context };"),
            schema::ALL_ATTRIBUTES
        );
    }

    #[test]
    fn approval_annotation_forms() {
        let a = parse_approval("stage1:finance_manager, stage2:cfo", None);
        assert_eq!(a.approvers, ["finance_manager", "cfo"]);
        assert_eq!(a.stages, 2);
        let a = parse_approval("security_team", Some("alice@example.com"));
        assert_eq!(a.approvers, ["security_team", "alice@example.com"]);
        assert_eq!(a.stages, 1);
        let a = parse_approval("stage1:lead, stage1:manager", None);
        assert_eq!(a.stages, 1);
        let a = parse_approval("ståge1:x, stage:y", None);
        assert_eq!(a.approvers, ["ståge1:x", "stage:y"]);
        let a = parse_approval("", None);
        assert_eq!(a.approvers, ["admin"]);
        assert_eq!(a.stages, 1);
    }
}
