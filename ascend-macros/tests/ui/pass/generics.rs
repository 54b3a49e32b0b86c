// Generics, where clauses, impl Trait in argument and return position, lifetimes.
use std::fmt::Display;

use ascend_runtime::testing::MockGovernance;
use ascend_runtime::{Error, governed};

#[governed(action_type = "render", resource = "templates")]
fn render<T: Display, I>(items: I, sep: impl AsRef<str>) -> Result<impl Display, Error>
where
    I: IntoIterator<Item = T>,
{
    let parts: Vec<String> = items.into_iter().map(|t| t.to_string()).collect();
    Ok(parts.join(sep.as_ref()))
}

#[governed(action_type = "lookup", resource = "names")]
fn first_word<'a>(text: &'a str) -> Result<&'a str, Error> {
    Ok(text.split(' ').next().unwrap_or(text))
}

#[governed(action_type = "lookup", resource = "names")]
async fn generic_error<E>(x: u8) -> Result<u8, E>
where
    E: From<Error> + Send,
{
    Ok(x)
}

#[governed(action_type = "count", resource = "items", on_denied = |_| Box::new(std::iter::empty()))]
fn evens(limit: u32) -> Box<dyn Iterator<Item = u32>> {
    Box::new((0..limit).filter(|n| n % 2 == 0))
}

#[tokio::main]
async fn main() {
    let mock = MockGovernance::allow_all();
    let _guard = mock.install_for_thread();
    assert_eq!(render([1, 2, 3], ", ").map(|d| d.to_string()).ok().as_deref(), Some("1, 2, 3"));
    assert_eq!(first_word("hello world").ok(), Some("hello"));
    assert_eq!(mock.scope(generic_error::<Error>(4)).await.ok(), Some(4));
    assert_eq!(evens(5).count(), 3);
}
