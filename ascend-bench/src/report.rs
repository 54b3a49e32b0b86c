//! The report: one row per measured figure (with its target and verdict), a details section per
//! scenario, and the markdown `BENCHMARKS.md` is made of.

use std::fmt::Write as _;

use crate::machine::Machine;

/// Whether a measured figure meets its target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Target met.
    Pass,
    /// Target missed.
    Fail,
    /// A figure without a target of its own (context for the others).
    Info,
    /// Not judged: smoke mode makes no claims about speed.
    Smoke,
    /// Not measured, with the reason.
    Skipped(String),
    /// The scenario broke, with the error.
    Error(String),
}

impl Verdict {
    /// Compare a measured value against a bound: `higher_is_better` for rates and ratios.
    pub fn judge(measured: f64, target: f64, higher_is_better: bool, smoke: bool) -> Verdict {
        if smoke {
            return Verdict::Smoke;
        }
        let ok = if higher_is_better {
            measured >= target
        } else {
            measured <= target
        };
        if ok { Verdict::Pass } else { Verdict::Fail }
    }

    fn cell(&self) -> String {
        match self {
            Verdict::Pass => "**PASS**".to_owned(),
            Verdict::Fail => "**FAIL**".to_owned(),
            Verdict::Info => "info".to_owned(),
            Verdict::Smoke => "not judged (smoke)".to_owned(),
            Verdict::Skipped(why) => format!("skipped: {why}"),
            Verdict::Error(e) => format!("ERROR: {e}"),
        }
    }
}

/// One line of the results table.
#[derive(Debug, Clone)]
pub struct Row {
    /// Scenario number (1–10 as in the issues).
    pub scenario: u8,
    /// What was measured.
    pub what: String,
    /// The measured value (median, p99, spread as relevant).
    pub measured: String,
    /// The target, or `—`.
    pub target: String,
    /// The verdict.
    pub verdict: Verdict,
    /// For a missed target: why, and what would close it.
    pub note: String,
}

impl Row {
    /// A row without a target.
    pub fn info(scenario: u8, what: impl Into<String>, measured: impl Into<String>) -> Row {
        Row {
            scenario,
            what: what.into(),
            measured: measured.into(),
            target: "—".to_owned(),
            verdict: Verdict::Info,
            note: String::new(),
        }
    }

    /// A row with a target and its verdict.
    pub fn target(
        scenario: u8,
        what: impl Into<String>,
        measured: impl Into<String>,
        target: impl Into<String>,
        verdict: Verdict,
    ) -> Row {
        Row {
            scenario,
            what: what.into(),
            measured: measured.into(),
            target: target.into(),
            verdict,
            note: String::new(),
        }
    }

    /// Attach the explanation shown when the target is missed.
    pub fn with_note(mut self, note: impl Into<String>) -> Row {
        self.note = note.into();
        self
    }
}

/// What one scenario contributes.
#[derive(Debug, Clone, Default)]
pub struct ScenarioReport {
    /// Table rows.
    pub rows: Vec<Row>,
    /// Markdown details (method, per-repeat figures).
    pub details: String,
}

/// The whole run.
#[derive(Debug, Clone)]
pub struct Report {
    /// Smoke mode (tiny counts, nothing judged).
    pub smoke: bool,
    /// The machine.
    pub machine: Machine,
    /// Load average before the first scenario.
    pub load_before: String,
    /// Load average after the last scenario.
    pub load_after: String,
    /// Highest 1-minute load average seen between scenarios.
    pub load_peak: f64,
    /// UTC start time (RFC 3339).
    pub started: String,
    /// Wall time of the whole run.
    pub wall: std::time::Duration,
    /// Per scenario: number, title, report.
    pub scenarios: Vec<(u8, String, ScenarioReport)>,
}

impl Report {
    /// Every row, in scenario order.
    pub fn rows(&self) -> impl Iterator<Item = &Row> {
        self.scenarios.iter().flat_map(|(_, _, s)| s.rows.iter())
    }

