//! Compile-time behaviour of `#[governed]`: what compiles (`ui/pass`, each also run) and the
//! exact diagnostics for what must not (`ui/fail/*.rs` with their `.stderr` snapshots).
//!
//! Regenerate snapshots with `TRYBUILD=overwrite cargo test -p ascend-macros --test ui`, then
//! read every changed `.stderr`.

#[test]
fn ui() {
    let t = trybuild::TestCases::new();
    t.pass("tests/ui/pass/*.rs");
    t.compile_fail("tests/ui/fail/*.rs");
}
