//! CVSS v3.1 base vectors derived from actions, scored once per process.
//!
//! There are only 4·2·3·2·2·3·3·3 = 2592 base vectors, so [`CvssTable::global`] scores all of them
//! on first use and an assessment is an array lookup. Each vector string is parsed by the RustSec
//! `cvss` crate (which also gives the severity), and scored with the specification's formula
//! ([`spec_base_score`]) using the **Appendix A Roundup of the specification**
//! (`i = round(x·100000)`; `i % 10000 == 0 ? i/100000 : (floor(i/10000)+1)/10`). The crate's own
//! score truncates `x·100000` instead of rounding it; the two differ only when floating-point error
//! lands just below a hundred-thousandth. `tests/risk_cvss.rs` cross-checks all 2592 vectors
//! against the crate and pins the spec's check values.
//!
//! How a vector is derived from an action (risk-model.md §2, our interpretation):
//! - **AV** `N` when the call leaves the organisation (external transfer, communication, external
//!   API, MCP `openWorldHint`), `L` for local files and processes (paths, MCP tools, execution),
//!   `A` otherwise (databases, queues, internal APIs).
//! - **AC** always `L`: nothing the engine sees says the action depends on outside conditions.
//! - **PR** `H` when a human co-signs, `N` for an unregistered or autonomous agent, else `L`.
//! - **UI** `R` when a human is in the loop, else `N`.
//! - **S** `C` when the effect crosses the agent's scope: system configuration, credentials,
//!   identities/permissions changes, money leaving, other tenants.
//! - **C** by data class for reads, sends, transfers and executions (`H` personal/restricted,
//!   `L` internal/confidential, `N` public); `N` for writes and deletes, `L` when they touch
//!   personal or restricted data (the agent handles the record).
//! - **I** `N` for reads; `H` for mutations in production, of financial records, of identities or
//!   system configuration, and for transfers; `L` for other mutations and executions.
//! - **A** `H` for deletes, destructive commands, recursive or bulk mutations; `L` for system
//!   operations and configuration writes; `N` otherwise.

use std::str::FromStr;
use std::sync::OnceLock;

use super::features::ActionFeatures;
use super::{DataClass, PathClass, Verb};

/// Attack vector.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Av {
    /// Network.
    N = 0,
    /// Adjacent.
    A = 1,
    /// Local.
    L = 2,
    /// Physical.
    P = 3,
}
/// Attack complexity.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ac {
    /// Low.
    L = 0,
    /// High.
    H = 1,
}
/// Privileges required.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pr {
    /// None.
    N = 0,
    /// Low.
    L = 1,
    /// High.
    H = 2,
}
/// User interaction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ui {
    /// None.
    N = 0,
    /// Required.
    R = 1,
}
/// Scope.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// Unchanged.
    U = 0,
    /// Changed.
    C = 1,
}
/// Confidentiality, integrity or availability impact.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Cia {
    /// None.
    N = 0,
    /// Low.
    L = 1,
    /// High.
    H = 2,
}

/// A CVSS v3.1 base vector.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BaseMetrics {
    /// AV.
    pub av: Av,
    /// AC.
    pub ac: Ac,
    /// PR.
    pub pr: Pr,
    /// UI.
    pub ui: Ui,
    /// S.
    pub s: Scope,
    /// C.
    pub c: Cia,
    /// I.
    pub i: Cia,
    /// A.
    pub a: Cia,
}

const AVS: [Av; 4] = [Av::N, Av::A, Av::L, Av::P];
const ACS: [Ac; 2] = [Ac::L, Ac::H];
const PRS: [Pr; 3] = [Pr::N, Pr::L, Pr::H];
const UIS: [Ui; 2] = [Ui::N, Ui::R];
const SS: [Scope; 2] = [Scope::U, Scope::C];
const CIAS: [Cia; 3] = [Cia::N, Cia::L, Cia::H];

/// Number of distinct base vectors.
pub const VECTOR_COUNT: usize = 4 * 2 * 3 * 2 * 2 * 3 * 3 * 3;

impl BaseMetrics {
    /// Dense index 0..[`VECTOR_COUNT`].
    pub fn index(self) -> usize {
        ((((((self.av as usize * 2 + self.ac as usize) * 3 + self.pr as usize) * 2
            + self.ui as usize)
            * 2
            + self.s as usize)
            * 3
            + self.c as usize)
            * 3
            + self.i as usize)
            * 3
            + self.a as usize
    }

