package postgres

import (
	"errors"
	"fmt"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/vigie-dev/vigie/config"
)

// Config is collect.postgres: the PostgreSQL instances to watch.
type Config []InstanceConfig

// InstanceConfig is one PostgreSQL server.
type InstanceConfig struct {
	// Name is the instance label of every series of this server; unique.
	Name string `yaml:"name"`
	// DSN is a libpq connection string or URL. Never printed.
	DSN config.Secret `yaml:"dsn,omitempty"`
	// DSNFile names a file holding the DSN (read at load and reload).
	DSNFile string `yaml:"dsn_file,omitempty"`
	// Databases limits the per-database series to these databases (all when empty).
	Databases []string `yaml:"databases,omitempty"`
	// StatementTimeout is the server-side statement_timeout of every query.
	StatementTimeout config.Duration `yaml:"statement_timeout"`
	// ConnectTimeout bounds one connection attempt (unless the DSN sets connect_timeout).
	ConnectTimeout config.Duration `yaml:"connect_timeout"`
	// TopStatements is how many statements of pg_stat_statements are
	// reported, by total execution time; 0 turns them off.
	TopStatements int `yaml:"top_statements"`
	// SizeInterval is how often pg_database_size() is asked again (it
	// stats every file of every database); gathers in between report the
	// last sizes. 0 asks at every gather.
	SizeInterval config.Duration `yaml:"size_interval"`
	// QueryTextLength truncates the normalised query text of those statements.
	QueryTextLength int `yaml:"query_text_length"`
	// Collectors switches on opt-in collectors of postgres_exporter, by its
	// names: long_running_transactions, database_wraparound,
	// stat_activity_autovacuum, postmaster, stat_checkpointer, and vigie's
	// bloat (table and index bloat estimates).
	Collectors []string `yaml:"collectors,omitempty"`
	// MaxTables caps the tables of the per-table families
	// (pg_stat_user_tables_*, pg_statio_user_tables_*, bloat), the largest
	// by live rows first; 0 turns those families off.
	MaxTables int `yaml:"max_tables"`
	// IncludeTables and ExcludeTables are regular expressions (RE2, anchored)
	// matched against "schema.table" of the DSN's database.
	IncludeTables []string `yaml:"include_tables,omitempty"`
	ExcludeTables []string `yaml:"exclude_tables,omitempty"`
}

// Opt-in collectors, postgres_exporter's names (bloat is vigie's).
const (
	CollectorLongRunningTransactions = "long_running_transactions"
	CollectorDatabaseWraparound      = "database_wraparound"
	CollectorStatActivityAutovacuum  = "stat_activity_autovacuum"
	CollectorPostmaster              = "postmaster"
	CollectorStatCheckpointer        = "stat_checkpointer"
	CollectorBloat                   = "bloat"
)

// OptInCollectors lists the names Collectors accepts.
var OptInCollectors = []string{CollectorLongRunningTransactions, CollectorDatabaseWraparound,
	CollectorStatActivityAutovacuum, CollectorPostmaster, CollectorStatCheckpointer, CollectorBloat}

// Defaults of an instance's optional keys.
const (
	DefaultStatementTimeout = 5 * time.Second
	DefaultConnectTimeout   = 5 * time.Second
	DefaultTopStatements    = 20
	DefaultQueryTextLength  = 200
	DefaultSizeInterval     = time.Minute
	DefaultMaxTables        = 200
	maxTopStatements        = 1000
)

// DefaultConfig is no instance at all.
func DefaultConfig() Config { return Config{} }

// DefaultInstanceConfig is an instance with every optional key at its default.
func DefaultInstanceConfig() InstanceConfig {
	return InstanceConfig{
		StatementTimeout: config.Duration(DefaultStatementTimeout),
		ConnectTimeout:   config.Duration(DefaultConnectTimeout),
		TopStatements:    DefaultTopStatements,
		QueryTextLength:  DefaultQueryTextLength,
		SizeInterval:     config.Duration(DefaultSizeInterval),
		MaxTables:        DefaultMaxTables,
	}
}

