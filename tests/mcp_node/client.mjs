// Interop check with the official TypeScript MCP SDK (a third-party client).
//
//   node client.mjs '<calls JSON>' stdio <command> [args...]   spawn the server, talk over stdio
//   node client.mjs '<calls JSON>' http <url>                  talk streamable HTTP
//
// <calls JSON> is an array of {"tool": name, "arguments": {...}}. Lists the tools, makes the
// calls in order, and prints ONE JSON document on stdout:
//   {"server": {...}, "tools": [{name, annotations}], "results": [{tool, isError, text, structured, meta} | {tool, error}]}
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StdioClientTransport } from "@modelcontextprotocol/sdk/client/stdio.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";

const [calls, mode, ...rest] = process.argv.slice(2);
const transport =
  mode === "http"
    ? new StreamableHTTPClientTransport(new URL(rest[0]))
    : new StdioClientTransport({ command: rest[0], args: rest.slice(1), env: process.env, stderr: "inherit" });

const client = new Client({ name: "ascend-node-interop", version: "1.0.0" });
await client.connect(transport);
const { tools } = await client.listTools();
const results = [];
for (const { tool, arguments: args } of JSON.parse(calls)) {
  try {
    // onprogress makes the SDK send a progressToken; the governor's keep-alive progress
    // notifications then reset the request timeout while a human approves.
    const r = await client.callTool({ name: tool, arguments: args }, undefined, {
      timeout: 120_000,
      resetTimeoutOnProgress: true,
      onprogress: () => {},
    });
    results.push({
      tool,
      isError: r.isError === true,
      text: (r.content ?? []).filter((c) => c.type === "text").map((c) => c.text).join("\n"),
      structured: r.structuredContent ?? null,
      meta: r._meta ?? null,
    });
  } catch (e) {
    results.push({ tool, error: { code: e.code ?? null, message: String(e.message ?? e) } });
  }
}
console.log(JSON.stringify({
  server: client.getServerVersion() ?? null,
  tools: tools.map((t) => ({ name: t.name, annotations: t.annotations ?? null })),
  results,
}));
await client.close();
