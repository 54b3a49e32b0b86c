//! The composite 0–100 score and its factors.
//!
//! ```text
//! computed = W_CVSS·(CVSS base × 10) + W_NIST·(NIST level value) + W_ATTACK·(top ATT&CK weight)
//!          + data class + sensitive mutation + records + amount + threshold + external transfer
//!          + destructive command + environment + agent history + MCP annotation hints
//! score    = clamp(max(computed, MCP tool floor + path/recursive/bulk increments, tool override), 0, 100)
//! ```
//!
//! Every term that is not zero becomes a [`RiskFactor`] whose `contribution` is its points (one
//! decimal); the contributions add up to the score (a `floor`, `override` or `clamp` factor
//! records the difference when one of those decides).

use ascend_runtime::{RiskFactor, RiskLevel};

use super::cvss::{self, CvssTable};
use super::features::ActionFeatures;
use super::findings::Floor;
use super::{DataClass, RiskAssessment, Verb, attack, nist, tables};

fn round1(x: f64) -> f64 {
    (x * 10.0).round() / 10.0
}

struct Factors {
    list: Vec<RiskFactor>,
    total: f64,
}

impl Factors {
    fn add(&mut self, name: &str, points: f64, reason: impl FnOnce() -> String) {
        let points = round1(points);
        if points != 0.0 {
            self.total += points;
            self.list.push(RiskFactor {
                name: name.to_owned(),
                contribution: points,
                reason: reason(),
            });
        }
    }
}

fn step_points(table: &[(i64, f64)], value: i64) -> f64 {
    table
        .iter()
        .rev()
        .find(|(threshold, _)| value >= *threshold)
        .map_or(0.0, |(_, p)| *p)
}

/// Content findings (one factor each), then the floor the worst of them sets.
///
/// A finding that asks for a human never pushes a score into critical by itself: its points
/// stop just below the critical band (its factor is listed even when that leaves it none).
fn content_findings(fx: &mut Factors, f: &ActionFeatures) {
    for finding in f.findings.iter() {
        if finding.floor == Floor::Hold {
            let room = (tables::BLOCK_FLOOR - 0.1 - fx.total).max(0.0);
            let points = round1(finding.points.min(room));
            fx.total += points;
            fx.list.push(RiskFactor {
                name: finding.name.to_owned(),
                contribution: points,
                reason: finding.reason.clone(),
            });
        } else {
            fx.add(finding.name, finding.points, || finding.reason.clone());
        }
    }
    if let Some(top) = f.findings.floor() {
        let floor = top.floor.score();
        if floor > fx.total {
            let lift = floor - fx.total;
            fx.add("content_floor", lift, || {
                format!("{}: at least {floor} ({})", top.name, top.reason)
            });
        }
    }
}

