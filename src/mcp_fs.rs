//! A small filesystem MCP server (rmcp) governed through the Ascend control plane.
//!
//! Four tools over a sandbox folder — `list_directory`, `read_file`, `write_file`,
//! `delete_file` — in two integration styles:
//!
//! - [`GuardedFs`]: the **server-wide guard**. `ServerHandler::call_tool` is written by hand and
//!   delegates to [`McpGovernor::call_tool`], which governs every tool (annotations sent as risk
//!   indicators, arguments redacted, MCP server name sent so server-level blocks apply) before
//!   dispatching to the `ToolRouter`. With no governor it is the same server ungoverned (the
//!   baseline for latency measurements).
//! - [`AnnotatedFs`]: **per-tool** `#[governed(...)]` placed **above** `#[tool(...)]` (the
//!   recommended order: the tool stays discovered by `#[tool_router]`, governance runs before
//!   the body). rmcp's `#[tool_handler]` generates `call_tool`.
//!
//! Paths are virtual: the sandbox folder is `/` for the model, so `/etc/config.yaml` means
//! `<sandbox>/etc/config.yaml`; `..` is refused. [`cli_main`] runs either server over stdio or
//! streamable HTTP (used by `examples/mcp_filesystem.rs` and the `ascend-mcp-filesystem` bin).

use std::net::SocketAddr;
use std::path::{Component, Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use ascend_runtime::mcp::{McpGovernanceConfig, McpGovernor, ToolError};
use ascend_runtime::{AscendClient, governed};
use rmcp::handler::server::router::tool::ToolRouter;
use rmcp::handler::server::tool::ToolCallContext;
use rmcp::handler::server::wrapper::{Json, Parameters};
use rmcp::model::{
    CallToolRequestParams, CallToolResponse, Implementation, ServerCapabilities, ServerConfig,
};
use rmcp::service::RequestContext;
use rmcp::{ErrorData, RoleServer, ServerHandler, ServiceExt, tool, tool_handler, tool_router};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// The MCP server name used by default (sent as `mcp_server_name`).
pub const DEFAULT_SERVER_NAME: &str = "filesystem";

/// Largest file `read_file` returns.
pub const MAX_READ_BYTES: u64 = 1024 * 1024;

/// Errors of the sandbox (shown to the model as `isError` tool results).
#[derive(Debug, thiserror::Error)]
pub enum FsError {
    /// The path is not allowed (`..`, empty).
    #[error("path not allowed: {0}")]
    BadPath(String),
    /// The file is too large to return.
    #[error("{path} is {size} bytes; read_file returns at most {MAX_READ_BYTES}")]
    TooLarge {
        /// The virtual path.
        path: String,
        /// Its size.
        size: u64,
    },
    /// An I/O error.
    #[error("{path}: {source}")]
    Io {
        /// The virtual path.
        path: String,
        /// The cause.
        source: std::io::Error,
    },
}

impl From<FsError> for ToolError {
    fn from(e: FsError) -> Self {
        ToolError::failed(e)
    }
}

/// A folder the tools may touch; paths given by the model are resolved inside it.
#[derive(Debug, Clone)]
pub struct Sandbox {
    root: PathBuf,
}

/// One directory entry.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema, PartialEq)]
pub struct Entry {
    /// Virtual path of the entry.
    pub path: String,
    /// `file` or `dir`.
    pub kind: String,
    /// Size in bytes (files).
    pub size: u64,
}

impl Sandbox {
    /// Use (and create) `root`.
    pub fn new(root: impl Into<PathBuf>) -> std::io::Result<Self> {
        let root = root.into();
        std::fs::create_dir_all(&root)?;
        Ok(Self {
            root: root.canonicalize()?,
        })
    }

    /// The real folder.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Map a virtual path (`/a/b`, `a/b`, `./a`) to a real path inside the sandbox.
    pub fn resolve(&self, path: &str) -> Result<PathBuf, FsError> {
        let mut out = self.root.clone();
        for c in Path::new(path).components() {
            match c {
                Component::Normal(p) => out.push(p),
                Component::RootDir | Component::CurDir => {}
                Component::ParentDir | Component::Prefix(_) => {
                    return Err(FsError::BadPath(path.to_owned()));
                }
            }
        }
        Ok(out)
    }

    fn io(path: &str) -> impl FnOnce(std::io::Error) -> FsError + '_ {
        move |source| FsError::Io {
            path: path.to_owned(),
            source,
        }
    }

    fn virtual_path(&self, real: &Path) -> String {
        let rel = real.strip_prefix(&self.root).unwrap_or(real);
        format!("/{}", rel.to_string_lossy())
    }

    /// List a directory (recursively when asked), sorted by path.
    pub async fn list(&self, path: &str, recursive: bool) -> Result<Vec<Entry>, FsError> {
        let start = self.resolve(path)?;
        let mut out = Vec::new();
        let mut todo = vec![start];
        while let Some(dir) = todo.pop() {
            let vpath = self.virtual_path(&dir);
            let mut rd = tokio::fs::read_dir(&dir).await.map_err(Self::io(&vpath))?;
            while let Some(e) = rd.next_entry().await.map_err(Self::io(&vpath))? {
                let meta = e.metadata().await.map_err(Self::io(&vpath))?;
                let p = e.path();
                if meta.is_dir() && recursive {
                    todo.push(p.clone());
                }
                out.push(Entry {
                    path: self.virtual_path(&p),
                    kind: if meta.is_dir() { "dir" } else { "file" }.to_owned(),
                    size: if meta.is_dir() { 0 } else { meta.len() },
                });
            }
        }
        out.sort_by(|a, b| a.path.cmp(&b.path));
        Ok(out)
    }

    /// Read a UTF-8 file (lossy), at most [`MAX_READ_BYTES`].
    pub async fn read(&self, path: &str) -> Result<String, FsError> {
        let real = self.resolve(path)?;
        let meta = tokio::fs::metadata(&real).await.map_err(Self::io(path))?;
        if meta.len() > MAX_READ_BYTES {
            return Err(FsError::TooLarge {
                path: path.to_owned(),
                size: meta.len(),
            });
        }
        let bytes = tokio::fs::read(&real).await.map_err(Self::io(path))?;
        Ok(String::from_utf8_lossy(&bytes).into_owned())
    }

    /// Write (create or replace) a file, creating parent folders.
    pub async fn write(&self, path: &str, content: &str) -> Result<u64, FsError> {
        let real = self.resolve(path)?;
        if real == self.root {
            return Err(FsError::BadPath(path.to_owned()));
        }
        if let Some(parent) = real.parent() {
            tokio::fs::create_dir_all(parent)
                .await
                .map_err(Self::io(path))?;
        }
        tokio::fs::write(&real, content)
            .await
            .map_err(Self::io(path))?;
        Ok(content.len() as u64)
    }

    /// Delete a file, or a folder (its contents only with `recursive`).
    pub async fn delete(&self, path: &str, recursive: bool) -> Result<(), FsError> {
        let real = self.resolve(path)?;
        if real == self.root {
            return Err(FsError::BadPath(path.to_owned()));
        }
        let meta = tokio::fs::symlink_metadata(&real)
            .await
            .map_err(Self::io(path))?;
        let r = if meta.is_dir() {
            if recursive {
                tokio::fs::remove_dir_all(&real).await
            } else {
                tokio::fs::remove_dir(&real).await
            }
        } else {
            tokio::fs::remove_file(&real).await
        };
        r.map_err(Self::io(path))
    }
}

