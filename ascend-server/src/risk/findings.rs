//! What the content analysers found in an action's arguments, each with its points and the
//! lowest band a security reviewer would put it in.
//!
//! A [`Finding`] becomes one [`ascend_runtime::RiskFactor`] (its `name`, its `points`, its
//! `reason`); when its [`Floor`] is above the computed score, a `content_floor` factor lifts the
//! score to the floor (high = a human approves, critical = denied by the default policy bands),
//! naming the finding that set it.

use serde::Serialize;

/// The lowest band a finding puts an action in.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Floor {
    /// No floor: the points only.
    #[default]
    None,
    /// At least high risk (the default policies hold it for a human).
    Hold,
    /// At least critical risk (the default policies deny it).
    Block,
}

impl Floor {
    /// The minimum score of the floor.
    pub fn score(self) -> f64 {
        match self {
            Floor::None => 0.0,
            Floor::Hold => super::tables::HOLD_FLOOR,
            Floor::Block => super::tables::BLOCK_FLOOR,
        }
    }
}

/// One thing a content analyser found.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Finding {
    /// Factor name, e.g. `sql_unbounded_delete`.
    pub name: &'static str,
    /// Points added to the composite.
    pub points: f64,
    /// Lowest band of the action.
    pub floor: Floor,
    /// Why, for a person.
    pub reason: String,
}

/// The findings of one action, in the order they were found, at most one per name.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Findings(pub Vec<Finding>);

impl Findings {
    /// Record a finding; a second finding with the same name keeps the higher floor and points.
    pub fn add(
        &mut self,
        name: &'static str,
        points: f64,
        floor: Floor,
        reason: impl FnOnce() -> String,
    ) {
        if let Some(f) = self.0.iter_mut().find(|f| f.name == name) {
            if floor > f.floor || (floor == f.floor && points > f.points) {
                f.floor = floor;
                f.points = points;
                f.reason = reason();
            }
            return;
        }
        self.0.push(Finding {
            name,
            points,
            floor,
            reason: reason(),
        });
    }

    /// The highest floor and the finding that set it.
    pub fn floor(&self) -> Option<&Finding> {
        self.0
            .iter()
            .filter(|f| f.floor > Floor::None)
            .max_by_key(|f| f.floor)
    }

    /// Whether nothing was found.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Whether a finding of this name was recorded.
    pub fn has(&self, name: &str) -> bool {
        self.0.iter().any(|f| f.name == name)
    }

    /// The findings.
    pub fn iter(&self) -> impl Iterator<Item = &Finding> {
        self.0.iter()
    }
}
