package notify

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"time"

	"github.com/prometheus/prometheus/model/labels"
)

// Silence mutes the alerts its matchers select between StartsAt and
// EndsAt. Its JSON is Alertmanager's API v2 silence, plus expireOnResolve.
type Silence struct {
	ID        string        `json:"id"`
	Matchers  []APIMatcher  `json:"matchers"`
	StartsAt  time.Time     `json:"startsAt"`
	EndsAt    time.Time     `json:"endsAt"`
	CreatedBy string        `json:"createdBy"`
	Comment   string        `json:"comment"`
	UpdatedAt time.Time     `json:"updatedAt"`
	Status    SilenceStatus `json:"status"`
	// ExpireOnResolve (vigie) ends the silence when the alerts it muted have resolved.
	ExpireOnResolve bool `json:"expireOnResolve,omitempty"`

	matchers   Matchers
	seenFiring bool
}

// SilenceStatus is pending, active or expired.
type SilenceStatus struct {
	State string `json:"state"`
}

// APIMatcher is Alertmanager's API matcher.
type APIMatcher struct {
	Name    string `json:"name"`
	Value   string `json:"value"`
	IsRegex bool   `json:"isRegex"`
	IsEqual *bool  `json:"isEqual,omitempty"`
}

func (m APIMatcher) compile() (*labels.Matcher, error) {
	eq := m.IsEqual == nil || *m.IsEqual
	t := labels.MatchEqual
	switch {
	case m.IsRegex && eq:
		t = labels.MatchRegexp
	case m.IsRegex:
		t = labels.MatchNotRegexp
	case !eq:
		t = labels.MatchNotEqual
	}
	if m.Name == "" {
		return nil, errors.New("matcher without a label name")
	}
	lm, err := labels.NewMatcher(t, m.Name, m.Value)
	if err != nil {
		return nil, fmt.Errorf("matcher %s: invalid regular expression: %w", m.Name, err)
	}
	return lm, nil
}

// APIMatchers converts label matchers to the API form.
func APIMatchers(ms Matchers) []APIMatcher {
	out := make([]APIMatcher, len(ms))
	for i, m := range ms {
		eq := m.Type == labels.MatchEqual || m.Type == labels.MatchRegexp
		out[i] = APIMatcher{Name: m.Name, Value: m.Value, IsRegex: m.Type == labels.MatchRegexp || m.Type == labels.MatchNotRegexp, IsEqual: &eq}
	}
	return out
}

func (s *Silence) state(now time.Time) string {
	switch {
	case now.Before(s.StartsAt):
		return "pending"
	case !now.Before(s.EndsAt):
		return "expired"
	}
	return "active"
}

func (s *Silence) active(now time.Time) bool { return s.state(now) == "active" }

func newSilenceID() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:])
}

// errNotFound and errBadRequest map to 404 and 400 in the API.
var (
	errNotFound   = errors.New("not found")
	errBadRequest = errors.New("bad request")
)

