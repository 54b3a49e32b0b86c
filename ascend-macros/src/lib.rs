//! The `#[governed]` attribute. Use it through `ascend_runtime::governed`.

use proc_macro::TokenStream;

/// Governs a function: see the crate docs.
#[proc_macro_attribute]
pub fn governed(_args: TokenStream, item: TokenStream) -> TokenStream {
    item
}
