package ledger_test

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/csv"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/common"

	"github.com/x402-mcp/x402-mcp/payments"
	"github.com/x402-mcp/x402-mcp/payments/ledger"
)

// Two declared assets: an 18-decimal token and a 2-decimal one.
var (
	weth = payments.Asset{Network: "eip155:1337", Address: common.HexToAddress("0x00000000000000000000000000000000000e7418").Hex(), Symbol: "WETH", Decimals: 18}.Currency()
	jpyx = payments.Asset{Network: "eip155:1337", Address: common.HexToAddress("0x00000000000000000000000000000000000a0002").Hex(), Symbol: "JPYX", Decimals: 2}.Currency()
)

func inAsset(cur payments.Currency, tool string, amount payments.Amount) payments.Reservation {
	r := res(tool, amount)
	r.Currency, r.Network = cur, "eip155:1337"
	r.Asset = strings.TrimPrefix(cur.Budget, "eip155:1337/")
	return r
}

// assetBudget: 1 USDC in all and 0.5 USDC per tool; 0.1 WETH and 3.00 JPYX
// in all, 0.08 WETH per day.
var assetBudget = payments.Budget{Total: 1_000_000, PerTool: 500_000, PerHost: 2_000_000, PerSession: 2_000_000,
	Assets: map[string]payments.AssetBudget{
		weth.Budget: {Currency: weth, Total: 100_000_000_000_000_000, PerDay: 80_000_000_000_000_000, Setting: "assets[0]"},
		jpyx.Budget: {Currency: jpyx, Total: 300, Setting: "assets[1]"},
	}}

// TestAssetsCountedInTheirOwnUnits: in both ledgers, a payment in a declared
// asset counts only against that asset's budgets, in its units; the USDC
// budgets count only USDC; a refusal names the asset's budget and setting.
func TestAssetsCountedInTheirOwnUnits(t *testing.T) {
	ctx := context.Background()
	for _, name := range implNames {
		t.Run(name, func(t *testing.T) {
			l := implOf(t, name, assetBudget, newClock(t0).Now)
			// 0.04 WETH is 4e16 atomic units: if USDC's budgets counted it,
			// 1 USDC (1e6 units) would refuse it.
			for range 2 {
				if _, err := l.Reserve(ctx, inAsset(weth, "eth_weather", 40_000_000_000_000_000)); err != nil {
					t.Fatal(err)
				}
				if _, err := l.Reserve(ctx, inAsset(jpyx, "yen_weather", 150)); err != nil {
					t.Fatal(err)
				}
			}
			_, err := l.Reserve(ctx, inAsset(weth, "eth_weather", 1))
			if pe, ok := payments.AsError(err); !ok || pe.Over == nil || pe.Over.Scope != payments.ScopeDay || pe.Over.Setting != "assets[0].budget.per_day" ||
				!strings.Contains(pe.Message, "the per-day budget of WETH") || !strings.Contains(pe.Message, "0.08 WETH counted of its 0.08 WETH limit") {
				t.Fatalf("WETH over its day: %v", err)
			}
			_, err = l.Reserve(ctx, inAsset(jpyx, "yen_weather", 1))
			if pe, ok := payments.AsError(err); !ok || pe.Over == nil || pe.Over.Scope != payments.ScopeTotal || !strings.Contains(pe.Message, "3 JPYX counted of its 3 JPYX limit") {
				t.Fatalf("JPYX over its total: %v", err)
			}
			// The USDC budgets are whole: 0.5 USDC per tool, 1 USDC in all.
			if _, err := l.Reserve(ctx, res("usdc_a", 500_000)); err != nil {
				t.Fatalf("USDC after the assets: %v", err)
			}
			if _, err := l.Reserve(ctx, res("usdc_b", 500_000)); err != nil {
				t.Fatalf("USDC up to the total: %v", err)
			}
			if _, err := l.Reserve(ctx, res("usdc_c", 1)); overScope(t, err) != payments.ScopeTotal {
				t.Fatal("USDC over its total")
			}
			sp, err := l.Spent(ctx, inAsset(weth, "eth_weather", 1))
			must(t, err)
			if sp.Total != 80_000_000_000_000_000 || sp.Tool != 80_000_000_000_000_000 || sp.Day != 80_000_000_000_000_000 || sp.Session != 80_000_000_000_000_000 {
				t.Fatalf("WETH spent %+v", sp)
			}
			sp, err = l.Spent(ctx, res("usdc_a", 1))
			must(t, err)
			if sp.Total != 1_000_000 || sp.Tool != 500_000 || sp.Host != 1_000_000 || sp.Network != 1_000_000 {
				t.Fatalf("USDC spent %+v", sp)
			}
			sum, err := l.Summary(ctx)
			must(t, err)
			if sum.Counted() != 1_000_000 || len(sum.Assets) != 2 {
				t.Fatalf("summary %+v", sum)
			}
			if a := sum.Assets[0]; a.Currency != jpyx || a.Pending != 300 || a.Left() != 0 || a.Setting != "assets[1]" {
				t.Fatalf("JPYX summary %+v", a)
			}
			if a := sum.Assets[1]; a.Currency != weth || a.Pending != 80_000_000_000_000_000 || a.Day != 80_000_000_000_000_000 || a.Left() != 20_000_000_000_000_000 {
				t.Fatalf("WETH summary %+v", a)
			}
			// A currency that no budget names is refused.
			other := payments.Asset{Network: "eip155:1337", Address: common.HexToAddress("0x0000000000000000000000000000000000000bad").Hex(), Symbol: "BAD", Decimals: 6}.Currency()
			if _, err := l.Reserve(ctx, inAsset(other, "bad", 1)); err == nil || !strings.Contains(err.Error(), "no budget counts BAD") {
				t.Fatalf("unbudgeted asset: %v", err)
			}
		})
	}
}