func (n *Notifier) loadSilences(ctx context.Context) error {
	rows, err := n.db.QueryContext(ctx, `SELECT id, matchers, starts_at, ends_at, created_by, comment, updated_at, expire_on_resolve, seen_firing FROM notify_silences`)
	if err != nil {
		return fmt.Errorf("load silences: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var s Silence
		var m string
		var st, en, up int64
		if err := rows.Scan(&s.ID, &m, &st, &en, &s.CreatedBy, &s.Comment, &up, &s.ExpireOnResolve, &s.seenFiring); err != nil {
			return fmt.Errorf("load silences: %w", err)
		}
		s.StartsAt, s.EndsAt, s.UpdatedAt = fromMS(st), fromMS(en), fromMS(up)
		if err := json.Unmarshal([]byte(m), &s.Matchers); err != nil {
			return fmt.Errorf("load silence %s: %w", s.ID, err)
		}
		for _, am := range s.Matchers {
			lm, err := am.compile()
			if err != nil {
				return fmt.Errorf("load silence %s: %w", s.ID, err)
			}
			s.matchers = append(s.matchers, lm)
		}
		n.putSilence(&s, n.now())
	}
	return rows.Err()
}

func (n *Notifier) saveSilence(ctx context.Context, s *Silence) error {
	m, _ := json.Marshal(s.Matchers)
	_, err := n.db.ExecContext(ctx, `INSERT OR REPLACE INTO notify_silences
		(id, matchers, starts_at, ends_at, created_by, comment, updated_at, expire_on_resolve, seen_firing) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		s.ID, string(m), ms(s.StartsAt), ms(s.EndsAt), s.CreatedBy, s.Comment, ms(s.UpdatedAt), s.ExpireOnResolve, s.seenFiring)
	if err != nil {
		return fmt.Errorf("save silence: %w", err)
	}
	return nil
}

// AddSilence creates a silence, or updates the one with the same ID, and
// returns its ID.
func (n *Notifier) AddSilence(ctx context.Context, s Silence) (string, error) {
	now := n.now()
	if len(s.Matchers) == 0 {
		return "", fmt.Errorf("%w: a silence needs at least one matcher", errBadRequest)
	}
	s.matchers = nil
	for _, am := range s.Matchers {
		lm, err := am.compile()
		if err != nil {
			return "", fmt.Errorf("%w: %w", errBadRequest, err)
		}
		s.matchers = append(s.matchers, lm)
	}
	if s.StartsAt.IsZero() || s.StartsAt.Before(now) {
		s.StartsAt = now
	}
	if !s.EndsAt.After(s.StartsAt) {
		return "", fmt.Errorf("%w: endsAt must be after startsAt and in the future", errBadRequest)
	}
	if s.ID != "" {
		n.mu.Lock()
		_, ok := n.silences[s.ID]
		n.mu.Unlock()
		if !ok {
			return "", fmt.Errorf("%w: silence %s", errNotFound, s.ID)
		}
	} else {
		s.ID = newSilenceID()
	}
	s.UpdatedAt = now
	s.StartsAt, s.EndsAt = s.StartsAt.UTC(), s.EndsAt.UTC()
	if err := n.saveSilence(ctx, &s); err != nil {
		return "", err
	}
	n.mu.Lock()
	n.putSilence(&s, now)
	n.mu.Unlock()
	n.logger.Info("silence created", "silence", s.ID, "matchers", s.matchers.String(), "ends_at", s.EndsAt, "created_by", s.CreatedBy)
	n.wake(n.wakeDispatch)
	return s.ID, nil
}

// ExpireSilence ends a silence now.
func (n *Notifier) ExpireSilence(ctx context.Context, id string) error {
	now := n.now()
	n.mu.Lock()
	s, ok := n.silences[id]
	if !ok {
		n.mu.Unlock()
		return fmt.Errorf("%w: silence %s", errNotFound, id)
	}
	if s.state(now) == "expired" {
		n.mu.Unlock()
		return fmt.Errorf("%w: silence %s is already expired", errBadRequest, id)
	}
	cp := *s
	n.mu.Unlock()
	if cp.StartsAt.After(now) {
		cp.StartsAt = now
	}
	cp.EndsAt, cp.UpdatedAt = now, now
	if err := n.saveSilence(ctx, &cp); err != nil {
		return err
	}
	n.mu.Lock()
	n.putSilence(&cp, now)
	n.mu.Unlock()
	n.logger.Info("silence expired", "silence", id)
	return nil
}

// Silences lists the silences, newest first, with their state.
func (n *Notifier) Silences() []Silence {
	now := n.now()
	n.mu.Lock()
	out := make([]Silence, 0, len(n.silences))
	for _, s := range n.silences {
		cp := *s
		cp.Status.State = s.state(now)
		out = append(out, cp)
	}
	n.mu.Unlock()
	sort.Slice(out, func(i, j int) bool { return out[i].UpdatedAt.After(out[j].UpdatedAt) })
	return out
}

// Silence returns one silence.
func (n *Notifier) Silence(id string) (Silence, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	s, ok := n.silences[id]
	if !ok {
		return Silence{}, fmt.Errorf("%w: silence %s", errNotFound, id)
	}
	cp := *s
	cp.Status.State = s.state(n.now())
	return cp, nil
}

// putSilence stores a silence, live while pending or active. Called with mu held.
func (n *Notifier) putSilence(s *Silence, now time.Time) {
	n.silences[s.ID] = s
	if s.state(now) == "expired" {
		delete(n.live, s.ID)
	} else {
		n.live[s.ID] = s
	}
}

// liveSilencesAt returns the silences pending or active at now, and drops
// from the live set those that have expired since: expired silences are
// never scanned again. Called with mu held.
func (n *Notifier) liveSilencesAt(now time.Time) []*Silence {
	out := make([]*Silence, 0, len(n.live))
	for id, s := range n.live {
		if s.state(now) == "expired" {
			delete(n.live, id)
			continue
		}
		out = append(out, s)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

// silencedBy returns the active silences muting lset. Called with mu held.
func (n *Notifier) silencedBy(lset map[string]string, now time.Time) []string {
	var out []string
	for id, s := range n.live {
		if s.active(now) && s.matchers.Matches(lset) {
			out = append(out, id)
		}
	}
	sort.Strings(out)
	return out
}

// expireResolvedSilences ends expire-on-resolve silences once an alert
// they muted has fired and every alert they match has resolved. Called
// with mu held; returns the silences to persist. Silences are replaced,
// never changed in place: a flush's snapshot holds pointers to them.
func (n *Notifier) expireResolvedSilences(now time.Time) []*Silence {
	var changed []*Silence
	for _, s := range n.live {
		if !s.ExpireOnResolve || !s.active(now) {
			continue
		}
		firing := false
		for _, a := range n.alerts {
			if !a.Resolved(now) && s.matchers.Matches(a.Labels) {
				firing = true
				break
			}
		}
		cp := *s
		switch {
		case firing && !s.seenFiring:
			cp.seenFiring = true
		case !firing && s.seenFiring:
			cp.EndsAt, cp.UpdatedAt = now, now
			n.logger.Info("silence expired: the alerts it muted have resolved", "silence", s.ID)
		default:
			continue
		}
		n.putSilence(&cp, now)
		changed = append(changed, &cp)
	}
	return changed
}
