// The boxed-future shape produced by rmcp's `#[tool]` and by `async-trait`, written by hand.
use std::future::Future;
use std::pin::Pin;

use ascend_runtime::testing::MockGovernance;
use ascend_runtime::{Error, governed};

struct Tools {
    base: u32,
}

impl Tools {
    // What `#[tool]` turns an `async fn` into (when `#[governed]` is placed below it).
    #[governed(action_type = "calc", resource = "numbers")]
    fn add(&self, x: u32) -> ::std::pin::Pin<Box<dyn ::std::future::Future<Output = Result<u32, Error>> + Send + '_>> {
        Box::pin(async move { Ok(self.base + x) })
    }

    // What `async-trait` produces (type hint, `__self`, typed `__ret`).
    #[governed(action_type = "calc", resource = "numbers")]
    fn double<'life0, 'async_trait>(
        &'life0 self,
        x: u32,
    ) -> Pin<Box<dyn Future<Output = Result<u32, Error>> + Send + 'async_trait>>
    where
        'life0: 'async_trait,
        Self: 'async_trait,
    {
        Box::pin(async move {
            if let ::core::option::Option::Some(__ret) = ::core::option::Option::None::<Result<u32, Error>> {
                #[allow(unreachable_code)]
                return __ret;
            }
            let __self = self;
            let x = x;
            let __ret: Result<u32, Error> = { Ok(__self.base * x) };
            #[allow(unreachable_code)]
            __ret
        })
    }
}

// `impl Future` returned with an async block in tail position.
#[governed(action_type = "calc", resource = "numbers")]
fn later(x: u32) -> impl Future<Output = Result<u32, Error>> + Send {
    async move { Ok(x + 1) }
}

fn assert_send<T: Send>(_: T) {}

#[tokio::main]
async fn main() {
    let tools = Tools { base: 10 };
    assert_send(tools.add(1));
    let mock = MockGovernance::allow_all();
    assert_eq!(mock.scope(tools.add(1)).await.ok(), Some(11));
    assert_eq!(mock.scope(tools.double(3)).await.ok(), Some(30));
    assert_eq!(mock.scope(later(1)).await.ok(), Some(2));
    // Creating the future asks nothing: governance runs when it is polled.
    let fut = tools.add(2);
    assert_eq!(mock.requests().len(), 3);
    assert_eq!(mock.scope(fut).await.ok(), Some(12));
    assert_eq!(mock.requests().len(), 4);
}