/// Arguments of `list_directory`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
pub struct ListDirectoryRequest {
    /// Folder to list (default `/`, the sandbox root).
    #[serde(default)]
    pub path: Option<String>,
    /// Also list sub-folders.
    #[serde(default)]
    pub recursive: bool,
}

/// Result of `list_directory`.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct Listing {
    /// The entries, sorted by path.
    pub entries: Vec<Entry>,
}

/// Arguments of `read_file`.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct ReadFileRequest {
    /// File to read.
    pub path: String,
}

/// Arguments of `write_file`.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct WriteFileRequest {
    /// File to create or replace.
    pub path: String,
    /// New content (UTF-8).
    pub content: String,
}

/// Result of `write_file`.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct WriteResult {
    /// The file written.
    pub path: String,
    /// Bytes written.
    pub bytes: u64,
}

/// Arguments of `delete_file`.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct DeleteFileRequest {
    /// File or folder to delete.
    pub path: String,
    /// Delete a folder with its contents.
    #[serde(default)]
    pub recursive: bool,
}

/// Result of `delete_file`.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct DeleteResult {
    /// What was deleted.
    pub deleted: String,
}

fn server_info(name: &str, instructions: &str) -> ServerConfig {
    ServerConfig::new(ServerCapabilities::builder().enable_tools().build())
        .with_server_info(Implementation::new(
            name.to_owned(),
            env!("CARGO_PKG_VERSION"),
        ))
        .with_instructions(instructions.to_owned())
}