    /// Every base vector, in index order.
    pub fn all() -> impl Iterator<Item = BaseMetrics> {
        AVS.into_iter().flat_map(|av| {
            ACS.into_iter().flat_map(move |ac| {
                PRS.into_iter().flat_map(move |pr| {
                    UIS.into_iter().flat_map(move |ui| {
                        SS.into_iter().flat_map(move |s| {
                            CIAS.into_iter().flat_map(move |c| {
                                CIAS.into_iter().flat_map(move |i| {
                                    CIAS.into_iter().map(move |a| BaseMetrics {
                                        av,
                                        ac,
                                        pr,
                                        ui,
                                        s,
                                        c,
                                        i,
                                        a,
                                    })
                                })
                            })
                        })
                    })
                })
            })
        })
    }

    /// The vector string, `CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H`.
    pub fn vector_string(self) -> String {
        let cia = |m: Cia| match m {
            Cia::N => 'N',
            Cia::L => 'L',
            Cia::H => 'H',
        };
        format!(
            "CVSS:3.1/AV:{}/AC:{}/PR:{}/UI:{}/S:{}/C:{}/I:{}/A:{}",
            ['N', 'A', 'L', 'P'][self.av as usize],
            ['L', 'H'][self.ac as usize],
            ['N', 'L', 'H'][self.pr as usize],
            ['N', 'R'][self.ui as usize],
            ['U', 'C'][self.s as usize],
            cia(self.c),
            cia(self.i),
            cia(self.a),
        )
    }
}

/// The specification's Roundup (CVSS v3.1 Appendix A): the smallest number with one decimal
/// that is ≥ `x`, computed on integers to avoid floating-point artefacts.
pub fn spec_roundup(x: f64) -> f64 {
    let i = (x * 100_000.0).round() as i64;
    if i % 10_000 == 0 {
        i as f64 / 100_000.0
    } else {
        ((i / 10_000) as f64 + 1.0) / 10.0
    }
}

/// Base score with the specification's formula and [`spec_roundup`].
pub fn spec_base_score(m: BaseMetrics) -> f64 {
    let changed = m.s == Scope::C;
    let av: f64 = [0.85, 0.62, 0.55, 0.2][m.av as usize];
    let ac: f64 = [0.77, 0.44][m.ac as usize];
    let pr: f64 = match (m.pr, changed) {
        (Pr::N, _) => 0.85,
        (Pr::L, false) => 0.62,
        (Pr::L, true) => 0.68,
        (Pr::H, false) => 0.27,
        (Pr::H, true) => 0.5,
    };
    let ui: f64 = [0.85, 0.62][m.ui as usize];
    let w = |c: Cia| -> f64 { [0.0, 0.22, 0.56][c as usize] };
    let iss = 1.0 - (1.0 - w(m.c)) * (1.0 - w(m.i)) * (1.0 - w(m.a));
    let impact: f64 = if changed {
        7.52 * (iss - 0.029) - 3.25 * (iss - 0.02).powi(15)
    } else {
        6.42 * iss
    };
    let exploitability = 8.22 * av * ac * pr * ui;
    if impact <= 0.0 {
        0.0
    } else if changed {
        spec_roundup((1.08 * (impact + exploitability)).min(10.0))
    } else {
        spec_roundup((impact + exploitability).min(10.0))
    }
}

/// Severity names of the qualitative rating scale, as sent on the wire.
pub fn severity_name(s: cvss::Severity) -> &'static str {
    match s {
        cvss::Severity::None => "None",
        cvss::Severity::Low => "Low",
        cvss::Severity::Medium => "Medium",
        cvss::Severity::High => "High",
        cvss::Severity::Critical => "Critical",
    }
}

/// One precomputed vector.
#[derive(Debug, Clone)]
pub struct CvssEntry {
    /// Vector string.
    pub vector: Box<str>,
    /// Spec score (what the engine reports).
    pub score: f64,
    /// The `cvss` crate's score of the same vector (for cross-checks).
    pub crate_score: f64,
    /// Severity name of `score`.
    pub severity: &'static str,
}

