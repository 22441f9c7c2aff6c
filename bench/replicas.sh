#!/usr/bin/env bash
# Replicas on PostgreSQL against one replica on SQLite: aggregate paid calls/s
# of `x402-mcp serve --http` against the local seller, and the CPU each part
# used (the x402-mcp replicas, PostgreSQL, the seller, the load generators).
# Then the ledger alone: BenchmarkReserveSettle on SQLite and PostgreSQL.
# See docs/benchmarks.md for the figures.
#
#   bench/replicas.sh                 # ~5 minutes on 2 cores
#   N=400 REPS="1 4" bench/replicas.sh
#
# Needs Go and PostgreSQL's binaries (initdb, pg_ctl: Debian's postgresql);
# as root, PostgreSQL runs as the postgres user. Its cluster is a throwaway
# one in a temporary directory, on a Unix socket, with the server's default
# durability (fsync on, synchronous_commit on).
#
# Environment (defaults in brackets):
#   N [2000]        measured paid calls per configuration, split across replicas
#   C [64]          sessions (calls in flight), split across replicas
#   WARMUP [100]    unmeasured warm-up calls per configuration
#   REPS [1 2 4]    replica counts on PostgreSQL
#   LEDGER_BENCH [1] 1: also run BenchmarkReserveSettle (-benchtime 3s)
#   OUT [bench/out] where replicas.md and replicas.jsonl go
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
N=${N:-2000}
C=${C:-64}
WARMUP=${WARMUP:-100}
REPS=${REPS:-"1 2 4"}
LEDGER_BENCH=${LEDGER_BENCH:-1}
OUT=${OUT:-$ROOT/bench/out}
mkdir -p "$OUT"

