package notify

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/common/model"
)

// Alert is what a rule evaluation sends, as Prometheus sends it to
// Alertmanager: a firing alert is re-sent every evaluation with EndsAt a few
// intervals ahead; a resolved one carries EndsAt = the resolve time. An
// alert without EndsAt fires until resolve_timeout passes without a re-send.
type Alert struct {
	Labels       map[string]string `json:"labels"`
	Annotations  map[string]string `json:"annotations,omitempty"`
	StartsAt     time.Time         `json:"startsAt"`
	EndsAt       time.Time         `json:"endsAt"`
	GeneratorURL string            `json:"generatorURL,omitempty"`
}

// Fingerprint identifies an alert by its labels, as Alertmanager does (16 hex digits).
func (a Alert) Fingerprint() string { return fingerprint(a.Labels).String() }

func fingerprint(lset map[string]string) model.Fingerprint {
	ls := make(model.LabelSet, len(lset))
	for k, v := range lset {
		ls[model.LabelName(k)] = model.LabelValue(v)
	}
	return ls.Fingerprint()
}

// Resolved reports whether the alert has ended at t.
func (a Alert) Resolved(t time.Time) bool { return !a.EndsAt.IsZero() && !a.EndsAt.After(t) }

// Name is the alertname label.
func (a Alert) Name() string { return a.Labels["alertname"] }

// routeNode is a compiled route with inherited settings resolved.
type routeNode struct {
	id             string
	receiver       string
	groupBy        []string
	groupByAll     bool
	matchers       Matchers
	cont           bool
	groupWait      time.Duration
	groupInterval  time.Duration
	repeatInterval time.Duration
	mute, active   []string
	resolvedMuted  bool
	children       []*routeNode
}

func compileRoute(r *Route, parent *routeNode, id string, index map[string]*routeNode) (*routeNode, error) {
	n := &routeNode{id: id, cont: r.Continue, mute: r.MuteTimeIntervals, active: r.ActiveTimeIntervals}
	if parent != nil {
		n.receiver = parent.receiver
		n.groupBy, n.groupByAll = parent.groupBy, parent.groupByAll
		n.groupWait, n.groupInterval, n.repeatInterval = parent.groupWait, parent.groupInterval, parent.repeatInterval
		n.resolvedMuted = parent.resolvedMuted
	} else {
		n.groupWait, n.groupInterval, n.repeatInterval = DefaultGroupWait, DefaultGroupInterval, DefaultRepeatInterval
	}
	if r.Receiver != "" {
		n.receiver = r.Receiver
	}
	if r.GroupBy != nil {
		n.groupBy, n.groupByAll = nil, false
		for _, l := range r.GroupBy {
			if l == "..." {
				n.groupByAll = true
			} else {
				n.groupBy = append(n.groupBy, l)
			}
		}
		sort.Strings(n.groupBy)
	}
	if r.GroupWait != nil {
		n.groupWait = r.GroupWait.D()
	}
	if r.GroupInterval != nil {
		n.groupInterval = r.GroupInterval.D()
	}
	if r.RepeatInterval != nil {
		n.repeatInterval = r.RepeatInterval.D()
	}
	if r.SendResolvedWhenMuted != nil {
		n.resolvedMuted = *r.SendResolvedWhenMuted
	}
	old, err := matchersFromMaps(r.Match, r.MatchRe)
	if err != nil {
		return nil, err
	}
	n.matchers = append(append(Matchers{}, r.Matchers...), old...)
	index[n.id] = n
	for i, c := range r.Routes {
		if c == nil {
			continue
		}
		cid := n.id + "/" + matchersKey(c)
		if _, dup := index[cid]; dup {
			cid += "#" + strconv.Itoa(i)
		}
		cn, err := compileRoute(c, n, cid, index)
		if err != nil {
			return nil, fmt.Errorf("routes[%d]: %w", i, err)
		}
		n.children = append(n.children, cn)
	}
	return n, nil
}

func matchersKey(r *Route) string {
	ms, _ := matchersFromMaps(r.Match, r.MatchRe)
	all := append(append(Matchers{}, r.Matchers...), ms...)
	return all.String()
}

// match returns the routes an alert goes to: the deepest matching routes,
// left to right, continuing past a match only when the route says continue.
func (n *routeNode) match(lset map[string]string) []*routeNode {
	if !n.matchers.Matches(lset) {
		return nil
	}
	var all []*routeNode
	for _, c := range n.children {
		m := c.match(lset)
		all = append(all, m...)
		if len(m) > 0 && !c.cont {
			break
		}
	}
	if len(all) == 0 {
		all = []*routeNode{n}
	}
	return all
}

// groupLabels are the alert's labels this route groups by.
func (n *routeNode) groupLabels(lset map[string]string) map[string]string {
	if n.groupByAll {
		out := make(map[string]string, len(lset))
		for k, v := range lset {
			out[k] = v
		}
		return out
	}
	out := make(map[string]string, len(n.groupBy))
	for _, l := range n.groupBy {
		if v, ok := lset[l]; ok && v != "" {
			out[l] = v
		}
	}
	return out
}

