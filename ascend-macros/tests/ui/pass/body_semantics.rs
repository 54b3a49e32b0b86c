// The body keeps its meaning: inner attributes, `use` shadowing names, locals named like the
// generated ones, nested items, labelled loops, early return from inside a closure and a loop.
use ascend_runtime::testing::MockGovernance;
use ascend_runtime::{Error, governed};

#[governed(action_type = "parse", resource = "input")]
fn parse_all(__ascend_call: &str, __ascend_ret: Vec<&str>) -> Result<Vec<u32>, Error> {
    #![allow(clippy::needless_range_loop)]
    use std::result::Result::Err as Failure;
    #[allow(dead_code)]
    mod core {}
    struct Ok;
    let _shadow = Ok;
    let mut out = Vec::new();
    'outer: for part in __ascend_ret {
        for c in part.chars() {
            if c == '!' {
                break 'outer;
            }
        }
        match part.parse::<u32>() {
            std::result::Result::Ok(n) => out.push(n),
            Failure(_) => return std::result::Result::Ok(vec![]),
        }
    }
    let _ = __ascend_call;
    std::result::Result::Ok(out)
}

#[governed(action_type = "parse", resource = "input")]
async fn shadow_async(input: &str) -> Result<u32, Error> {
    use std::option::Option as Result;
    let none: Result<u32> = None;
    std::result::Result::Ok(none.unwrap_or(input.len() as u32))
}

#[tokio::main]
async fn main() {
    let mock = MockGovernance::allow_all();
    let _guard = mock.install_for_thread();
    assert_eq!(parse_all("x", vec!["1", "2"]).ok(), Some(vec![1, 2]));
    assert_eq!(parse_all("x", vec!["1", "a"]).ok(), Some(vec![]));
    assert_eq!(parse_all("x", vec!["1", "!", "3"]).ok(), Some(vec![1]));
    assert_eq!(mock.scope(shadow_async("abc")).await.ok(), Some(3));
}
