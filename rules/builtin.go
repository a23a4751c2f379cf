package rules

import (
	"bytes"
	"embed"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/promql/parser"
	"go.yaml.in/yaml/v3"
)

// The built-in pack: ordinary Prometheus rule files. Each alert's threshold
// is the number its expression first compares against (walking the
// expression from its root, left side first); `for` is the rule's own.
//
//go:embed builtin/*.yml
var builtinFS embed.FS

// BuiltinPrefix starts the file name of every built-in rule file, as the
// API and alerts report it ("builtin/host.yml").
const BuiltinPrefix = "builtin/"

type builtinInfo struct {
	file         string
	group        string
	hasThreshold bool
	threshold    float64
	hold         time.Duration
}

var builtinOnce = sync.OnceValue(func() map[string]builtinInfo {
	out := map[string]builtinInfo{}
	for _, name := range builtinFiles() {
		b, _ := builtinFS.ReadFile(name)
		var doc ruleFileYAML
		if err := yaml.Unmarshal(b, &doc); err != nil {
			panic(fmt.Sprintf("built-in rule file %s: %v", name, err))
		}
		for _, g := range doc.Groups {
			for _, r := range g.Rules {
				if r.Alert == "" {
					continue
				}
				info := builtinInfo{file: BuiltinPrefix + path.Base(name), group: g.Name, hold: time.Duration(r.For)}
				if lit, err := thresholdOf(r.Expr); err == nil && lit != nil {
					info.hasThreshold, info.threshold = true, lit.Val
				}
				out[r.Alert] = info
			}
		}
	}
	return out
})

func builtinRules() map[string]builtinInfo { return builtinOnce() }

func builtinFiles() []string {
	names, _ := fs.Glob(builtinFS, "builtin/*.yml")
	sort.Strings(names)
	return names
}