PGBIN=$(dirname "$(readlink -f "$(command -v initdb || ls /usr/lib/postgresql/*/bin/initdb | tail -1)")")
WORK=$(mktemp -d "${TMPDIR:-/tmp}/x402-replicas.XXXXXX")
chmod 755 "$WORK"
PIDS=()
PG=
asuser() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  if [ -n "$PG" ]; then asuser "$PGBIN/pg_ctl" -D "$WORK/pg" -m fast stop >/dev/null 2>&1 || true; fi
  rm -rf "$WORK"
}
trap cleanup EXIT

echo "== build" >&2
CGO_ENABLED=0 go build -trimpath -ldflags='-s -w' -o "$WORK/x402-mcp" ./cmd/x402-mcp
go build -o "$WORK/loadgen" ./bench/loadgen
X=$WORK/x402-mcp
LG=$WORK/loadgen
KEY=ac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80
ADDR=$(X402_PRIVATE_KEY=$KEY "$X" wallet address)
TOKEN=$(od -An -tx1 -N16 /dev/urandom | tr -d ' \n')

echo "== PostgreSQL ($PGBIN)" >&2
mkdir -p "$WORK/pg" "$WORK/sock"
[ "$(id -u)" != 0 ] || chown postgres "$WORK/pg" "$WORK/sock"
asuser "$PGBIN/initdb" -D "$WORK/pg" -U postgres --auth=trust -E UTF8 --locale=C >/dev/null
asuser "$PGBIN/pg_ctl" -D "$WORK/pg" -l "$WORK/sock/pg.log" -w -o "-k $WORK/sock -c listen_addresses='' -c max_connections=100 -c shared_buffers=128MB" start >/dev/null
PG=1
PGPID=$(head -1 "$WORK/pg/postmaster.pid")
pgurl() { echo "postgres://postgres@/$1?host=$WORK/sock"; }

SELLER_PORT=$("$LG" freeport)
"$X" seller --addr "127.0.0.1:$SELLER_PORT" --fund "$ADDR" --amount 1000000 2>"$WORK/seller.log" &
SELLER_PID=$!
PIDS+=("$SELLER_PID")
for _ in $(seq 100); do (exec 3<>"/dev/tcp/127.0.0.1/$SELLER_PORT") 2>/dev/null && break; sleep 0.05; done
"$LG" gencatalog --n 1 --seller "http://127.0.0.1:$SELLER_PORT" --yaml "$WORK/bench.yaml" --json "$WORK/bench.json" >/dev/null

# cpu PID...: CPU seconds (user+system) the processes and their reaped
# children have used.
cpu() {
  local t=0 p f
  for p in "$@"; do
    [ -r "/proc/$p/stat" ] || continue
    f=$(sed 's/^.*) //' "/proc/$p/stat")
    t=$((t + $(echo "$f" | awk '{print $12 + $13 + $14 + $15}')))
  done
  awk -v t="$t" -v hz="$(getconf CLK_TCK)" 'BEGIN { printf "%.2f", t / hz }'
}
pgprocs() { echo "$PGPID $(pgrep -P "$PGPID" | tr '\n' ' ')"; }

RESULTS=$OUT/replicas.jsonl
: >"$RESULTS"
TABLE=$OUT/replicas.md
{
  echo "| ledger | replicas | calls/s (sum) | p50 ms | p99 ms | x402-mcp CPU ms/call | PostgreSQL CPU ms/call | seller CPU ms/call | loadgen CPU ms/call | overspend |"
  echo "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"
} >"$TABLE"

# measure NAME R LEDGER_URL_OR_FILE: R replicas on one ledger, N calls over C
# sessions split evenly, every loadgen at once.
measure() {
  local name=$1 r=$2 book=$3 i port
  local urls=() pids=() logs=()
  for i in $(seq "$r"); do
    port=$("$LG" freeport)
    X402_PRIVATE_KEY=$KEY X402_MCP_TOKEN=$TOKEN X402_LOG_LEVEL=warn \
      "$X" serve --http "127.0.0.1:$port" --registry "$WORK/bench.yaml" --ledger "$book" 2>"$WORK/$name-$i.log" &
    pids+=("$!")
    PIDS+=("$!")
    urls+=("http://127.0.0.1:$port/mcp")
  done
  for u in "${urls[@]}"; do
    local p=${u#http://127.0.0.1:}; p=${p%/mcp}
    for _ in $(seq 200); do (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null && break; sleep 0.05; done
  done
  local before_x before_pg before_s t0 t1
  before_x=$(cpu "${pids[@]}"); before_pg=$(cpu $(pgprocs)); before_s=$(cpu "$SELLER_PID")
  t0=$(date +%s.%N)
  local lg=()
  for i in $(seq "$r"); do
    "$LG" run --server "$name-r$i" --transport http --url "${urls[$((i - 1))]}" --token "$TOKEN" --pid "${pids[$((i - 1))]}" \
      -n $((N / r)) -c $((C / r)) --warmup $((WARMUP / r)) >"$WORK/$name-$i.json" 2>/dev/null &
    lg+=("$!")
  done
  local failed=0
  for p in "${lg[@]}"; do wait "$p" || failed=1; done
  t1=$(date +%s.%N)
  local after_x after_pg after_s
  after_x=$(cpu "${pids[@]}"); after_pg=$(cpu $(pgprocs)); after_s=$(cpu "$SELLER_PID")
  for p in "${pids[@]}"; do kill "$p"; wait "$p" 2>/dev/null || true; done
  if [ "$failed" = 1 ]; then echo "bench: a load generator failed ($name, $r replicas)" >&2; cat "$WORK/$name"-*.log >&2; exit 1; fi
  cat "$WORK/$name"-*.json >>"$RESULTS"
  local calls=$((N / r * r + WARMUP / r * r))
  # The counted sum in the ledger must be what was paid: no overspend, no
  # payment lost (each call pays 0.001 USDC).
  local counted
  counted=$("$X" ledger list --ledger "$book" --registry "$WORK/bench.yaml" --limit 1 | sed -n 's/.*: \([0-9.]*\)\( USDC\)\{0,1\} settled.*/\1/p')
  cat "$WORK/$name"-*.json | awk -v name="$1" -v r="$r" -v calls="$calls" -v wall="$(echo "$t1 - $t0" | bc)" \
    -v x="$(echo "$after_x - $before_x" | bc)" -v pg="$(echo "$after_pg - $before_pg" | bc)" -v s="$(echo "$after_s - $before_s" | bc)" \
    -v counted="$counted" '
    { match($0, /"callsPerSec":[0-9.]+/); cps += substr($0, RSTART + 14, RLENGTH - 14)
      match($0, /"p50ms":[0-9.]+/); p50 += substr($0, RSTART + 8, RLENGTH - 8)
      match($0, /"p99ms":[0-9.]+/); p99 = (substr($0, RSTART + 8, RLENGTH - 8) > p99 ? substr($0, RSTART + 8, RLENGTH - 8) : p99)
      match($0, /"loadgenCpuPerCallMs":[0-9.]+/); lgc += substr($0, RSTART + 22, RLENGTH - 22); n++ }
    END { want = calls / 1000; over = (counted + 0 > want + 0.0000001) ? "YES" : "none"
          printf "| %s | %d | %.0f | %.1f | %.1f | %.2f | %.2f | %.2f | %.2f | %s (%s USDC settled for %d calls) |\n",
            name, r, cps, p50 / n, p99, 1000 * x / calls, 1000 * pg / calls, 1000 * s / calls, lgc / n, over, counted, calls }' >>"$TABLE"
  tail -1 "$TABLE" >&2
}

echo "== machine: $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg)" >&2
measure sqlite 1 "$WORK/ledger.db"
for r in $REPS; do
  asuser "$PGBIN/createdb" -h "$WORK/sock" -U postgres "bench_$r"
  measure postgres "$r" "$(pgurl "bench_$r")"
done
echo "== load average after: $(cut -d' ' -f1-3 /proc/loadavg)" >&2
cat "$TABLE"

if [ "$LEDGER_BENCH" = 1 ]; then
  echo "== the ledger alone: BenchmarkReserveSettle (PostgreSQL: this cluster, fsync on)" >&2
  X402_TEST_POSTGRES=$(pgurl postgres) go test -run '^$' -bench 'ReserveSettle' -benchtime 3s ./payments/ledger/ | tee "$OUT/ledger-bench.txt"
fi
