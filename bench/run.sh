#!/usr/bin/env bash
# Side-by-side benchmark: x402-mcp against a reference paid MCP server built
# on the official npm packages (bench/ref), both paying the same local seller.
# See docs/benchmarks.md for what is measured and the latest figures.
#
#   bench/run.sh                     # everything, ~5-8 minutes on 2 cores
#   N=200 REPEAT=1 K=5 bench/run.sh  # a quick look
#
# Needs: Go (the repo's go.mod version), node 20+ and npm (the npm registry
# reachable for `npm ci`, unless SKIP_NPM=1 and bench/ref/node_modules exist).
#
# Environment (defaults in brackets):
#   N [1000]          measured paid calls per run
#   REPEAT [3]        runs of each (server, transport, concurrency), interleaved; the
#                     report gives their medians and the range of calls/s
#   CONCURRENCY [1 50] concurrency levels: calls in flight (stdio) or sessions (HTTP)
#   WARMUP [200]      unmeasured warm-up calls before each run
#   K [20]            measured cold starts per server
#   CATALOG [1000]    catalog size for the cold start and the second idle reading
#   IDLE_WAIT [3s]    idle time before reading RSS
#   PROFILE [1]       1: two more x402-mcp runs with --pprof (stdio at concurrency 1,
#                     HTTP at the highest): CPU profiles and `go tool pprof -top` saved
#   OUT [bench/out]   where results.jsonl, report.md and the profile go
#   SKIP_NPM [0]      1: do not run `npm ci` in bench/ref
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

N=${N:-1000}
REPEAT=${REPEAT:-3}
CONCURRENCY=${CONCURRENCY:-"1 50"}
WARMUP=${WARMUP:-200}
K=${K:-20}
CATALOG=${CATALOG:-1000}
IDLE_WAIT=${IDLE_WAIT:-3s}
PROFILE=${PROFILE:-1}
OUT=${OUT:-$ROOT/bench/out}
SKIP_NPM=${SKIP_NPM:-0}

for tool in go node npm; do
  command -v "$tool" >/dev/null || { echo "bench: $tool is required (Go, node 20+, npm)" >&2; exit 1; }
done
node_major=$(node -p 'process.versions.node.split(".")[0]')
if [ "$node_major" -lt 20 ]; then
  echo "bench: node 20 or newer is required (found $(node --version))" >&2
  exit 1
fi

WORK=$(mktemp -d "${TMPDIR:-/tmp}/x402-bench.XXXXXX")
mkdir -p "$OUT"
RESULTS=$OUT/results.jsonl
: >"$RESULTS"
SELLER_PID=
cleanup() {
  if [ -n "$SELLER_PID" ]; then kill "$SELLER_PID" 2>/dev/null || true; wait "$SELLER_PID" 2>/dev/null || true; fi
  rm -rf "$WORK"
}
trap cleanup EXIT

echo "== build (static, as the release) and npm ci" >&2
CGO_ENABLED=0 go build -trimpath -ldflags='-s -w' -o "$WORK/x402-mcp" ./cmd/x402-mcp
go build -o "$WORK/loadgen" ./bench/loadgen
if [ "$SKIP_NPM" != 1 ]; then
  npm ci --prefix bench/ref --no-audit --no-fund --loglevel=error >&2
fi
X=$WORK/x402-mcp
LG=$WORK/loadgen
REF=(node "$ROOT/bench/ref/server.mjs")

# Two wallets, one per server, both Anvil's well-known test keys (worthless
# anywhere real): #0 pays for x402-mcp, #1 for the reference.
OUR_KEY=ac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80
REF_KEY=0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d
OUR_ADDR=$(X402_PRIVATE_KEY=$OUR_KEY "$X" wallet address)
REF_ADDR=$(X402_PRIVATE_KEY=$REF_KEY "$X" wallet address)

SELLER_PORT=$("$LG" freeport)
SELLER_URL=http://127.0.0.1:$SELLER_PORT
"$X" seller --addr "127.0.0.1:$SELLER_PORT" --fund "$OUR_ADDR,$REF_ADDR" --amount 1000000 2>"$WORK/seller.log" &
SELLER_PID=$!
for _ in $(seq 100); do
  if (exec 3<>"/dev/tcp/127.0.0.1/$SELLER_PORT") 2>/dev/null; then break; fi
  sleep 0.05
done

"$LG" gencatalog --n 1 --seller "$SELLER_URL" --yaml "$WORK/bench.yaml" --json "$WORK/bench.json" >/dev/null
"$LG" gencatalog --n "$CATALOG" --seller "$SELLER_URL" --yaml "$WORK/catalog.yaml" --json "$WORK/catalog.json" >/dev/null

TOKEN=$(od -An -tx1 -N16 /dev/urandom | tr -d ' \n')
# x402-mcp: its wallet from the environment, the bench catalog, a fresh ledger
# (default durability) per run, logs at warn (the reference logs nothing per call).
ours() { X402_PRIVATE_KEY=$OUR_KEY X402_MCP_TOKEN=$TOKEN X402_LOG_LEVEL=warn "$@"; }
refenv() { EVM_PRIVATE_KEY=$REF_KEY SELLER_URL=$SELLER_URL "$@"; }
ledger() { echo "$WORK/ledger-$1.db"; }

