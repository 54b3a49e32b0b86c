//! Rules on the operation an action type names (cloud SDK calls, identity providers, code hosts,
//! payments) combined with its arguments: switching off logging or MFA, minting credentials,
//! privilege grants, public exposure, network openings, whole-container deletes, production
//! code changes, protected branches, bank-detail changes, money leaving.
//!
//! The words of an action type are split at every non-alphanumeric character and at camelCase
//! boundaries (`serviceAccountKeys.create` → service, account, keys, create).

use serde_json::{Map, Value};

use super::content::{Scan, args_of};
use super::money::{self, Amount};
use super::shell::is_protected_branch;
use super::{Verb, tables};

type Maps<'a> = [Option<&'a Map<String, Value>>; 4];

/// The words of a name, split at non-alphanumerics and camelCase boundaries (slices of the
/// name, case kept; compare with [`str::eq_ignore_ascii_case`]).
pub fn words(s: &str) -> Words<'_> {
    Words { s, pos: 0 }
}

/// Iterator of [`words`].
#[derive(Debug, Clone)]
pub struct Words<'a> {
    s: &'a str,
    pos: usize,
}

impl<'a> Iterator for Words<'a> {
    type Item = &'a str;

    fn next(&mut self) -> Option<&'a str> {
        let b = self.s.as_bytes();
        while self.pos < b.len() && !b[self.pos].is_ascii_alphanumeric() {
            self.pos += 1;
        }
        if self.pos >= b.len() {
            return None;
        }
        let start = self.pos;
        self.pos += 1;
        while self.pos < b.len() && b[self.pos].is_ascii_alphanumeric() {
            let camel = b[self.pos].is_ascii_uppercase()
                && (b[self.pos - 1].is_ascii_lowercase() || b[self.pos - 1].is_ascii_digit());
            if camel {
                break;
            }
            self.pos += 1;
        }
        Some(&self.s[start..self.pos])
    }
}

/// Whether a name has one of the words of `set` (case-insensitive).
pub fn has_word(s: &str, set: &[&str]) -> bool {
    words(s).any(|w| set.iter().any(|x| w.eq_ignore_ascii_case(x)))
}

fn any(words: &[&str], set: &[&str]) -> bool {
    words
        .iter()
        .any(|w| set.iter().any(|x| w.eq_ignore_ascii_case(x)))
}

/// Every string value of the arguments (two levels deep), for marker checks.
fn strings<'a>(maps: &Maps<'a>, out: &mut Vec<&'a str>) {
    fn walk<'a>(v: &'a Value, out: &mut Vec<&'a str>, depth: u8) {
        if depth > 5 || out.len() > 64 {
            return;
        }
        match v {
            Value::String(s) => out.push(s),
            Value::Array(a) => a.iter().for_each(|x| walk(x, out, depth + 1)),
            Value::Object(o) => o.values().for_each(|x| walk(x, out, depth + 1)),
            _ => {}
        }
    }
    for m in maps.iter().flatten() {
        m.values().for_each(|v| walk(v, out, 0));
    }
}

/// Whether a key anywhere (two levels deep) holds `false` or `null`.
fn weakened(maps: &Maps<'_>, keys: &[&str]) -> bool {
    fn walk(v: &Value, keys: &[&str], depth: u8) -> bool {
        match v {
            Value::Object(o) if depth < 4 => o.iter().any(|(k, x)| {
                (keys.iter().any(|n| k.eq_ignore_ascii_case(n))
                    && matches!(x, Value::Bool(false) | Value::Null))
                    || walk(x, keys, depth + 1)
            }),
            _ => false,
        }
    }
    maps.iter().flatten().any(|m| {
        m.iter().any(|(k, x)| {
            (keys.iter().any(|n| k.eq_ignore_ascii_case(n))
                && matches!(x, Value::Bool(false) | Value::Null))
                || walk(x, keys, 1)
        })
    })
}

