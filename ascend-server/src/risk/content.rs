//! Reading what an action's arguments *say*: SQL, shell commands, code, paths, messages and their
//! recipients, attachments and bodies, URLs.
//!
//! Agents send whatever their tools take — an SQL string, a shell command, a file path, an email
//! with an attachment — so the engine reads the content itself rather than trusting hint names.
//! Every analyser writes into one [`Scan`]: [`Findings`] (each a risk factor with its points and
//! floor) and the facts the frameworks use (verb, destruction, recursion, records, paths, data
//! leaving). Nothing is parsed unless there is something to parse: SQL only when a string starts
//! like a statement, shell only under command keys, text scanning only for strings that leave
//! (messages, request bodies) or get written.

use serde_json::{Map, Value};

use super::config::RiskConfig;
use super::findings::{Findings, Floor};
use super::paths::{self, NormalPath};
use super::sql::{self, RowScope, SqlKind};
use super::tables::{self, PathClass};
use super::text::{self, TextFacts};
use super::{DataClass, Verb, features};

/// What the content analysers found in one action.
#[derive(Debug)]
pub(crate) struct Scan<'c> {
    /// The organisation.
    pub config: &'c RiskConfig,
    /// The action runs against production.
    pub production: bool,
    /// Findings (factors with floors).
    pub findings: Findings,
    /// The riskiest operation the content performs.
    pub verb: Verb,
    /// Destroys data or systems.
    pub destructive: bool,
    /// Recursive.
    pub recursive: bool,
    /// Rows or targets reached.
    pub record_count: Option<i64>,
    /// Paths named by the content (raw), for the path features.
    pub paths: Vec<String>,
    /// Tables named by SQL, lowercase.
    pub tables: Vec<String>,
    /// Data leaves the organisation.
    pub external: bool,
    /// Switches off or destroys a defence (logging, audit, firewall, MFA).
    pub defense_off: bool,
    /// Deletes backups.
    pub backup: bool,
    /// Touches identities, permissions or credentials.
    pub identity: bool,
    /// Personal data in the content.
    pub pii: bool,
    /// Secrets in the content or credentials read.
    pub secrets: bool,
    /// Every URL the action calls is on an internal host (`None`: no URL).
    pub urls_internal: Option<bool>,
}

impl<'c> Scan<'c> {
    /// An empty scan.
    pub fn new(config: &'c RiskConfig, production: bool) -> Self {
        Self {
            config,
            production,
            findings: Findings::default(),
            verb: Verb::Other,
            destructive: false,
            recursive: false,
            record_count: None,
            paths: Vec::new(),
            tables: Vec::new(),
            external: false,
            defense_off: false,
            backup: false,
            identity: false,
            pii: false,
            secrets: false,
            urls_internal: None,
        }
    }

    /// Raise the content verb to at least `v`.
    pub fn verb_at_least(&mut self, v: Verb) {
        if v.rank() > self.verb.rank() {
            self.verb = v;
        }
    }

    /// A finding with points and no floor.
    pub fn note(&mut self, name: &'static str, points: f64, reason: String) {
        self.findings.add(name, points, Floor::None, || reason);
    }

    /// A finding that needs a human (floor high).
    pub fn hold(&mut self, name: &'static str, reason: String) {
        self.findings
            .add(name, tables::HOLD_POINTS, Floor::Hold, || reason);
    }

    /// A finding that needs a human and adds no points: the frameworks already weigh it (large
    /// payments: amount, ATT&CK T1657), the floor only makes sure it is held.
    pub fn hold_floor(&mut self, name: &'static str, reason: String) {
        self.findings.add(name, 0.0, Floor::Hold, || reason);
    }

    /// A finding that is denied (floor critical).
    pub fn block(&mut self, name: &'static str, reason: String) {
        self.findings
            .add(name, tables::BLOCK_POINTS, Floor::Block, || reason);
    }

    /// A destructive finding that is denied.
    pub fn destroy_block(&mut self, name: &'static str, reason: &str) {
        self.destructive = true;
        self.verb_at_least(Verb::Delete);
        self.block(name, reason.to_owned());
    }

    /// A destructive finding: denied when `deny`, else held.
    pub fn destroy_block_if(&mut self, deny: bool, name: &'static str, reason: &str) {
        if deny {
            self.destroy_block(name, reason);
        } else {
            self.destructive = true;
            self.verb_at_least(Verb::Delete);
            self.hold(name, reason.to_owned());
        }
    }

