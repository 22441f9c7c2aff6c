package tools

import (
	"strings"
	"testing"
)

// A draft (enabled: false) is parsed and validated but Build skips it.
func TestEnabledDrafts(t *testing.T) {
	const base = "version: 1\ntools:\n" +
		"  - {name: on, description: d, url: 'https://a.example/x', max_price: '0.01'}\n" +
		"  - {name: on_too, description: d, url: 'https://a.example/x', max_price: '0.01', enabled: true}\n" +
		"  - {name: draft, description: d, url: 'https://a.example/x', max_price: '0.01', enabled: false}\n"
	reg, err := Parse("r.yaml", []byte(base), testFamilies)
	if err != nil {
		t.Fatal(err)
	}
	if !reg.Tools[0].Enabled || !reg.Tools[1].Enabled || reg.Tools[2].Enabled {
		t.Errorf("enabled = %v %v %v", reg.Tools[0].Enabled, reg.Tools[1].Enabled, reg.Tools[2].Enabled)
	}
	var names []string
	for _, st := range Build(reg, &directPayer{}, nil) {
		names = append(names, st.Tool.Name)
	}
	if strings.Join(names, ",") != "on,on_too" {
		t.Errorf("Build listed %v", names)
	}
	// A disabled entry is still validated.
	_, err = Parse("r.yaml", []byte(base+"  - {name: bad, description: d, url: 'https://a.example/x', max_price: 'x', enabled: false}\n"), testFamilies)
	if err == nil || !strings.Contains(err.Error(), `"bad": max_price`) {
		t.Errorf("invalid draft: %v", err)
	}
	if _, err := Parse("r.yaml", []byte("version: 1\ntools:\n  - {name: a, description: d, url: 'https://a.example/x', max_price: '0.01', enabled: maybe}\n"), testFamilies); err == nil {
		t.Error("enabled: maybe accepted")
	}
}