/// Apply the operation rules.
pub(crate) fn apply(
    action_type: &str,
    resource: &str,
    verb: Verb,
    maps: &Maps<'_>,
    scan: &mut Scan<'_>,
) {
    // Up to 16 words each (action types and resource names are short); no allocation.
    let mut op_buf = [""; 16];
    let mut all_buf = [""; 32];
    let mut n_op = 0;
    for w in words(action_type).take(16) {
        op_buf[n_op] = w;
        all_buf[n_op] = w;
        n_op += 1;
    }
    let mut n_all = n_op;
    for w in words(resource).take(16) {
        all_buf[n_all] = w;
        n_all += 1;
    }
    let (op, all) = (&op_buf[..n_op], &all_buf[..n_all]);
    let mut values = Vec::new();
    let removes = any(op, tables::REMOVAL_WORDS) || verb == Verb::Delete;
    let mutates = verb.is_mutation() || removes || any(op, tables::CHANGE_WORDS);
    let reads = any(op, tables::READ_ONLY_WORDS) && !removes;
    if mutates && !reads {
        strings(maps, &mut values);
    }

    if any(all, tables::DEFENSE_WORDS) && (removes || any(op, &["stop", "disable"])) {
        scan.defense_block(
            "defense_off",
            "switches off or deletes logging, audit or threat detection",
        );
    }
    if any(op, tables::MFA_WORDS) && removes {
        scan.identity = true;
        scan.defense_block("mfa_removed", "removes multi-factor authentication");
    }
    identity(op, all, &values, mutates && !reads, removes, scan);
    exposure(maps, &values, mutates && !reads, scan);
    network(op, &values, mutates && !reads, scan);
    if removes && !reads {
        containers(op, all, maps, scan);
    }
    code_changes(op, maps, &values, mutates && !reads, scan);
    if mutates
        && verb != Verb::Transfer
        && tables::BANK_DETAIL_KEYS
            .iter()
            .any(|k| args_of(maps, k).next().is_some())
    {
        scan.hold(
            "bank_details_change",
            "changes the bank account money is paid to".to_owned(),
        );
    }
}

fn identity(
    op: &[&str],
    all: &[&str],
    values: &[&str],
    mutates: bool,
    removes: bool,
    scan: &mut Scan<'_>,
) {
    let credential = any(op, tables::CREDENTIAL_WORDS);
    if credential && any(op, &["create", "generate", "mint", "issue", "new"]) {
        scan.identity = true;
        scan.hold(
            "credential_minted",
            "mints a new credential or key".to_owned(),
        );
    } else if credential && any(op, &["reset"]) {
        scan.identity = true;
        scan.hold(
            "credential_reset",
            "resets a password or credential (account takeover path)".to_owned(),
        );
    } else if credential && removes && !any(all, &["kms"]) {
        scan.identity = true;
        scan.hold("credential_removed", "removes a credential".to_owned());
    }
    // Identity systems are named by the operation (`iam.create_user`, `okta.groups.add_user`,
    // `grant_role`); a database table called `users` is data, judged by the SQL rules.
    let rows_judged = scan.findings.iter().any(|f| f.name.starts_with("sql_"));
    if !(mutates && any(op, tables::IDENTITY_WORDS)) || rows_judged {
        return;
    }
    scan.identity = true;
    scan.verb_at_least(Verb::Grant);
    let broad = values.iter().any(|v| {
        let compact: String = v.chars().filter(|c| !c.is_whitespace()).collect();
        let lower = compact.to_ascii_lowercase();
        tables::PRIVILEGED_MARKERS.iter().any(|m| lower.contains(m))
            || tables::PRIVILEGED_VALUES.contains(&lower.as_str())
    });
    if broad {
        scan.block(
            "broad_privilege_grant",
            "grants administrator, owner or wildcard privileges".to_owned(),
        );
    } else {
        scan.hold(
            "identity_change",
            "changes users, roles, groups or permissions".to_owned(),
        );
    }
}

fn exposure(maps: &Maps<'_>, values: &[&str], mutates: bool, scan: &mut Scan<'_>) {
    if !mutates {
        return;
    }
    let public_value = values.iter().any(|v| {
        let lower = v.to_ascii_lowercase();
        tables::PUBLIC_MARKERS.contains(&lower.as_str())
    });
    let guard_off = weakened(maps, tables::PUBLIC_GUARD_KEYS)
        || args_of(maps, "private").any(|v| v.as_bool() == Some(false));
    if public_value || guard_off {
        scan.block(
            "made_public",
            "makes a private resource readable by anyone".to_owned(),
        );
    }
}

fn network(op: &[&str], values: &[&str], mutates: bool, scan: &mut Scan<'_>) {
    if !(mutates || any(op, &["authorize", "insert", "open"])) || !any(op, tables::NETWORK_WORDS) {
        return;
    }
    if any(op, tables::READ_ONLY_WORDS) {
        return;
    }
    scan.verb_at_least(Verb::Configure);
    let world = values.iter().any(|v| *v == "0.0.0.0/0" || *v == "::/0");
    if world {
        scan.block(
            "opened_to_internet",
            "opens network access to the whole internet".to_owned(),
        );
    } else {
        scan.hold(
            "network_rule_change",
            "changes network access rules".to_owned(),
        );
    }
}

