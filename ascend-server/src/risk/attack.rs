//! MITRE ATT&CK techniques an action resembles, each with a severity weight 0–100.
//!
//! The technique catalogue is [`TECHNIQUES`]; [`techniques`] applies the tagging rules and returns
//! the matches highest weight first (ties: catalogue order), so the first one is the top
//! technique reported as `mitre_technique` / `mitre_tactic`.

use serde::Serialize;

use super::features::ActionFeatures;
use super::{DataClass, PathClass, Verb};

/// One ATT&CK technique.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub struct Technique {
    /// Technique id, e.g. `T1485`.
    pub id: &'static str,
    /// Technique name.
    pub name: &'static str,
    /// Tactic it belongs to.
    pub tactic: &'static str,
    /// Severity weight 0–100 used by the composite.
    pub weight: u8,
}

const fn t(id: &'static str, name: &'static str, tactic: &'static str, weight: u8) -> Technique {
    Technique {
        id,
        name,
        tactic,
        weight,
    }
}

/// T1562 Impair Defenses.
pub const IMPAIR_DEFENSES: Technique = t("T1562", "Impair Defenses", "Defense Evasion", 90);
/// T1490 Inhibit System Recovery.
pub const INHIBIT_RECOVERY: Technique = t("T1490", "Inhibit System Recovery", "Impact", 90);
/// T1657 Financial Theft.
pub const FINANCIAL_THEFT: Technique = t("T1657", "Financial Theft", "Impact", 85);
/// T1485 Data Destruction.
pub const DATA_DESTRUCTION: Technique = t("T1485", "Data Destruction", "Impact", 80);
/// T1552 Unsecured Credentials.
pub const UNSECURED_CREDENTIALS: Technique =
    t("T1552", "Unsecured Credentials", "Credential Access", 75);
/// T1048 Exfiltration Over Alternative Protocol.
pub const EXFIL_ALT_PROTOCOL: Technique = t(
    "T1048",
    "Exfiltration Over Alternative Protocol",
    "Exfiltration",
    70,
);
/// T1567 Exfiltration Over Web Service.
pub const EXFIL_WEB_SERVICE: Technique =
    t("T1567", "Exfiltration Over Web Service", "Exfiltration", 70);
/// T1098 Account Manipulation.
pub const ACCOUNT_MANIPULATION: Technique = t("T1098", "Account Manipulation", "Persistence", 70);
/// T1059 Command and Scripting Interpreter.
pub const COMMAND_INTERPRETER: Technique = t(
    "T1059",
    "Command and Scripting Interpreter",
    "Execution",
    65,
);
/// T1565 Data Manipulation.
pub const DATA_MANIPULATION: Technique = t("T1565", "Data Manipulation", "Impact", 60);
/// T1530 Data from Cloud Storage.
pub const DATA_FROM_CLOUD: Technique = t("T1530", "Data from Cloud Storage", "Collection", 35);
/// T1005 Data from Local System.
pub const DATA_FROM_LOCAL: Technique = t("T1005", "Data from Local System", "Collection", 30);
/// T1083 File and Directory Discovery.
pub const FILE_DISCOVERY: Technique = t("T1083", "File and Directory Discovery", "Discovery", 15);

/// The catalogue, highest weight first.
pub const TECHNIQUES: &[Technique] = &[
    IMPAIR_DEFENSES,
    INHIBIT_RECOVERY,
    FINANCIAL_THEFT,
    DATA_DESTRUCTION,
    UNSECURED_CREDENTIALS,
    EXFIL_ALT_PROTOCOL,
    EXFIL_WEB_SERVICE,
    ACCOUNT_MANIPULATION,
    COMMAND_INTERPRETER,
    DATA_MANIPULATION,
    DATA_FROM_CLOUD,
    DATA_FROM_LOCAL,
    FILE_DISCOVERY,
];

/// Techniques the action resembles, highest weight first.
pub fn techniques(f: &ActionFeatures) -> Vec<Technique> {
    let verb = f.verb;
    let mutation = verb.is_mutation() || f.destructive_command;
    let destroys = verb == Verb::Delete || f.destructive_command;
    let local = f.path.is_some() || f.mcp.is_some();
    let credentials = matches!(f.path_class, PathClass::Credentials | PathClass::Secrets);
    let disables = verb == Verb::Configure || destroys;
    let sensitive = f.data_class >= DataClass::Confidential;

    let mut out = Vec::with_capacity(4);
    for tech in TECHNIQUES {
        let hit = match tech.id {
            "T1562" => f.audit && disables,
            "T1490" => f.backup && destroys,
            "T1657" => verb == Verb::Transfer && (f.external_transfer || f.external_call),
            "T1485" => destroys,
            "T1552" => credentials || (f.identity && f.data_class >= DataClass::Restricted),
            "T1048" => f.external_transfer && verb != Verb::Transfer && sensitive,
            "T1567" => {
                f.external_call && !f.external_transfer && sensitive && verb != Verb::Transfer
            }
            "T1098" => f.identity && (mutation || verb == Verb::Grant),
            "T1059" => verb == Verb::Execute || f.destructive_command,
            "T1565" => {
                mutation
                    && !destroys
                    && (f.financial
                        || f.data_class >= DataClass::Pii
                        || f.path_class == PathClass::SystemConfig
                        || f.production)
            }
            "T1530" => verb.is_read() && !local && f.data_class >= DataClass::Pii,
            "T1005" => verb.is_read() && local && sensitive,
            "T1083" => verb == Verb::List,
            _ => false,
        };
        if hit {
            out.push(*tech);
        }
    }
    out
}