    /// Switching off a defence: denied, and tagged ATT&CK T1562 (the defaults deny it by rule).
    pub fn defense_block(&mut self, name: &'static str, reason: &str) {
        self.defense_off = true;
        self.verb_at_least(Verb::Configure);
        self.block(name, reason.to_owned());
    }

    /// Reading credentials (private keys, cloud credentials, `.env`, secrets stores): denied.
    pub fn credential_access(&mut self, target: &str, what: &str) {
        self.secrets = true;
        self.identity = true;
        self.block(
            "credential_access",
            format!("reads credentials: {what} (`{target}`)"),
        );
    }

    /// A path the content names.
    pub fn path(&mut self, p: &str) {
        if self.paths.len() < 16 && !self.paths.iter().any(|x| x == p) {
            self.paths.push(p.to_owned());
        }
    }

    /// A count of rows or targets.
    pub fn count(&mut self, n: i64) {
        self.record_count = Some(self.record_count.map_or(n, |c| c.max(n)));
    }

    /// Deleting a path (`rm`, `find -delete`, a delete tool, `shutil.rmtree`).
    pub fn delete_path(&mut self, target: &str, recursive: bool, tool: &str) {
        let n = paths::normalize(target);
        let (class, _, label) = features::rate_path(target);
        self.path(target);
        self.recursive |= recursive;
        if paths::is_regenerable(&n) {
            self.note(
                "scratch_delete",
                0.0,
                format!("{tool} `{target}`: scratch or build output"),
            );
            return;
        }
        self.destructive |= recursive;
        self.verb_at_least(Verb::Delete);
        if paths::is_critical_root(&n.path) && (recursive || n.path.ends_with('*')) {
            self.destructive = true;
            self.block(
                "destroys_system_tree",
                format!("{tool} wipes `{}` (system or home directory)", n.path),
            );
        } else if matches!(class, PathClass::Credentials | PathClass::Secrets) {
            self.identity = true;
            self.destructive = true;
            self.block(
                "destroys_credentials",
                format!(
                    "{tool} destroys {} (`{target}`)",
                    label.unwrap_or("credentials")
                ),
            );
        } else {
            self.hold(
                "irreversible_delete",
                format!(
                    "{tool} `{target}`{}: no undo",
                    if recursive { " recursively" } else { "" }
                ),
            );
        }
    }
}

/// Which kinds of arguments an action carries, from one pass over the keys present: the
/// analysers of the kinds absent are skipped (most actions carry two or three keys).
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Present {
    /// SQL, shell or code strings.
    pub commands: bool,
    /// Recipients or recipient counts.
    pub recipients: bool,
    /// URLs.
    pub urls: bool,
    /// Attachments or request bodies.
    pub attachments: bool,
    /// Paths.
    pub paths: bool,
    /// Any argument at all.
    pub any: bool,
}

impl Present {
    /// Classify the keys of the argument maps.
    pub fn of(maps: &[Option<&Map<String, Value>>; 4]) -> Self {
        let mut p = Present::default();
        for k in maps.iter().flatten().flat_map(|m| m.keys()) {
            let k = k.as_str();
            p.any = true;
            p.commands |=
                tables::SQL_KEYS.contains(&k) || tables::SHELL_KEYS.contains(&k) || k == "code";
            p.recipients |= tables::RECIPIENT_KEYS.contains(&k)
                || tables::RECIPIENT_COUNT_KEYS.contains(&k)
                || k == "personalizations";
            p.urls |= tables::URL_KEYS.contains(&k);
            p.attachments |= tables::ATTACHMENT_KEYS.contains(&k)
                || matches!(k, "data" | "json" | "body" | "payload");
            p.paths |= tables::PATH_KEYS.contains(&k) || k == "paths" || k == "files";
        }
        p
    }
}

/// The parameter maps content is read from (the tool's arguments, wherever the caller put them).
pub(crate) fn argument_maps(
    action: &ascend_runtime::AgentAction,
) -> [Option<&Map<String, Value>>; 4] {
    let d = &action.action_details;
    let kwargs = action
        .context
        .get("arguments")
        .and_then(Value::as_object)
        .and_then(|a| a.get("keyword_args"))
        .and_then(Value::as_object);
    [
        Some(d),
        d.get("parameters").and_then(Value::as_object),
        d.get("arguments").and_then(Value::as_object),
        kwargs,
    ]
}

