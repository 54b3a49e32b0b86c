//! The value detectors of `ascend_runtime::redact` against a corpus of real secret shapes and
//! look-alikes (`tests/data/secret_values.jsonl`): every positive is redacted (and the secret
//! text does not survive), every negative is left exactly as it is.

use ascend_runtime::redact::{redact_secrets_in, redact_value};
use serde_json::{Value, json};

fn corpus() -> Vec<(String, bool, String)> {
    include_str!("data/secret_values.jsonl")
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let v: Value = serde_json::from_str(l).expect("corpus line is JSON");
            (
                v["text"].as_str().expect("text").to_owned(),
                v["secret"].as_bool().expect("secret"),
                v["why"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect()
}

#[test]
fn positives_are_redacted_and_negatives_kept() {
    let cases = corpus();
    assert!(cases.len() >= 50, "corpus has {} cases", cases.len());
    let mut failures = Vec::new();
    for (text, secret, why) in &cases {
        let out = redact_secrets_in(text);
        match (secret, &out) {
            (true, None) => failures.push(format!("missed ({why}): {text:?}")),
            (false, Some(o)) => failures.push(format!("false positive ({why}): {text:?} -> {o:?}")),
            (true, Some(o)) if !o.contains("[REDACTED:") => {
                failures.push(format!("no marker ({why}): {o:?}"))
            }
            _ => {}
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn the_secret_part_does_not_survive_and_the_rest_does() {
    let r = redact_secrets_in("connect to https://admin:S3cr3t!@10.0.0.5/admin now").unwrap();
    assert_eq!(
        r,
        "connect to https://admin:[REDACTED:password]@10.0.0.5/admin now"
    );
    let r = redact_secrets_in("card: 5555-5555-5555-4444, exp 10/29").unwrap();
    assert_eq!(r, "card: [REDACTED:card], exp 10/29");
    let r = redact_secrets_in("aws configure set aws_access_key_id ASIAY34FZKBOKMUTVV7A").unwrap();
    assert!(!r.contains("ASIAY34"), "{r}");
}

#[test]
fn applied_to_every_string_and_card_number_in_a_json_value() {
    let mut v = json!({
        "result": {"rows": [{"card": "4111111111111111"}, {"note": "ok"}],
                   "raw": 4111111111111111u64, "count": 2},
        "log": ["token eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.c2lnbmF0dXJl", "fine"],
    });
    redact_value(&mut v);
    assert_eq!(v["result"]["rows"][0]["card"], "[REDACTED:card]");
    assert_eq!(v["result"]["rows"][1]["note"], "ok");
    assert_eq!(v["result"]["raw"], "[REDACTED:card]");
    assert_eq!(v["result"]["count"], 2);
    assert_eq!(v["log"][0], "token [REDACTED:jwt]");
    assert_eq!(v["log"][1], "fine");
}
