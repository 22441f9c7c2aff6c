package discover

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// TestImportRefusesDeepJSON: a discovery listing nested deeper than 512
// levels is refused with an error that says so, however valid the rest.
func TestImportRefusesDeepJSON(t *testing.T) {
	const acc = `{"scheme":"exact","network":"eip155:84532","amount":"1000","asset":"0x036CbD53842c5426634e7929541eC2318f3dCF7e","payTo":"0x209693Bc6afc0C5328bA36FaF03C514EF312287C"}`
	for _, tc := range []struct {
		depth int
		err   bool
	}{{508, false}, {509, true}} { // the page, items, the item and its metadata are four levels
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			deep := strings.Repeat("[", tc.depth) + strings.Repeat("]", tc.depth)
			_, _ = w.Write([]byte(`{"x402Version":2,"items":[{"resource":"https://ok.example/c","type":"http","accepts":[` + acc +
				`],"metadata":{"deep":` + deep + `}}],"pagination":{"limit":20,"offset":0,"total":1}}`))
		}))
		ds, _, err := Import(context.Background(), ImportOptions{Families: testFamilies, From: srv.URL})
		srv.Close()
		if tc.err {
			if err == nil || !strings.Contains(err.Error(), "nested deeper than 512 levels") {
				t.Fatalf("depth %d: err = %v, drafts %+v", tc.depth, err, ds)
			}
			continue
		}
		if err != nil || len(ds) != 1 {
			t.Fatalf("depth %d: err = %v, drafts %+v", tc.depth, err, ds)
		}
	}
}