const INSTRUCTIONS: &str = "Filesystem tools over a sandbox folder (the sandbox is `/`). Every call is \
governed: a refused call returns an error result that says why; do not retry it unchanged.";

// ---------------------------------------------------------------------------------------------
// Style 1: the server-wide guard.
// ---------------------------------------------------------------------------------------------

/// The filesystem server with the server-wide guard (or ungoverned, without a governor).
#[derive(Clone)]
pub struct GuardedFs {
    sandbox: Arc<Sandbox>,
    tool_router: ToolRouter<Self>,
    governor: Option<McpGovernor>,
    name: String,
}

impl GuardedFs {
    /// Governed by `governor` (its config's server name is the MCP server name).
    pub fn governed(sandbox: Sandbox, governor: McpGovernor) -> Self {
        Self {
            name: governor.config().server_name().to_owned(),
            sandbox: Arc::new(sandbox),
            tool_router: Self::tool_router(),
            governor: Some(governor),
        }
    }

    /// The same server, ungoverned.
    pub fn ungoverned(sandbox: Sandbox) -> Self {
        Self {
            name: DEFAULT_SERVER_NAME.to_owned(),
            sandbox: Arc::new(sandbox),
            tool_router: Self::tool_router(),
            governor: None,
        }
    }

    /// The governor, when governed.
    pub fn governor(&self) -> Option<&McpGovernor> {
        self.governor.as_ref()
    }
}

#[tool_router]
impl GuardedFs {
    /// List the entries of a folder in the sandbox.
    #[tool(annotations(read_only_hint = true, open_world_hint = false))]
    async fn list_directory(
        &self,
        Parameters(req): Parameters<ListDirectoryRequest>,
    ) -> Result<Json<Listing>, ToolError> {
        let path = req.path.as_deref().unwrap_or("/");
        Ok(Json(Listing {
            entries: self.sandbox.list(path, req.recursive).await?,
        }))
    }

    /// Read a text file from the sandbox.
    #[tool(annotations(read_only_hint = true, open_world_hint = false))]
    async fn read_file(
        &self,
        Parameters(req): Parameters<ReadFileRequest>,
    ) -> Result<String, ToolError> {
        Ok(self.sandbox.read(&req.path).await?)
    }

    /// Create or replace a file in the sandbox.
    #[tool(annotations(
        read_only_hint = false,
        destructive_hint = true,
        idempotent_hint = true,
        open_world_hint = false
    ))]
    async fn write_file(
        &self,
        Parameters(req): Parameters<WriteFileRequest>,
    ) -> Result<Json<WriteResult>, ToolError> {
        let bytes = self.sandbox.write(&req.path, &req.content).await?;
        Ok(Json(WriteResult {
            path: req.path,
            bytes,
        }))
    }

    /// Delete a file (or a folder with `recursive`) in the sandbox.
    #[tool(annotations(
        read_only_hint = false,
        destructive_hint = true,
        idempotent_hint = true,
        open_world_hint = false
    ))]
    async fn delete_file(
        &self,
        Parameters(req): Parameters<DeleteFileRequest>,
    ) -> Result<Json<DeleteResult>, ToolError> {
        self.sandbox.delete(&req.path, req.recursive).await?;
        Ok(Json(DeleteResult { deleted: req.path }))
    }
}

#[tool_handler(router = self.tool_router)]
impl ServerHandler for GuardedFs {
    fn get_info(&self) -> ServerConfig {
        server_info(&self.name, INSTRUCTIONS)
    }

