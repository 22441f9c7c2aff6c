#!/usr/bin/env node
// The reference paid MCP server of x402-mcp's side-by-side benchmark
// (docs/benchmarks.md): the official MCP TypeScript SDK and the x402
// project's own fetch client (@x402/fetch wrapFetchWithPayment + the EVM
// exact scheme of @x402/evm), assembled the way the x402 project's MCP
// example does: one McpServer, one tool per paid endpoint, each tool a paying
// fetch whose answer becomes the tool result. It has no budget, no ledger and
// no durable record of a payment: it is the minimal server, on purpose.
//
//	EVM_PRIVATE_KEY=0x… SELLER_URL=http://127.0.0.1:4021 node server.mjs            # stdio
//	EVM_PRIVATE_KEY=0x… SELLER_URL=… node server.mjs --http 127.0.0.1:8403          # Streamable HTTP at /mcp
//	EVM_PRIVATE_KEY=0x… node server.mjs --catalog catalog.json                      # tools from a JSON catalog
//
// Without --catalog it lists one tool, get_weather, on the seller's
// GET /v2/weather/{city}. A catalog is a JSON array of
// {name, description, url, params: [{name, in: "path"|"query", required?, description?}]}
// in which {param} in url is a path parameter; `loadgen gencatalog` writes
// one beside the matching registry.yaml. Each successful paid result carries
// the decoded PAYMENT-RESPONSE (the seller's settlement) in
// _meta["x402/payment-response"], the key x402-mcp uses, so the load
// generator checks both servers' payments the same way. Logs go to stderr.
import { randomUUID } from "node:crypto";
import { readFileSync } from "node:fs";
import { parseArgs } from "node:util";

import { McpServer } from "@modelcontextprotocol/sdk/server/mcp.js";
import { StdioServerTransport } from "@modelcontextprotocol/sdk/server/stdio.js";
import { StreamableHTTPServerTransport } from "@modelcontextprotocol/sdk/server/streamableHttp.js";
import { createMcpExpressApp } from "@modelcontextprotocol/sdk/server/express.js";
import { isInitializeRequest } from "@modelcontextprotocol/sdk/types.js";
import { decodePaymentResponseHeader, wrapFetchWithPayment, x402Client } from "@x402/fetch";
import { registerExactEvmScheme } from "@x402/evm/exact/client";
import { privateKeyToAccount } from "viem/accounts";
import * as z from "zod/v4";

const { values: flags } = parseArgs({
  options: {
    http: { type: "string" }, // host:port: serve Streamable HTTP at /mcp instead of stdio
    catalog: { type: "string" }, // JSON catalog file
  },
});

const key = (process.env.EVM_PRIVATE_KEY || "").trim();
if (!/^(0x)?[0-9a-fA-F]{64}$/.test(key)) {
  console.error("reference server: set EVM_PRIVATE_KEY to the wallet's hex private key (32 bytes)");
  process.exit(2);
}
const sellerURL = (process.env.SELLER_URL || "http://127.0.0.1:4021").replace(/\/$/, "");

// The paying fetch: x402Client with the EVM exact scheme (EIP-3009 on every
// eip155 network), wrapped around the global fetch. Built once per process.
const signer = privateKeyToAccount(key.startsWith("0x") ? key : `0x${key}`);
const payments = new x402Client();
registerExactEvmScheme(payments, { signer });
const fetchWithPayment = wrapFetchWithPayment(fetch, payments);

const catalog = flags.catalog
  ? JSON.parse(readFileSync(flags.catalog, "utf8"))
  : [
      {
        name: "get_weather",
        description: "Current weather for a city, paid with x402 (0.001 USDC on Base Sepolia).",
        url: `${sellerURL}/v2/weather/{city}`,
        params: [{ name: "city", in: "path", required: true, description: "City name, e.g. paris" }],
      },
    ];

