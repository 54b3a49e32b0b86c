//! NIST SP 800-30 Rev. 1: likelihood, impact and level of risk (Table I-2).
//!
//! Likelihood starts at *moderate* (the action is requested, not hypothetical) and rises one step each for: production, an autonomous agent, an
//! unregistered agent, recent denials (two steps at 3+), first use of the action type, unusual
//! velocity, and a call that leaves the organisation; a human in the loop lowers it one step.
//! Impact starts from the operation and the data class and rises with records, amounts,
//! irreversibility (recursive or destructive operations) and sensitive paths.

use std::fmt;

use serde::Serialize;

use super::features::ActionFeatures;
use super::{DataClass, PathClass, Verb, tables};

/// The five qualitative levels of NIST SP 800-30.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub enum NistLevel {
    /// Very low.
    #[serde(rename = "very low")]
    VeryLow = 0,
    /// Low.
    #[serde(rename = "low")]
    Low = 1,
    /// Moderate.
    #[serde(rename = "moderate")]
    Moderate = 2,
    /// High.
    #[serde(rename = "high")]
    High = 3,
    /// Very high.
    #[serde(rename = "very high")]
    VeryHigh = 4,
}

impl NistLevel {
    const ALL: [NistLevel; 5] = [
        NistLevel::VeryLow,
        NistLevel::Low,
        NistLevel::Moderate,
        NistLevel::High,
        NistLevel::VeryHigh,
    ];

    /// The level at step `n` (clamped to 0..=4).
    pub fn from_step(n: i32) -> Self {
        Self::ALL[n.clamp(0, 4) as usize]
    }

    /// The wire string: `very low`, `low`, `moderate`, `high`, `very high`.
    pub fn as_str(self) -> &'static str {
        match self {
            NistLevel::VeryLow => "very low",
            NistLevel::Low => "low",
            NistLevel::Moderate => "moderate",
            NistLevel::High => "high",
            NistLevel::VeryHigh => "very high",
        }
    }

    /// Semi-quantitative value 0–100 (mid-points of SP 800-30 Table I-3), used by the composite.
    pub fn value(self) -> f64 {
        tables::NIST_VALUES[self as usize]
    }
}

impl fmt::Display for NistLevel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

use NistLevel::{High as H, Low as L, Moderate as M, VeryHigh as VH, VeryLow as VL};

/// SP 800-30 Table I-2: `LEVEL_OF_RISK[likelihood][impact]`.
pub const LEVEL_OF_RISK: [[NistLevel; 5]; 5] = [
    // impact:  very low, low, moderate, high, very high
    [VL, VL, VL, L, L], // likelihood very low
    [VL, L, L, L, M],   // low
    [VL, L, M, M, H],   // moderate
    [VL, L, M, H, VH],  // high
    [VL, L, M, H, VH],  // very high
];

/// Level of risk for a likelihood and an impact (Table I-2).
pub fn level_of_risk(likelihood: NistLevel, impact: NistLevel) -> NistLevel {
    LEVEL_OF_RISK[likelihood as usize][impact as usize]
}

/// Likelihood of the action causing harm.
pub fn likelihood(f: &ActionFeatures) -> NistLevel {
    // An action submitted for execution is not hypothetical: start at moderate.
    let mut step = 2;
    step += i32::from(f.production);
    step += i32::from(f.agent.autonomous);
    step += i32::from(!f.agent.registered);
    step += match f.agent.recent_denials {
        0 => 0,
        1..=2 => 1,
        _ => 2,
    };
    step += i32::from(f.agent.first_use_of_action_type);
    step += i32::from(f.agent.actions_last_minute > tables::VELOCITY_THRESHOLD);
    step += i32::from(f.external_call);
    step -= i32::from(f.human_in_loop);
    NistLevel::from_step(step)
}

/// Impact of the action if it goes wrong.
pub fn impact(f: &ActionFeatures) -> NistLevel {
    use DataClass as D;
    let class = f.data_class;
    let mut step: i32 = match f.verb {
        Verb::Read | Verb::List | Verb::Other => match class {
            D::Public => 0,
            D::Internal => 1,
            D::Confidential | D::Pii => 2,
            D::Restricted => 3,
        },
        Verb::Create | Verb::Write => match class {
            D::Public => 1,
            D::Internal | D::Confidential => 2,
            D::Pii | D::Restricted => 3,
        },
        Verb::Send => match class {
            D::Public | D::Internal => 1,
            D::Confidential | D::Pii => 2,
            D::Restricted => 3,
        },
        Verb::Execute => 2,
        Verb::Delete => match class {
            D::Public => 1,
            D::Internal | D::Confidential => 2,
            D::Pii | D::Restricted => 3,
        },
        Verb::Grant | Verb::Configure => 3,
        Verb::Transfer => 1,
    };
    if let Some(n) = f.record_count {
        step += match n {
            0..100 => 0,
            100..10_000 => 1,
            _ => 2,
        };
    }
    if let Some(a) = f.amount {
        step += match a {
            0..1_000 => 0,
            1_000..100_000 => 1,
            100_000..10_000_000 => 2,
            _ => 3,
        };
    }
    step += i32::from(f.amount_threshold_exceeded);
    step += i32::from(f.recursive || f.destructive_command);
    if f.path_class != PathClass::None && !f.verb.is_read() {
        step += 1;
    }
    NistLevel::from_step(step)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_i2_corners() {
        assert_eq!(level_of_risk(VH, VH), VH);
        assert_eq!(level_of_risk(VL, VH), L);
        assert_eq!(level_of_risk(M, H), M);
        assert_eq!(level_of_risk(L, VH), M);
        assert_eq!(level_of_risk(H, VL), VL);
    }
}
