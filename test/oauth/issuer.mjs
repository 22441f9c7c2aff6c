// A real OAuth 2.1 authorization server for x402-mcp's OAuth tests: panva's
// certified oidc-provider (pinned in package.json), on a random loopback
// port, issuing JWT access tokens with the client credentials grant and
// resource indicators (RFC 8707): a token's aud is the resource the client
// asked for.
//
// It prints ONE JSON line on stdout once it listens:
//
//   {"issuer":"http://127.0.0.1:PORT"}
//
// then serves until its stdin closes (or SIGTERM). Its metadata is at
// /.well-known/openid-configuration and /.well-known/oauth-authorization-server.
//
// The clients (client_secret_basic; secret = the client id + "-secret"):
//   team-a-client, team-b-client, stranger-client  scope mcp:tools
//   noscope-client                                 scope other only
//   expiring-client                                scope mcp:tools, tokens live 2 seconds
//
// POST /__rotate makes a new signing key: tokens issued afterwards carry its
// kid, and the JWKS lists it first, then the old key.
//
// internal/oauthtest runs it; install first with: (cd test/oauth && npm ci)
import http from "node:http";
import crypto from "node:crypto";
import Provider from "oidc-provider";

const SCOPES = "mcp:tools other";
const clients = [
  { id: "team-a-client", scope: "mcp:tools" },
  { id: "team-b-client", scope: "mcp:tools" },
  { id: "stranger-client", scope: "mcp:tools" },
  { id: "noscope-client", scope: "other" },
  { id: "expiring-client", scope: "mcp:tools" },
].map(({ id, scope }) => ({
  client_id: id,
  client_secret: `${id}-secret`,
  grant_types: ["client_credentials"],
  redirect_uris: [],
  response_types: [],
  token_endpoint_auth_method: "client_secret_basic",
  scope,
}));

function newKey() {
  const { privateKey } = crypto.generateKeyPairSync("rsa", { modulusLength: 2048 });
  const jwk = privateKey.export({ format: "jwk" });
  return { ...jwk, kid: crypto.randomBytes(8).toString("hex"), alg: "RS256", use: "sig" };
}

function provider(issuer, keys) {
  const p = new Provider(issuer, {
    clients,
    jwks: { keys },
    scopes: SCOPES.split(" "),
    features: {
      devInteractions: { enabled: false },
      clientCredentials: { enabled: true },
      resourceIndicators: {
        enabled: true,
        // Any absolute resource the client names: the tests ask for this
        // server's and for another's (a wrong audience).
        getResourceServerInfo: (_ctx, resource, client) => ({
          scope: SCOPES,
          audience: resource,
          accessTokenFormat: "jwt",
          accessTokenTTL: client.clientId === "expiring-client" ? 2 : 600,
          jwt: { sign: { alg: "RS256" } },
        }),
      },
    },
    ttl: {
      ClientCredentials: (_ctx, token) => token.resourceServer?.accessTokenTTL || 600,
    },
  });
  p.on("server_error", (_ctx, err) => console.error("oidc-provider:", err));
  return p;
}

let keys = [newKey()];
let current;
const server = http.createServer((req, res) => {
  if (req.method === "POST" && req.url === "/__rotate") {
    keys = [newKey(), ...keys];
    current = provider(issuer, keys);
    res.writeHead(204).end();
    return;
  }
  current.callback()(req, res);
});

let issuer;
server.listen(0, "127.0.0.1", () => {
  issuer = `http://127.0.0.1:${server.address().port}`;
  current = provider(issuer, keys);
  process.stdout.write(JSON.stringify({ issuer }) + "\n");
});

const stop = () => server.close(() => process.exit(0));
process.stdin.on("end", stop);
process.stdin.on("close", stop);
process.stdin.resume();
process.on("SIGTERM", stop);