// TestAssetRowsListAndCSV: the durable ledger books each row's asset with
// its symbol and decimals, and the CSV shows every amount in its own asset
// (amount_usdc only for USDC rows).
func TestAssetRowsListAndCSV(t *testing.T) {
	eachBackend(t, func(t *testing.T, be backend) {
		ctx := context.Background()
		path := be.new(t)
		l := mustOpen(t, path, assetBudget, ledger.WithNow(newClock(t0).Now))
		wid, err := l.Reserve(ctx, inAsset(weth, "eth_weather", 40_000_000_000_000_000))
		must(t, err)
		must(t, l.MarkSigned(ctx, wid, signed(t0.Add(time.Minute))))
		must(t, l.Settle(ctx, wid, payments.Receipt{Transaction: "0xeth"}))
		jid, err := l.Reserve(ctx, inAsset(jpyx, "yen_weather", 150))
		must(t, err)
		uid, err := l.Reserve(ctx, res("usdc_weather", 10_000))
		must(t, err)

		for id, want := range map[string]struct {
			symbol   string
			decimals int
			cur      payments.Currency
		}{wid: {"WETH", 18, weth}, jid: {"JPYX", 2, jpyx}, uid: {"USDC", 6, payments.USDC}} {
			r, err := l.Get(ctx, id)
			must(t, err)
			if r.Symbol != want.symbol || r.Decimals != want.decimals || r.Currency() != want.cur {
				t.Fatalf("row %s: %s %d %+v", id, r.Symbol, r.Decimals, r.Currency())
			}
		}
		var buf bytes.Buffer
		must(t, l.WriteCSV(ctx, &buf, ledger.Filter{}))
		recs, err := csv.NewReader(&buf).ReadAll()
		must(t, err)
		col := map[string]int{}
		for i, h := range recs[0] {
			col[h] = i
		}
		got := map[string][]string{}
		for _, r := range recs[1:] {
			got[r[col["id"]]] = []string{r[col["amount"]], r[col["symbol"]], r[col["decimals"]], r[col["amount_atomic"]], r[col["amount_usdc"]]}
		}
		for id, want := range map[string][]string{
			wid: {"0.04", "WETH", "18", "40000000000000000", ""},
			jid: {"1.5", "JPYX", "2", "150", ""},
			uid: {"0.01", "USDC", "6", "10000", "0.01"},
		} {
			if strings.Join(got[id], "|") != strings.Join(want, "|") {
				t.Errorf("csv row %s: %q, want %q", id, got[id], want)
			}
		}
		checkSums(t, be, path)
	})
}