/// All 2592 base vectors, scored.
#[derive(Debug)]
pub struct CvssTable {
    entries: Vec<CvssEntry>,
}

impl CvssTable {
    /// Build the table (about 2592 parses; done once per process by [`CvssTable::global`]).
    pub fn build() -> Self {
        let entries = BaseMetrics::all()
            .map(|m| {
                let vector = m.vector_string();
                let score = spec_base_score(m);
                // Our vector strings are well-formed; should the crate ever refuse one, the
                // spec score stands on its own.
                let crate_score = cvss::v3::Vector::from_str(&vector)
                    .map(|v| v.score().value())
                    .unwrap_or(score);
                CvssEntry {
                    vector: vector.into_boxed_str(),
                    score,
                    crate_score,
                    severity: severity_name(cvss::v3::Score::new(score).severity()),
                }
            })
            .collect();
        Self { entries }
    }

    /// The process-wide table.
    pub fn global() -> &'static CvssTable {
        static TABLE: OnceLock<CvssTable> = OnceLock::new();
        TABLE.get_or_init(CvssTable::build)
    }

    /// The entry of a vector.
    pub fn get(&self, m: BaseMetrics) -> &CvssEntry {
        // The table has one entry per index by construction.
        &self.entries[m.index()]
    }

    /// Every entry with its metrics, in index order.
    pub fn iter(&self) -> impl Iterator<Item = (BaseMetrics, &CvssEntry)> {
        BaseMetrics::all().zip(self.entries.iter())
    }
}

/// Derive the base vector of an action (see the module docs for the rules).
pub fn derive(f: &ActionFeatures) -> BaseMetrics {
    let verb = f.verb;
    let local = f.path.is_some() || f.mcp.is_some() || verb == Verb::Execute;
    let av = if f.external_call {
        Av::N
    } else if local {
        Av::L
    } else {
        Av::A
    };
    let pr = if f.human_cosigned {
        Pr::H
    } else if !f.agent.registered || f.agent.autonomous {
        Pr::N
    } else {
        Pr::L
    };
    let ui = if f.human_in_loop { Ui::R } else { Ui::N };
    let system_config = matches!(f.path_class, PathClass::SystemConfig | PathClass::System);
    let credentials = matches!(f.path_class, PathClass::Credentials | PathClass::Secrets);
    let mutation = verb.is_mutation() || f.destructive_command;
    let scope_changed = f.cross_tenant
        || credentials
        || (system_config && !verb.is_read())
        || matches!(verb, Verb::Grant | Verb::Configure)
        || (verb == Verb::Transfer && f.external_transfer)
        || (f.identity && mutation && f.data_class >= DataClass::Restricted);
    let class_c = match f.data_class {
        DataClass::Pii | DataClass::Restricted => Cia::H,
        DataClass::Internal | DataClass::Confidential => Cia::L,
        DataClass::Public => Cia::N,
    };
    let c = match verb {
        Verb::Write | Verb::Create | Verb::Delete | Verb::Grant | Verb::Configure => {
            if f.data_class >= DataClass::Pii {
                Cia::L
            } else {
                Cia::N
            }
        }
        _ => class_c,
    };
    let i = if verb.is_read() || (verb == Verb::Other && !f.destructive_command) {
        Cia::N
    } else if verb == Verb::Transfer
        || (mutation
            && (f.production
                || f.financial
                || f.identity
                || system_config
                || f.data_class >= DataClass::Restricted))
    {
        Cia::H
    } else if verb == Verb::Send {
        Cia::N
    } else {
        Cia::L
    };
    let destroys = verb == Verb::Delete || f.destructive_command;
    let a = if destroys || (mutation && (f.recursive || f.bulk)) {
        Cia::H
    } else if verb == Verb::Configure || (system_config && mutation) {
        Cia::L
    } else {
        Cia::N
    };
    BaseMetrics {
        av,
        ac: Ac::L,
        pr,
        ui,
        s: if scope_changed { Scope::C } else { Scope::U },
        c,
        i,
        a,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn index_is_dense_and_ordered() {
        for (n, m) in BaseMetrics::all().enumerate() {
            assert_eq!(m.index(), n);
        }
        assert_eq!(BaseMetrics::all().count(), VECTOR_COUNT);
    }
}
