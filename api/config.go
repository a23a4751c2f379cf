package api

import (
	"errors"
	"time"

	"github.com/vigie-dev/vigie/config"
)

// Config is the api section of the configuration: the query limits.
type Config struct {
	// QueryTimeout bounds a query's evaluation, waiting for a slot included
	// (default 2m); a request's `timeout` parameter can only lower it.
	QueryTimeout config.Duration `yaml:"query_timeout"`
	// MaxQueryLength is the longest query accepted, in bytes (default 65536).
	MaxQueryLength int `yaml:"max_query_length"`
	// MaxQueryDepth is the deepest nesting of ( [ { accepted (default 256).
	MaxQueryDepth int `yaml:"max_query_depth"`
	// MaxQueryOperators is the most binary operators accepted (default 1000).
	MaxQueryOperators int `yaml:"max_query_operators"`
	// MaxConcurrentQueries is how many queries evaluate at once (default 20).
	MaxConcurrentQueries int `yaml:"max_concurrent_queries"`
}

// DefaultConfig returns the defaults.
func DefaultConfig() Config {
	return Config{
		QueryTimeout:         config.Duration(2 * time.Minute),
		MaxQueryLength:       DefaultMaxQueryLength,
		MaxQueryDepth:        DefaultMaxQueryDepth,
		MaxQueryOperators:    DefaultMaxQueryOperators,
		MaxConcurrentQueries: DefaultMaxConcurrentQueries,
	}
}

// Validate checks the section.
func (c Config) Validate() error {
	var errs []error
	if c.QueryTimeout.D() < time.Second {
		errs = append(errs, config.Errorf("query_timeout", "must be at least 1s, got %s", c.QueryTimeout))
	}
	for _, f := range []struct {
		name string
		v    int
	}{
		{"max_query_length", c.MaxQueryLength},
		{"max_query_depth", c.MaxQueryDepth},
		{"max_query_operators", c.MaxQueryOperators},
		{"max_concurrent_queries", c.MaxConcurrentQueries},
	} {
		if f.v < 1 {
			errs = append(errs, config.Errorf(f.name, "must be at least 1, got %d", f.v))
		}
	}
	return errors.Join(errs...)
}

// Apply sets the limits of c on o.
func (c Config) Apply(o Options) Options {
	o.QueryTimeout = c.QueryTimeout.D()
	o.MaxQueryLength = c.MaxQueryLength
	o.MaxQueryDepth = c.MaxQueryDepth
	o.MaxQueryOperators = c.MaxQueryOperators
	o.MaxConcurrentQueries = c.MaxConcurrentQueries
	return o
}
