//! SQL statements read with `sqlparser`: what each statement does, to which tables, and how many
//! rows its `WHERE` can reach.
//!
//! Only strings whose first word is a SQL statement keyword are parsed ([`looks_like_sql`]), so
//! `"list categories"` or a search query costs nothing. The PostgreSQL dialect is tried first,
//! then the generic one; a statement neither parses is classified by its leading keywords
//! ([`fallback`]) so that a syntax error never hides a `DROP` or an unbounded `DELETE`.

use sqlparser::ast::{
    BinaryOperator, Expr, FromTable, InTarget, ObjectType, Query, SelectItem, SetExpr, Statement,
    TableFactor, TableWithJoins, Value,
};
use sqlparser::dialect::{GenericDialect, PostgreSqlDialect};
use sqlparser::parser::Parser;

/// How many rows a statement's filter can reach, narrowest first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum RowScope {
    /// One row: `id = <literal>`.
    One,
    /// A few listed rows: `id IN (1, 2, 3)` or `LIMIT n` (n ≤ 100).
    Few(u32),
    /// A range or any other predicate: an unknown number of rows.
    Range,
    /// Every row: no `WHERE`, or one that is always true (`1=1`, `OR TRUE`).
    All,
}

/// What a statement does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SqlKind {
    /// `SELECT` (and other queries).
    Read,
    /// `INSERT`.
    Insert,
    /// `UPDATE`.
    Update,
    /// `DELETE`.
    Delete,
    /// `TRUNCATE`.
    Truncate,
    /// `DROP TABLE` / `DATABASE` / `SCHEMA` / ….
    Drop,
    /// `ALTER TABLE`.
    Alter,
    /// `CREATE TABLE` / `INDEX` / `VIEW`.
    Create,
    /// `GRANT` / `REVOKE`.
    Grant,
    /// `CREATE USER` / `CREATE ROLE` / `ALTER ROLE` / `ALTER USER`.
    Role,
    /// Anything else.
    Other,
}

/// One statement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SqlStatement {
    /// What it does.
    pub kind: SqlKind,
    /// Tables (or databases, for `DROP DATABASE`) it names, lowercase, last name part.
    pub tables: Vec<String>,
    /// Rows its filter reaches (reads, updates, deletes).
    pub scope: Option<RowScope>,
    /// Selected column names, lowercase (`*` for a wildcard).
    pub columns: Vec<String>,
    /// `DROP` of a database or schema (not just a table).
    pub drops_container: bool,
    /// `DROP` of a temporary table or of a table created earlier in the same batch.
    pub scratch: bool,
    /// `ALTER TABLE … DROP …` (a column or constraint).
    pub drops_column: bool,
    /// `GRANT` to `PUBLIC` or of `ALL` privileges, or a role given `SUPERUSER` / `CREATEROLE` /
    /// `BYPASSRLS`.
    pub broad_privilege: bool,
}

impl SqlStatement {
    fn new(kind: SqlKind) -> Self {
        Self {
            kind,
            tables: Vec::new(),
            scope: None,
            columns: Vec::new(),
            drops_container: false,
            scratch: false,
            drops_column: false,
            broad_privilege: false,
        }
    }
}

/// Statement keywords a SQL string starts with.
const LEADING_KEYWORDS: &[&str] = &[
    "select", "with", "insert", "update", "delete", "drop", "truncate", "alter", "create", "grant",
    "revoke", "merge", "replace", "upsert", "explain",
];

/// Whether a string starts like a SQL statement (cheap; no allocation).
pub fn looks_like_sql(s: &str) -> bool {
    let s = s.trim_start_matches(|c: char| c.is_whitespace() || c == '(');
    let word_end = s
        .find(|c: char| !c.is_ascii_alphabetic())
        .unwrap_or(s.len());
    let word = &s[..word_end];
    word_end < s.len()
        && LEADING_KEYWORDS
            .iter()
            .any(|k| word.eq_ignore_ascii_case(k))
}

/// Analyse a SQL batch (one or more statements). Unparseable text falls back to keywords.
pub fn analyze(sql: &str) -> Vec<SqlStatement> {
    let parsed = Parser::parse_sql(&PostgreSqlDialect {}, sql)
        .or_else(|_| Parser::parse_sql(&GenericDialect {}, sql));
    match parsed {
        Ok(stmts) => {
            let mut created: Vec<String> = Vec::new();
            stmts.iter().map(|s| statement(s, &mut created)).collect()
        }
        Err(_) => fallback(sql),
    }
}