echo "== machine: $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg)" >&2
LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)
for rep in $(seq "$REPEAT"); do
for c in $CONCURRENCY; do
  for t in stdio http; do
    port=$("$LG" freeport)
    echo "== [$rep/$REPEAT] x402-mcp over $t, concurrency $c, $N paid calls" >&2
    if [ "$t" = stdio ]; then
      ours "$LG" run --server x402-mcp --transport stdio -n "$N" -c "$c" --warmup "$WARMUP" --watch-pid "$SELLER_PID" --out "$RESULTS" -- \
        "$X" serve --registry "$WORK/bench.yaml" --ledger "$(ledger "$t-$c-$rep")" >/dev/null
    else
      ours "$LG" run --server x402-mcp --transport http --url "http://127.0.0.1:$port/mcp" --token "$TOKEN" \
        -n "$N" -c "$c" --warmup "$WARMUP" --watch-pid "$SELLER_PID" --out "$RESULTS" -- \
        "$X" serve --http "127.0.0.1:$port" --registry "$WORK/bench.yaml" --ledger "$(ledger "$t-$c-$rep")" >/dev/null
    fi
    port=$("$LG" freeport)
    echo "== [$rep/$REPEAT] reference over $t, concurrency $c, $N paid calls" >&2
    if [ "$t" = stdio ]; then
      refenv "$LG" run --server reference --transport stdio -n "$N" -c "$c" --warmup "$WARMUP" --watch-pid "$SELLER_PID" --out "$RESULTS" -- \
        "${REF[@]}" >/dev/null
    else
      refenv "$LG" run --server reference --transport http --url "http://127.0.0.1:$port/mcp" \
        -n "$N" -c "$c" --warmup "$WARMUP" --watch-pid "$SELLER_PID" --out "$RESULTS" -- \
        "${REF[@]}" --http "127.0.0.1:$port" >/dev/null
    fi
  done
done
done

echo "== cold start to the first tools/list answer, 1 and $CATALOG tools, $K runs each" >&2
ours "$LG" coldstart --server x402-mcp -k "$K" --out "$RESULTS" -- \
  "$X" serve --registry "$WORK/bench.yaml" --ledger "$(ledger coldstart1)" >/dev/null
refenv "$LG" coldstart --server reference -k "$K" --out "$RESULTS" -- "${REF[@]}" >/dev/null
ours "$LG" coldstart --server x402-mcp -k "$K" --min-tools "$CATALOG" --out "$RESULTS" -- \
  "$X" serve --registry "$WORK/catalog.yaml" --ledger "$(ledger coldstart)" >/dev/null
refenv "$LG" coldstart --server reference -k "$K" --min-tools "$CATALOG" --out "$RESULTS" -- \
  "${REF[@]}" --catalog "$WORK/catalog.json" >/dev/null

echo "== idle RSS" >&2
ours "$LG" idle --server x402-mcp --wait "$IDLE_WAIT" --out "$RESULTS" -- \
  "$X" serve --registry "$WORK/bench.yaml" --ledger "$(ledger idle1)" >/dev/null
refenv "$LG" idle --server reference --wait "$IDLE_WAIT" --out "$RESULTS" -- "${REF[@]}" >/dev/null
ours "$LG" idle --server x402-mcp --wait "$IDLE_WAIT" --out "$RESULTS" -- \
  "$X" serve --registry "$WORK/catalog.yaml" --ledger "$(ledger idle2)" >/dev/null
refenv "$LG" idle --server reference --wait "$IDLE_WAIT" --out "$RESULTS" -- "${REF[@]}" --catalog "$WORK/catalog.json" >/dev/null
LOAD_AFTER=$(cut -d' ' -f1-3 /proc/loadavg)

if [ "$PROFILE" = 1 ]; then
  # Two more x402-mcp runs with --pprof, not in the tables: concurrency 1 over
  # stdio (the warm call's latency) and the highest concurrency over HTTP.
  cmax=$(echo $CONCURRENCY | tr ' ' '\n' | sort -n | tail -1)
  for spec in "stdio 1" "http $cmax"; do
    set -- $spec
    t=$1 c=$2
    port=$("$LG" freeport)
    pport=$("$LG" freeport)
    prof=$OUT/cpu-$t-c$c.pprof
    echo "== profile: x402-mcp over $t, concurrency $c" >&2
    if [ "$t" = stdio ]; then
      serve=("$X" serve)
      args=(--transport stdio)
    else
      serve=("$X" serve --http "127.0.0.1:$port")
      args=(--transport http --url "http://127.0.0.1:$port/mcp" --token "$TOKEN")
    fi
    ours "$LG" run --server x402-mcp-profiled "${args[@]}" -n "$N" -c "$c" --warmup "$WARMUP" \
      --cpuprofile-url "http://127.0.0.1:$pport/debug/pprof/profile" --cpuprofile-seconds 5 --cpuprofile-out "$prof" -- \
      "${serve[@]}" --registry "$WORK/bench.yaml" --ledger "$(ledger "profile-$t")" --pprof "127.0.0.1:$pport" >/dev/null
    go tool pprof -top -nodecount=25 "$prof" >"${prof%.pprof}-top.txt" 2>/dev/null
    go tool pprof -top -cum -nodecount=45 "$prof" >"${prof%.pprof}-top-cum.txt" 2>/dev/null
  done
fi

{
  echo "Measured $(date -u '+%Y-%m-%d %H:%M UTC') on $(nproc) cores ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//')), $(go version | cut -d' ' -f3), node $(node --version);"
  echo "load average before $LOAD_BEFORE, after $LOAD_AFTER. $REPEAT runs of N=$N paid calls each after $WARMUP warm-up calls; cold start: K=$K runs."
  echo
  "$LG" report "$RESULTS"
} | tee "$OUT/report.md"
echo >&2
echo "results: $RESULTS, report: $OUT/report.md$([ "$PROFILE" = 1 ] && echo ", profiles: $OUT/cpu-*.pprof (top: $OUT/cpu-*-top*.txt)")" >&2