/// Values under `key` in the argument maps.
pub(crate) fn args<'a>(
    maps: &'a [Option<&'a Map<String, Value>>; 4],
    key: &'a str,
) -> impl Iterator<Item = &'a Value> + 'a {
    maps.iter()
        .flatten()
        .filter_map(move |m| features::small_map_get(m, key))
}

/// Analyse one SQL batch.
pub(crate) fn sql(text: &str, scan: &mut Scan<'_>) {
    for st in sql::analyze(text) {
        let table = st.tables.first().cloned().unwrap_or_default();
        let sensitive = sql_table_class(&st.tables);
        scan.tables.extend(st.tables.iter().cloned());
        match st.kind {
            SqlKind::Read => sql_read(&st, sensitive, scan),
            SqlKind::Insert => scan.verb_at_least(Verb::Create),
            SqlKind::Update | SqlKind::Delete => {
                let scope = st.scope.unwrap_or(RowScope::Range);
                rows_change(st.kind == SqlKind::Delete, &table, scope, sensitive, scan);
            }
            SqlKind::Truncate => {
                scan.count(tables::BULK_IMPLIED_COUNT);
                let reason = format!("TRUNCATE `{table}`: every row, no undo");
                scan.destroy_block_if(scan.production, "sql_truncate", &reason);
            }
            SqlKind::Drop if st.scratch => scan.note(
                "sql_drop_scratch",
                0.0,
                format!("drops `{table}`, a temporary table of the same batch"),
            ),
            SqlKind::Drop => {
                let what = if st.drops_container {
                    "database or schema"
                } else {
                    "table"
                };
                let reason = format!("DROP of the {what} `{table}`");
                if scan.production {
                    scan.count(tables::BULK_IMPLIED_COUNT);
                    scan.destroy_block("sql_drop", &reason);
                } else {
                    scan.verb_at_least(Verb::Delete);
                    scan.note(
                        "sql_drop",
                        tables::HOLD_POINTS,
                        format!("{reason} (not production)"),
                    );
                }
            }
            SqlKind::Alter if st.drops_column => {
                scan.destructive = true;
                scan.verb_at_least(Verb::Delete);
                scan.hold(
                    "sql_alter_drop",
                    format!("ALTER TABLE `{table}` drops a column or constraint"),
                );
            }
            SqlKind::Alter => scan.verb_at_least(Verb::Configure),
            SqlKind::Create => scan.verb_at_least(Verb::Create),
            SqlKind::Grant | SqlKind::Role => {
                scan.identity = true;
                scan.verb_at_least(Verb::Grant);
                if st.broad_privilege {
                    scan.block(
                        "sql_broad_privilege",
                        "grants everyone or all privileges, or makes a superuser".to_owned(),
                    );
                } else {
                    scan.hold(
                        "sql_permission_change",
                        "changes database users, roles or permissions".to_owned(),
                    );
                }
            }
            SqlKind::Other => {}
        }
    }
}

/// The most sensitive class of the tables a statement names.
fn sql_table_class(names: &[String]) -> DataClass {
    let mut class = DataClass::Internal;
    for t in names {
        for p in features::resource_patterns(t) {
            if p.class > class {
                class = p.class;
            }
        }
    }
    class
}

fn sql_read(st: &sql::SqlStatement, class: DataClass, scan: &mut Scan<'_>) {
    scan.verb_at_least(Verb::Read);
    let scope = st.scope.unwrap_or(RowScope::Range);
    if scope == RowScope::One {
        return;
    }
    let secret_cols = st.columns.iter().any(|c| {
        ascend_runtime::redact::is_secret_name(c) || tables::PCI_COLUMNS.contains(&c.as_str())
    });
    let id_cols = st
        .columns
        .iter()
        .any(|c| tables::PERSONAL_ID_COLUMNS.contains(&c.as_str()));
    if secret_cols {
        scan.secrets = true;
        scan.block(
            "sql_bulk_secret_read",
            "reads credentials or card data across many rows".to_owned(),
        );
    } else if id_cols {
        scan.pii = true;
        scan.hold(
            "sql_bulk_identifier_read",
            "reads national identifiers (SSN, date of birth, passport) across many rows".to_owned(),
        );
    } else if class >= DataClass::Pii && scope == RowScope::All {
        scan.pii = true;
        scan.count(tables::BULK_IMPLIED_COUNT);
        scan.hold(
            "sql_full_export",
            "reads a whole table of personal data (no filter, no limit)".to_owned(),
        );
    }
}