/// The rows a filter expression (SQL text, as in `{"where": "created_at < '2023-01-01'"}`)
/// reaches; an unparseable filter reaches an unknown number ([`RowScope::Range`]).
pub fn filter_scope(filter: &str) -> RowScope {
    let dialect = PostgreSqlDialect {};
    Parser::new(&dialect)
        .try_with_sql(filter)
        .and_then(|mut p| p.parse_expr())
        .map_or(RowScope::Range, |e| scope_of(&e))
}

fn last_name(name: &impl std::fmt::Display) -> String {
    let s = name.to_string().to_ascii_lowercase();
    let s = s.rsplit('.').next().unwrap_or(&s);
    s.trim_matches(|c| c == '"' || c == '`' || c == '[' || c == ']')
        .to_owned()
}

fn twj_tables(list: &[TableWithJoins], out: &mut Vec<String>) {
    for t in list {
        for f in std::iter::once(&t.relation).chain(t.joins.iter().map(|j| &j.relation)) {
            if let TableFactor::Table { name, .. } = f {
                out.push(last_name(name));
            }
        }
    }
}

fn is_key_column(e: &Expr) -> bool {
    let name = match e {
        Expr::Identifier(i) => &i.value,
        Expr::CompoundIdentifier(parts) => match parts.last() {
            Some(i) => &i.value,
            None => return false,
        },
        _ => return false,
    };
    ["id", "uuid", "guid", "pk"]
        .iter()
        .any(|k| name.eq_ignore_ascii_case(k))
}

fn is_literal(e: &Expr) -> bool {
    matches!(e, Expr::Value(_))
}

/// The rows a `WHERE` expression reaches.
fn scope_of(e: &Expr) -> RowScope {
    match e {
        Expr::Nested(inner) => scope_of(inner),
        Expr::BinaryOp { left, op, right } => match op {
            BinaryOperator::And => scope_of(left).min(scope_of(right)),
            BinaryOperator::Or => scope_of(left).max(scope_of(right)),
            BinaryOperator::Eq => {
                if (is_key_column(left) && is_literal(right))
                    || (is_key_column(right) && is_literal(left))
                {
                    RowScope::One
                } else if left == right {
                    RowScope::All
                } else {
                    RowScope::Range
                }
            }
            _ => RowScope::Range,
        },
        Expr::In {
            expr,
            target: InTarget::List(list),
            negated: false,
            ..
        } if is_key_column(expr) && list.iter().all(is_literal) => {
            RowScope::Few(u32::try_from(list.len()).unwrap_or(u32::MAX))
        }
        Expr::Value(v) => match &v.value {
            Value::Boolean(true) => RowScope::All,
            Value::Number(n, _) if n != "0" => RowScope::All,
            _ => RowScope::Range,
        },
        _ => RowScope::Range,
    }
}

fn with_limit(scope: RowScope, q: &Query) -> RowScope {
    let limit = q.limit_clause.as_ref().and_then(|l| {
        let s = l.to_string();
        s.split(|c: char| !c.is_ascii_digit())
            .find(|t| !t.is_empty())
            .and_then(|t| t.parse::<u32>().ok())
    });
    match limit {
        Some(n) if n <= 100 => scope.min(RowScope::Few(n.max(1))),
        _ => scope,
    }
}

fn query(q: &Query) -> SqlStatement {
    let mut st = SqlStatement::new(SqlKind::Read);
    let mut scope = RowScope::One;
    let mut bodies = vec![q.body.as_ref()];
    while let Some(body) = bodies.pop() {
        match body {
            SetExpr::Select(sel) => {
                twj_tables(&sel.from, &mut st.tables);
                for item in &sel.projection {
                    match item {
                        SelectItem::Wildcard(_) | SelectItem::QualifiedWildcard(..) => {
                            st.columns.push("*".to_owned());
                        }
                        SelectItem::UnnamedExpr(e) | SelectItem::ExprWithAlias { expr: e, .. } => {
                            if matches!(e, Expr::Identifier(_) | Expr::CompoundIdentifier(_)) {
                                st.columns.push(last_name(e));
                            }
                        }
                        _ => {}
                    }
                }
                let s = match &sel.selection {
                    Some(w) => scope_of(w),
                    None if sel.from.is_empty() => RowScope::One,
                    None => RowScope::All,
                };
                scope = scope.max(s);
            }
            SetExpr::SetOperation { left, right, .. } => {
                bodies.push(left);
                bodies.push(right);
            }
            SetExpr::Query(inner) => bodies.push(inner.body.as_ref()),
            _ => scope = scope.max(RowScope::Range),
        }
    }
    st.scope = Some(with_limit(scope, q));
    st
}