// TestMigrationToAssets: a ledger written before assets were named (schema
// version 2) opens with every old row as USDC (6 decimals), and its running
// sums rebuilt per asset still count every old row against the USDC budgets.
func TestMigrationToAssets(t *testing.T) {
	ctx := context.Background()
	path := tempPath(t)
	must(t, os.MkdirAll(strings.TrimSuffix(path, "/ledger.db"), 0o700))
	db, err := sql.Open("sqlite", path)
	must(t, err)
	for _, q := range []string{`CREATE TABLE schema_version (version INTEGER NOT NULL, applied_at INTEGER NOT NULL) STRICT`} {
		_, err := db.Exec(q)
		must(t, err)
	}
	for v, f := range []string{"migrations/0001_init.sql", "migrations/0002_tips.sql"} {
		b, err := os.ReadFile(f)
		must(t, err)
		_, err = db.Exec(string(b))
		must(t, err)
		_, err = db.Exec(`INSERT INTO schema_version VALUES (?, 0)`, v+1)
		must(t, err)
	}
	now := t0.UnixMilli()
	for _, q := range []string{
		`INSERT INTO payments (tool, host, session, network, amount, state, created_at, updated_at) VALUES ('weather', 'h:443', 's1', 'eip155:84532', 300000, 'settled', ?1, ?1)`,
		`INSERT INTO payments (tool, host, session, network, amount, state, created_at, updated_at) VALUES ('weather', 'h:443', 's1', 'eip155:84532', 200000, 'signed', ?1, ?1)`,
		`INSERT INTO payments (kind, tool, host, session, network, amount, state, created_at, updated_at) VALUES ('tip', 'x402_tip', 'f:443', 's1', 'eip155:84532', 100000, 'settled', ?1, ?1)`,
		`INSERT INTO payments (tool, host, session, network, amount, state, created_at, updated_at) VALUES ('weather', 'h:443', 's1', 'eip155:84532', 50000, 'released', ?1, ?1)`,
	} {
		_, err := db.Exec(q, now)
		must(t, err)
	}
	must(t, db.Close())

	l := mustOpen(t, path, payments.Budget{Total: 1_000_000, PerTool: 600_000, TipPerDay: 150_000}, ledger.WithNow(newClock(t0.Add(time.Minute)).Now))
	rows, err := l.List(ctx, ledger.Filter{})
	must(t, err)
	for _, r := range rows {
		if r.Symbol != "USDC" || r.Decimals != 6 || r.Currency() != payments.USDC {
			t.Fatalf("old row %+v is not USDC", r)
		}
	}
	sum, err := l.Summary(ctx)
	must(t, err)
	if sum.Settled != 400_000 || sum.Pending != 200_000 || sum.Payments != 2 || sum.Day != 600_000 {
		t.Fatalf("summary after the migration %+v", sum)
	}
	if _, err := l.Reserve(ctx, res("weather", 100_001)); overScope(t, err) != payments.ScopeTool {
		t.Fatal("the tool budget lost the old rows")
	}
	if _, err := l.Reserve(ctx, tip(50_001)); overScope(t, err) != payments.ScopeTipDay {
		t.Fatal("the tip budget lost the old tip")
	}
	if _, err := l.Reserve(ctx, inAsset(weth, "eth", 1)); err == nil {
		t.Fatal("an asset with no budget was reserved")
	}
	checkSums(t, backends[0], path)
}