// requestURL fills the entry's path template and query from the arguments.
function requestURL(entry, args) {
  let url = entry.url;
  const query = new URLSearchParams();
  for (const p of entry.params || []) {
    const v = args[p.name];
    if (v === undefined) continue;
    if (p.in === "path") url = url.replace(`{${p.name}}`, encodeURIComponent(String(v)));
    else query.set(p.name, String(v));
  }
  const qs = query.toString();
  return qs ? `${url}?${qs}` : url;
}

function inputShape(entry) {
  const shape = {};
  for (const p of entry.params || []) {
    let s = z.string();
    if (p.description) s = s.describe(p.description);
    shape[p.name] = p.required ? s : s.optional();
  }
  return shape;
}

// newServer builds one McpServer with every catalog entry as a paid tool.
function newServer() {
  const server = new McpServer({ name: "x402-reference-mcp", version: "1.0.0" });
  for (const entry of catalog) {
    server.registerTool(entry.name, { description: entry.description, inputSchema: inputShape(entry) }, async args => {
      const res = await fetchWithPayment(requestURL(entry, args), { method: "GET" });
      const body = await res.text();
      if (!res.ok) {
        return { isError: true, content: [{ type: "text", text: `upstream answered ${res.status}: ${body.slice(0, 500)}` }] };
      }
      const header = res.headers.get("PAYMENT-RESPONSE") || res.headers.get("X-PAYMENT-RESPONSE");
      const result = { content: [{ type: "text", text: body }] };
      if (header) result._meta = { "x402/payment-response": decodePaymentResponseHeader(header) };
      return result;
    });
  }
  return server;
}

if (!flags.http) {
  await newServer().connect(new StdioServerTransport());
} else {
  // Streamable HTTP as the SDK's jsonResponseStreamableHttp example serves it:
  // one transport and one McpServer per session, JSON answers (no SSE
  // stream per call), sessions found by their Mcp-Session-Id.
  const [host, port] = splitHostPort(flags.http);
  const app = createMcpExpressApp({ host });
  const sessions = new Map();
  app.post("/mcp", async (req, res) => {
    try {
      const id = req.headers["mcp-session-id"];
      let transport = id ? sessions.get(id) : undefined;
      if (!transport) {
        if (id || !isInitializeRequest(req.body)) {
          res.status(id ? 404 : 400).json({ jsonrpc: "2.0", error: { code: -32000, message: id ? "Session not found" : "No valid session ID" }, id: null });
          return;
        }
        transport = new StreamableHTTPServerTransport({
          sessionIdGenerator: () => randomUUID(),
          enableJsonResponse: true,
          onsessioninitialized: sid => sessions.set(sid, transport),
        });
        transport.onclose = () => transport.sessionId && sessions.delete(transport.sessionId);
        await newServer().connect(transport);
      }
      await transport.handleRequest(req, res, req.body);
    } catch (err) {
      console.error("reference server: request failed:", err);
      if (!res.headersSent) res.status(500).json({ jsonrpc: "2.0", error: { code: -32603, message: "Internal server error" }, id: null });
    }
  });
  const sessionRequest = async (req, res) => {
    const transport = sessions.get(req.headers["mcp-session-id"]);
    if (!transport) {
      res.status(400).send("Invalid or missing session ID");
      return;
    }
    await transport.handleRequest(req, res);
  };
  app.get("/mcp", sessionRequest);
  app.delete("/mcp", sessionRequest);
  app.listen(port, host, err => {
    if (err) {
      console.error("reference server: listen:", err);
      process.exit(1);
    }
    console.error(`reference MCP server on http://${host}:${port}/mcp (payer ${signer.address}, ${catalog.length} tools)`);
  });
}

function splitHostPort(addr) {
  const i = addr.lastIndexOf(":");
  if (i < 0) return ["127.0.0.1", Number(addr)];
  return [addr.slice(0, i) || "127.0.0.1", Number(addr.slice(i + 1))];
}

process.on("SIGTERM", () => process.exit(0));
process.on("SIGINT", () => process.exit(0));