/// An UPDATE or DELETE (from SQL or a structured call) reaching `scope` rows of `table`.
pub(crate) fn rows_change(
    delete: bool,
    table: &str,
    scope: RowScope,
    class: DataClass,
    scan: &mut Scan<'_>,
) {
    let op = if delete { "DELETE" } else { "UPDATE" };
    scan.verb_at_least(if delete { Verb::Delete } else { Verb::Write });
    let sensitive = class >= DataClass::Pii;
    match scope {
        RowScope::All => {
            scan.count(tables::BULK_IMPLIED_COUNT);
            let reason = format!("{op} on `{table}` without a limiting WHERE: every row");
            if delete {
                scan.destroy_block("sql_unbounded_delete", &reason);
            } else if scan.production {
                scan.block("sql_unbounded_update", reason);
            } else {
                scan.hold("sql_unbounded_update", reason);
            }
        }
        RowScope::Range if scan.production || sensitive => {
            scan.hold(
                "sql_open_scope",
                format!("{op} on `{table}` reaches an unknown number of rows in production"),
            );
        }
        RowScope::Few(n) if sensitive || (scan.production && delete) => {
            scan.count(i64::from(n));
            scan.hold("sql_multi_row", format!("{op} of {n} rows of `{table}`"));
        }
        RowScope::One if sensitive => {
            scan.count(1);
            scan.hold(
                "sql_personal_row",
                format!("{op} of a personal-data row of `{table}`"),
            );
        }
        RowScope::Few(n) => scan.count(i64::from(n)),
        RowScope::One => scan.count(1),
        RowScope::Range => {}
    }
}

/// Code handed to an interpreter (Python and friends): file-system deletions and shell-outs.
pub(crate) fn code(src: &str, scan: &mut Scan<'_>) {
    scan.verb_at_least(Verb::Execute);
    for (call, recursive) in tables::CODE_DELETE_CALLS {
        let mut rest = src;
        while let Some(i) = rest.find(call) {
            rest = &rest[i + call.len()..];
            if let Some(lit) = first_string_literal(rest) {
                scan.delete_path(lit, *recursive, call.trim_end_matches('('));
            }
        }
    }
    for call in tables::CODE_SHELL_CALLS {
        let mut rest = src;
        while let Some(i) = rest.find(call) {
            rest = &rest[i + call.len()..];
            if let Some(lit) = first_string_literal(rest) {
                super::shell::analyze(lit, scan, 2);
            }
        }
    }
}

fn first_string_literal(s: &str) -> Option<&str> {
    let head = s.get(..s.len().min(200))?;
    let start = head.find(['\'', '"'])?;
    let quote = head.as_bytes()[start] as char;
    let rest = &head[start + 1..];
    let end = rest.find(quote)?;
    Some(&rest[..end])
}

/// Scan everything an action's arguments carry.
pub(crate) fn scan_action(
    action: &ascend_runtime::AgentAction,
    verb: Verb,
    domain: &str,
    present: Present,
    scan: &mut Scan<'_>,
) {
    let maps = argument_maps(action);
    if !present.any {
        return;
    }
    if verb == Verb::Delete {
        let n = maps
            .iter()
            .flatten()
            .map(|m| widest_array(m, 0))
            .max()
            .unwrap_or(0);
        if n >= 2 {
            scan.count(i64::try_from(n).unwrap_or(i64::MAX));
        }
    }
    if present.commands {
        commands(&maps, scan);
    }
    structured_rows(&maps, verb, domain, action.resource_id.is_some(), scan);
    super::messages::scan(action, &maps, verb, present, scan);
}

/// The longest list among the arguments (a batch delete's targets), three levels deep.
fn widest_array(m: &Map<String, Value>, depth: u8) -> usize {
    m.values()
        .map(|v| match v {
            Value::Array(a) => a.len(),
            Value::Object(o) if depth < 3 => widest_array(o, depth + 1),
            _ => 0,
        })
        .max()
        .unwrap_or(0)
}

