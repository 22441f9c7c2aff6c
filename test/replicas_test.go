package e2e

import (
	"context"
	"math/rand/v2"
	"os"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/mark3labs/mcp-go/client"
	"github.com/mark3labs/mcp-go/client/transport"
	"github.com/mark3labs/mcp-go/mcp"

	"github.com/x402-mcp/x402-mcp/internal/localseller"
	"github.com/x402-mcp/x402-mcp/internal/pgtest"
	"github.com/x402-mcp/x402-mcp/payments"
	"github.com/x402-mcp/x402-mcp/payments/evm"
	"github.com/x402-mcp/x402-mcp/payments/ledger"
)

// replica is one `x402-mcp serve --http` process of a fleet that shares a
// PostgreSQL ledger.
type replica struct {
	*httpProcess
	dead atomic.Bool
}

// startReplica runs `serve --http 127.0.0.1:0` on the catalog file reg and
// the ledger URL, and waits until it listens. It may run on any goroutine:
// a failure is t.Error and a nil replica.
func startReplica(t *testing.T, reg, ledgerURL string) *replica {
	t.Helper()
	dir := t.TempDir()
	cmd := exec.Command(binary, "serve", "--http", "127.0.0.1:0", "--registry", reg, "--ledger", ledgerURL)
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + dir, "X402_PRIVATE_KEY=" + testKey,
		"X402_MCP_TOKEN=" + httpToken}
	p := &httpProcess{cmd: cmd, stderr: &lockedBuffer{}, exited: make(chan error, 1)}
	cmd.Stderr = p.stderr
	if err := cmd.Start(); err != nil {
		t.Error(err)
		return nil
	}
	go func() { p.exited <- cmd.Wait() }()
	r := &replica{httpProcess: p}
	t.Cleanup(r.kill)
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		if m := listening.FindStringSubmatch(p.stderr.String()); m != nil {
			p.URL = "http://" + m[1]
			return r
		}
		select {
		case err := <-p.exited:
			p.exited <- err
			t.Errorf("x402-mcp exited before listening: %v\n%s", err, p.stderr.String())
			return nil
		case <-time.After(20 * time.Millisecond):
		}
	}
	t.Errorf("no listening line within 60s:\n%s", p.stderr.String())
	return nil
}

// kill ends the replica with SIGKILL (once) and waits for it.
func (r *replica) kill() {
	if r.dead.Swap(true) {
		return
	}
	_ = r.cmd.Process.Signal(syscall.SIGKILL)
	err := <-r.exited
	r.exited <- err
}

// fleet is N replicas on one ledger, restartable one by one.
type fleet struct {
	t         *testing.T
	reg, book string
	mu        sync.Mutex
	replicas  []*replica
	next      atomic.Int64
}

func newFleet(t *testing.T, n int, reg, book string) *fleet {
	f := &fleet{t: t, reg: reg, book: book, replicas: make([]*replica, n)}
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := startReplica(t, reg, book)
			f.mu.Lock()
			f.replicas[i] = r
			f.mu.Unlock()
		}()
	}
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
	return f
}

// pick returns a live replica, round robin.
func (f *fleet) pick() *replica {
	f.mu.Lock()
	defer f.mu.Unlock()
	for range len(f.replicas) {
		r := f.replicas[int(f.next.Add(1))%len(f.replicas)]
		if !r.dead.Load() {
			return r
		}
	}
	return f.replicas[0]
}

// restart SIGKILLs replica i and starts another in its place.
func (f *fleet) restart(i int) {
	f.mu.Lock()
	old := f.replicas[i]
	f.mu.Unlock()
	old.kill()
	r := startReplica(f.t, f.reg, f.book)
	if r == nil {
		return // the test has failed; the slot stays dead
	}
	f.mu.Lock()
	f.replicas[i] = r
	f.mu.Unlock()
}

func (f *fleet) stop() {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, r := range f.replicas {
		if r != nil {
			r.kill()
		}
	}
}