// groupKey names a group: the route and its group labels.
func groupKey(routeID string, gl map[string]string) string {
	return routeID + ":" + labelsString(gl)
}

func labelsString(m map[string]string) string {
	var b strings.Builder
	b.WriteByte('{')
	for i, k := range sortedKeys(m) {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(k)
		b.WriteByte('=')
		b.WriteString(strconv.Quote(m[k]))
	}
	b.WriteByte('}')
	return b.String()
}

// inhibitRule is a compiled inhibit rule.
type inhibitRule struct {
	source, target Matchers
	equal          []string
}

func (ir *InhibitRule) compile() (Matchers, Matchers, error) {
	so, err := matchersFromMaps(ir.SourceMatch, ir.SourceMatchRe)
	if err != nil {
		return nil, nil, fmt.Errorf("source_match_re: %w", err)
	}
	ta, err := matchersFromMaps(ir.TargetMatch, ir.TargetMatchRe)
	if err != nil {
		return nil, nil, fmt.Errorf("target_match_re: %w", err)
	}
	src := append(append(Matchers{}, ir.SourceMatchers...), so...)
	tgt := append(append(Matchers{}, ir.TargetMatchers...), ta...)
	if len(src) == 0 || len(tgt) == 0 {
		return nil, nil, fmt.Errorf("an inhibit rule needs source_matchers and target_matchers")
	}
	return src, tgt, nil
}

// DependencyInhibitRules are vigie's built-in inhibit rules, added unless
// dependency_inhibition is false: the Docker engine of a host unreachable
// mutes that host's container and Swarm replica alerts, which are then
// consequences, not causes; a Swarm or Compose service missing replicas
// mutes the uptime probes of that service (discovered probes carry its
// service and stack labels); and a host whose agent stopped sending
// (HostDown, rules/builtin/agents.yml) mutes every other alert of that
// host: one page per dead node.
func DependencyInhibitRules() []InhibitRule {
	src, _ := ParseMatchers(`{alertname="CollectorFailing", collector="docker"}`)
	tgt, _ := ParseMatchers(`alertname=~"Container.*|ServiceReplicasMissing"`)
	replicas, _ := ParseMatchers(`alertname="ServiceReplicasMissing"`)
	probes, _ := ParseMatchers(`alertname=~"ProbeFailing|ProbeSlow"`)
	hostDown, _ := ParseMatchers(`alertname="HostDown"`)
	onHost, _ := ParseMatchers(`alertname!="HostDown"`)
	return []InhibitRule{
		{SourceMatchers: src, TargetMatchers: tgt, Equal: []string{"instance"}},
		{SourceMatchers: replicas, TargetMatchers: probes, Equal: []string{"service", "stack"}},
		{SourceMatchers: hostDown, TargetMatchers: onHost, Equal: []string{"instance"}},
	}
}

// inhibitor answers "is this alert inhibited, and by what" for one flush,
// indexing the firing source alerts once.
type inhibitor struct {
	rules   []inhibitRule
	sources []map[string][]inhibitSource // per rule: equal-label signature → firing sources
}

type inhibitSource struct {
	fp   string
	both bool // the source also matches the rule's target matchers
}

func newInhibitor(rules []inhibitRule, alerts map[model.Fingerprint]*alertEntry, now time.Time) *inhibitor {
	in := &inhibitor{rules: rules, sources: make([]map[string][]inhibitSource, len(rules))}
	for i, r := range rules {
		idx := map[string][]inhibitSource{}
		for fp, a := range alerts {
			if a.Resolved(now) || !r.source.Matches(a.Labels) {
				continue
			}
			sig := equalSignature(r.equal, a.Labels)
			idx[sig] = append(idx[sig], inhibitSource{fp: fp.String(), both: r.target.Matches(a.Labels)})
		}
		in.sources[i] = idx
	}
	return in
}

func equalSignature(equal []string, lset map[string]string) string {
	var b strings.Builder
	for _, l := range equal {
		b.WriteString(lset[l])
		b.WriteByte(0xff)
	}
	return b.String()
}

// inhibitedBy returns the fingerprints of the firing alerts that inhibit lset.
func (in *inhibitor) inhibitedBy(fp string, lset map[string]string) []string {
	var out []string
	for i, r := range in.rules {
		if !r.target.Matches(lset) {
			continue
		}
		// As in Alertmanager, an alert matching both sides is inhibited
		// only by sources that do not also match the target side.
		twoSided := r.source.Matches(lset)
		for _, s := range in.sources[i][equalSignature(r.equal, lset)] {
			if s.fp != fp && !(twoSided && s.both) {
				out = append(out, s.fp)
			}
		}
	}
	return out
}