// BuiltinNames lists the built-in alerts, sorted.
func BuiltinNames() []string {
	pack := builtinRules()
	out := make([]string, 0, len(pack))
	for n := range pack {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

func knownNames(pack map[string]builtinInfo) string {
	names := make([]string, 0, len(pack))
	for n := range pack {
		names = append(names, n)
	}
	sort.Strings(names)
	return strings.Join(names, ", ")
}

type ruleFileYAML struct {
	Groups []struct {
		Name  string `yaml:"name"`
		Rules []struct {
			Alert string         `yaml:"alert"`
			Expr  string         `yaml:"expr"`
			For   model.Duration `yaml:"for"`
		} `yaml:"rules"`
	} `yaml:"groups"`
}

// thresholdOf finds the number literal the expression first compares
// against: the right-hand side of the first comparison met walking the
// expression depth-first from its root, left side first.
func thresholdOf(expr string) (*parser.NumberLiteral, error) {
	e, err := parser.NewParser(parser.Options{}).ParseExpr(expr)
	if err != nil {
		return nil, err
	}
	var found *parser.NumberLiteral
	parser.Inspect(e, func(n parser.Node, _ []parser.Node) error {
		if found != nil {
			return nil
		}
		if b, ok := n.(*parser.BinaryExpr); ok && b.Op.IsComparisonOperator() {
			if lit, ok := b.RHS.(*parser.NumberLiteral); ok {
				found = lit
			}
		}
		return nil
	})
	return found, nil
}

// builtinFile is one rendered file of the pack.
type builtinFile struct {
	Name    string // builtin/host.yml
	Content []byte
}

// renderBuiltin returns the pack with the configuration applied: disabled
// alerts removed (and groups left empty dropped), thresholds and `for`
// replaced. The result is plain Prometheus rule files.
func renderBuiltin(cfg BuiltinConfig) ([]builtinFile, error) {
	if !cfg.Enabled {
		return nil, nil
	}
	var out []builtinFile
	for _, name := range builtinFiles() {
		b, err := builtinFS.ReadFile(name)
		if err != nil {
			return nil, err
		}
		content, err := applyOverrides(b, cfg)
		if err != nil {
			return nil, fmt.Errorf("built-in rule file %s: %w", name, err)
		}
		if content == nil {
			continue
		}
		out = append(out, builtinFile{Name: BuiltinPrefix + path.Base(name), Content: content})
	}
	return out, nil
}

// applyOverrides edits one rule file's YAML tree. It returns nil when no
// rule is left.
func applyOverrides(src []byte, cfg BuiltinConfig) ([]byte, error) {
	if len(cfg.Disabled) == 0 && len(cfg.Overrides) == 0 {
		return src, nil
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(src, &doc); err != nil {
		return nil, err
	}
	root := doc.Content[0]
	groups := mapValue(root, "groups")
	if groups == nil {
		return nil, fmt.Errorf("no groups")
	}
	var keptGroups []*yaml.Node
	for _, g := range groups.Content {
		rulesNode := mapValue(g, "rules")
		if rulesNode == nil {
			continue
		}
		var kept []*yaml.Node
		for _, r := range rulesNode.Content {
			alert := mapValue(r, "alert")
			if alert == nil {
				kept = append(kept, r)
				continue
			}
			if slices.Contains(cfg.Disabled, alert.Value) {
				continue
			}
			if o, ok := cfg.Overrides[alert.Value]; ok {
				if err := overrideRule(r, alert.Value, o); err != nil {
					return nil, err
				}
			}
			kept = append(kept, r)
		}
		rulesNode.Content = kept
		if len(kept) > 0 {
			keptGroups = append(keptGroups, g)
		}
	}
	if len(keptGroups) == 0 {
		return nil, nil
	}
	groups.Content = keptGroups
	var buf bytes.Buffer
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(&doc); err != nil {
		return nil, err
	}
	if err := enc.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

func overrideRule(r *yaml.Node, name string, o Override) error {
	if o.Threshold != nil {
		exprNode := mapValue(r, "expr")
		if exprNode == nil {
			return fmt.Errorf("rule %s has no expr", name)
		}
		lit, err := thresholdOf(exprNode.Value)
		if err != nil {
			return fmt.Errorf("rule %s: %w", name, err)
		}
		if lit == nil {
			return fmt.Errorf("rule %s has no threshold to override", name)
		}
		e := exprNode.Value
		exprNode.Value = e[:lit.PosRange.Start] + strconv.FormatFloat(*o.Threshold, 'f', -1, 64) + e[lit.PosRange.End:]
	}
	if o.For != nil {
		v := model.Duration(o.For.D()).String()
		if n := mapValue(r, "for"); n != nil {
			n.Value, n.Tag, n.Style = v, "!!str", 0
		} else {
			// Insert after expr, where Prometheus's own files put it.
			for i := 0; i+1 < len(r.Content); i += 2 {
				if r.Content[i].Value == "expr" {
					k := &yaml.Node{Kind: yaml.ScalarNode, Value: "for"}
					val := &yaml.Node{Kind: yaml.ScalarNode, Value: v}
					r.Content = slices.Insert(r.Content, i+2, k, val)
					break
				}
			}
		}
	}
	return nil
}

func mapValue(m *yaml.Node, key string) *yaml.Node {
	if m == nil || m.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			return m.Content[i+1]
		}
	}
	return nil
}

// ExportBuiltin writes the built-in pack, with cfg's overrides applied, as
// rule files into dir (created if needed): `promtool check rules` accepts
// them and a Prometheus server can load them.
func ExportBuiltin(dir string, cfg Config) error {
	b := cfg.Builtin
	b.Enabled = true // exporting is asking for the pack
	files, err := renderBuiltin(b)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("export built-in rules: %w", err)
	}
	for _, f := range files {
		p := filepath.Join(dir, strings.TrimPrefix(f.Name, BuiltinPrefix))
		if err := os.WriteFile(p, f.Content, 0o644); err != nil {
			return fmt.Errorf("export built-in rules: %w", err)
		}
	}
	return nil
}