// callOnce connects to a live replica, makes one paid call and closes.
func callOnce(ctx context.Context, f *fleet, cache map[*replica]*client.Client) (*mcp.CallToolResult, error) {
	r := f.pick()
	cli := cache[r]
	if cli == nil {
		c, err := dialHTTP(ctx, r.URL)
		if err != nil {
			return nil, err
		}
		cache[r], cli = c, c
	}
	req := mcp.CallToolRequest{}
	req.Params.Name, req.Params.Arguments = "weather", map[string]any{"city": "oslo"}
	res, err := cli.CallTool(ctx, req)
	if err != nil {
		cli.Close()
		delete(cache, r)
	}
	return res, err
}

// dialHTTP is connectHTTP without a testing.TB: an error instead of a fatal one.
func dialHTTP(ctx context.Context, base string) (*client.Client, error) {
	cli, err := client.NewStreamableHttpClient(base+"/mcp",
		transport.WithHTTPHeaders(map[string]string{"Authorization": "Bearer " + httpToken}))
	if err != nil {
		return nil, err
	}
	if err := cli.Start(context.Background()); err != nil {
		return nil, err
	}
	init := mcp.InitializeRequest{}
	init.Params.ProtocolVersion = mcp.LATEST_PROTOCOL_VERSION
	init.Params.ClientInfo = mcp.Implementation{Name: "e2e-replicas", Version: "1"}
	if _, err := cli.Initialize(ctx, init); err != nil {
		cli.Close()
		return nil, err
	}
	return cli, nil
}

// replicaCatalog is the simulated chain's catalog with the declared
// token's budget set to total (its decimal amount).
func replicaCatalog(t *testing.T, cat catalog, seller *localseller.Running, total string) string {
	t.Helper()
	if !strings.Contains(string(cat), `budget: {total: "1.00"}`) {
		t.Fatal("the catalog has no asset budget to set")
	}
	return writeCatalog(t, catalog(strings.Replace(string(cat), `budget: {total: "1.00"}`, `budget: {total: "`+total+`"}`, 1)), seller.URL)
}

// books reads a PostgreSQL ledger's rows.
func books(t *testing.T, url string) []ledger.Row {
	t.Helper()
	return readLedger(t, url)
}

// TestReplicasShareBudgetOnPostgres: 4 `serve --http` replicas on one
// PostgreSQL ledger, 200 MCP sessions spread over them paying at once for
// the simulated chain's token: the budget (150 calls' worth) fills to its
// last atomic unit and not one unit past it, in the ledger, at the seller
// and on chain.
func TestReplicasShareBudgetOnPostgres(t *testing.T) {
	if testing.Short() {
		t.Skip("runs 4 replicas and 200 sessions")
	}
	pg := pgtest.StartFor(t)
	book := pgtest.NewDatabase(t, pg.URL("postgres"))
	sim, seller, cat := simSeller(t, 300)
	reg := replicaCatalog(t, cat, seller, "0.150")
	ctx := context.Background()
	start, _ := sim.Balance(ctx, payer)
	f := newFleet(t, 4, reg, book)
	defer f.stop()

	const sessions = 200
	var paid, refused atomic.Int64
	var wg sync.WaitGroup
	ready := make(chan struct{})
	for i := range sessions {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := f.replicas[i%len(f.replicas)]
			cctx, cancel := context.WithTimeout(ctx, 90*time.Second)
			defer cancel()
			cli, err := dialHTTP(cctx, r.URL)
			if err != nil {
				t.Errorf("session %d: %v", i, err)
				return
			}
			defer cli.Close()
			<-ready // every session connected: now all pay at once
			req := mcp.CallToolRequest{}
			req.Params.Name, req.Params.Arguments = "weather", map[string]any{"city": "oslo"}
			res, err := cli.CallTool(cctx, req)
			switch {
			case err != nil:
				t.Errorf("session %d: %v", i, err)
			case !res.IsError:
				paid.Add(1)
			case meta(res, "x402/error")["code"] == "over_budget" && res.Meta.AdditionalFields["x402/charged"] == "not charged":
				refused.Add(1)
			default:
				t.Errorf("session %d: %s", i, text(res))
			}
		}()
	}
	time.Sleep(100 * time.Millisecond)
	close(ready)
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
	if paid.Load() != 150 || refused.Load() != sessions-150 {
		t.Fatalf("paid %d, refused %d: want exactly 150 and %d", paid.Load(), refused.Load(), sessions-150)
	}
	var counted payments.Amount
	for _, r := range books(t, book) {
		if r.Counted() {
			counted += r.Amount
		}
	}
	end, _ := sim.Balance(ctx, payer)
	if counted != 150_000 || seller.Facilitator.SettledTotal() != 150_000 || start-end != 150_000 {
		t.Fatalf("budget 150000: the ledger counts %d, the seller settled %d, the chain moved %d", counted, seller.Facilitator.SettledTotal(), start-end)
	}
}