/// Score the features (the second half of [`super::RiskEngine::assess`]).
pub fn assess(table: &CvssTable, f: ActionFeatures) -> RiskAssessment {
    let metrics = cvss::derive(&f);
    let entry = table.get(metrics);
    let likelihood = nist::likelihood(&f);
    let impact = nist::impact(&f);
    let nist_risk = nist::level_of_risk(likelihood, impact);
    let techniques = attack::techniques(&f);

    let mut fx = Factors {
        list: Vec::with_capacity(12),
        total: 0.0,
    };

    // The three frameworks.
    fx.add("cvss", tables::W_CVSS * entry.score * 10.0, || {
        format!(
            "CVSS v3.1 base {:.1} ({}) for {}",
            entry.score, entry.severity, entry.vector
        )
    });
    fx.add("nist", tables::W_NIST * nist_risk.value(), || {
        format!("NIST SP 800-30: likelihood {likelihood} × impact {impact} = {nist_risk} risk")
    });
    if let Some(top) = techniques.first() {
        fx.add(
            "mitre_attack",
            tables::W_ATTACK * f64::from(top.weight),
            || format!("resembles ATT&CK {} {} ({})", top.id, top.name, top.tactic),
        );
    }

    // Data.
    let verb = f.verb;
    let mutation = verb.is_mutation() || f.destructive_command;
    if mutation {
        fx.add(
            "data_class",
            tables::MUTATION_CLASS_POINTS[f.data_class as usize],
            || format!("modifies {} data", f.data_class),
        );
    } else {
        fx.add(
            "data_class",
            tables::DATA_CLASS_POINTS[f.data_class as usize],
            || format!("touches {} data", f.data_class),
        );
    }
    if let Some(n) = f.record_count
        && (mutation || f.data_class >= DataClass::Pii)
    {
        fx.add(
            "record_count",
            step_points(tables::RECORD_COUNT_POINTS, n),
            || format!("{n} records affected"),
        );
    }

    // Money.
    if let Some(a) = f.amount {
        fx.add("amount", step_points(tables::AMOUNT_POINTS, a), || {
            format!("amount {a}")
        });
    }
    if f.amount_threshold_exceeded {
        fx.add("amount_threshold", tables::AMOUNT_THRESHOLD_POINTS, || {
            "amount exceeds the approval threshold".to_owned()
        });
    }
    if f.external_transfer && verb != Verb::Transfer {
        fx.add(
            "external_transfer",
            tables::EXTERNAL_TRANSFER_POINTS,
            || "goes to an external party".to_owned(),
        );
    }
    if f.destructive_command {
        fx.add(
            "destructive_command",
            tables::DESTRUCTIVE_COMMAND_POINTS,
            || "destructive shell or SQL command".to_owned(),
        );
    }

    // Environment and agent.
    if let Some((_, p)) = tables::ENVIRONMENT_POINTS
        .iter()
        .find(|(e, _)| *e == f.environment)
    {
        fx.add("environment", *p, || {
            format!("{} environment", f.environment)
        });
    }
    if !f.agent.registered {
        fx.add("unregistered_agent", tables::UNREGISTERED_POINTS, || {
            "agent is not registered".to_owned()
        });
    }
    if f.agent.recent_denials > 0 {
        let p = if f.agent.recent_denials >= 3 {
            2.0 * tables::RECENT_DENIAL_POINTS
        } else {
            tables::RECENT_DENIAL_POINTS
        };
        fx.add("recent_denials", p, || {
            format!("{} recent denials of this agent", f.agent.recent_denials)
        });
    }
    if f.agent.first_use_of_action_type {
        fx.add("first_use", tables::FIRST_USE_POINTS, || {
            "first use of this action type by this agent".to_owned()
        });
    }
    if f.agent.actions_last_minute > tables::VELOCITY_THRESHOLD {
        fx.add("velocity", tables::VELOCITY_POINTS, || {
            format!("{} actions in the last minute", f.agent.actions_last_minute)
        });
    }

    // MCP annotations.
    if let Some(m) = &f.mcp {
        if m.destructive_hint == Some(true) {
            fx.add(
                "mcp_destructive_hint",
                tables::DESTRUCTIVE_HINT_POINTS,
                || format!("tool `{}` is annotated destructive", m.tool),
            );
        }
        if m.read_only_hint == Some(true) {
            fx.add("mcp_read_only_hint", tables::READ_ONLY_HINT_POINTS, || {
                format!("tool `{}` is annotated read-only", m.tool)
            });
        }
        if m.open_world_hint == Some(true) {
            fx.add(
                "mcp_open_world_hint",
                tables::OPEN_WORLD_HINT_POINTS,
                || format!("tool `{}` reaches the open world", m.tool),
            );
        }
    }

    // Floors: the MCP tool catalogue and the server's per-tool override.
    if let Some(m) = &f.mcp {
        if let Some(base) = m.baseline {
            let mut floor = base;
            let mut parts = format!("MCP tool `{}` baseline {base}", m.tool);
            if f.path_increment > 0.0 {
                floor += f.path_increment;
                parts.push_str(&format!(
                    " + {} for {}",
                    f.path_increment,
                    f.path_label.unwrap_or("sensitive path")
                ));
            }
            if f.recursive {
                floor += tables::RECURSIVE_INCREMENT;
                parts.push_str(&format!(" + {} recursive", tables::RECURSIVE_INCREMENT));
            }
            if mutation && let Some(n) = f.record_count {
                let inc = if n >= 100 {
                    tables::BULK_INCREMENT
                } else if n >= 2 {
                    tables::MULTI_TARGET_INCREMENT
                } else {
                    0.0
                };
                if inc > 0.0 {
                    floor += inc;
                    parts.push_str(&format!(" + {inc} for {n} targets"));
                }
            }
            let floor = round1(floor.min(100.0));
            if floor > fx.total {
                let lift = floor - fx.total;
                fx.add("mcp_tool_floor", lift, || {
                    format!("{parts} = floor {floor}")
                });
            }
        }
        if let Some(o) = m.risk_override {
            let o = round1(o.clamp(0.0, 100.0));
            if o > fx.total {
                let lift = o - fx.total;
                fx.add("mcp_tool_override", lift, || {
                    format!("MCP server override for `{}`: at least {o}", m.tool)
                });
            }
        }
    }

    content_findings(&mut fx, &f);

    let total = round1(fx.total);
    let score = total.clamp(0.0, 100.0);
    if score != total {
        fx.add("clamp", score - total, || {
            "score kept within 0–100".to_owned()
        });
    }

    let top = techniques.first().copied();
    RiskAssessment {
        score,
        level: RiskLevel::from_score(score),
        cvss_vector: entry.vector.to_string(),
        cvss_score: entry.score,
        cvss_severity: entry.severity.to_owned(),
        nist_likelihood: likelihood,
        nist_impact: impact,
        nist_risk,
        mitre_techniques: techniques,
        mitre_tactic: top.map(|t| t.tactic.to_owned()),
        mitre_technique: top.map(|t| t.id.to_owned()),
        factors: fx.list,
        features: f,
    }
}
