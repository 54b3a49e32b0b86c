//! Infrastructure command lines: `kubectl` and `terraform` (and their look-alikes `oc`, `tofu`,
//! `pulumi`), judged by subcommand and target.

use super::content::Scan;
use super::{Verb, tables};

fn env_word_is_production(s: &str) -> Option<bool> {
    let lower = s.to_ascii_lowercase();
    let tokens = || lower.split(|c: char| !c.is_ascii_alphanumeric());
    if tokens().any(|t| tables::PRODUCTION_WORDS.contains(&t)) {
        Some(true)
    } else if tokens().any(|t| tables::NON_PRODUCTION_WORDS.contains(&t)) {
        Some(false)
    } else {
        None
    }
}

/// `kubectl …`: deletes, scaling to zero, reading secrets, changes in production.
pub(crate) fn kubectl(w: &[String], scan: &mut Scan<'_>) {
    let namespace = w
        .windows(2)
        .find(|p| p[0] == "-n" || p[0] == "--namespace")
        .map(|p| p[1].clone())
        .or_else(|| {
            w.iter()
                .find_map(|x| x.strip_prefix("--namespace=").map(str::to_owned))
        });
    let production = namespace
        .as_deref()
        .and_then(env_word_is_production)
        .unwrap_or(scan.production);
    let ops: Vec<&str> = w
        .iter()
        .skip(1)
        .map(String::as_str)
        .filter(|x| !x.starts_with('-'))
        .collect();
    let sub = ops.first().copied().unwrap_or_default();
    let kind = ops.get(1).copied().unwrap_or_default();
    let target = ops.get(2).copied().unwrap_or_default();
    let deletes_env = matches!(kind, "namespace" | "namespaces" | "ns")
        || (kind.starts_with("namespace/") || kind.starts_with("ns/"));
    match sub {
        "delete" if deletes_env => {
            let p = if production || env_word_is_production(target) == Some(true) {
                tables::BLOCK_FLOOR
            } else {
                0.0
            };
            scan.destroy_block_if(
                p > 0.0,
                "k8s_delete_namespace",
                "deletes a namespace and everything in it",
            );
        }
        "delete" => {
            scan.verb_at_least(Verb::Delete);
            if production {
                scan.hold(
                    "k8s_delete_production",
                    format!("deletes `{kind}` objects in production"),
                );
            }
        }
        "scale" => {
            let to_zero = w.iter().any(|x| x == "--replicas=0");
            scan.verb_at_least(Verb::Configure);
            if to_zero && production {
                scan.destroy_block("k8s_scale_to_zero", "scales a production workload to zero");
            } else if production {
                scan.hold(
                    "k8s_change_production",
                    "scales a production workload".to_owned(),
                );
            }
        }
        "get" | "describe" if kind.starts_with("secret") => {
            scan.credential_access(kind, "Kubernetes secrets");
        }
        "apply" | "edit" | "patch" | "replace" | "set" | "rollout" | "drain" | "cordon"
        | "exec" => {
            scan.verb_at_least(Verb::Configure);
            if production {
                scan.hold(
                    "k8s_change_production",
                    format!("`kubectl {sub}` changes production"),
                );
            }
        }
        _ => {}
    }
}

/// `terraform …`: `destroy` denies, `apply` needs a human.
pub(crate) fn terraform(w: &[String], scan: &mut Scan<'_>) {
    let sub = w
        .iter()
        .skip(1)
        .find(|x| !x.starts_with('-'))
        .map(String::as_str)
        .unwrap_or_default();
    let destroy_flag = w.iter().any(|x| x == "-destroy" || x == "--destroy");
    match sub {
        "destroy" => scan.destroy_block("iac_destroy", "destroys the managed infrastructure"),
        "apply" | "up" if destroy_flag => {
            scan.destroy_block("iac_destroy", "destroys the managed infrastructure")
        }
        "apply" | "up" | "import" | "state" | "taint" => {
            scan.verb_at_least(Verb::Configure);
            scan.hold(
                "iac_apply",
                format!("`{} {sub}` changes real infrastructure", w[0]),
            );
        }
        _ => {}
    }
}
