package discover

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"

	"github.com/x402-mcp/x402-mcp/payments"
	"github.com/x402-mcp/x402-mcp/tools"
	"go.yaml.in/yaml/v4"
)

func encode(v any) ([]byte, error) {
	var b bytes.Buffer
	enc := yaml.NewEncoder(&b)
	enc.SetIndent(2)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	if err := enc.Close(); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// YAML renders drafts as a `tools:` list.
func YAML(ds []Draft) ([]byte, error) {
	return encode(map[string][]Draft{"tools": ds})
}

// AppendEntry adds d to the `tools:` of the registry file at path. The file
// must parse, must not have a tool named d.Name, and must still parse with
// the entry added (for instance its defaults.networks must allow d's
// network); otherwise nothing is written. The file is re-encoded (comments
// are kept; indentation becomes two spaces).
func AppendEntry(path string, d Draft, fams payments.Families) error {
	src, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	reg, err := tools.Parse(path, src, fams)
	if err != nil {
		return fmt.Errorf("%s does not parse, so nothing was added:\n%w", path, err)
	}
	if _, dup := reg.Entry(d.Name); dup {
		return fmt.Errorf("%s already has a tool named %q: choose another with --name", path, d.Name)
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(src, &doc); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	if doc.Kind != yaml.DocumentNode || len(doc.Content) != 1 || doc.Content[0].Kind != yaml.MappingNode {
		return fmt.Errorf("%s is not a YAML mapping", path)
	}
	b, err := encode(d)
	if err != nil {
		return err
	}
	var entry yaml.Node
	if err := yaml.Unmarshal(b, &entry); err != nil {
		return err
	}
	top := doc.Content[0]
	var list *yaml.Node
	for i := 0; i+1 < len(top.Content); i += 2 {
		if top.Content[i].Value == "tools" {
			list = top.Content[i+1]
		}
	}
	switch {
	case list == nil:
		list = &yaml.Node{Kind: yaml.SequenceNode, Tag: "!!seq"}
		top.Content = append(top.Content, &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: "tools"}, list)
	case list.Kind == yaml.ScalarNode && list.Tag == "!!null":
		*list = yaml.Node{Kind: yaml.SequenceNode, Tag: "!!seq"}
	case list.Kind != yaml.SequenceNode:
		return fmt.Errorf("%s: tools is not a list", path)
	}
	list.Content = append(list.Content, entry.Content[0])
	out, err := encode(&doc)
	if err != nil {
		return err
	}
	if _, err := tools.Parse(path, out, fams); err != nil {
		return fmt.Errorf("the entry does not fit %s, so nothing was written (edit the entry or the file's defaults):\n%w", path, err)
	}
	return writeFile(path, out)
}

// writeFile replaces path atomically, keeping its mode.
func writeFile(path string, data []byte) error {
	mode := fs.FileMode(0o644)
	if st, err := os.Stat(path); err == nil {
		mode = st.Mode().Perm()
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name()) // fails harmlessly once renamed
	// After a failed step, the file is closed and removed: that step's
	// error is the one to report.
	if _, err := tmp.Write(data); err != nil {
		_ = tmp.Close()
		return err
	}
	if err := tmp.Chmod(mode); err != nil {
		_ = tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}

// validate parses d alone as a registry that allows its network and price.
func validate(d Draft, fams payments.Families) error {
	_, err := draftsFile("", []Draft{d}, fams)
	return err
}

// DraftsFile renders a complete registry holding ds as drafts (enabled:
// false), with defaults.networks listing their networks and
// defaults.max_per_call raised to the dearest price when needed, so that the
// file parses on its own. header is written first as comment lines.
func DraftsFile(header string, ds []Draft, fams payments.Families) ([]byte, error) {
	b, err := draftsFile(header, ds, fams)
	if err != nil {
		return nil, fmt.Errorf("the drafts do not form a valid registry (a bug; please report it):\n%w", err)
	}
	return b, nil
}

func draftsFile(header string, ds []Draft, fams payments.Families) ([]byte, error) {
	var nets []string
	maxPrice := payments.DefaultPerCall
	f := false
	for i := range ds {
		ds[i].Enabled = &f
		if !slices.Contains(nets, ds[i].Network) {
			nets = append(nets, ds[i].Network)
		}
		maxPrice = max(maxPrice, ds[i].MaxPrice)
	}
	slices.Sort(nets)
	type defaults struct {
		Networks   []string        `yaml:"networks,omitempty"`
		MaxPerCall payments.Amount `yaml:"max_per_call"`
	}
	type file struct {
		Version  int      `yaml:"version"`
		Defaults defaults `yaml:"defaults"`
		Tools    []Draft  `yaml:"tools"`
	}
	body, err := encode(file{Version: 1, Defaults: defaults{Networks: nets, MaxPerCall: maxPrice}, Tools: ds})
	if err != nil {
		return nil, err
	}
	var b bytes.Buffer
	if header != "" {
		for _, line := range bytes.Split([]byte(header), []byte("\n")) {
			b.WriteString("# ")
			b.Write(line)
			b.WriteString("\n")
		}
	}
	b.Write(body)
	if _, err := tools.Parse("drafts", b.Bytes(), fams); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// WriteDrafts writes DraftsFile to path; an existing file is refused unless
// force.
func WriteDrafts(path, header string, ds []Draft, force bool, fams payments.Families) error {
	data, err := DraftsFile(header, ds, fams)
	if err != nil {
		return err
	}
	if !force {
		if _, err := os.Stat(path); err == nil {
			return fmt.Errorf("%s exists: choose another --out or pass --force to replace it", path)
		} else if !errors.Is(err, fs.ErrNotExist) {
			return err
		}
	}
	return writeFile(path, data)
}
