#!/usr/bin/env bash
# Runs the fuzz targets (docs/testing.md), each for FUZZTIME (10s unless
# set), one after the other: go test -fuzz takes one target per package per
# run. It finds them by their `func Fuzz` lines, so a new target needs no
# change here. .ci/run runs them all.
#
#   bash scripts/fuzz.sh                        # every target, 10s each
#   FUZZTIME=60s bash scripts/fuzz.sh FuzzShape  # only the targets named
#
# A target whose run fails fails the script, after the others have run,
# with one exception. Go's fuzzing coordinator (up to Go 1.26) can end a run
# that found nothing with a bare "context deadline exceeded": at the
# -fuzztime deadline it may see its own context done before the workers'
# context is cancelled, and then reports the deadline itself as the error
# (internal/fuzz.CoordinateFuzzing's stop; go.dev/issue/75804, fixed in
# Go 1.27). Such a run fuzzed for its whole time and wrote no failing
# input: the script says so and counts it as passed. A run that wrote a
# failing input, or failed in any other way, fails.
set -euo pipefail
cd "$(dirname "$0")/.."

fuzztime=${FUZZTIME:-10s}

# coordinator_race says the run of target $1, whose output is in $2, failed
# only with the coordinator's deadline: one FAIL, of the target itself,
# whose whole message is "context deadline exceeded", and no failing input
# written.
coordinator_race() {
  local target=$1 out=$2
  ! grep -q 'Failing input written to' "$out" &&
    [ "$(grep -c -- '--- FAIL' "$out")" -eq 1 ] &&
    [ "$(grep -A1 -- "^--- FAIL: $target (" "$out" | sed -n 2p)" = "    context deadline exceeded" ] &&
    [ "$(grep -c -- '^    ' "$out")" -eq 1 ]
}

out=$(mktemp)
trap 'rm -f "$out"' EXIT
ran=0
failed=()
for file in $(git ls-files '*_test.go' | xargs grep -l '^func Fuzz'); do
  pkg=./$(dirname "$file")
  for target in $(sed -n 's/^func \(Fuzz[A-Za-z0-9_]*\)(.*/\1/p' "$file"); do
    if [ $# -gt 0 ] && [[ " $* " != *" $target "* ]]; then
      continue
    fi
    echo "-- $target $pkg"
    ran=$((ran + 1))
    # Minimizing each new input is capped at 1s (the default 60s would use
    # up the run).
    rc=0
    go test -run='^$' -fuzz="^$target\$" -fuzztime="$fuzztime" -fuzzminimizetime=1s "$pkg" 2>&1 | tee "$out" || rc=$?
    if [ "$rc" -ne 0 ] && coordinator_race "$target" "$out"; then
      echo "note: $target fuzzed for $fuzztime and wrote no failing input; the run ended with Go's fuzzing coordinator's \"context deadline exceeded\" (go.dev/issue/75804, fixed in Go 1.27): counted as passed"
      rc=0
    fi
    if [ "$rc" -ne 0 ]; then
      failed+=("$target")
    fi
  done
done

if [ "$ran" -eq 0 ]; then
  echo "error: no fuzz target named $* (see docs/testing.md)" >&2
  exit 1
fi
if [ "${#failed[@]}" -gt 0 ]; then
  echo "error: fuzz targets failed: ${failed[*]} (a failing input is in testdata/fuzz/<target>/ of its package; docs/testing.md says how to run it again)" >&2
  exit 1
fi
echo "fuzz: $ran targets, $fuzztime each: passed"
