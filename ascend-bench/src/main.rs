//! `ascend-bench`: run the benchmark harness and write `BENCHMARKS.md`.
//!
//! ```text
//! ascend-bench [--out FILE] [--smoke] [--only 1,3,5] [--python PYTHON] [--no-install]
//! ```
//!
//! (`--serve-child DB DIR [--no-keys]` and `--rss-child DB N C [keys|no-keys]` are the harness's own child
//! processes.)

use std::path::PathBuf;
use std::process::ExitCode;

use ascend_bench::{Options, Verdict, run};

const USAGE: &str =
    "usage: ascend-bench [--out FILE] [--smoke] [--only 1,3,5] [--python PYTHON] [--no-install]

  --out FILE     write the markdown report (e.g. BENCHMARKS.md); without it, print it
  --smoke        tiny counts, seconds in total, nothing judged (CI)
  --only LIST    run only these scenarios (1-10)
  --python PATH  Python for the SDK scenarios (default python3)
  --no-install   do not pip-install ascend-ai-sdk==2.7.1 when it is missing";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("--serve-child") => {
            let parsed = (|| {
                let db = args.get(1)?.clone();
                let dir = PathBuf::from(args.get(2)?);
                let keys = args.get(3).is_none_or(|k| k != "--no-keys");
                Some((db, dir, keys))
            })();
            return child(parsed.map_or_else(
                || Err("--serve-child DB DIR [--no-keys]".to_owned()),
                |(db, dir, keys)| {
                    ascend_bench::server::serve_child(&db, &dir, keys).map_err(|e| e.to_string())
                },
            ));
        }
        Some("--rss-child") => {
            let parsed = (|| {
                let db = PathBuf::from(args.get(1)?);
                let n = args.get(2)?.parse().ok()?;
                let c = args.get(3)?.parse().ok()?;
                let keyed = args.get(4).is_none_or(|k| k != "no-keys");
                Some((db, n, c, keyed))
            })();
            return child(parsed.map_or_else(
                || Err("--rss-child DB N CONCURRENCY [keys|no-keys]".to_owned()),
                |(db, n, c, keyed)| {
                    ascend_bench::scenarios::memory::rss_child(&db, n, c, keyed)
                        .map_err(|e| e.to_string())
                },
            ));
        }
        _ => {}
    }

    let mut opts = Options::full();
    let mut it = args.into_iter();
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "--out" => match it.next() {
                Some(v) => opts.out = Some(PathBuf::from(v)),
                None => return usage("--out needs a file"),
            },
            "--smoke" => {
                let keep = opts.clone();
                opts = Options {
                    verbose: true,
                    out: keep.out,
                    only: keep.only,
                    python: keep.python,
                    ..Options::smoke()
                };
            }
            "--only" => match it.next().map(|v| {
                v.split(',')
                    .map(|s| s.trim().parse::<u8>())
                    .collect::<Result<Vec<_>, _>>()
            }) {
                Some(Ok(list)) if list.iter().all(|n| (1..=10).contains(n)) => {
                    opts.only = Some(list)
                }
                _ => return usage("--only needs a list of scenario numbers 1-10"),
            },
            "--python" => match it.next() {
                Some(v) => opts.python = v,
                None => return usage("--python needs a path"),
            },
            "--no-install" => opts.install_python_sdk = false,
            "-h" | "--help" => {
                println!("{USAGE}");
                return ExitCode::SUCCESS;
            }
            other => return usage(&format!("unknown argument {other:?}")),
        }
    }
    opts.harness_exe = std::env::current_exe().ok();

    match run(&opts) {
        Ok(report) => {
            if opts.out.is_none() {
                print!("{}", report.to_markdown());
            } else if let Some(out) = &opts.out {
                eprintln!("[ascend-bench] wrote {}", out.display());
            }
            let errors = report
                .rows()
                .filter(|r| matches!(r.verdict, Verdict::Error(_)))
                .count();
            if errors > 0 {
                eprintln!("[ascend-bench] {errors} scenario(s) failed to run");
                return ExitCode::from(2);
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("ascend-bench: {e}");
            ExitCode::FAILURE
        }
    }
}

fn child(result: Result<(), String>) -> ExitCode {
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("ascend-bench child: {e}");
            ExitCode::FAILURE
        }
    }
}

fn usage(msg: &str) -> ExitCode {
    eprintln!("ascend-bench: {msg}\n{USAGE}");
    ExitCode::from(64)
}
