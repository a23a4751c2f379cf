package discovery

import (
	"sort"
	"strconv"
	"strings"
)

// Domains returns the host names of a Traefik rule's Host(...) and
// HostSNI(...) matchers, in order and without duplicates: `Host(`a`)`,
// `Host(`a`) || Host(`b`)`, `Host(`a`, `b`)` (Traefik v2) and
// `HostSNI(`a`)`. Wildcards, regexps and HostSNI(`*`) name no domain to
// probe and are skipped.
//
// Hand-written: Traefik's own rule parser lives in its (large) main module;
// only these two matchers name domains.
func Domains(rule string) []string {
	var out []string
	seen := map[string]bool{}
	for _, fn := range []string{"Host(", "HostSNI("} {
		rest := rule
		for {
			i := strings.Index(rest, fn)
			if i < 0 {
				break
			}
			// Host( must not be the tail of another matcher name (…Host( in xHost().
			if i > 0 && isIdent(rest[i-1]) {
				rest = rest[i+len(fn):]
				continue
			}
			args, tail := parseArgs(rest[i+len(fn):])
			rest = tail
			for _, a := range args {
				a = strings.ToLower(strings.TrimSpace(a))
				if a == "" || strings.ContainsAny(a, "*{}$^ ") || seen[a] {
					continue
				}
				seen[a] = true
				out = append(out, a)
			}
		}
	}
	return out
}

func isIdent(b byte) bool {
	return b == '_' || b >= 'a' && b <= 'z' || b >= 'A' && b <= 'Z' || b >= '0' && b <= '9'
}

// parseArgs reads quoted arguments up to the closing parenthesis.
func parseArgs(s string) (args []string, rest string) {
	for {
		s = strings.TrimLeft(s, " \t,")
		if s == "" {
			return args, s
		}
		switch s[0] {
		case ')':
			return args, s[1:]
		case '`':
			end := strings.IndexByte(s[1:], '`')
			if end < 0 {
				return args, ""
			}
			args = append(args, s[1:1+end])
			s = s[2+end:]
		case '"':
			q, err := strconv.QuotedPrefix(s)
			if err != nil {
				return args, ""
			}
			v, _ := strconv.Unquote(q)
			args = append(args, v)
			s = s[len(q):]
		default:
			return args, s // not a quoted argument: not a rule we understand
		}
	}
}

// routerRules returns the rules of the labels' HTTP and TCP routers, by kind, in router order.
func routerRules(labels map[string]string) (httpRules, tcpRules []string) {
	keys := make([]string, 0, len(labels))
	for k := range labels {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if !strings.HasSuffix(k, ".rule") {
			continue
		}
		switch {
		case strings.HasPrefix(k, "traefik.http.routers."):
			httpRules = append(httpRules, labels[k])
		case strings.HasPrefix(k, "traefik.tcp.routers."):
			tcpRules = append(tcpRules, labels[k])
		}
	}
	return httpRules, tcpRules
}