// TestReplicasKilledOnPostgres: 4 replicas on one PostgreSQL ledger take a
// stream of paid calls while replicas are killed (SIGKILL) at random
// points and restarted; then the PostgreSQL server itself is killed and
// restarted under load: calls fail closed (not charged, saying the ledger
// could not record the payment) while it is down, and the service resumes.
// After reconciliation (the chain moved past every authorization's
// validBefore), what is settled equals exactly what left the wallet.
func TestReplicasKilledOnPostgres(t *testing.T) {
	if testing.Short() {
		t.Skip("kills replicas and PostgreSQL")
	}
	// Each settlement seals a block at least a second after the last, so
	// the simulated chain's clock runs ahead of ours by up to a second per
	// payment: once it is payments.MaxValidity (15 minutes, the longest an
	// authorization is signed for, whatever the seller's maxTimeoutSeconds)
	// ahead, every new authorization has expired on chain and its
	// settlement fails. So each phase starts at most so many calls (its
	// limit), paced at callsPerSecond so that they spread over the phase
	// (about the rate the workers reach unpaced, so that calls are in
	// flight at every kill): at most 750 in all, under 900 (unbounded, a
	// fast run made over 1100, and the chain refused the last few hundred).
	const validity = 3600
	const callsPerSecond = 80
	pg := pgtest.StartFor(t)
	book := pgtest.NewDatabase(t, pg.URL("postgres"))
	sim, seller, cat := simSeller(t, validity)
	ctx := context.Background()
	if err := sim.Mint(ctx, payer, 4_000_000); err != nil {
		t.Fatal(err)
	}
	reg := replicaCatalog(t, cat, seller, "100.00")
	start, _ := sim.Balance(ctx, payer)
	f := newFleet(t, 4, reg, book)
	defer f.stop()

	// load runs workers paying until stop closes; each result lands in
	// the tally of the phase it ended in.
	type tally struct {
		limit                            int64 // calls the phase may start
		started                          atomic.Int64
		ok, notCharged, transport, other atomic.Int64
	}
	var phase atomic.Pointer[tally]
	var otherText sync.Map
	pace := time.NewTicker(time.Second / callsPerSecond)
	defer pace.Stop()
	load := func(workers int, stop <-chan struct{}) *sync.WaitGroup {
		var wg sync.WaitGroup
		for range workers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				cache := map[*replica]*client.Client{}
				defer func() {
					for _, c := range cache {
						c.Close()
					}
				}()
				for {
					select {
					case <-stop:
						return
					case <-pace.C:
					}
					if p := phase.Load(); p.started.Add(1) > p.limit {
						continue // this phase made its calls; wait for the next
					}
					cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
					res, err := callOnce(cctx, f, cache)
					cancel()
					tl := phase.Load()
					switch {
					case err != nil:
						tl.transport.Add(1)
						time.Sleep(20 * time.Millisecond)
					case !res.IsError:
						tl.ok.Add(1)
					case res.Meta.AdditionalFields["x402/charged"] == "not charged" && strings.Contains(text(res), "ledger"):
						tl.notCharged.Add(1)
					default:
						tl.other.Add(1)
						otherText.Store(text(res), true)
					}
				}
			}()
		}
		return &wg
	}

	// Replicas killed at random points during paid calls.
	kills := &tally{limit: 550}
	phase.Store(kills)
	stop := make(chan struct{})
	wg := load(24, stop)
	rng := rand.New(rand.NewPCG(3, 4))
	for k := 0; k < 6; k++ {
		time.Sleep(time.Duration(300+rng.IntN(900)) * time.Millisecond)
		f.restart(rng.IntN(4))
	}
	time.Sleep(500 * time.Millisecond)

	// PostgreSQL killed under load (as a crash: immediate shutdown), then
	// started again: the replicas keep running.
	down := &tally{limit: 100}
	phase.Store(down)
	if err := pg.Kill(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(1500 * time.Millisecond)
	resumed := &tally{limit: 100}
	if err := pg.Restart(); err != nil {
		t.Fatal(err)
	}
	phase.Store(resumed)
	time.Sleep(3 * time.Second)
	close(stop)
	wg.Wait()
	f.stop()
	otherText.Range(func(k, _ any) bool {
		t.Errorf("a call ended neither paid nor refused by the ledger: %s", k)
		return true
	})
	t.Logf("while replicas were killed: %d paid, %d lost with their replica; while PostgreSQL was down: %d paid, %d not charged (ledger), %d transport errors; after: %d paid, %d not charged",
		kills.ok.Load(), kills.transport.Load(), down.ok.Load(), down.notCharged.Load(), down.transport.Load(), resumed.ok.Load(), resumed.notCharged.Load())
	if kills.ok.Load() == 0 {
		t.Fatal("no call was paid while replicas were being killed")
	}
	if down.notCharged.Load() == 0 {
		t.Fatal("no call failed closed while PostgreSQL was down: the outage came too late or too short to test anything")
	}
	if resumed.ok.Load() == 0 {
		t.Fatal("no call was paid after PostgreSQL came back")
	}

	sctx, scancel := context.WithTimeout(ctx, 30*time.Second)
	if err := seller.Shutdown(sctx); err != nil {
		t.Fatalf("seller shutdown: %v", err)
	}
	scancel()
	received := seller.Seller.ReceivedPayments()
	rows := books(t, book)
	byNonce := map[string]ledger.Row{}
	var counted payments.Amount
	for _, r := range rows {
		if r.Nonce != "" {
			byNonce[strings.ToLower(r.Nonce)] = r
		}
		if r.Counted() {
			counted += r.Amount
		}
	}
	for _, rc := range received {
		nonce := strings.ToLower(evm.MustPayload(rc.Payload.Payload).Authorization.Nonce)
		if _, ok := byNonce[nonce]; !ok {
			t.Fatalf("the seller received authorization %s that the ledger has no row for", nonce)
		}
	}
	end, _ := sim.Balance(ctx, payer)
	if left := start - end; counted < left {
		t.Fatalf("the ledger counts %s but %s left the wallet", counted.USDC(), left.USDC())
	}

	// Past every authorization's validBefore, at a final block; then one
	// reconciliation pass (as any replica's background pass would run).
	if err := sim.AdjustTime(2 * validity * time.Second); err != nil {
		t.Fatal(err)
	}
	if err := sim.Seal(32); err != nil {
		t.Fatal(err)
	}
	out, stderr, err := run(t, []string{"X402_LEDGER=" + book, "X402_REGISTRY=" + reg}, "ledger", "reconcile")
	if err != nil {
		t.Fatalf("reconcile: %v\n%s", err, stderr)
	}
	rows = books(t, book)
	var settled payments.Amount
	states := map[string]int{}
	for _, r := range rows {
		states[string(r.State)]++
		switch {
		case r.State == payments.StateSettled:
			settled += r.Amount
		case r.State == payments.StateReleased:
		case r.State == payments.StateReserved && r.Nonce == "":
		default:
			t.Fatalf("row %s is still %s after reconciliation (%s)", r.ID, r.State, out)
		}
	}
	end, _ = sim.Balance(ctx, payer)
	if left := start - end; settled != left {
		t.Fatalf("after reconciliation the ledger has %s settled, but %s left the wallet", settled.USDC(), left.USDC())
	}
	t.Logf("%d rows (%v), %d authorizations received by the seller, %s settled = what left the wallet", len(rows), states, len(received), settled.USDC())
}
