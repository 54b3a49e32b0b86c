//! A filesystem MCP server governed by Ascend — four tools (`list_directory`, `read_file`,
//! `write_file`, `delete_file`) over a sandbox folder, served over stdio (default) or streamable
//! HTTP (`--http 127.0.0.1:PORT`, endpoint `/mcp`).
//!
//! What it shows: both ways to govern an rmcp server.
//! - `--style guard` (default): the server-wide guard — a hand-written `ServerHandler::call_tool`
//!   delegating to `ascend_runtime::mcp::McpGovernor`, which governs every tool (annotations as
//!   risk indicators, redacted arguments, MCP server name) before the `ToolRouter` runs it.
//! - `--style governed`: `#[governed(...)]` placed above `#[tool(...)]` on each tool method.
//! - `--style none`: the same server ungoverned.
//!
//! Configure like the SDK: `ASCEND_API_URL`, `ASCEND_API_KEY` (and `ASCEND_AGENT_ID`, …).
//! The server code lives in `src/mcp_fs.rs` so the tests can drive it in memory.
//!
//! ```text
//! ASCEND_API_URL=http://127.0.0.1:8080 ASCEND_API_KEY=... \
//!   cargo run --example mcp_filesystem -- --root ./sandbox
//! ```

#[tokio::main]
async fn main() {
    if let Err(e) = ascend_examples::mcp_fs::cli_main().await {
        eprintln!("mcp_filesystem: {e}");
        std::process::exit(2);
    }
}