// UnmarshalYAML starts from DefaultInstanceConfig, so an omitted key keeps
// its default and an explicit 0 (top_statements: 0) stays 0. Unknown keys are
// refused here since a custom unmarshaler loses the decoder's strictness.
func (c *InstanceConfig) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.MappingNode {
		return config.NodeError(n, "expected a mapping with name and dsn")
	}
	known := map[string]bool{}
	t := reflect.TypeFor[InstanceConfig]()
	for i := range t.NumField() {
		known[strings.Split(t.Field(i).Tag.Get("yaml"), ",")[0]] = true
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if k := n.Content[i]; !known[k.Value] {
			// yaml.v3's own wording, which the loader turns into `unknown field "x"` at the key.
			return config.NodeError(k, fmt.Sprintf("field %s not found in type postgres.InstanceConfig", k.Value))
		}
	}
	type plain InstanceConfig
	p := plain(DefaultInstanceConfig())
	if err := n.Decode(&p); err != nil {
		return err
	}
	*c = InstanceConfig(p)
	return nil
}

// Validate checks every instance without touching files or the network.
func (c Config) Validate() error {
	var errs []error
	seen := map[string]int{}
	for i, ic := range c {
		p := fmt.Sprintf("[%d]", i)
		switch {
		case ic.Name == "":
			errs = append(errs, config.Errorf(p+".name", "required"))
		case seen[ic.Name] > 0:
			errs = append(errs, config.Errorf(p+".name", "duplicate instance name %q (also [%d])", ic.Name, seen[ic.Name]-1))
		default:
			seen[ic.Name] = i + 1
		}
		switch {
		case ic.DSN == "" && ic.DSNFile == "":
			errs = append(errs, config.Errorf(p+".dsn", "dsn or dsn_file is required"))
		case ic.DSN != "" && ic.DSNFile != "":
			errs = append(errs, config.Errorf(p+".dsn_file", "dsn and dsn_file are mutually exclusive"))
		}
		for j, db := range ic.Databases {
			if strings.TrimSpace(db) == "" {
				errs = append(errs, config.Errorf(fmt.Sprintf("%s.databases[%d]", p, j), "empty database name"))
			}
		}
		if ic.StatementTimeout < 0 {
			errs = append(errs, config.Errorf(p+".statement_timeout", "must not be negative"))
		}
		if ic.ConnectTimeout < 0 {
			errs = append(errs, config.Errorf(p+".connect_timeout", "must not be negative"))
		}
		if ic.TopStatements < 0 || ic.TopStatements > maxTopStatements {
			errs = append(errs, config.Errorf(p+".top_statements", "must be between 0 and %d", maxTopStatements))
		}
		if ic.SizeInterval < 0 {
			errs = append(errs, config.Errorf(p+".size_interval", "must not be negative"))
		}
		if ic.QueryTextLength < 0 {
			errs = append(errs, config.Errorf(p+".query_text_length", "must not be negative"))
		}
		errs = append(errs, ic.validateTables(p)...)
	}
	return errors.Join(errs...)
}

func (ic InstanceConfig) validateTables(p string) []error {
	var errs []error
	for j, name := range ic.Collectors {
		if !slices.Contains(OptInCollectors, name) {
			errs = append(errs, config.Errorf(fmt.Sprintf("%s.collectors[%d]", p, j),
				"unknown collector %q: expected one of %s", name, strings.Join(OptInCollectors, ", ")))
		}
	}
	if ic.MaxTables < 0 {
		errs = append(errs, config.Errorf(p+".max_tables", "must not be negative"))
	}
	for _, f := range []struct {
		key  string
		list []string
	}{{"include_tables", ic.IncludeTables}, {"exclude_tables", ic.ExcludeTables}} {
		for j, re := range f.list {
			if _, err := compileAnchored(re); err != nil {
				errs = append(errs, config.Errorf(fmt.Sprintf("%s.%s[%d]", p, f.key, j), "invalid regular expression %q: %v", re, err))
			}
		}
	}
	return errs
}

// enabled reports whether the opt-in collector name is switched on.
func (ic InstanceConfig) enabled(name string) bool { return slices.Contains(ic.Collectors, name) }

func compileAnchored(re string) (*regexp.Regexp, error) {
	return regexp.Compile("^(?:" + re + ")$")
}
