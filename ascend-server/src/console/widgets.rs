//! Small pieces several pages show: risk badges, times, the risk assessment of an action.

use maud::{Markup, html};
use serde_json::Value;

use ascend_runtime::{Decision, RiskLevel};

use crate::model::{ActionRecord, Timestamp, now};

/// The CSS class of a risk level.
pub fn level_class(level: RiskLevel) -> &'static str {
    match level {
        RiskLevel::Low => "low",
        RiskLevel::Medium => "medium",
        RiskLevel::High => "high",
        RiskLevel::Critical => "critical",
    }
}

/// "72 high" as a coloured badge (the text carries the meaning, not only the colour).
pub fn risk_badge(score: f64, level: RiskLevel) -> Markup {
    html! {
        span class={ "risk " (level_class(level)) } {
            (format!("{score:.0}")) " " (level.as_str())
        }
    }
}

/// A decision as a badge.
pub fn decision_badge(a: &ActionRecord) -> Markup {
    let (class, text) = match a.body.decision {
        Decision::Allowed => ("decision allowed", "allowed"),
        Decision::Denied => ("decision denied", "denied"),
        Decision::Pending => ("decision pending", "pending"),
    };
    html! { span class=(class) { (text) } }
}

/// A time in UTC to the second ("2026-12-01 10:00:00Z"), in a `<time>` element.
pub fn time(t: &Timestamp) -> Markup {
    let text = t.to_rfc3339();
    let short = text.get(..19).unwrap_or(&text).replace('T', " ");
    html! { time datetime=(text) { (short) "Z" } }
}

/// "4m 05s" for a duration in seconds (negative: "expired").
pub fn left(seconds: i64) -> String {
    if seconds <= 0 {
        return "expired".into();
    }
    let (h, m, s) = (seconds / 3600, (seconds % 3600) / 60, seconds % 60);
    if h > 0 {
        format!("{h}h {m:02}m")
    } else {
        format!("{m}m {s:02}s")
    }
}

/// The time left before a pending action's approval expires, kept current by the script.
pub fn expiry(a: &ActionRecord) -> Markup {
    let Some(exp) = a.approval.as_ref().and_then(|x| x.expires_at) else {
        return html! { span { "no expiry" } };
    };
    let secs = exp.micros_since(now()) / 1_000_000;
    html! {
        span class="expiry" data-expires=(exp.to_rfc3339()) { (left(secs)) }
    }
}

/// The tool an action calls, when its parameters name one.
pub fn tool(a: &ActionRecord) -> Option<String> {
    let d = a.request.get("action_details")?;
    ["tool_name", "tool", "mcp_tool"]
        .iter()
        .find_map(|k| d.get(*k).and_then(Value::as_str))
        .map(str::to_owned)
}

/// The (already redacted) parameters of an action, pretty-printed.
pub fn parameters(a: &ActionRecord) -> String {
    let d = a
        .request
        .get("action_details")
        .cloned()
        .unwrap_or(Value::Null);
    match &d {
        Value::Object(m) if m.is_empty() => "{}".into(),
        Value::Null => "—".into(),
        _ => serde_json::to_string_pretty(&d).unwrap_or_default(),
    }
}

/// The risk assessment of an action: score, CVSS, ATT&CK, NIST, factors, matched rule.
pub fn assessment(a: &ActionRecord) -> Markup {
    let b = &a.body;
    let techniques = if b.mitre_techniques.is_empty() {
        b.mitre_technique.iter().cloned().collect::<Vec<_>>()
    } else {
        b.mitre_techniques.clone()
    };
    html! {
        dl class="facts" {
            dt { "Risk" } dd { (risk_badge(b.risk_score, b.risk_level)) }
            dt { "CVSS" }
            dd {
                (format!("{:.1}", b.cvss_score)) " " (b.cvss_severity) " "
                code class="wrap" { (b.cvss_vector) }
            }
            dt { abbr title="MITRE ATT&CK" { "ATT&CK" } }
            dd {
                @if techniques.is_empty() { "none" }
                @for t in &techniques { code class="tag" { (t) } " " }
                @if let Some(tactic) = &b.mitre_tactic { " (" (tactic) ")" }
            }
            dt { "NIST 800-30" }
            dd { (b.nist_likelihood) " likelihood × " (b.nist_impact) " impact = " strong { (b.nist_risk) } }
            dt { "Rule" }
            dd {
                @match (&b.rule_id, &b.rule_name) {
                    (Some(id), Some(name)) => { code { (id) } " " (name) }
                    (Some(id), None) => { code { (id) } }
                    (None, Some(name)) => { (name) }
                    (None, None) => { "none matched" }
                }
            }
            dt { "Reason" } dd { (b.reason) }
        }
        @if !b.risk_factors.is_empty() {
            table class="factors" {
                caption { "Risk factors" }
                thead { tr { th scope="col" { "Factor" } th scope="col" class="num" { "Points" } th scope="col" { "Why" } } }
                tbody {
                    @for f in &b.risk_factors {
                        tr {
                            td { code { (f.name) } }
                            td class="num" { (format!("{:+.0}", f.contribution)) }
                            td { (f.reason) }
                        }
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn time_left_reads_well() {
        assert_eq!(left(0), "expired");
        assert_eq!(left(65), "1m 05s");
        assert_eq!(left(3 * 3600 + 120), "3h 02m");
    }
}
