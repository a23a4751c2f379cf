package scaling

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vigie-dev/vigie/config"
)

// root stands for the root document: the scaling section with its defaults.
type root struct {
	Scaling Config `yaml:"scaling"`
}

func (r *root) Validate() error { return config.Prefix("scaling", r.Scaling.Validate()) }

func decode(t *testing.T, file string) (*root, error) {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	r := &root{Scaling: DefaultConfig()}
	return r, config.Decode(filepath.Base(file), b, r)
}

func TestConfigGood(t *testing.T) {
	r, err := decode(t, "testdata/good.yml")
	if err != nil {
		t.Fatal(err)
	}
	s := r.Scaling.Services
	if len(s) != 3 || s[0].Service != "backend" || !s[1].IsCompose() {
		t.Fatalf("services: %+v", s)
	}
	b := s[0].behavior()
	if b.ScaleDown.StabilizationWindow != 5*time.Minute || b.ScaleUp.SelectPolicy != SelectMax || len(b.ScaleUp.Policies) != 2 {
		t.Errorf("backend behavior (defaults) = %+v", b)
	}
	b = s[2].behavior()
	if b.ScaleDown.StabilizationWindow != 60*time.Second || b.ScaleDown.SelectPolicy != SelectMin ||
		len(b.ScaleDown.Policies) != 2 || b.ScaleDown.Policies[1] != (Policy{Type: PolicyPercent, Value: 10, Period: time.Minute}) {
		t.Errorf("camelCase behavior = %+v", b.ScaleDown)
	}
	if b.ScaleUp.StabilizationWindow != 30*time.Second || b.ScaleUp.Policies[0].Period != 15*time.Second {
		t.Errorf("snake_case behavior = %+v", b.ScaleUp)
	}
	if s[0].Apply.cooldown() != DefaultCooldown || s[2].Apply.cooldown() != time.Minute {
		t.Errorf("cooldowns %v %v", s[0].Apply.cooldown(), s[2].Apply.cooldown())
	}
}

func TestConfigBad(t *testing.T) {
	_, err := decode(t, "testdata/bad.yml")
	if err == nil {
		t.Fatal("no error")
	}
	for _, want := range []string{
		"bad.yml:5:21: scaling.services[0].max_replicas: 1 is below min_replicas 3",
		"bad.yml:7:16: scaling.services[0].metrics[0].cpu: target 0% of the limit must be above 0 and at most 100",
		"bad.yml:8:19: scaling.services[0].metrics[1].memory: target 120% of the limit must be above 0 and at most 100",
		"bad.yml:9:17: scaling.services[0].metrics[2].expr: invalid PromQL",
		"scaling.services[1].apply.enabled: apply works for Swarm services only",
		"scaling.services[2].behavior.scale_down.select_policy: invalid value \"Most\"",
		"scaling.services[2].behavior.scale_down.policies[0].type: invalid value \"Pod\"",
		"scaling.services[3].metrics[0]: set exactly one of cpu, memory or expr",
		"scaling.services[3].service: \"backend\" is already listed at services[0]",
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("errors lack %q:\n%v", want, err)
		}
	}
}

func TestConfigUnknownBehaviorKey(t *testing.T) {
	_, err := decode(t, "testdata/bad_key.yml")
	if err == nil || !strings.Contains(err.Error(), `bad_key.yml:9:11: scaling.services[0].behavior.scaleDown: unknown field "stabilizationWindow"`) {
		t.Fatalf("got %v", err)
	}
}
