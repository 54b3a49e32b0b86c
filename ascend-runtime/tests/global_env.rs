//! `global()` with no client installed builds one from the environment; when the environment
//! is incomplete, every governed call fails closed with a Configuration error naming the
//! variable. (Own test binary: the process-wide state must be untouched.)

#[test]
fn missing_environment_fails_closed_with_a_clear_error() {
    if std::env::var("ASCEND_API_KEY").is_ok() || std::env::var("OWKAI_API_KEY").is_ok() {
        eprintln!("skipped: an API key is set in the environment");
        return;
    }
    for _ in 0..2 {
        let err = ascend_runtime::global().unwrap_err();
        assert!(
            matches!(&err, ascend_runtime::Error::Configuration(m) if m.contains("ASCEND_API_KEY")),
            "{err}"
        );
    }
}
