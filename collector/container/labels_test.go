package container

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus"
)

func TestSanitizeLabel(t *testing.T) {
	for in, want := range map[string]string{
		"com.docker.compose.project": "com_docker_compose_project",
		"team":                       "team",
		"a-b/c:d":                    "a_b_c_d",
		"Ünïcode":                    "_n_code",
	} {
		if got := sanitizeLabel(in); got != want {
			t.Errorf("sanitizeLabel(%q) = %q, want %q", in, got, want)
		}
	}
}

// With container_labels ["*"], containers with different Docker labels
// still give one consistent family: every container has every
// container_label_*, empty where it lacks the label, and keys colliding
// after sanitizing are kept once.
func TestContainerLabelsAll(t *testing.T) {
	cfg := DefaultConfig()
	cfg.ContainerLabels = []string{"*"}
	c := &Collector{cfg: cfg, records: map[string]*record{}}
	a := &info{labels: labelValues("a", "web", "nginx", nil)}
	a.summary.Labels = map[string]string{"team": "pay", "a.b": "1", "a_b": "2"}
	b := &info{labels: labelValues("b", "db", "postgres", nil)}
	b.summary.Labels = map[string]string{"tier": "data"}
	set := c.labelSet([]*info{a, b})
	if got := set.names; len(got) != 3 || got[0] != "container_label_a_b" || got[1] != "container_label_team" || got[2] != "container_label_tier" {
		t.Fatalf("label names %v", got)
	}
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(collectFunc(func(ch chan<- prometheus.Metric) {
		for _, in := range []*info{a, b} {
			gauge(ch, lastSeen, 1, set.series(in.labels, in.summary.Labels))
		}
	}))
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	f := families{}
	for _, mf := range mfs {
		f[mf.GetName()] = mf
	}
	if _, ok := f.get("container_last_seen", "name", "web", "container_label_team", "pay", "container_label_tier", "", "container_label_a_b", "1"); !ok {
		t.Errorf("web: %s", f.dump("container_last_seen"))
	}
	if _, ok := f.get("container_last_seen", "name", "db", "container_label_tier", "data", "container_label_team", ""); !ok {
		t.Errorf("db: %s", f.dump("container_last_seen"))
	}
	// A configured list is used as is, sorted, whatever the containers have.
	c.cfg.ContainerLabels = []string{"team", "owner", "team"}
	if got := c.labelSet(nil).names; len(got) != 2 || got[0] != "container_label_owner" {
		t.Errorf("configured names %v", got)
	}
}

func TestParseTaskState(t *testing.T) {
	for in, want := range map[string]string{
		"42 (memhog) S 1 42 42 0": "sleeping",
		"42 (a b) c)) R 1 42":     "running",
		"42 (kworker) D 2":        "uninterruptible",
		"42 (stopped) T 1":        "stopped",
		"42 (idle) I 2":           "sleeping",
		"42 (zombie) Z 1":         "",
		"garbage":                 "",
	} {
		if got := parseTaskState([]byte(in)); got != want {
			t.Errorf("parseTaskState(%q) = %q, want %q", in, got, want)
		}
	}
}