    // Written by hand, so `#[tool_handler]` does not generate it: every call is governed first.
    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        match &self.governor {
            Some(governor) => {
                governor
                    .call_tool(&self.tool_router, self, request, context)
                    .await
            }
            None => {
                self.tool_router
                    .call(ToolCallContext::new(self, request, context))
                    .await
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Style 2: #[governed] above #[tool] on each method.
// ---------------------------------------------------------------------------------------------

/// The filesystem server with `#[governed(...)]` above `#[tool(...)]` on each tool.
#[derive(Clone)]
pub struct AnnotatedFs {
    sandbox: Arc<Sandbox>,
    client: AscendClient,
    tool_router: ToolRouter<Self>,
}

impl AnnotatedFs {
    /// Governed by `client`.
    pub fn new(sandbox: Sandbox, client: AscendClient) -> Self {
        Self {
            sandbox: Arc::new(sandbox),
            client,
            tool_router: Self::tool_router(),
        }
    }
}

#[tool_router]
impl AnnotatedFs {
    /// List the entries of a folder in the sandbox.
    #[governed(
        action_type = "mcp.list_directory",
        resource = req.path.as_deref().unwrap_or("/"),
        risk_indicators(mcp_tool = "list_directory", read_only_hint = true),
        context(mcp_server = "filesystem"),
        client = &self.client
    )]
    #[tool(annotations(read_only_hint = true, open_world_hint = false))]
    async fn list_directory(
        &self,
        Parameters(req): Parameters<ListDirectoryRequest>,
    ) -> Result<Json<Listing>, ToolError> {
        let path = req.path.as_deref().unwrap_or("/");
        Ok(Json(Listing {
            entries: self.sandbox.list(path, req.recursive).await?,
        }))
    }

    /// Read a text file from the sandbox.
    #[governed(
        action_type = "mcp.read_file",
        resource = req.path,
        risk_indicators(mcp_tool = "read_file", read_only_hint = true),
        context(mcp_server = "filesystem"),
        client = &self.client
    )]
    #[tool(annotations(read_only_hint = true, open_world_hint = false))]
    async fn read_file(
        &self,
        Parameters(req): Parameters<ReadFileRequest>,
    ) -> Result<String, ToolError> {
        Ok(self.sandbox.read(&req.path).await?)
    }

    /// Create or replace a file in the sandbox.
    #[governed(
        action_type = "mcp.write_file",
        resource = req.path,
        risk_indicators(mcp_tool = "write_file", read_only_hint = false, destructive_hint = true),
        context(mcp_server = "filesystem"),
        client = &self.client
    )]
    #[tool(annotations(
        read_only_hint = false,
        destructive_hint = true,
        idempotent_hint = true,
        open_world_hint = false
    ))]
    async fn write_file(
        &self,
        Parameters(req): Parameters<WriteFileRequest>,
    ) -> Result<Json<WriteResult>, ToolError> {
        let bytes = self.sandbox.write(&req.path, &req.content).await?;
        Ok(Json(WriteResult {
            path: req.path,
            bytes,
        }))
    }

    /// Delete a file (or a folder with `recursive`) in the sandbox.
    #[governed(
        action_type = "mcp.delete_file",
        resource = req.path,
        risk_indicators(mcp_tool = "delete_file", read_only_hint = false, destructive_hint = true),
        context(mcp_server = "filesystem"),
        client = &self.client
    )]
    #[tool(annotations(
        read_only_hint = false,
        destructive_hint = true,
        idempotent_hint = true,
        open_world_hint = false
    ))]
    async fn delete_file(
        &self,
        Parameters(req): Parameters<DeleteFileRequest>,
    ) -> Result<Json<DeleteResult>, ToolError> {
        self.sandbox.delete(&req.path, req.recursive).await?;
        Ok(Json(DeleteResult { deleted: req.path }))
    }
}

#[tool_handler(router = self.tool_router)]
impl ServerHandler for AnnotatedFs {
    fn get_info(&self) -> ServerConfig {
        server_info(DEFAULT_SERVER_NAME, INSTRUCTIONS)
    }
}

// ---------------------------------------------------------------------------------------------
// Command line.
// ---------------------------------------------------------------------------------------------

/// Which integration style the command line serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Style {
    /// [`GuardedFs`] with a governor (default).
    Guard,
    /// [`AnnotatedFs`].
    Governed,
    /// [`GuardedFs`] without a governor.
    None,
}

/// Parsed command line of the example.
#[derive(Debug, Clone)]
pub struct Cli {
    /// Serve streamable HTTP on this address instead of stdio.
    pub http: Option<SocketAddr>,
    /// Integration style.
    pub style: Style,
    /// Sandbox folder.
    pub root: PathBuf,
    /// MCP server name.
    pub server_name: String,
    /// How long to wait for a human decision.
    pub approval_timeout: Duration,
}

const USAGE: &str =
    "usage: mcp_filesystem [--root DIR] [--http 127.0.0.1:PORT] [--style guard|governed|none] \
[--server-name NAME] [--approval-timeout SECS]
  env: ASCEND_API_URL, ASCEND_API_KEY (and the other ASCEND_* client settings); MCP_FS_ROOT";

