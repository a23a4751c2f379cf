package config

import (
	"fmt"
	"io"
	"os"

	"go.yaml.in/yaml/v3"
)

// Parsing limits. A YAML file is small text that can describe a huge tree:
// nine nested anchors, each alias listing the previous one nine times
// ("billion laughs"), expand to 9^9 nodes from a few hundred bytes. vigie
// refuses such files before anything walks or decodes the expanded tree, so
// `vigie check config` and a refused reload cost a few MB at most. The
// limits are far above any real configuration or rule file (the default
// configuration has about 300 nodes).
const (
	// MaxFileBytes is the largest configuration or rule file accepted,
	// checked before parsing.
	MaxFileBytes = 4 << 20
	// MaxAliasNodes is how many nodes aliases (*name) may bring into a
	// document in total, counting an alias as the size of what it refers to.
	MaxAliasNodes = 10_000
	// MaxNodes is how many nodes a document may have once its aliases are
	// expanded. A file whose bytes could hold more nodes than this is
	// refused before it is parsed (see estimateNodes).
	MaxNodes = 100_000
)

// LimitError is a file refused by one of the parsing limits, at a position
// when one is known (Line 0 otherwise).
type LimitError struct {
	File         string
	Line, Column int
	Msg          string
}

func (e *LimitError) Error() string {
	if e.Line == 0 {
		return fmt.Sprintf("%s: %s (config limit)", e.File, e.Msg)
	}
	return fmt.Sprintf("%s:%d:%d: %s (config limit)", e.File, e.Line, e.Column, e.Msg)
}

// ReadFile reads a configuration or rule file, refusing one larger than
// MaxFileBytes without reading it all.
func ReadFile(name string) ([]byte, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, MaxFileBytes+1))
	if err != nil {
		return nil, err
	}
	if err := CheckSize(name, b); err != nil {
		return nil, err
	}
	return b, nil
}

// CheckSize refuses data larger than MaxFileBytes.
func CheckSize(file string, data []byte) error {
	if len(data) > MaxFileBytes {
		return &LimitError{File: file, Msg: fmt.Sprintf("file is larger than %d bytes", MaxFileBytes)}
	}
	return nil
}

// ParseBounded parses data into a yaml.Node after checking its size, then
// refuses the document when its alias expansion or expanded node count
// exceeds the limits, with the position where the budget ran out.
func ParseBounded(file string, data []byte) (*yaml.Node, error) {
	if err := CheckSize(file, data); err != nil {
		return nil, err
	}
	if err := estimateNodes(file, data); err != nil {
		return nil, err
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, fmt.Errorf("%s: %w", file, err)
	}
	if err := CheckNodes(file, &doc); err != nil {
		return nil, err
	}
	return &doc, nil
}

// estimateNodes refuses data that may hold more than MaxNodes nodes before
// yaml.v3 builds them: parsing costs about 225 bytes per node, so a 4 MiB
// flow list of 2 M zeros would cost 450 MB. yaml.v3 exposes no event
// parser to count with, so this is a hand-written byte scan: after the
// root, every node is introduced by one of , : - [ { ? or a line break, and
// each of those introduces at most two (a key and its implicit null). The
// count is thus at least half the real one; it overcounts characters inside
// strings, which only matters for files far beyond any real configuration.
func estimateNodes(file string, data []byte) error {
	count, line, col := 0, 1, 0
	for _, c := range data {
		col++
		switch c {
		case '\n':
			count++
			line, col = line+1, 0
		case ',', ':', '-', '[', '{', '?':
			count++
		default:
			continue
		}
		if count > MaxNodes {
			return &LimitError{File: file, Line: line, Column: max(col, 1), Msg: fmt.Sprintf("document exceeds %d nodes", MaxNodes)}
		}
	}
	return nil
}

// CheckNodes counts the nodes of doc as if its aliases were expanded, without
// expanding them: each anchored node's expanded size is computed once and
// remembered, so the count costs one pass over the nodes actually written.
// It returns a located error at the alias or node where a limit is exceeded.
func CheckNodes(file string, doc *yaml.Node) error {
	c := nodeCounter{sizes: map[*yaml.Node]int{}}
	return c.walk(file, doc)
}

type nodeCounter struct {
	sizes   map[*yaml.Node]int // expanded size of nodes already measured, capped at MaxNodes+1
	total   int                // nodes so far, aliases expanded
	aliased int                // nodes so far brought in by aliases
}

// walk visits the written tree in document order (never following aliases)
// and adds each alias's expanded size to the budgets.
func (c *nodeCounter) walk(file string, n *yaml.Node) error {
	if n.Kind == yaml.AliasNode {
		size := 1
		if n.Alias != nil {
			size = c.size(n.Alias)
		}
		c.aliased += size
		c.total += size
		if c.aliased > MaxAliasNodes {
			return &LimitError{File: file, Line: n.Line, Column: n.Column, Msg: fmt.Sprintf("alias expansion exceeds %d nodes", MaxAliasNodes)}
		}
	} else {
		c.total++
	}
	if c.total > MaxNodes {
		return &LimitError{File: file, Line: n.Line, Column: n.Column, Msg: fmt.Sprintf("document exceeds %d nodes", MaxNodes)}
	}
	for _, ch := range n.Content {
		if err := c.walk(file, ch); err != nil {
			return err
		}
	}
	return nil
}

// size is n's node count with aliases expanded, memoized and saturating at
// MaxNodes+1 so that neither time nor the integer can blow up.
func (c *nodeCounter) size(n *yaml.Node) int {
	if s, ok := c.sizes[n]; ok {
		return s
	}
	// yaml.v3 refuses an anchor that contains itself, so this terminates;
	// the mark guards against a hand-built cycle all the same.
	c.sizes[n] = MaxNodes + 1
	s := 1
	if n.Kind == yaml.AliasNode && n.Alias != nil {
		s = c.size(n.Alias)
	}
	for _, ch := range n.Content {
		s += c.size(ch)
		if s > MaxNodes {
			s = MaxNodes + 1
			break
		}
	}
	c.sizes[n] = s
	return s
}
