package logs

import (
	"strings"
	"testing"
	"time"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/rulefmt"
	"github.com/prometheus/prometheus/promql/parser"

	"github.com/vigie-dev/vigie/config"
)

func TestConfigDecode(t *testing.T) {
	cfg := DefaultConfig()
	err := config.Decode("vigie.yml", []byte(`
files:
  - path: /var/log/app/*.log
    labels: {job: app}
patterns:
  - name: payment_failed
    regex: 'payment (declined|failed)'
    labels: {severity: critical}
    alert: {threshold: 5, window: 5m}
retention: {max_age: 3d, max_size: 512MiB}
forward:
  - url: https://loki.example.com/loki/api/v1/push
    tenant: team-a
push: {max_body_size: 4MB}
`), &cfg)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Retention.MaxAge.D() != 72*time.Hour || cfg.Retention.MaxSize != 512<<20 || cfg.Push.MaxBodySize != 4<<20 ||
		cfg.Push.MaxStreams != DefaultMaxStreams || cfg.Multiline.MaxLines != DefaultMaxLines || cfg.Patterns[0].Alert.Threshold != 5 {
		t.Errorf("decoded %+v", cfg)
	}
}

func TestConfigErrors(t *testing.T) {
	cfg := DefaultConfig()
	err := config.Decode("vigie.yml", []byte(`files:
  - path: "/var/log/[.log"
    labels: {level: x}
patterns:
  - name: go_panic
    regex: 'x'
  - name: bad name
    regex: '('
    alert: {threshold: 1}
retention: {max_size: 10KB}
forward:
  - url: loki:3100
push: {max_streams: 0}
`), &cfg)
	if err == nil {
		t.Fatal("no error")
	}
	for _, want := range []string{
		`vigie.yml:2:`, `files[0].path: invalid glob`,
		`files[0].labels.level: "level" is set by vigie`,
		`vigie.yml:5:`, `patterns[0].name: duplicate or built-in pattern name "go_panic"`,
		`patterns[1].name: "bad name" is not a valid name`, `patterns[1].regex: error parsing regexp`,
		`patterns[1].alert.window: must be positive`,
		`retention.max_size: must be at least 1MiB`,
		`forward[0].url: must be an http(s) URL`,
		`push.max_streams: must be at least 1`,
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("missing %q in:\n%v", want, err)
		}
	}
}

func TestPatternRules(t *testing.T) {
	cfg := DefaultConfig()
	if cfg.PatternRules() != nil {
		t.Fatal("rules without alerting patterns")
	}
	cfg.Patterns = []PatternConfig{
		{Name: "payment_failed", Regex: "x", Labels: map[string]string{"severity": "critical", "team": "shop"},
			Alert: &PatternAlert{Threshold: 5, Window: config.Duration(5 * time.Minute)}},
		{Name: "quiet", Regex: "y"},
	}
	out := cfg.PatternRules()
	groups, errs := rulefmt.Parse(out, false, model.UTF8Validation, parser.NewParser(parser.Options{}), nil)
	if len(errs) > 0 {
		t.Fatalf("%v\n%s", errs, out)
	}
	r := groups.Groups[0].Rules
	if len(r) != 1 || r[0].Alert != "LogPatternPaymentFailed" || r[0].Labels["severity"] != "critical" || r[0].Labels["team"] != "shop" ||
		r[0].Expr != `sum by (pattern, source) (increase(vigie_log_pattern_matches_total{pattern="payment_failed"}[5m])) > 5` {
		t.Errorf("rules:\n%s", out)
	}
}