fn commands(maps: &[Option<&Map<String, Value>>; 4], scan: &mut Scan<'_>) {
    for key in tables::SQL_KEYS {
        for v in args(maps, key) {
            if let Some(s) = v.as_str()
                && sql::looks_like_sql(s)
            {
                sql(s, scan);
            }
        }
    }
    for key in tables::SHELL_KEYS {
        for v in args(maps, key) {
            let list: Vec<&str> = match v {
                Value::String(s) => vec![s.as_str()],
                Value::Array(a) => a.iter().filter_map(Value::as_str).collect(),
                _ => Vec::new(),
            };
            for s in list {
                if sql::looks_like_sql(s) {
                    sql(s, scan);
                } else {
                    super::shell::analyze(s, scan, 0);
                }
            }
        }
    }
    for v in args(maps, "code") {
        if let Some(s) = v.as_str() {
            code(s, scan);
        }
    }
}

/// Structured database calls: `{"table": "customers"}` on a delete, `{"where": …}`, `{"ids": […]}`.
fn structured_rows(
    maps: &[Option<&Map<String, Value>>; 4],
    verb: Verb,
    domain: &str,
    has_resource_id: bool,
    scan: &mut Scan<'_>,
) {
    if !matches!(verb, Verb::Delete | Verb::Write) || !scan.tables.is_empty() {
        return;
    }
    let table = args(maps, "table")
        .chain(args(maps, "collection"))
        .find_map(Value::as_str);
    let db_domain = matches!(domain, "database" | "db" | "sql" | "table" | "data");
    let Some(table) = table.or(db_domain.then_some("")) else {
        return;
    };
    let class = sql_table_class(&[table.to_ascii_lowercase()]);
    let mut scope = None;
    for key in tables::FILTER_KEYS {
        for v in args(maps, key) {
            let s = match v {
                Value::String(s) => sql::filter_scope(s),
                Value::Object(o) if o.is_empty() => RowScope::All,
                Value::Null => continue,
                _ => RowScope::Range,
            };
            scope = Some(scope.map_or(s, |c: RowScope| c.max(s)));
        }
    }
    if has_resource_id
        || args(maps, "id").next().is_some()
        || args(maps, "record_id").next().is_some()
    {
        scope = Some(scope.map_or(RowScope::One, |s| s.min(RowScope::One)));
    }
    for key in ["ids", "record_ids"] {
        if let Some(n) = args(maps, key).find_map(Value::as_array).map(Vec::len) {
            scope = Some(RowScope::Few(u32::try_from(n).unwrap_or(u32::MAX)));
        }
    }
    for key in tables::COUNT_KEYS {
        if let Some(n) = args(maps, key).find_map(features::number) {
            scope = Some(if n <= 1 {
                RowScope::One
            } else {
                RowScope::Few(u32::try_from(n).unwrap_or(u32::MAX))
            });
        }
    }
    let table_name = if table.is_empty() { "the table" } else { table };
    // Nothing restricts the rows: a delete naming its table reaches all of them; an update
    // without any filter is an SDK write of one record more often than not.
    let scope = match scope {
        Some(s) => s,
        None if verb == Verb::Delete && !table.is_empty() => RowScope::All,
        None => return,
    };
    rows_change(verb == Verb::Delete, table_name, scope, class, scan);
}

