package discover

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"maps"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/x402-mcp/x402-mcp/payments"
	"github.com/x402-mcp/x402-mcp/payments/evm"
	"github.com/x402-mcp/x402-mcp/payments/svm"
	"github.com/x402-mcp/x402-mcp/tools"
)

const (
	sepoliaUSDC     = "0x036CbD53842c5426634e7929541eC2318f3dCF7e"
	sellerPayee     = "0x209693Bc6afc0C5328bA36FaF03C514EF312287C"
	facilitatorAddr = "0x4020000000000000000000000000000000000402"
)

// accept402 is a v2 accept for the seller below.
func accept402(scheme, amount, extra string) map[string]any {
	return map[string]any{"scheme": scheme, "network": "eip155:84532", "amount": amount, "asset": sepoliaUSDC, "payTo": sellerPayee,
		"maxTimeoutSeconds": 300, "extra": json.RawMessage(extra)}
}

// seller402 answers every request with a v2 402 offering accepts. It
// stands in for sellers of Permit2 and upto, which the local seller offers
// only on a chain with Permit2.
func seller402(t *testing.T, accepts ...map[string]any) string {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := json.Marshal(map[string]any{"x402Version": 2, "error": "PAYMENT-SIGNATURE header is required",
			"resource": map[string]string{"url": "http://" + r.Host + r.URL.Path, "description": "Text generation"}, "accepts": accepts})
		w.Header().Set("PAYMENT-REQUIRED", base64.StdEncoding.EncodeToString(b))
		w.WriteHeader(http.StatusPaymentRequired)
		_, _ = w.Write([]byte("{}"))
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

// TestProbePermit2AndUpto: `registry add` proposes a Permit2 entry with the
// method pinned, and an upto entry (scheme: upto, the maximum as max_price,
// permit2 pinned); what x402-mcp cannot pay is refused with the reason.
func TestProbePermit2AndUpto(t *testing.T) {
	ctx := context.Background()
	for _, tt := range []struct {
		name           string
		accepts        []map[string]any
		scheme, method string
		price          string
		warn, refused  string
	}{
		{"permit2 exact", []map[string]any{accept402("exact", "2000", `{"assetTransferMethod":"permit2"}`)}, "", "permit2", "0.002", "wallet approve-permit2", ""},
		{"eip3009 exact pins nothing", []map[string]any{accept402("exact", "2000", `{"name":"USDC","version":"2"}`)}, "", "", "0.002", "", ""},
		{"upto", []map[string]any{accept402("upto", "50000", `{"facilitatorAddress":"`+facilitatorAddr+`"}`)}, "upto", "permit2", "0.05", "usage-priced (upto)", ""},
		{"exact preferred on a tie", []map[string]any{accept402("upto", "2000", `{"facilitatorAddress":"`+facilitatorAddr+`"}`), accept402("exact", "2000", `{}`)}, "", "", "0.002", "", ""},
		{"upto without its facilitator", []map[string]any{accept402("upto", "50000", `{}`)}, "", "", "", "", "upto names no facilitatorAddress"},
		{"upto through eip3009", []map[string]any{accept402("upto", "50000", `{"assetTransferMethod":"eip3009","facilitatorAddress":"`+facilitatorAddr+`"}`)}, "", "", "", "", "upto is Permit2 only"},
		{"erc7710", []map[string]any{accept402("exact", "2000", `{"assetTransferMethod":"erc7710"}`)}, "", "", "", "", `assetTransferMethod "erc7710" is not one x402-mcp pays`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			d, warn, err := Probe(ctx, ProbeOptions{Families: testFamilies, URL: seller402(t, tt.accepts...) + "/v1/generate"})
			if tt.refused != "" {
				if err == nil || !strings.Contains(err.Error(), tt.refused) {
					t.Fatalf("err = %v, want %q", err, tt.refused)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if d.Scheme != tt.scheme || d.TransferMethod != tt.method || d.MaxPrice.USDC() != tt.price+" USDC" {
				t.Fatalf("draft scheme %q method %q max_price %s", d.Scheme, d.TransferMethod, d.MaxPrice.USDC())
			}
			if tt.warn != "" && !strings.Contains(strings.Join(warn, "\n"), tt.warn) {
				t.Errorf("notes %q lack %q", warn, tt.warn)
			}
			y, err := YAML([]Draft{d})
			if err != nil {
				t.Fatal(err)
			}
			if tt.scheme != "" && !strings.Contains(string(y), "scheme: upto") || tt.method != "" && !strings.Contains(string(y), "transfer_method: "+tt.method) {
				t.Fatalf("proposed YAML:\n%s", y)
			}
			reg := parseOne(t, d)
			e := reg.Tools[0]
			if e.Scheme != tt.scheme || e.TransferMethod != tt.method {
				t.Fatalf("parsed entry scheme %q method %q", e.Scheme, e.TransferMethod)
			}
		})
	}
}

// TestImportUpto: `registry import` drafts an upto resource of a
// discovery listing as an upto entry with Permit2 pinned.
func TestImportUpto(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/discovery/resources" {
			http.NotFound(w, r)
			return
		}
		items := []map[string]any{{"resource": "https://llm.example/v1/generate", "type": "http", "x402Version": 2,
			"accepts": []map[string]any{accept402("upto", "250000", `{"facilitatorAddress":"`+facilitatorAddr+`"}`)}, "lastUpdated": "2026-12-01T00:00:00Z"}}
		_ = json.NewEncoder(w).Encode(map[string]any{"x402Version": 2, "items": items, "pagination": map[string]int{"limit": 20, "offset": 0, "total": 1}})
	}))
	defer srv.Close()
	ds, warn, err := Import(context.Background(), ImportOptions{Families: testFamilies, From: srv.URL, Limit: 10})
	if err != nil || len(ds) != 1 {
		t.Fatalf("%d drafts, %v, %q", len(ds), err, warn)
	}
	if d := ds[0]; d.Scheme != "upto" || d.TransferMethod != "permit2" || d.MaxPrice != 250_000 {
		t.Fatalf("draft %+v", d)
	}
	b, err := DraftsFile("imported", ds, testFamilies)
	if err != nil {
		t.Fatal(err)
	}
	reg, err := tools.Parse("drafts.yaml", b, testFamilies)
	if err != nil || reg.Tools[0].Scheme != "upto" {
		t.Fatalf("%v\n%s", err, b)
	}
}

