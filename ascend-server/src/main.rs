//! The `ascend` command line: `ascend serve` runs the governance server; the other
//! subcommands are operator and reviewer tools (see `ascend --help`).

use clap::Parser;
use tracing_subscriber::prelude::*;
use tracing_subscriber::{Layer, Registry};

use ascend_server::cli::{Cli, Command, run};

fn main() {
    let cli = Cli::parse();
    let default_filter = if matches!(cli.command, Command::Serve(_)) {
        "info"
    } else {
        "warn"
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default_filter));
    // ASCEND_LOG_FORMAT=json: one JSON object per line (for log shippers); text otherwise.
    let json = std::env::var("ASCEND_LOG_FORMAT").is_ok_and(|f| f.eq_ignore_ascii_case("json"));
    let logs = tracing_subscriber::fmt::layer().with_writer(std::io::stderr);
    let mut layers: Vec<Box<dyn Layer<Registry> + Send + Sync>> = vec![if json {
        logs.json().flatten_event(true).boxed()
    } else {
        logs.boxed()
    }];
    // OTEL_EXPORTER_OTLP_ENDPOINT: traces exported over OTLP/HTTP (ascend_server::telemetry).
    let traces = match ascend_server::telemetry::from_env() {
        Ok(Some((provider, layer))) => {
            layers.push(layer.boxed());
            Some(provider)
        }
        Ok(None) => None,
        Err(e) => {
            eprintln!("error: {e}");
            std::process::exit(1);
        }
    };
    tracing_subscriber::registry()
        .with(layers)
        .with(filter)
        .init();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            std::process::exit(1);
        }
    };
    let result = runtime.block_on(run(cli));
    if let Some(provider) = traces
        && let Err(e) = provider.shutdown()
    {
        eprintln!("warning: the last traces were not exported: {e}");
    }
    if let Err(e) = result {
        eprintln!("error: {e}");
        std::process::exit(1);
    }
}
