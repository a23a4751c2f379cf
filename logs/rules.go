package logs

import (
	"fmt"
	"maps"
	"strings"

	"go.yaml.in/yaml/v3"
)

// PatternRules returns a Prometheus rule file with one alert per pattern
// that declares alert: {threshold, window} (Papertrail-style "more than N
// matches in W"), or nil when none does. The composition root hands it to
// the rules manager with the other rule files. Each alert keeps the
// pattern's labels (severity defaults to warning) and fires per source, so
// a notification can carry that source's last lines.
func (c Config) PatternRules() []byte {
	type rule struct {
		Alert       string            `yaml:"alert"`
		Expr        string            `yaml:"expr"`
		Labels      map[string]string `yaml:"labels"`
		Annotations map[string]string `yaml:"annotations"`
	}
	var rules []rule
	for _, p := range c.Patterns {
		if p.Alert == nil {
			continue
		}
		ls := map[string]string{"severity": "warning"}
		maps.Copy(ls, p.Labels)
		rules = append(rules, rule{
			Alert: "LogPattern" + camel(p.Name),
			Expr: fmt.Sprintf(`sum by (pattern, source) (increase(vigie_log_pattern_matches_total{pattern=%q}[%s])) > %d`,
				p.Name, p.Alert.Window, p.Alert.Threshold),
			Labels: ls,
			Annotations: map[string]string{
				"summary":     fmt.Sprintf("Log pattern %s matched in {{ $labels.source }}", p.Name),
				"description": fmt.Sprintf("{{ printf \"%%.0f\" $value }} lines of {{ $labels.source }} matched %s in %s (threshold %d).", p.Name, p.Alert.Window, p.Alert.Threshold),
			},
		})
	}
	if len(rules) == 0 {
		return nil
	}
	out, err := yaml.Marshal(map[string]any{"groups": []map[string]any{{"name": "vigie-log-patterns", "rules": rules}}})
	if err != nil { // maps of strings always marshal
		panic(err)
	}
	return out
}

// camel turns payment_failed into PaymentFailed.
func camel(s string) string {
	var b strings.Builder
	for _, part := range strings.Split(s, "_") {
		if part != "" {
			b.WriteString(strings.ToUpper(part[:1]) + part[1:])
		}
	}
	return b.String()
}
