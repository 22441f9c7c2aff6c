// A real Solana for x402-mcp's tests: Surfnet (an offline Solana network with
// JSON-RPC on a random loopback port) with a USDC mint at the devnet address
// and a Token-2022 mint, and the reference @x402/svm exact facilitator over
// HTTP, pointed at that network under the devnet id.
//
// Usage: node harness.mjs [--slot-ms N]
// Prints one JSON line: {"rpcUrl","facilitatorUrl","feePayer","usdcMint",
// "token2022Mint","network","slotMs"}, then serves until its stdin closes.
//
// Facilitator: POST /verify, POST /settle (bodies {x402Version,
// paymentPayload, paymentRequirements}), GET /supported.
// Test control (not part of any facilitator): POST /fund with
// {"owner": "<base58>", "sol": lamports?, "mint": "<base58>"?, "amount": "atomic"?}
// gives owner SOL and/or tokens of mint (its associated token account);
// GET /ata?owner=&mint= names that account.
import { createRequire } from "node:module";
import http from "node:http";
import { x402Facilitator } from "@x402/core/facilitator";
import { registerExactSvmScheme } from "@x402/svm/exact/facilitator";
import { toFacilitatorSvmSigner, SOLANA_DEVNET_CAIP2 } from "@x402/svm";
import { createKeyPairSignerFromBytes } from "@solana/kit";

const require = createRequire(import.meta.url);
const { Surfnet } = require("@solana/surfpool-linux-x64-gnu");

const TOKEN_PROGRAM = "TokenkegQfeZyiNwAJbNbGKPFXCWuBvf9Ss623VQ5DA";
const TOKEN_2022_PROGRAM = "TokenzQdBNbLqP5VEhdkAS6EPFLC1PHnBqCXEpPxuEb";
const USDC_DEVNET = "4zMMC9srt5Ri5X14GAgXhaHii3GnPAEERYPJgZJDncDU";
const MINT_RENT = 1461600; // rent-exempt lamports of an 82-byte account

function arg(name, dflt) {
  const i = process.argv.indexOf(name);
  return i >= 0 && i + 1 < process.argv.length ? process.argv[i + 1] : dflt;
}
const slotMs = Number(arg("--slot-ms", "100"));
if (!Number.isInteger(slotMs) || slotMs < 10 || slotMs > 10000) {
  console.error(`--slot-ms ${slotMs}: want a whole number of milliseconds from 10 to 10000`);
  process.exit(2);
}

// Surfnet: offline, blocks on a clock (a short slot time lets a test watch a
// blockhash expire: time travel does not expire blockhashes).
const surfnet = Surfnet.startWithConfig({ offline: true, slotTimeMs: slotMs, blockProductionMode: "clock" });

// A mint account as the Token program lays it out: 82 bytes, no mint
// authority (COption tag 0 at 0), supply 0 at 36, decimals at 44,
// initialized at 45, no freeze authority.
function mintData(decimals) {
  const d = Buffer.alloc(82);
  d[44] = decimals;
  d[45] = 1;
  return Array.from(d);
}
surfnet.setAccount(USDC_DEVNET, MINT_RENT, mintData(6), TOKEN_PROGRAM);
const token2022Mint = Surfnet.newKeypair().publicKey;
surfnet.setAccount(token2022Mint, MINT_RENT, mintData(6), TOKEN_2022_PROGRAM);

// The facilitator's fee payer.
const feePayerKp = Surfnet.newKeypair();
surfnet.fundSol(feePayerKp.publicKey, 100_000_000_000);
const feePayer = await createKeyPairSignerFromBytes(Uint8Array.from(feePayerKp.secretKey));

const facilitator = new x402Facilitator();
registerExactSvmScheme(facilitator, {
  signer: toFacilitatorSvmSigner(feePayer, { defaultRpcUrl: surfnet.rpcUrl }),
  networks: [SOLANA_DEVNET_CAIP2],
});

const MAX_BODY = 1 << 20;
function readJSON(req) {
  return new Promise((resolve, reject) => {
    let size = 0;
    const chunks = [];
    req.on("data", (c) => {
      size += c.length;
      if (size > MAX_BODY) {
        reject(new Error("body too large"));
        req.destroy();
        return;
      }
      chunks.push(c);
    });
    req.on("end", () => {
      try {
        resolve(JSON.parse(Buffer.concat(chunks).toString("utf8") || "{}"));
      } catch (e) {
        reject(e);
      }
    });
    req.on("error", reject);
  });
}
function send(res, status, body) {
  res.writeHead(status, { "content-type": "application/json" });
  res.end(JSON.stringify(body, (_, v) => (typeof v === "bigint" ? v.toString() : v)));
}

const server = http.createServer(async (req, res) => {
  try {
    const url = new URL(req.url, "http://localhost");
    if (req.method === "GET" && url.pathname === "/supported") {
      return send(res, 200, facilitator.getSupported());
    }
    if (req.method === "POST" && (url.pathname === "/verify" || url.pathname === "/settle")) {
      const body = await readJSON(req);
      const fn = url.pathname === "/verify" ? "verify" : "settle";
      const out = await facilitator[fn](body.paymentPayload, body.paymentRequirements);
      return send(res, 200, out);
    }
    if (req.method === "POST" && url.pathname === "/fund") {
      const b = await readJSON(req);
      if (b.sol) surfnet.fundSol(b.owner, Number(b.sol));
      if (b.mint) {
        const program = b.mint === USDC_DEVNET ? TOKEN_PROGRAM : b.mint === token2022Mint ? TOKEN_2022_PROGRAM : b.tokenProgram;
        surfnet.fundToken(b.owner, b.mint, Number(b.amount ?? 0), program);
      }
      return send(res, 200, { ok: true });
    }
    if (req.method === "GET" && url.pathname === "/ata") {
      const mint = url.searchParams.get("mint");
      const program = mint === token2022Mint ? TOKEN_2022_PROGRAM : TOKEN_PROGRAM;
      return send(res, 200, { ata: surfnet.getAta(url.searchParams.get("owner"), mint, program) });
    }
    send(res, 404, { error: `no route ${req.method} ${url.pathname}` });
  } catch (e) {
    console.error("harness:", e);
    send(res, 500, { error: String(e && e.message ? e.message : e) });
  }
});
server.listen(0, "127.0.0.1", () => {
  const { port } = server.address();
  process.stdout.write(
    JSON.stringify({
      rpcUrl: surfnet.rpcUrl,
      facilitatorUrl: `http://127.0.0.1:${port}`,
      feePayer: feePayerKp.publicKey,
      usdcMint: USDC_DEVNET,
      token2022Mint,
      network: SOLANA_DEVNET_CAIP2,
      slotMs,
    }) + "\n",
  );
});

function stop() {
  server.close();
  try {
    surfnet.stop();
  } catch {}
  process.exit(0);
}
process.stdin.on("end", stop);
process.stdin.on("close", stop);
process.stdin.resume();
process.on("SIGTERM", stop);