fn statement(s: &Statement, created: &mut Vec<String>) -> SqlStatement {
    match s {
        Statement::Query(q) => query(q),
        Statement::Insert(ins) => {
            let mut st = SqlStatement::new(SqlKind::Insert);
            st.tables.push(last_name(&ins.table));
            st
        }
        Statement::Update(u) => {
            let mut st = SqlStatement::new(SqlKind::Update);
            twj_tables(std::slice::from_ref(&u.table), &mut st.tables);
            st.scope = Some(u.selection.as_ref().map_or(RowScope::All, scope_of));
            st
        }
        Statement::Delete(d) => {
            let mut st = SqlStatement::new(SqlKind::Delete);
            let (FromTable::WithFromKeyword(from) | FromTable::WithoutKeyword(from)) = &d.from;
            twj_tables(from, &mut st.tables);
            st.tables.extend(d.tables.iter().map(last_name));
            st.scope = Some(d.selection.as_ref().map_or(RowScope::All, scope_of));
            st
        }
        Statement::Truncate(t) => {
            let mut st = SqlStatement::new(SqlKind::Truncate);
            st.tables
                .extend(t.table_names.iter().map(|n| last_name(&n.name)));
            st.scope = Some(RowScope::All);
            st
        }
        Statement::Drop {
            object_type,
            names,
            temporary,
            ..
        } => {
            let mut st = SqlStatement::new(SqlKind::Drop);
            st.tables.extend(names.iter().map(last_name));
            st.drops_container = matches!(object_type, ObjectType::Database | ObjectType::Schema);
            st.scratch = *temporary || st.tables.iter().all(|t| created.contains(t));
            st.scope = Some(RowScope::All);
            st
        }
        Statement::CreateTable(ct) => {
            let name = last_name(&ct.name);
            created.push(name.clone());
            let mut st = SqlStatement::new(SqlKind::Create);
            st.tables.push(name);
            st
        }
        Statement::CreateIndex(_) | Statement::CreateView(_) => SqlStatement::new(SqlKind::Create),
        Statement::AlterTable(at) => {
            let mut st = SqlStatement::new(SqlKind::Alter);
            st.tables.push(last_name(&at.name));
            st.drops_column = at
                .operations
                .iter()
                .any(|op| op.to_string().to_ascii_uppercase().starts_with("DROP"));
            st
        }
        Statement::Grant(_) | Statement::Revoke(_) => {
            let text = s.to_string().to_ascii_uppercase();
            let mut st = SqlStatement::new(SqlKind::Grant);
            st.broad_privilege = text.contains(" PUBLIC") || text.contains("GRANT ALL");
            st
        }
        Statement::AlterRole { .. }
        | Statement::CreateRole(_)
        | Statement::CreateUser(_)
        | Statement::AlterUser(_) => {
            let text = s.to_string().to_ascii_uppercase();
            let mut st = SqlStatement::new(SqlKind::Role);
            st.broad_privilege = ["SUPERUSER", "CREATEROLE", "BYPASSRLS"]
                .iter()
                .any(|k| text.contains(k) && !text.contains(&format!("NO{k}")));
            st
        }
        _ => SqlStatement::new(SqlKind::Other),
    }
}

