// Drives x402-mcp with the official TypeScript MCP SDK: connects, lists the
// tools, calls the paid `weather` tool for Paris, then the built-ins that
// declare an outputSchema (x402_wallet, x402_quote, x402_spend_history; the
// SDK checks each answer's structuredContent against it and throws on a
// mismatch) and prints ONE JSON line on stdout:
//
//   {"tools":[...],"isError":false,"text":"...","receipt":{...},"asked":["..."],"structured":[...]}
//
// where receipt is the result's _meta["x402/payment-response"] (null if none),
// asked the messages of the elicitation/create requests the server sent, and
// structured names the built-ins whose structured answer the SDK checked.
// Any failure exits non-zero with the error on stderr.
//
// Usage:
//   node client.mjs stdio <binary> <registryPath>   (the binary's env is this process's env:
//                                                    X402_PRIVATE_KEY, X402_LEDGER, HOME, ...)
//   node client.mjs http <url> <token>              (Streamable HTTP, Authorization: Bearer <token>)
//   node client.mjs sse <url> <token> accept|decline (the legacy HTTP+SSE transport, <url> ending in /sse;
//                                                    the client declares elicitation and answers every
//                                                    question with accept (approve checked) or decline)
//   node client.mjs oauth <url>                      (Streamable HTTP as an OAuth-aware client with no token:
//                                                    prints {"error":"..."}, the error connecting reports)
//   node client.mjs oauth-client <url> <clientId> <clientSecret> <issuer>
//                                                   (Streamable HTTP with the SDK's ClientCredentialsProvider and no
//                                                    token: it reads the server's Protected Resource Metadata, finds
//                                                    the authorization server there (it must be <issuer>), gets an
//                                                    access token for the server's resource with scope mcp:tools,
//                                                    then goes on as http does; "principal" in the output is the
//                                                    principal x402_wallet names)
//
// test/ts_test.go runs it; install first with: (cd test/ts && npm ci)
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StdioClientTransport } from "@modelcontextprotocol/sdk/client/stdio.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { SSEClientTransport } from "@modelcontextprotocol/sdk/client/sse.js";
import { ElicitRequestSchema } from "@modelcontextprotocol/sdk/types.js";
import { ClientCredentialsProvider } from "@modelcontextprotocol/sdk/client/auth-extensions.js";

const usage =
  "usage: node client.mjs stdio <binary> <registryPath> | node client.mjs http <url> <token> | node client.mjs sse <url> <token> accept|decline | node client.mjs oauth <url> | node client.mjs oauth-client <url> <clientId> <clientSecret> <issuer>";

// oauthProvider is what an OAuth-aware client such as mcp-remote brings: no
// token yet, ready to register itself and send the user to authorize.
const oauthProvider = {
  get redirectUrl() {
    return "http://localhost:33418/oauth/callback";
  },
  get clientMetadata() {
    return { redirect_uris: ["http://localhost:33418/oauth/callback"], client_name: "x402-mcp-ts-sdk-test" };
  },
  clientInformation: () => undefined,
  saveClientInformation: () => {},
  tokens: () => undefined,
  saveTokens: () => {},
  redirectToAuthorization: () => {
    throw new Error("the client was sent to authorize");
  },
  saveCodeVerifier: () => {},
  codeVerifier: () => "",
};
const RECEIPT = "x402/payment-response";

function transportFor(argv) {
  const [mode, a, b] = argv;
  switch (mode) {
    case "stdio":
      if (!a || !b) throw new Error(usage);
      return new StdioClientTransport({
        command: a,
        args: ["serve", "--registry", b],
        // Pass the whole environment: the SDK's default keeps only a safe list
        // (HOME, PATH, ...), which would drop X402_PRIVATE_KEY and X402_LEDGER.
        env: { ...process.env },
        stderr: "inherit",
      });
    case "http":
      if (!a || !b) throw new Error(usage);
      return new StreamableHTTPClientTransport(new URL(a), {
        requestInit: { headers: { Authorization: `Bearer ${b}` } },
      });
    case "oauth":
      if (!a) throw new Error(usage);
      return new StreamableHTTPClientTransport(new URL(a), { authProvider: oauthProvider });
    case "oauth-client": {
      const [, , , secret, issuer] = argv;
      if (!a || !b || !secret || !issuer) throw new Error(usage);
      const authProvider = new ClientCredentialsProvider({ clientId: b, clientSecret: secret, scope: "mcp:tools", expectedIssuer: issuer });
      return new StreamableHTTPClientTransport(new URL(a), { authProvider });
    }
    case "sse":
      if (!a || !b) throw new Error(usage);
      return new SSEClientTransport(new URL(a), {
        requestInit: { headers: { Authorization: `Bearer ${b}` } },
      });
    default:
      throw new Error(usage);
  }
}

async function main() {
  const argv = process.argv.slice(2);
  const transport = transportFor(argv);
  const answer = argv[0] === "sse" ? argv[3] : undefined;
  if (answer !== undefined && answer !== "accept" && answer !== "decline") throw new Error(usage);
  const client = new Client(
    { name: "x402-mcp-ts-sdk-test", version: "1.0.0" },
    answer ? { capabilities: { elicitation: {} } } : {},
  );
  const asked = [];
  if (answer) {
    client.setRequestHandler(ElicitRequestSchema, async (req) => {
      asked.push(req.params.message);
      return answer === "accept" ? { action: "accept", content: { approve: true } } : { action: "decline" };
    });
  }
  if (argv[0] === "oauth") {
    try {
      await client.connect(transport);
    } catch (err) {
      process.stdout.write(JSON.stringify({ error: String(err?.message ?? err) }) + "\n");
      return;
    }
    throw new Error("connected without a token");
  }
  await client.connect(transport);
  try {
    const tools = [];
    const withOutputSchema = new Set();
    let cursor;
    do {
      const page = await client.listTools(cursor ? { cursor } : {});
      tools.push(...page.tools.map((t) => t.name));
      for (const t of page.tools) if (t.outputSchema) withOutputSchema.add(t.name);
      cursor = page.nextCursor;
    } while (cursor);

    const res = await client.callTool({ name: "weather", arguments: { city: "paris" } });
    const text = (res.content ?? [])
      .filter((c) => c.type === "text")
      .map((c) => c.text)
      .join("\n");
    const receipt = res._meta?.[RECEIPT] ?? null;

    const structured = [];
    let principal = null;
    for (const [name, args] of [
      ["x402_wallet", {}],
      ["x402_quote", { tool: "weather", arguments: { city: "paris" } }],
      ["x402_spend_history", {}],
    ]) {
      const r = await client.callTool({ name, arguments: args });
      if (r.isError) throw new Error(`${name} answered an error: ${JSON.stringify(r.content)}`);
      if (r.structuredContent && withOutputSchema.has(name)) structured.push(name);
      if (name === "x402_wallet") principal = r.structuredContent?.principal?.name ?? null;
    }
    process.stdout.write(JSON.stringify({ tools, isError: res.isError === true, text, receipt, asked, structured, principal }) + "\n");
  } finally {
    await client.close();
  }
}

main().then(
  () => process.exit(0),
  (err) => {
    process.stderr.write(`client.mjs: ${err?.stack ?? err}\n`);
    process.exit(1);
  },
);
