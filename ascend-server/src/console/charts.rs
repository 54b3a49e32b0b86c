//! Insights: pictures rendered by the server as SVG (no chart library, no script): decisions
//! per hour by outcome, the risk-score distribution, the riskiest agents and action types.
//! Each picture has a text title and description, and its numbers in a table beside it.

use std::collections::HashMap;

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use maud::{Markup, html};

use ascend_runtime::Decision;

use super::Console;
use super::layout::{self, Nav};
use super::session::Signed;
use crate::model::{ActionFilter, ActionRecord, now};

const SCAN: u32 = 1000;
const W: f64 = 640.0;
const H: f64 = 220.0;
const PAD: f64 = 28.0;

/// Decisions per hour over the last 24 hours: (allowed, denied, pending) per hour, oldest first.
pub fn per_hour(rows: &[ActionRecord], now_unix: i64) -> Vec<[u32; 3]> {
    let mut hours = vec![[0u32; 3]; 24];
    for a in rows {
        let age = now_unix.saturating_sub(a.created_at.unix_seconds());
        if !(0..24 * 3600).contains(&age) {
            continue;
        }
        let Ok(slot) = usize::try_from(23 - age / 3600) else {
            continue;
        };
        let k = match a.body.decision {
            Decision::Allowed => 0,
            Decision::Denied => 1,
            Decision::Pending => 2,
        };
        hours[slot][k] += 1;
    }
    hours
}

/// Actions per risk-score band of ten points (the last band is 90–100).
pub fn histogram(rows: &[ActionRecord]) -> [u32; 10] {
    let mut bins = [0u32; 10];
    for a in rows {
        let score = a.body.risk_score;
        if !score.is_finite() {
            continue;
        }
        let i = ((score.clamp(0.0, 100.0) / 10.0).floor() as usize).min(9);
        bins[i] += 1;
    }
    bins
}

