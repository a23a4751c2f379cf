package api

import (
	"context"
	"fmt"
	"strings"
	"time"
)

// Query limits. PromQL's parser (Prometheus v0.315) has no depth or size
// option (parser.Options only switches experimental syntax), and the engine
// bounds evaluation only by Timeout and MaxSamples: 10,000 nested
// parentheses in a 20 KB query cost 1.7 s of CPU in parsing and evaluation
// before either applied. So the query text is bounded before it is parsed.
const (
	// DefaultMaxQueryLength is the longest query text accepted, in bytes.
	DefaultMaxQueryLength = 64 << 10
	// DefaultMaxQueryDepth is the deepest nesting of ( [ { accepted.
	DefaultMaxQueryDepth = 256
	// DefaultMaxQueryOperators is the most binary operators accepted.
	DefaultMaxQueryOperators = 1000
	// DefaultMaxConcurrentQueries is how many queries evaluate at once; the
	// others wait for a slot until their timeout.
	DefaultMaxConcurrentQueries = 20
)

// checkQuery refuses a query longer, deeper or with more operators than the
// limits, before the parser sees it, naming the limit.
func (a *API) checkQuery(param, qs string) *apiError {
	l := a.limits.Load()
	if len(qs) > l.maxLength {
		return badData("invalid parameter %q: query is %d bytes, longer than the limit of %d bytes (api.max_query_length)", param, len(qs), l.maxLength)
	}
	depth, ops := scanQuery(qs, l.maxDepth, l.maxOperators)
	if depth > l.maxDepth {
		return badData("invalid parameter %q: query nests parentheses, brackets or braces deeper than the limit of %d (api.max_query_depth)", param, l.maxDepth)
	}
	if ops > l.maxOperators {
		return badData("invalid parameter %q: query has more than the limit of %d binary operators (api.max_query_operators)", param, l.maxOperators)
	}
	return nil
}

// scanQuery returns the deepest nesting of ( [ { in a PromQL query and how
// many binary operators it may hold (operator characters + - * / % ^ = ! < >
// and the words and, or, unless, atan2: a slight overcount, since unary
// minus and exponents count too), ignoring string literals ("…", '…', `…`)
// and # comments. It stops once either passes its limit.
//
// Hand-written because the parser offers no limits and nothing else
// tokenizes PromQL without building the tree this guards against: parsing
// is quadratic in the length of an operator chain (1+1+… with 8,000 terms
// takes 0.5 s to parse, 32,000 terms 48 s to parse and evaluate), and
// 10,000 nested parentheses cost 0.5 s. An unbalanced query is left to the
// parser to report.
func scanQuery(qs string, maxDepth, maxOps int) (deepest, ops int) {
	depth := 0
	var quote byte // the open string's quote, 0 outside strings
	for i := 0; i < len(qs) && deepest <= maxDepth && ops <= maxOps; i++ {
		c := qs[i]
		switch {
		case quote != 0:
			if c == '\\' && quote != '`' {
				i++ // skip the escaped character
			} else if c == quote {
				quote = 0
			}
		case c == '"' || c == '\'' || c == '`':
			quote = c
		case c == '#':
			for i < len(qs) && qs[i] != '\n' {
				i++
			}
		case c == '(' || c == '[' || c == '{':
			depth++
			deepest = max(deepest, depth)
		case c == ')' || c == ']' || c == '}':
			depth--
		case strings.IndexByte("+-*/%^=!<>", c) >= 0:
			ops++
		case c == '_' || 'a' <= c|0x20 && c|0x20 <= 'z':
			j := i
			for j < len(qs) && (qs[j] == '_' || qs[j] == ':' || 'a' <= qs[j]|0x20 && qs[j]|0x20 <= 'z' || '0' <= qs[j] && qs[j] <= '9') {
				j++
			}
			switch strings.ToLower(qs[i:j]) {
			case "and", "or", "unless", "atan2":
				ops++
			}
			i = j - 1
		}
	}
	return deepest, ops
}

// acquire waits for an evaluation slot until ctx ends. The caller releases
// the slot with the function it returns.
func (a *API) acquire(ctx context.Context) (func(), *apiError) {
	slots := a.limits.Load().slots // a reload's new slots do not count queries already running
	select {
	case slots <- struct{}{}:
		return func() { <-slots }, nil
	case <-ctx.Done():
		return nil, queryError(fmt.Errorf("waiting for one of %d query slots (api.max_concurrent_queries): %w", cap(slots), ctx.Err()))
	}
}

// queryLimits are the query limits in force.
type queryLimits struct {
	timeout                           time.Duration
	maxLength, maxDepth, maxOperators int
	slots                             chan struct{} // one per query evaluating
}

// ApplyConfig puts c's limits in force for the queries that start after it
// (on a configuration reload); c must have passed Validate.
func (a *API) ApplyConfig(c Config) {
	old := a.limits.Load()
	slots := old.slots
	if cap(slots) != c.MaxConcurrentQueries {
		slots = make(chan struct{}, c.MaxConcurrentQueries)
	}
	a.limits.Store(&queryLimits{
		timeout: c.QueryTimeout.D(), maxLength: c.MaxQueryLength, maxDepth: c.MaxQueryDepth, maxOperators: c.MaxQueryOperators,
		slots: slots,
	})
}
