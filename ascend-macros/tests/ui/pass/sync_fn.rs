// Sync fn: works from main, from a plain thread, and inside a tokio runtime of either flavour.
use ascend_runtime::testing::MockGovernance;
use ascend_runtime::{Error, governed};

#[governed(action_type = "file.write", resource = "reports")]
fn write_report(name: &str, lines: Vec<String>) -> Result<usize, Error> {
    if name.is_empty() {
        return Ok(0);
    }
    Ok(lines.len())
}

fn main() {
    let mock = MockGovernance::allow_all();
    let _guard = mock.install_for_thread();
    assert_eq!(write_report("a", vec!["x".into()]).ok(), Some(1));

    let m = mock.clone();
    std::thread::spawn(move || {
        let _guard = m.install_for_thread();
        assert_eq!(write_report("b", vec![]).ok(), Some(0));
    })
    .join()
    .unwrap();

    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    rt.block_on(async {
        assert_eq!(write_report("c", vec!["1".into(), "2".into()]).ok(), Some(2));
    });
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    let m = mock.clone();
    rt.block_on(async move {
        m.scope(async { assert_eq!(write_report("d", vec![]).ok(), Some(0)) }).await;
    });
    assert_eq!(mock.requests().len(), 4);
}