/// The five highest (mean score, highest score, actions) by `key`, highest mean first.
pub fn riskiest(
    rows: &[ActionRecord],
    key: fn(&ActionRecord) -> &str,
) -> Vec<(String, f64, f64, u32)> {
    let mut by: HashMap<&str, (f64, f64, u32)> = HashMap::new();
    for a in rows {
        let e = by.entry(key(a)).or_insert((0.0, 0.0, 0));
        e.0 += a.body.risk_score;
        e.1 = e.1.max(a.body.risk_score);
        e.2 += 1;
    }
    let mut out: Vec<_> = by
        .into_iter()
        .map(|(k, (sum, max, n))| (k.to_owned(), sum / f64::from(n.max(1)), max, n))
        .collect();
    out.sort_by(|a, b| b.1.total_cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    out.truncate(5);
    out
}

fn frame(id: &str, title: &str, desc: &str, inner: Markup) -> Markup {
    html! {
        svg xmlns="http://www.w3.org/2000/svg" viewBox={ "0 0 " (W) " " (H) } class="chart"
            role="img" aria-labelledby={ (id) "-t " (id) "-d" } id=(id) {
            title id={ (id) "-t" } { (title) }
            desc id={ (id) "-d" } { (desc) }
            line x1=(PAD) y1=(H - PAD) x2=(W - 4.0) y2=(H - PAD) class="axis" {}
            (inner)
        }
    }
}

fn hours_chart(hours: &[[u32; 3]]) -> Markup {
    let max = hours
        .iter()
        .map(|h| h.iter().sum::<u32>())
        .max()
        .unwrap_or(0)
        .max(1);
    let bw = (W - PAD - 4.0) / 24.0;
    let scale = (H - 2.0 * PAD) / f64::from(max);
    let total: u32 = hours.iter().flatten().sum();
    let desc = format!("{total} decisions in the last 24 hours; the busiest hour had {max}.");
    let mut bars = Vec::new();
    for (i, h) in hours.iter().enumerate() {
        let x = PAD + i as f64 * bw + 1.0;
        let mut y = H - PAD;
        for (k, class) in ["allowed", "denied", "pending"].iter().enumerate() {
            if h[k] > 0 {
                let hgt = f64::from(h[k]) * scale;
                y -= hgt;
                bars.push((x, y, hgt, *class, h[k], 23 - i));
            }
        }
    }
    let inner = html! {
        @for (x, y, hgt, class, n, ago) in &bars {
            rect x=(format!("{x:.1}")) y=(format!("{y:.1}")) width=(format!("{:.1}", bw - 2.0))
                height=(format!("{hgt:.1}")) class={ "bar " (class) } {
                title { (n) " " (class) ", " (ago) " h ago" }
            }
        }
        text x=(PAD) y=(H - 8.0) class="label" { "24 h ago" }
        text x=(W - 4.0) y=(H - 8.0) class="label end" { "now" }
        text x="4" y=(PAD) class="label" { (max) }
    };
    frame("chart-hours", "Decisions per hour by outcome", &desc, inner)
}

fn histogram_chart(bins: &[u32; 10]) -> Markup {
    let max = bins.iter().copied().max().unwrap_or(0).max(1);
    let bw = (W - PAD - 4.0) / 10.0;
    let scale = (H - 2.0 * PAD) / f64::from(max);
    let desc = format!("Actions per risk-score band; the fullest band has {max}.");
    let inner = html! {
        @for (i, n) in bins.iter().enumerate() {
            @let x = PAD + i as f64 * bw + 2.0;
            @let hgt = f64::from(*n) * scale;
            @let class = match i { 0..=3 => "low", 4..=6 => "medium", 7..=8 => "high", _ => "critical" };
            rect x=(format!("{x:.1}")) y=(format!("{:.1}", H - PAD - hgt)) width=(format!("{:.1}", bw - 4.0))
                height=(format!("{hgt:.1}")) class={ "bar " (class) } {
                title { (n) " actions scored " (i * 10) "–" (i * 10 + 9) }
            }
            text x=(format!("{:.1}", x + bw / 2.0 - 2.0)) y=(H - 10.0) class="label mid" { (i * 10) }
        }
        text x="4" y=(PAD) class="label" { (max) }
    };
    frame("chart-risk", "Risk-score distribution", &desc, inner)
}

fn top_chart(id: &str, title: &str, rows: &[(String, f64, f64, u32)]) -> Markup {
    let row_h = (H - 8.0) / 5.0;
    let label_w = 200.0;
    let desc = match rows.first() {
        Some((k, mean, _, _)) => format!("Highest mean risk score: {k} with {mean:.0}."),
        None => "No actions yet.".to_owned(),
    };
    html! {
        svg xmlns="http://www.w3.org/2000/svg" viewBox={ "0 0 " (W) " " (H) } class="chart"
            role="img" aria-labelledby={ (id) "-t " (id) "-d" } id=(id) {
            title id={ (id) "-t" } { (title) }
            desc id={ (id) "-d" } { (desc) }
            @for (i, (k, mean, max, n)) in rows.iter().enumerate() {
                @let y = 4.0 + i as f64 * row_h;
                @let len = (W - label_w - 60.0) * mean / 100.0;
                @let level = ascend_runtime::RiskLevel::from_score(*mean);
                text x=(label_w - 8.0) y=(format!("{:.1}", y + row_h / 2.0 + 4.0)) class="label end" {
                    (k.chars().take(28).collect::<String>())
                }
                rect x=(label_w) y=(format!("{:.1}", y + 4.0)) width=(format!("{len:.1}"))
                    height=(format!("{:.1}", row_h - 8.0)) class={ "bar " (super::widgets::level_class(level)) } {
                    title { (k) ": mean " (format!("{mean:.0}")) ", highest " (format!("{max:.0}")) ", " (n) " actions" }
                }
                text x=(format!("{:.1}", label_w + len + 6.0)) y=(format!("{:.1}", y + row_h / 2.0 + 4.0)) class="label" {
                    (format!("{mean:.0}"))
                }
            }
        }
    }
}

fn top_table(what: &str, rows: &[(String, f64, f64, u32)]) -> Markup {
    html! {
        details {
            summary { "The numbers" }
            table class="list" {
                thead { tr { th scope="col" { (what) } th scope="col" class="num" { "Mean" } th scope="col" class="num" { "Highest" } th scope="col" class="num" { "Actions" } } }
                tbody {
                    @for (k, mean, max, n) in rows {
                        tr { td { code { (k) } } td class="num" { (format!("{mean:.0}")) } td class="num" { (format!("{max:.0}")) } td class="num" { (n) } }
                    }
                }
            }
        }
    }
}

/// `GET /console/insights`.
pub async fn page(State(c): State<Console>, s: Signed) -> Response {
    let filter = ActionFilter {
        limit: SCAN,
        ..ActionFilter::default()
    };
    let body = match c.gov().list_actions(&s.principal, filter).await {
        Ok((rows, _)) => {
            let hours = per_hour(&rows, now().unix_seconds());
            let bins = histogram(&rows);
            let agents = riskiest(&rows, |a| a.agent_id.as_str());
            let types = riskiest(&rows, |a| a.action_type.as_str());
            html! {
                p class="hint" { "From the newest " (rows.len()) " actions." }
                div class="charts" {
                    figure {
                        (hours_chart(&hours))
                        figcaption {
                            "Decisions per hour, last 24 hours: "
                            span class="key allowed" { "allowed" } " "
                            span class="key denied" { "denied" } " "
                            span class="key pending" { "pending" }
                        }
                    }
                    figure {
                        (histogram_chart(&bins))
                        figcaption { "Risk-score distribution (bands of ten points)" }
                    }
                    figure {
                        (top_chart("chart-agents", "Riskiest agents", &agents))
                        figcaption { "Riskiest agents (mean risk score)" }
                        (top_table("Agent", &agents))
                    }
                    figure {
                        (top_chart("chart-types", "Riskiest action types", &types))
                        figcaption { "Riskiest action types (mean risk score)" }
                        (top_table("Action type", &types))
                    }
                }
            }
        }
        Err(e) => html! { p class="flash bad" role="alert" { (layout::refusal(&e)) } },
    };
    layout::page(&c, &s, Nav::Insights, "Insights", body).into_response()
}