/// Rate the paths the action names and how it uses them (read, write, delete, search, move).
pub(crate) fn path_uses(
    action: &ascend_runtime::AgentAction,
    verb: Verb,
    tool: Option<&str>,
    recursive: bool,
    present: Present,
    scan: &mut Scan<'_>,
) {
    if !present.paths && !paths::looks_like_path(&action.resource) {
        return;
    }
    let maps = argument_maps(action);
    let mut found: Vec<(&str, NormalPath, &'static str)> = Vec::new();
    for key in tables::PATH_KEYS.iter().chain(["paths", "files"].iter()) {
        for v in args(&maps, key) {
            let list: Vec<&str> = match v {
                Value::String(s) => vec![s.as_str()],
                Value::Array(a) => a.iter().filter_map(Value::as_str).collect(),
                _ => Vec::new(),
            };
            for p in list {
                if p.contains("://") && !p.starts_with("file://") {
                    continue;
                }
                found.push((p, paths::normalize(p), key));
            }
        }
    }
    if found.is_empty() && paths::looks_like_path(&action.resource) {
        let r = action.resource.as_str();
        found.push((r, paths::normalize(r), "resource"));
    }
    let search = tool.is_some_and(|t| t.contains("search"));
    let moving = tool.is_some_and(|t| t.contains("move"));
    let mut credential_reads = 0;
    for (raw, n, key) in &found {
        let (class, _, label) = features::rate_path(raw);
        let label = label.unwrap_or("a sensitive file");
        if n.traversal {
            scan.note(
                "path_traversal",
                tables::TRAVERSAL_POINTS,
                format!("`{raw}` climbs with `..` or encoding to `{}`", n.path),
            );
        }
        let credentials = matches!(class, PathClass::Credentials | PathClass::Secrets);
        if search {
            let pattern = args(&maps, "pattern").find_map(Value::as_str).unwrap_or("");
            if matches!(
                features::rate_path(pattern).0,
                PathClass::Credentials | PathClass::Secrets
            ) {
                scan.hold(
                    "credential_search",
                    format!("searches for credential files (`{pattern}`)"),
                );
            }
        } else if verb == Verb::Delete && (tool.is_some() || !scan.destructive) {
            scan.delete_path(raw, recursive, tool.unwrap_or("delete"));
        } else if moving && *key == "source" && credentials {
            scan.identity = true;
            scan.block("moves_credentials", format!("moves {label} (`{raw}`) away"));
        } else if verb.is_mutation() {
            path_write(raw, n, class, label, scan);
        } else if credentials && !verb.is_mutation() {
            credential_reads += 1;
            scan.credential_access(raw, label);
        } else if paths::is_account_database(&n.path) && !verb.is_mutation() {
            scan.hold(
                "account_enumeration",
                format!("reads the host's account database `{}`", n.path),
            );
        }
    }
    if credential_reads >= 2 {
        scan.block(
            "credential_harvest",
            format!("reads {credential_reads} credential files at once"),
        );
    }
}

/// Writing a path: credentials, privilege files, system configuration.
fn path_write(raw: &str, n: &NormalPath, class: PathClass, label: &str, scan: &mut Scan<'_>) {
    if matches!(class, PathClass::Credentials | PathClass::Secrets) {
        if n.path.ends_with("authorized_keys") {
            scan.block(
                "plants_credentials",
                format!("writes `{}`: grants login to whoever holds the key", n.path),
            );
        } else {
            scan.hold("writes_secrets", format!("writes {label} (`{raw}`)"));
        }
    } else if tables::PRIVILEGE_FILES
        .iter()
        .any(|f| n.path.starts_with(f))
    {
        scan.block(
            "writes_privileges",
            format!("writes `{}`: changes who may act as root", n.path),
        );
    } else if class == PathClass::SystemConfig {
        scan.hold("writes_system_config", format!("writes {label} (`{raw}`)"));
    }
}

/// Facts of the free text an action sends or writes (bodies, messages, contents).
pub(crate) fn text_of(maps: &[Option<&Map<String, Value>>; 4]) -> TextFacts {
    let mut facts = TextFacts::default();
    let mut budget = tables::TEXT_SCAN_BUDGET;
    for m in maps.iter().flatten() {
        for (k, v) in m.iter() {
            if tables::NON_CONTENT_KEYS.contains(&k.as_str()) {
                continue;
            }
            walk_text(v, &mut facts, &mut budget, 0);
        }
    }
    facts
}

fn walk_text(v: &Value, facts: &mut TextFacts, budget: &mut usize, depth: u8) {
    if *budget == 0 || depth > 5 {
        return;
    }
    match v {
        Value::String(s) => {
            *budget = budget.saturating_sub(s.len().max(1));
            facts.merge(text::scan(s));
        }
        Value::Array(a) => a
            .iter()
            .for_each(|x| walk_text(x, facts, budget, depth + 1)),
        Value::Object(o) => o
            .values()
            .for_each(|x| walk_text(x, facts, budget, depth + 1)),
        _ => {}
    }
}

pub(crate) use args as args_of;
pub(crate) use argument_maps as maps_of;
