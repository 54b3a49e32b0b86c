//! The harness's smoke mode, in process, under `cargo test`: every scenario runs with tiny counts
//! (nothing is judged) and the report has a row for each of the ten scenarios, none of which
//! failed to run (scenario 9, a scratch build of the runtime's dependencies, is skipped there).
//! The Python SDK scenario runs when `import ascend` works (CI installs the SDK) and is reported
//! as skipped otherwise; the PostgreSQL part of scenario 10 runs when PostgreSQL is installed
//! (or `ASCEND_PG_URL` is set) and is reported as skipped otherwise.

use ascend_bench::{Options, Verdict, run};

#[test]
fn smoke_mode_produces_every_scenario_row() {
    let out = std::env::temp_dir().join(format!("ascend-bench-smoke-{}.md", std::process::id()));
    let opts = Options {
        out: Some(out.clone()),
        // The server under test and the memory scenario run as children of the real binary.
        harness_exe: Some(env!("CARGO_BIN_EXE_ascend-bench").into()),
        ..Options::smoke()
    };
    let report = run(&opts).expect("the smoke run completes");

    for n in 1..=10u8 {
        let rows: Vec<_> = report.rows().filter(|r| r.scenario == n).collect();
        assert!(!rows.is_empty(), "no row for scenario {n}");
        for r in rows {
            assert!(
                !matches!(r.verdict, Verdict::Error(_)),
                "scenario {n} failed: {:?}",
                r.verdict
            );
            assert!(
                !matches!(r.verdict, Verdict::Pass | Verdict::Fail),
                "smoke mode judged a speed: {r:?}"
            );
            if let Verdict::Skipped(why) = &r.verdict {
                assert!(
                    n == 4
                        || n == 9
                        || (n == 5 && r.what.contains("Python"))
                        || (n == 10 && why.contains("PostgreSQL not available")),
                    "only the Python SDK, scenario 9 and PostgreSQL may be skipped, scenario {n} \
                     was: {why}"
                );
            }
        }
    }

    let md = std::fs::read_to_string(&out).expect("the report was written");
    let _ = std::fs::remove_file(&out);
    assert!(
        md.contains("| # | measured | value | target | result |"),
        "{md}"
    );
    for n in 1..=10 {
        assert!(
            md.lines().any(|l| l.starts_with(&format!("| {n} | "))),
            "the table has no row for scenario {n}:\n{md}"
        );
    }
    assert!(md.contains("## Machine"));
}
