//! The printed report of the examples: one block per governed call, the audit-trail table and
//! the list of checks.
//!
//! Colour is used only when standard output is a terminal and `NO_COLOR` is not set
//! (<https://no-color.org>); redirected to a file or a pipe, the report is plain text.

use std::fmt::Write as _;
use std::io::IsTerminal;

use ascend_runtime::{AuthorizationDecision, Decision, RiskLevel};
use serde_json::Value;

/// Whether (and how) to colour text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Style {
    color: bool,
}

impl Style {
    /// Colour when stdout is a terminal and `NO_COLOR` is unset or empty.
    pub fn detect() -> Self {
        let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
        Style {
            color: !no_color && std::io::stdout().is_terminal(),
        }
    }

    /// Never colour (tests, logs).
    pub fn plain() -> Self {
        Style { color: false }
    }

    fn paint(&self, code: &str, text: &str) -> String {
        if self.color {
            format!("\x1b[{code}m{text}\x1b[0m")
        } else {
            text.to_owned()
        }
    }

    /// Bold.
    pub fn bold(&self, text: &str) -> String {
        self.paint("1", text)
    }
    /// Dimmed.
    pub fn dim(&self, text: &str) -> String {
        self.paint("2", text)
    }
    /// Green.
    pub fn good(&self, text: &str) -> String {
        self.paint("32", text)
    }
    /// Red.
    pub fn bad(&self, text: &str) -> String {
        self.paint("31", text)
    }
    /// Yellow.
    pub fn warn(&self, text: &str) -> String {
        self.paint("33", text)
    }
    /// Cyan.
    pub fn note(&self, text: &str) -> String {
        self.paint("36", text)
    }

    /// A decision as a coloured word: ALLOWED, DENIED, PENDING.
    pub fn decision(&self, decision: Decision) -> String {
        match decision {
            Decision::Allowed => self.good("ALLOWED"),
            Decision::Denied => self.bad("DENIED"),
            Decision::Pending => self.warn("PENDING"),
        }
    }

    /// A risk level, coloured by severity.
    pub fn level(&self, level: RiskLevel) -> String {
        match level {
            RiskLevel::Low => self.good("low"),
            RiskLevel::Medium => self.warn("medium"),
            RiskLevel::High | RiskLevel::Critical => self.bad(level.as_str()),
        }
    }

    /// `✓` or `✗`.
    pub fn mark(&self, ok: bool) -> String {
        if ok {
            self.good("✓")
        } else {
            self.bad("✗")
        }
    }
}

/// The governance facts of one decision, as indented report lines: decision, risk, CVSS,
/// ATT&CK, the rule that decided and the top factors.
pub fn decision_lines(style: &Style, d: &AuthorizationDecision, top_factors: usize) -> String {
    let mut out = String::new();
    let score = d
        .risk_score
        .map(|s| format!("{s:.0}/100"))
        .unwrap_or_else(|| "-".into());
    let level = d
        .risk_level
        .map(|l| style.level(l))
        .unwrap_or_else(|| "-".into());
    let _ = writeln!(
        out,
        "    decision   {}  (action #{})",
        style.decision(d.decision),
        d.action_id
    );
    let _ = writeln!(out, "    risk       {score} {level}");
    if let Some(v) = &d.cvss_vector {
        let cvss = match (d.cvss_score, &d.cvss_severity) {
            (Some(s), Some(sev)) => format!("{s:.1} {sev}"),
            (Some(s), None) => format!("{s:.1}"),
            _ => String::new(),
        };
        let _ = writeln!(out, "    CVSS 3.1   {cvss}  {}", style.dim(v));
    }
    if !d.mitre_techniques.is_empty() {
        let _ = writeln!(out, "    ATT&CK     {}", d.mitre_techniques.join(", "));
    }
    let rule = match (&d.rule_name, &d.rule_id) {
        (Some(name), Some(id)) => format!("\"{name}\" ({id})"),
        (Some(name), None) => format!("\"{name}\""),
        (None, Some(id)) => id.clone(),
        (None, None) => "-".into(),
    };
    let _ = writeln!(out, "    rule       {}", style.bold(&rule));
    if let Some(reason) = &d.reason {
        let _ = writeln!(out, "    reason     {reason}");
    }
    if !d.required_approvers.is_empty() {
        let _ = writeln!(out, "    approvers  {}", d.required_approvers.join(", "));
    }
    let mut factors: Vec<_> = d.risk_factors.iter().collect();
    factors.sort_by(|a, b| b.contribution.total_cmp(&a.contribution));
    for (i, f) in factors.iter().take(top_factors).enumerate() {
        let label = if i == 0 { "factors" } else { "" };
        let _ = writeln!(
            out,
            "    {label:<10} {:>+5.1}  {}",
            f.contribution,
            style.dim(&f.reason)
        );
    }
    out
}