fn containers(op: &[&str], all: &[&str], maps: &Maps<'_>, scan: &mut Scan<'_>) {
    let count = args_of(maps, "InstanceIds")
        .chain(args_of(maps, "instance_ids"))
        .find_map(Value::as_array)
        .map_or(0, Vec::len);
    if count > 0 {
        scan.count(i64::try_from(count).unwrap_or(i64::MAX));
    }
    if any(all, tables::BACKUP_WORDS) {
        scan.backup = true;
        scan.destroy_block("backup_deleted", "deletes backups: inhibits recovery");
    } else if any(op, &["kms"]) || (any(op, &["key"]) && any(all, &["kms", "encryption"])) {
        scan.destroy_block(
            "encryption_key_destroyed",
            "destroys an encryption key: the data it protects becomes unreadable",
        );
    } else if let Some(noun) = op
        .iter()
        .skip(1)
        .find(|w| any(&[**w], tables::CONTAINER_WORDS))
        .filter(|_| {
            scan.tables.is_empty() && !scan.findings.iter().any(|f| f.name.starts_with("sql_"))
        })
    {
        let reason = format!("deletes a whole {noun} and everything in it");
        let production = scan.production;
        scan.count(tables::BULK_IMPLIED_COUNT);
        scan.destroy_block_if(production, "container_deleted", &reason);
    } else if any(op, tables::COMPUTE_WORDS) && scan.production {
        scan.destructive = true;
        scan.hold(
            "compute_terminated",
            "terminates production compute".to_owned(),
        );
    }
}

fn code_changes(op: &[&str], maps: &Maps<'_>, values: &[&str], mutates: bool, scan: &mut Scan<'_>) {
    if any(op, &["merge"]) {
        scan.hold(
            "merge_to_base",
            "merges a change into its base branch without a reviewer".to_owned(),
        );
    }
    if any(op, &["protection", "ruleset", "rulesets"]) && mutates {
        if weakened(maps, tables::PROTECTION_KEYS) || any(op, tables::REMOVAL_WORDS) {
            scan.defense_block("branch_protection_weakened", "weakens branch protection");
        } else {
            scan.hold(
                "branch_protection_change",
                "changes branch protection".to_owned(),
            );
        }
    }
    let branch = ["branch", "base", "ref", "target_branch"]
        .iter()
        .find_map(|k| args_of(maps, k).find_map(Value::as_str));
    let pushes = mutates || any(op, &["push", "commit"]);
    if pushes && branch.is_some_and(is_protected_branch) && !any(op, &["pull"]) {
        scan.hold(
            "protected_branch_write",
            format!(
                "writes directly to the protected branch `{}`",
                branch.unwrap_or_default()
            ),
        );
    }
    let pipeline = values
        .iter()
        .any(|v| tables::PIPELINE_PATHS.iter().any(|p| v.contains(p)));
    if pushes && pipeline {
        scan.hold(
            "pipeline_change",
            "changes the CI/CD pipeline definition".to_owned(),
        );
    }
    if mutates && scan.production && any(op, tables::DEPLOY_WORDS) {
        scan.verb_at_least(Verb::Configure);
        scan.hold(
            "production_code_change",
            "changes code running in production".to_owned(),
        );
    }
}

/// Money: the amount in dollars, and holds for large or outgoing payments.
pub(crate) fn payments(
    amount: Option<Amount>,
    verb: Verb,
    maps: &Maps<'_>,
    external: bool,
    scan: &mut Scan<'_>,
) {
    let Some(a) = amount else { return };
    if verb != Verb::Transfer {
        return;
    }
    let shown = format!("{:.2} {} (≈ {:.0} USD)", a.major, a.currency, a.usd);
    let internal = money::marked_internal(maps);
    if a.usd < tables::SMALL_PAYMENT_USD {
        scan.note(
            "small_payment",
            tables::SMALL_PAYMENT_POINTS,
            format!("{shown}: within an agent's everyday mandate"),
        );
    }
    if external && !internal {
        scan.external = true;
        if a.usd >= tables::EXTERNAL_PAYMENT_BLOCK_USD {
            scan.block(
                "payment_out_very_large",
                format!("pays {shown} to an outside party: beyond any agent mandate"),
            );
        } else if a.usd >= tables::EXTERNAL_PAYMENT_HOLD_USD {
            scan.hold_floor(
                "payment_out_large",
                format!("pays {shown} to an outside party"),
            );
        }
    } else if a.usd >= tables::INTERNAL_PAYMENT_HOLD_USD {
        scan.hold_floor(
            "payment_internal_large",
            format!("moves {shown} between own accounts"),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_split_camel_case() {
        let w = |s: &str| words(s).map(str::to_ascii_lowercase).collect::<Vec<_>>();
        assert_eq!(
            w("gcp.iam.serviceAccountKeys.create"),
            vec!["gcp", "iam", "service", "account", "keys", "create"]
        );
        assert_eq!(w("setIamPolicy"), vec!["set", "iam", "policy"]);
        assert_eq!(w("stop_logging"), vec!["stop", "logging"]);
        assert_eq!(w("HTTPRequest"), vec!["httprequest"]);
        assert!(has_word("aws.cloudtrail.StopLogging", &["logging"]));
    }
}
