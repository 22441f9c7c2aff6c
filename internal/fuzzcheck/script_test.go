package fuzzcheck

import (
	"bufio"
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// fakeGo stands in for the go command in TestFuzzScript: Go's fuzzing
// coordinator ends a run with its "context deadline exceeded" only by
// chance (a race at the -fuzztime deadline), so a real run cannot be made
// to. It records its arguments in $FAKE_GO_LOG and answers for each target
// as $FAKE_GO_ANSWERS says ("FuzzShape=race FuzzProbe=crash"; pass by
// default), with the output go test gives in each case.
const fakeGo = `#!/usr/bin/env bash
echo "$*" >> "$FAKE_GO_LOG"
target=
for a in "$@"; do
  case $a in -fuzz=*) target=${a#-fuzz=^}; target=${target%\$} ;; esac
done
answer=pass
for kv in $FAKE_GO_ANSWERS; do
  [ "${kv%%=*}" = "$target" ] && answer=${kv#*=}
done
echo "fuzz: elapsed: 0s, gathering baseline coverage: 0/4 completed"
echo "fuzz: elapsed: 0s, gathering baseline coverage: 4/4 completed, now fuzzing with 2 workers"
case $answer in
pass)
  echo "PASS"
  echo "ok  	example/pkg	3.1s" ;;
race)
  echo "fuzz: elapsed: 3s, execs: 19422 (0/sec), new interesting: 17 (total: 21)"
  echo "--- FAIL: $target (3.02s)"
  echo "    context deadline exceeded"
  echo "FAIL"
  echo "exit status 1"
  echo "FAIL	example/pkg	3.1s"
  exit 1 ;;
crash)
  echo "fuzz: minimizing 57-byte failing input file"
  echo "--- FAIL: $target (0.16s)"
  echo "    --- FAIL: $target (0.00s)"
  echo "        fuzz_test.go:149: error of 16384 bytes"
  echo "    "
  echo "    Failing input written to testdata/fuzz/$target/582528ddfad69eb5"
  echo "    To re-run:"
  echo "    go test -run=$target/582528ddfad69eb5"
  echo "FAIL"
  echo "exit status 1"
  exit 1 ;;
deadline-crash)
  echo "--- FAIL: $target (0.16s)"
  echo "    --- FAIL: $target (0.00s)"
  echo "        fuzz_test.go:20: context deadline exceeded"
  echo "    "
  echo "    Failing input written to testdata/fuzz/$target/0123456789abcdef"
  echo "FAIL"
  exit 1 ;;
hang)
  echo "--- FAIL: $target (10.50s)"
  echo "    fuzzing process hung or terminated unexpectedly: exit status 2"
  echo "FAIL"
  exit 1 ;;
build)
  echo "# example/pkg"
  echo "./x.go:1:1: syntax error"
  echo "FAIL	example/pkg [build failed]"
  exit 1 ;;
esac
`

// TestFuzzScript: scripts/fuzz.sh (what .ci/run fuzzes with) runs every
// fuzz target of the repository, or those named, each for FUZZTIME with
// minimizing capped at 1s; it counts as passed a run that ended only with
// Go's fuzzing coordinator's "context deadline exceeded" (go.dev/issue/75804:
// it found no failing input), and fails on any other failure, after running
// the other targets. The go command is a fake (fakeGo); bash and git are
// real.
func TestFuzzScript(t *testing.T) {
	for _, tool := range []string{"bash", "git"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s is not installed: the script needs it", tool)
		}
	}
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	bin := t.TempDir()
	if err := os.WriteFile(filepath.Join(bin, "go"), []byte(fakeGo), 0o755); err != nil {
		t.Fatal(err)
	}
	run := func(t *testing.T, answers string, targets ...string) (ok bool, out string, calls []string) {
		t.Helper()
		log := filepath.Join(t.TempDir(), "calls")
		cmd := exec.Command("bash", append([]string{filepath.Join(root, "scripts", "fuzz.sh")}, targets...)...)
		cmd.Env = append(os.Environ(), "PATH="+bin+string(os.PathListSeparator)+os.Getenv("PATH"),
			"FUZZTIME=3s", "FAKE_GO_LOG="+log, "FAKE_GO_ANSWERS="+answers)
		b, err := cmd.CombinedOutput()
		if _, isExit := err.(*exec.ExitError); err != nil && !isExit {
			t.Fatal(err)
		}
		if c, rerr := os.ReadFile(log); rerr == nil {
			calls = strings.Split(strings.TrimSpace(string(c)), "\n")
		}
		return err == nil, string(b), calls
	}

	t.Run("every target", func(t *testing.T) {
		want := fuzzTargets(t, root)
		ok, out, calls := run(t, "")
		if !ok || len(calls) != len(want) || !strings.Contains(out, "targets, 3s each: passed") {
			t.Fatalf("ran %d of %d targets, ok %v:\n%s", len(calls), len(want), ok, out)
		}
		for i, w := range want {
			if calls[i] != "test -run=^$ -fuzz=^"+w.name+"$ -fuzztime=3s -fuzzminimizetime=1s ./"+w.pkg {
				t.Fatalf("call %d: %q, want target %s of %s", i, calls[i], w.name, w.pkg)
			}
		}
	})

	for _, tt := range []struct {
		name    string
		answers string
		ok      bool
		says    string
	}{
		{"pass", "", true, "2 targets, 3s each: passed"},
		{"the coordinator's deadline", "FuzzShape=race", true, "note: FuzzShape fuzzed for 3s and wrote no failing input"},
		{"both", "FuzzShape=race FuzzProbe=race", true, "2 targets, 3s each: passed"},
		{"a failing input", "FuzzProbe=crash", false, "fuzz targets failed: FuzzProbe"},
		{"a failing input and the deadline", "FuzzProbe=crash FuzzShape=race", false, "fuzz targets failed: FuzzProbe ("},
		{"a target's own deadline", "FuzzShape=deadline-crash", false, "fuzz targets failed: FuzzShape"},
		{"a hang", "FuzzShape=hang", false, "fuzz targets failed: FuzzShape"},
		{"a build failure", "FuzzProbe=build", false, "fuzz targets failed: FuzzProbe"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			ok, out, calls := run(t, tt.answers, "FuzzShape", "FuzzProbe")
			// Both run, whichever fails.
			if ok != tt.ok || !strings.Contains(out, tt.says) || len(calls) != 2 {
				t.Fatalf("ok %v after %d runs, want %v and %q:\n%s", ok, len(calls), tt.ok, tt.says, out)
			}
		})
	}

	t.Run("an unknown target", func(t *testing.T) {
		if ok, out, _ := run(t, "", "FuzzNothing"); ok || !strings.Contains(out, "no fuzz target named FuzzNothing") {
			t.Fatalf("ok %v:\n%s", ok, out)
		}
	})
}

type fuzzTarget struct{ name, pkg string }

// fuzzTargets lists the repository's fuzz targets as the script should
// find them: every `func FuzzXxx(` in a tracked test file, in git's order.
func fuzzTargets(t *testing.T, root string) []fuzzTarget {
	t.Helper()
	cmd := exec.Command("git", "ls-files", "*_test.go")
	cmd.Dir = root
	files, err := cmd.Output()
	if err != nil {
		t.Fatal(err)
	}
	re := regexp.MustCompile(`^func (Fuzz[A-Za-z0-9_]*)\(`)
	var out []fuzzTarget
	for _, f := range strings.Fields(string(files)) {
		b, err := os.ReadFile(filepath.Join(root, f))
		if err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(bytes.NewReader(b))
		sc.Buffer(nil, 1<<20)
		for sc.Scan() {
			if m := re.FindStringSubmatch(sc.Text()); m != nil {
				out = append(out, fuzzTarget{m[1], filepath.Dir(f)})
			}
		}
	}
	if len(out) == 0 {
		t.Fatal("no fuzz targets found")
	}
	return out
}