/// The audit trail as `ascend actions list` prints it (ID, TYPE, RISK, DECISION, TIME), from
/// the `actions` of `GET /api/v1/actions`.
pub fn actions_table(actions: &[Value]) -> String {
    ascend_server::cli::actions::table(actions)
}

/// The list of things an example promised to show, and whether each happened.
#[derive(Debug, Default)]
pub struct Checks {
    items: Vec<(String, bool, String)>,
}

impl Checks {
    /// Record one check: `what` was promised, `ok` says whether it held, `detail` says what
    /// actually happened.
    pub fn check(&mut self, what: impl Into<String>, ok: bool, detail: impl Into<String>) -> bool {
        self.items.push((what.into(), ok, detail.into()));
        ok
    }

    /// Whether every check held.
    pub fn all_ok(&self) -> bool {
        self.items.iter().all(|(_, ok, _)| *ok)
    }

    /// How many checks failed.
    pub fn failures(&self) -> usize {
        self.items.iter().filter(|(_, ok, _)| !ok).count()
    }

    /// One line per check.
    pub fn render(&self, style: &Style) -> String {
        let mut out = String::new();
        for (what, ok, detail) in &self.items {
            let _ = write!(out, "  {} {what}", style.mark(*ok));
            if !*ok && !detail.is_empty() {
                let _ = write!(out, " {}", style.bad(&format!("— {detail}")));
            }
            out.push('\n');
        }
        out
    }
}

/// A section heading.
pub fn heading(style: &Style, text: &str) -> String {
    style.bold(&format!("── {text} "))
}

#[cfg(test)]
mod tests {
    use super::*;
    use ascend_runtime::RiskFactor;

    #[test]
    fn plain_style_has_no_escape_codes() {
        let s = Style::plain();
        assert_eq!(s.decision(Decision::Denied), "DENIED");
        assert_eq!(s.level(RiskLevel::High), "high");
        assert!(!s.bold("x").contains('\x1b'));
    }

    #[test]
    fn decision_lines_show_rule_and_top_factors_first() {
        let mut d = AuthorizationDecision::new("7", Decision::Denied);
        d.risk_score = Some(95.0);
        d.risk_level = Some(RiskLevel::Critical);
        d.cvss_vector = Some("CVSS:3.1/AV:A/AC:L/PR:N/UI:N/S:U/C:N/I:H/A:H".into());
        d.cvss_score = Some(8.1);
        d.rule_name = Some("Block Bulk Deletions".into());
        d.rule_id = Some("block-bulk-deletions".into());
        d.risk_factors = vec![
            RiskFactor {
                name: "small".into(),
                contribution: 1.0,
                reason: "small one".into(),
            },
            RiskFactor {
                name: "big".into(),
                contribution: 30.0,
                reason: "big one".into(),
            },
        ];
        let text = decision_lines(&Style::plain(), &d, 1);
        assert!(text.contains("DENIED"));
        assert!(text.contains("95/100 critical"));
        assert!(text.contains("\"Block Bulk Deletions\" (block-bulk-deletions)"));
        assert!(text.contains("big one"));
        assert!(!text.contains("small one"));
    }

    #[test]
    fn checks_count_failures() {
        let mut c = Checks::default();
        c.check("a", true, "");
        c.check("b", false, "went wrong");
        assert!(!c.all_ok());
        assert_eq!(c.failures(), 1);
        let text = c.render(&Style::plain());
        assert!(text.contains("✓ a"));
        assert!(text.contains("✗ b — went wrong"));
    }
}