    /// The report as markdown.
    pub fn to_markdown(&self) -> String {
        let m = &self.machine;
        let mut s = String::new();
        let _ = writeln!(s, "# Benchmarks\n");
        let _ = writeln!(
            s,
            "<!-- Written by the ascend-bench harness; re-run it instead of editing by hand. -->\n"
        );
        let _ = writeln!(
            s,
            "Every figure below comes from one run of the harness on the machine described \
             under *Machine*:\n\n```sh\ncargo run --release -p ascend-bench -- --out BENCHMARKS.md\n```\n"
        );
        let _ = writeln!(
            s,
            "Run started {} and took {:.1} min{}. Medians and p99 are over all samples of all \
             repeats; *spread* is the range of the per-repeat medians (or rates). Where a target \
             is missed the table says **FAIL** and *Missed targets* says why and what would \
             close it; targets are never adjusted to the results.\n",
            self.started,
            self.wall.as_secs_f64() / 60.0,
            if self.smoke {
                " in **smoke mode** (tiny counts, debug-friendly; the figures mean nothing and \
                 nothing is judged)"
            } else {
                ""
            }
        );

        let _ = writeln!(s, "## Machine\n");
        let _ = writeln!(s, "| | |\n|---|---|");
        let _ = writeln!(s, "| CPU | {} |", m.cpu_model);
        let _ = writeln!(s, "| logical cores | {} |", m.cores);
        let _ = writeln!(s, "| memory | {} |", m.memory);
        let _ = writeln!(s, "| OS | {} (kernel {}) |", m.os, m.kernel);
        let _ = writeln!(s, "| Rust | {} (release profile) |", m.rustc);
        let _ = writeln!(s, "| Python | {} |", m.python);
        let _ = writeln!(
            s,
            "| load average (1/5/15 min) | before: {} — after: {} — highest 1-min seen: {:.2} |",
            self.load_before, self.load_after, self.load_peak
        );
        let _ = writeln!(
            s,
            "\nThe harness itself keeps the cores busy (client, server and Python driver run at \
             the same time), which by itself shows as a 1-minute load of about 2–3."
        );
        if self.load_peak > m.cores as f64 + 1.5 {
            let _ = writeln!(
                s,
                "\n> **Note:** the 1-minute load average reached {:.2} on {} cores, more than the \
                 harness accounts for: other work shared the machine during part of this run, so \
                 the affected latencies and rates are pessimistic. Re-run on an idle machine for \
                 reference figures.",
                self.load_peak, m.cores
            );
        }
        s.push('\n');

        let _ = writeln!(s, "## Results\n");
        let _ = writeln!(s, "| # | measured | value | target | result |");
        let _ = writeln!(s, "|---|---|---|---|---|");
        for r in self.rows() {
            let _ = writeln!(
                s,
                "| {} | {} | {} | {} | {} |",
                r.scenario,
                escape(&r.what),
                escape(&r.measured),
                escape(&r.target),
                escape(&r.verdict.cell())
            );
        }
        s.push('\n');

        let missed: Vec<&Row> = self.rows().filter(|r| r.verdict == Verdict::Fail).collect();
        let _ = writeln!(s, "## Missed targets\n");
        if missed.is_empty() {
            let _ = writeln!(s, "None in this run.\n");
        } else {
            for r in missed {
                let _ = writeln!(
                    s,
                    "- **{} (scenario {})**: measured {}, target {}. {}",
                    r.what, r.scenario, r.measured, r.target, r.note
                );
            }
            s.push('\n');
        }

        let _ = writeln!(s, "## Details\n");
        for (n, title, rep) in &self.scenarios {
            let _ = writeln!(s, "### {n}. {title}\n");
            let _ = writeln!(s, "{}\n", rep.details.trim_end());
        }
        s
    }
}

fn escape(cell: &str) -> String {
    cell.replace('|', "\\|").replace('\n', " ")
}