// TestProbeUptoOnSolana: upto is an EVM scheme (Family.Schemes), so
// `registry add` never proposes an upto option on Solana, which the
// catalog would refuse: it proposes the seller's EVM option instead, even
// when dearer, or refuses with the reason when there is none.
func TestProbeUptoOnSolana(t *testing.T) {
	ctx := context.Background()
	fams := payments.Families{evm.Family{}, svm.Family{}}
	solanaUpto := map[string]any{"scheme": "upto", "network": string(svm.Devnet), "amount": "1000", "asset": svm.USDCDevnet.String(),
		"payTo": "9WzDXwBbmkg8ZTbNMqUxvQRAyrZzDsGYdLVL9zYtAWWM", "maxTimeoutSeconds": 60,
		"extra": json.RawMessage(`{"feePayer":"2wKupLR9q6wXYppw8Gr2NvWxKBUqm4PPJKkQfoxHDBg4","facilitatorAddress":"2wKupLR9q6wXYppw8Gr2NvWxKBUqm4PPJKkQfoxHDBg4"}`)}
	d, _, err := Probe(ctx, ProbeOptions{Families: fams, URL: seller402(t, solanaUpto, accept402("exact", "2000", `{}`)) + "/v1/generate"})
	if err != nil {
		t.Fatal(err)
	}
	if d.Scheme != "" || d.Network != "eip155:84532" || d.MaxPrice != 2000 || d.TransferMethod != "" {
		t.Fatalf("draft scheme %q network %s max_price %d method %q, want the EVM exact option", d.Scheme, d.Network, d.MaxPrice, d.TransferMethod)
	}
	// A Solana exact option naming an EVM transfer method is drafted
	// without the pin, which Solana has no use for (and the catalog
	// refuses there).
	solanaExact := maps.Clone(solanaUpto)
	solanaExact["scheme"], solanaExact["extra"] = "exact", json.RawMessage(`{"feePayer":"2wKupLR9q6wXYppw8Gr2NvWxKBUqm4PPJKkQfoxHDBg4","assetTransferMethod":"permit2"}`)
	d, _, err = Probe(ctx, ProbeOptions{Families: fams, URL: seller402(t, solanaExact) + "/v1/generate"})
	if err != nil || d.Network != string(svm.Devnet) || d.TransferMethod != "" || d.Scheme != "" {
		t.Fatalf("a Solana exact option naming permit2: draft %+v, %v", d, err)
	}
	_, _, err = Probe(ctx, ProbeOptions{Families: fams, URL: seller402(t, solanaUpto) + "/v1/generate"})
	if want := "accepts[0]: scheme upto is not paid on Solana devnet (Solana sellers are paid with exact)"; err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("err = %v, want %q", err, want)
	}
}