impl Cli {
    /// Parse `args` (without the program name).
    pub fn parse(args: impl IntoIterator<Item = String>) -> Result<Self, String> {
        let mut cli = Cli {
            http: None,
            style: Style::Guard,
            root: std::env::var_os("MCP_FS_ROOT")
                .map(PathBuf::from)
                .unwrap_or_else(|| PathBuf::from("mcp-sandbox")),
            server_name: DEFAULT_SERVER_NAME.to_owned(),
            approval_timeout: Duration::from_secs(300),
        };
        let mut it = args.into_iter();
        while let Some(arg) = it.next() {
            let mut value = |name: &str| {
                it.next()
                    .ok_or_else(|| format!("{name} needs a value\n{USAGE}"))
            };
            match arg.as_str() {
                "--http" => {
                    let v = value("--http")?;
                    cli.http = Some(v.parse().map_err(|e| format!("--http {v}: {e}"))?);
                }
                "--style" => {
                    cli.style = match value("--style")?.as_str() {
                        "guard" => Style::Guard,
                        "governed" => Style::Governed,
                        "none" => Style::None,
                        other => return Err(format!("unknown style {other:?}\n{USAGE}")),
                    }
                }
                "--root" => cli.root = PathBuf::from(value("--root")?),
                "--server-name" => cli.server_name = value("--server-name")?,
                "--approval-timeout" => {
                    let v = value("--approval-timeout")?;
                    cli.approval_timeout = Duration::from_secs(
                        v.parse()
                            .map_err(|e| format!("--approval-timeout {v}: {e}"))?,
                    );
                }
                "-h" | "--help" => return Err(USAGE.to_owned()),
                other => return Err(format!("unknown argument {other:?}\n{USAGE}")),
            }
        }
        Ok(cli)
    }
}

/// A governor for the example: server name from the command line, callbacks that log to stderr.
pub fn example_governor(
    client: AscendClient,
    server_name: &str,
    approval_timeout: Duration,
) -> McpGovernor {
    let config = McpGovernanceConfig::new(server_name)
        .approval_timeout(approval_timeout)
        .on_allowed(|tool, d| tracing::info!(tool, action_id = %d.action_id, risk = ?d.risk_score, "allowed"))
        .on_approval_required(|tool, d| tracing::info!(tool, action_id = %d.action_id, "waiting for human approval"))
        .on_denied(|tool, e| tracing::warn!(tool, error = %e, "refused"))
        .on_timeout(|tool, e| tracing::warn!(tool, error = %e, "approval timed out"));
    McpGovernor::new(client, config)
}

/// Run the example: parse the command line, build the server, serve stdio or HTTP until the
/// client disconnects (stdio) or Ctrl-C (HTTP). Logs go to stderr.
pub async fn cli_main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let _ = tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .try_init();
    let cli = Cli::parse(std::env::args().skip(1))?;
    let sandbox = Sandbox::new(&cli.root)?;
    tracing::info!(root = %sandbox.root().display(), style = ?cli.style, "filesystem MCP server");
    match cli.style {
        Style::None => serve(cli.http, move || GuardedFs::ungoverned(sandbox.clone())).await,
        Style::Guard => {
            let governor = example_governor(
                AscendClient::from_env()?,
                &cli.server_name,
                cli.approval_timeout,
            );
            serve(cli.http, move || {
                GuardedFs::governed(sandbox.clone(), governor.clone())
            })
            .await
        }
        Style::Governed => {
            let client = AscendClient::from_env()?;
            serve(cli.http, move || {
                AnnotatedFs::new(sandbox.clone(), client.clone())
            })
            .await
        }
    }
}

async fn serve<S, F>(
    http: Option<SocketAddr>,
    make: F,
) -> Result<(), Box<dyn std::error::Error + Send + Sync>>
where
    S: ServerHandler + Send + Sync + 'static,
    F: Fn() -> S + Send + Sync + 'static,
{
    match http {
        None => {
            let running = make().serve(rmcp::transport::stdio()).await?;
            running.waiting().await?;
        }
        Some(addr) => {
            use rmcp::transport::streamable_http_server::{
                StreamableHttpServerConfig, StreamableHttpService,
                session::local::LocalSessionManager,
            };
            let service = StreamableHttpService::new(
                move || Ok(make()),
                Arc::new(LocalSessionManager::default()),
                StreamableHttpServerConfig::default(),
            );
            let router = axum::Router::new().nest_service("/mcp", service);
            let listener = tokio::net::TcpListener::bind(addr).await?;
            // Tests read this line to learn the port when binding port 0.
            eprintln!("listening on http://{}/mcp", listener.local_addr()?);
            axum::serve(listener, router)
                .with_graceful_shutdown(async {
                    let _ = tokio::signal::ctrl_c().await;
                })
                .await?;
        }
    }
    Ok(())
}