/// Keyword classification of a batch the parser refused: each `;`-separated piece by its first
/// words. Conservative: a `DELETE` or `UPDATE` without a visible `WHERE` reaches every row.
pub fn fallback(sql: &str) -> Vec<SqlStatement> {
    sql.split(';')
        .filter_map(|piece| {
            let lower = piece.trim().to_ascii_lowercase();
            let mut words = lower.split_whitespace();
            let first = words.next()?;
            let has_where = lower.split_whitespace().any(|w| w == "where");
            let scope = if has_where {
                RowScope::Range
            } else {
                RowScope::All
            };
            let mut st = match first {
                "delete" => SqlStatement::new(SqlKind::Delete),
                "update" => SqlStatement::new(SqlKind::Update),
                "truncate" => SqlStatement::new(SqlKind::Truncate),
                "drop" => SqlStatement::new(SqlKind::Drop),
                "grant" | "revoke" => SqlStatement::new(SqlKind::Grant),
                "alter" if lower.contains(" role ") || lower.contains(" user ") => {
                    SqlStatement::new(SqlKind::Role)
                }
                "alter" => SqlStatement::new(SqlKind::Alter),
                "create" if lower.contains(" role ") || lower.contains(" user ") => {
                    SqlStatement::new(SqlKind::Role)
                }
                _ => return None,
            };
            st.scope = Some(scope);
            st.drops_container =
                first == "drop" && matches!(words.next(), Some("database" | "schema"));
            st.broad_privilege = lower.contains(" public")
                || lower.contains("grant all")
                || lower.contains("superuser");
            Some(st)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(sql: &str) -> SqlStatement {
        let mut v = analyze(sql);
        assert_eq!(v.len(), 1, "{sql}: {v:?}");
        v.remove(0)
    }

    #[test]
    fn delete_without_where_reaches_every_row() {
        let s = one("DELETE FROM customers");
        assert_eq!(s.kind, SqlKind::Delete);
        assert_eq!(s.tables, vec!["customers"]);
        assert_eq!(s.scope, Some(RowScope::All));
        assert_eq!(
            one("DELETE FROM users WHERE 1=1").scope,
            Some(RowScope::All)
        );
        assert_eq!(
            one("delete from orders where customer_id = 881 or true").scope,
            Some(RowScope::All)
        );
        assert_eq!(
            one("DELETE FROM cart_items WHERE id = 90121").scope,
            Some(RowScope::One)
        );
        assert_eq!(
            one("DELETE FROM users WHERE id IN (12, 13, 14)").scope,
            Some(RowScope::Few(3))
        );
        assert_eq!(
            one("DELETE FROM sessions WHERE expires_at < now() - interval '30 days'").scope,
            Some(RowScope::Range)
        );
    }

    #[test]
    fn drop_truncate_and_grant() {
        let s = one("DROP TABLE customers");
        assert_eq!(s.kind, SqlKind::Drop);
        assert!(!s.scratch);
        assert!(one("DROP DATABASE billing").drops_container);
        assert_eq!(one("TRUNCATE TABLE payments").kind, SqlKind::Truncate);
        let v = analyze("CREATE TEMP TABLE t AS SELECT id FROM orders LIMIT 100; DROP TABLE t");
        assert!(v[1].scratch);
        let g = one("GRANT ALL PRIVILEGES ON ALL TABLES IN SCHEMA public TO PUBLIC");
        assert_eq!(g.kind, SqlKind::Grant);
        assert!(g.broad_privilege);
        let g = one("GRANT SELECT ON reporting.daily_sales TO analyst");
        assert!(!g.broad_privilege);
        let r = analyze("ALTER ROLE app_agent WITH SUPERUSER");
        assert!(
            r.iter()
                .any(|s| s.kind == SqlKind::Role && s.broad_privilege)
        );
    }

    #[test]
    fn reads_and_literals() {
        let s = one("SELECT * FROM products WHERE name = 'Drop Table Lamp'");
        assert_eq!(s.kind, SqlKind::Read);
        assert_eq!(s.tables, vec!["products"]);
        let s = one("SELECT email, password_hash FROM users");
        assert_eq!(s.columns, vec!["email", "password_hash"]);
        assert_eq!(s.scope, Some(RowScope::All));
        let s = one("SELECT name FROM customers WHERE id = 4 LIMIT 50");
        assert_eq!(s.scope, Some(RowScope::One));
        assert!(looks_like_sql("  select 1"));
        assert!(!looks_like_sql("list categories"));
        assert!(!looks_like_sql("selection"));
        assert_eq!(filter_scope("created_at < '2023-01-01'"), RowScope::Range);
        assert_eq!(filter_scope("id = 5"), RowScope::One);
        let f = analyze("SELECT 1; DROP TABLE users; --");
        assert!(f.iter().any(|s| s.kind == SqlKind::Drop));
    }
}
