//! The filesystem MCP server of `examples/mcp_filesystem.rs`, also built as a binary so the
//! integration tests can spawn it through `CARGO_BIN_EXE_ascend-mcp-filesystem` (Cargo builds
//! binaries — not examples — before running a package's tests, even with `--test <name>`).

#[tokio::main]
async fn main() {
    if let Err(e) = ascend_examples::mcp_fs::cli_main().await {
        eprintln!("ascend-mcp-filesystem: {e}");
        std::process::exit(2);
    }
}
