package tools

import (
	"fmt"

	"go.yaml.in/yaml/v4"
)

// maxAliasBytes bounds what YAML aliases (*name, and merge keys <<: *name)
// may add to a registry file once expanded: a catalog that shares a header
// map or a schema fragment between entries adds kilobytes. Without a bound,
// a file of a few hundred bytes whose aliases refer to lists of aliases
// expands to gigabytes ("billion laughs"). The YAML library's own check
// compares the count of aliases with the count of values, so it lets
// through a hundred aliases of a long string, and the input_schema walk
// (nodeJSON) expands aliases by itself, with no check at all.
const maxAliasBytes = 1 << 20

// checkAliases refuses a registry whose aliases add more than maxAliasBytes
// when expanded. It reads the file as a node tree, where an alias is one
// node that points at its anchor, and sizes each node once (an anchor's
// expanded size is remembered), so it takes time and memory in proportion
// to the file, whatever the expansion. A file that does not load is left to
// the main decode, which reports the error.
func checkAliases(name string, data []byte) error {
	var doc yaml.Node
	if err := yaml.Load(data, &doc); err != nil {
		return nil
	}
	s := aliasSizer{memo: map[*yaml.Node]int64{}}
	expanded := s.size(&doc)
	if expanded-s.literal <= maxAliasBytes {
		return nil
	}
	return fmt.Errorf("%s:%d: aliases expand the file by more than the 1 MiB allowed (the largest, *%s, expands to %s on its own): write the repeated values out, or refer to them fewer times",
		name, s.worst.Line, s.worst.Value, aboutBytes(s.memo[s.worst.Alias]))
}

// aliasSizer sizes a YAML node tree with its aliases expanded: a scalar
// counts its bytes plus one, a collection one plus its children, an alias
// the size of its anchor. Sizes saturate at sizeCap.
type aliasSizer struct {
	memo    map[*yaml.Node]int64 // expanded size of each node sized so far
	literal int64                // the size with each alias counted as written
	worst   *yaml.Node           // the alias whose anchor expands the most
}

const sizeCap = 1 << 40

func (s *aliasSizer) size(n *yaml.Node) int64 {
	if n == nil {
		return 0
	}
	if v, ok := s.memo[n]; ok {
		return v
	}
	// An alias that refers to a node being sized (a loop) counts as huge.
	s.memo[n] = sizeCap
	var v int64
	switch n.Kind {
	case yaml.AliasNode:
		s.literal += int64(len(n.Value)) + 1
		v = s.size(n.Alias)
		if s.worst == nil || v > s.memo[s.worst.Alias] {
			s.worst = n
		}
	case yaml.ScalarNode:
		v = int64(len(n.Value)) + 1
		s.literal += v
	default:
		v = 1
		s.literal++
		for _, c := range n.Content {
			v = min(v+s.size(c), sizeCap)
		}
	}
	s.memo[n] = v
	return v
}

// aboutBytes writes a size for people: "12 KiB", "3 MiB", "over 1 TiB".
func aboutBytes(n int64) string {
	switch {
	case n >= sizeCap:
		return "over 1 TiB"
	case n >= 1<<30:
		return fmt.Sprintf("%d GiB", n>>30)
	case n >= 1<<20:
		return fmt.Sprintf("%d MiB", n>>20)
	case n >= 1<<10:
		return fmt.Sprintf("%d KiB", n>>10)
	}
	return fmt.Sprintf("%d bytes", n)
}
