package notify

import (
	"bytes"
	"fmt"
	htmltemplate "html/template"
	"net/url"
	"regexp"
	"sort"
	"strings"
	"text/template"
	"time"
)

// Data is what message templates see: Alertmanager's template data, so a
// template written for Alertmanager works unchanged, plus vigie's links.
type Data struct {
	Receiver          string `json:"receiver"`
	Status            string `json:"status"`
	Alerts            Alerts `json:"alerts"`
	GroupLabels       KV     `json:"groupLabels"`
	CommonLabels      KV     `json:"commonLabels"`
	CommonAnnotations KV     `json:"commonAnnotations"`
	ExternalURL       string `json:"externalURL"`
	// GroupKey identifies the group (route and group labels).
	GroupKey string `json:"groupKey"`
	// Fallback is set when this message is sent to the fallback receiver
	// because Fallback.Receiver keeps failing.
	Fallback *FallbackInfo `json:"fallback,omitempty"`
	// Test is set by `vigie notify test`.
	Test bool `json:"-"`
}

// FallbackInfo says which receiver failed, since when and why.
type FallbackInfo struct {
	Receiver    string    `json:"receiver"`
	Integration string    `json:"integration"`
	Error       string    `json:"error"`
	Since       time.Time `json:"since"`
}

// TemplateAlert is one alert in Data.
type TemplateAlert struct {
	Status       string    `json:"status"`
	Labels       KV        `json:"labels"`
	Annotations  KV        `json:"annotations"`
	StartsAt     time.Time `json:"startsAt"`
	EndsAt       time.Time `json:"endsAt"`
	GeneratorURL string    `json:"generatorURL"`
	Fingerprint  string    `json:"fingerprint"`
	// AckURL (vigie) is the signed one-click acknowledgement link of a firing alert.
	AckURL string `json:"-"`
}

// Alerts is a list of template alerts.
type Alerts []TemplateAlert

// Firing returns the firing alerts.
func (as Alerts) Firing() Alerts { return as.filter("firing") }

// Resolved returns the resolved alerts.
func (as Alerts) Resolved() Alerts { return as.filter("resolved") }

func (as Alerts) filter(s string) Alerts {
	out := Alerts{}
	for _, a := range as {
		if a.Status == s {
			out = append(out, a)
		}
	}
	return out
}

// KV is a label or annotation set with Alertmanager's template helpers.
type KV map[string]string

// Pair is a name and a value.
type Pair struct{ Name, Value string }

// Pairs is a list of pairs.
type Pairs []Pair

// Names returns the names.
func (ps Pairs) Names() []string {
	out := make([]string, len(ps))
	for i, p := range ps {
		out[i] = p.Name
	}
	return out
}

// Values returns the values.
func (ps Pairs) Values() []string {
	out := make([]string, len(ps))
	for i, p := range ps {
		out[i] = p.Value
	}
	return out
}

// SortedPairs returns the pairs sorted by name, alertname first.
func (kv KV) SortedPairs() Pairs {
	names := sortedKeys(kv)
	sort.SliceStable(names, func(i, j int) bool { return names[i] == "alertname" && names[j] != "alertname" })
	out := make(Pairs, len(names))
	for i, n := range names {
		out[i] = Pair{n, kv[n]}
	}
	return out
}

// Names returns the sorted names.
func (kv KV) Names() []string { return kv.SortedPairs().Names() }

// Values returns the values sorted by name.
func (kv KV) Values() []string { return kv.SortedPairs().Values() }

// Remove returns a copy without the given names.
func (kv KV) Remove(names []string) KV {
	out := KV{}
	for k, v := range kv {
		out[k] = v
	}
	for _, n := range names {
		delete(out, n)
	}
	return out
}

var templateFuncs = template.FuncMap{
	"toUpper":   strings.ToUpper,
	"toLower":   strings.ToLower,
	"title":     title,
	"trimSpace": strings.TrimSpace,
	"join":      func(sep string, s []string) string { return strings.Join(s, sep) },
	"match":     regexp.MatchString,
	"reReplaceAll": func(pattern, repl, text string) string {
		return regexp.MustCompile(pattern).ReplaceAllString(text, repl)
	},
	"safeHtml":         func(s string) htmltemplate.HTML { return htmltemplate.HTML(s) },
	"stringSlice":      func(s ...string) []string { return s },
	"urlquery":         url.QueryEscape,
	"since":            func(t time.Time) time.Duration { return time.Since(t).Round(time.Second) },
	"humanizeDuration": func(d time.Duration) string { return d.Round(time.Second).String() },
	"date":             func(layout string, t time.Time) string { return t.Format(layout) },
	"tz": func(name string, t time.Time) (time.Time, error) {
		loc, err := time.LoadLocation(name)
		if err != nil {
			return t, err
		}
		return t.In(loc), nil
	},
}

func newHTMLTemplate(name, text string) (*htmltemplate.Template, error) {
	return htmltemplate.New(name).Funcs(htmltemplate.FuncMap(templateFuncs)).Parse(text)
}

func renderText(name, text string, data any) (string, error) {
	t, err := template.New(name).Funcs(templateFuncs).Parse(text)
	if err != nil {
		return "", fmt.Errorf("template %s: %w", name, err)
	}
	var b bytes.Buffer
	if err := t.Execute(&b, data); err != nil {
		return "", fmt.Errorf("template %s: %w", name, err)
	}
	return b.String(), nil
}

func renderHTML(name, text string, data any) (string, error) {
	t, err := newHTMLTemplate(name, text)
	if err != nil {
		return "", fmt.Errorf("template %s: %w", name, err)
	}
	var b bytes.Buffer
	if err := t.Execute(&b, data); err != nil {
		return "", fmt.Errorf("template %s: %w", name, err)
	}
	return b.String(), nil
}

// Default templates. The subject says firing/resolved, the count and the group.
const (
	DefaultEmailSubject = `{{ if .Fallback }}[fallback for {{ .Fallback.Receiver }}] {{ end }}[{{ .Status | toUpper }}{{ if eq .Status "firing" }}:{{ .Alerts.Firing | len }}{{ end }}] {{ .GroupLabels.SortedPairs.Values | join " " }}`

	DefaultEmailText = `{{ if .Fallback }}This message reaches you because receiver {{ .Fallback.Receiver }} ({{ .Fallback.Integration }}) has failed since {{ .Fallback.Since.Format "2006-01-02 15:04:05 MST" }}: {{ .Fallback.Error }}

{{ end }}{{ if .Alerts.Firing }}{{ .Alerts.Firing | len }} firing:
{{ range .Alerts.Firing }}
* {{ .Labels.alertname }}{{ with .Labels.severity }} [{{ . }}]{{ end }}{{ with .Annotations.summary }}: {{ . }}{{ end }}
{{ with .Annotations.description }}  {{ . }}
{{ end }}{{ with .Annotations.value }}  Value: {{ . }}
{{ end }}{{ with .Annotations.exit_code }}  Exit code: {{ . }}
{{ end }}{{ with .Annotations.output }}  Output (last lines):
{{ . }}
{{ end }}{{ with .Annotations.log_lines }}  Last log lines:
{{ . }}
{{ end }}  Labels: {{ range .Labels.SortedPairs }}{{ .Name }}={{ .Value }} {{ end }}
  Since: {{ .StartsAt.Format "2006-01-02 15:04:05 MST" }}
{{ with .Annotations.runbook_url }}  Runbook: {{ . }}
{{ end }}{{ with .GeneratorURL }}  Source: {{ . }}
{{ end }}{{ with .AckURL }}  Acknowledge: {{ . }}
{{ end }}{{ end }}{{ end }}{{ if .Alerts.Resolved }}
{{ .Alerts.Resolved | len }} resolved:
{{ range .Alerts.Resolved }}
* {{ .Labels.alertname }}{{ with .Annotations.summary }}: {{ . }}{{ end }}
  Labels: {{ range .Labels.SortedPairs }}{{ .Name }}={{ .Value }} {{ end }}
  From {{ .StartsAt.Format "2006-01-02 15:04:05 MST" }} to {{ .EndsAt.Format "2006-01-02 15:04:05 MST" }}
{{ end }}{{ end }}
-- 
vigie {{ .ExternalURL }}
`

	DefaultEmailHTML = `<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>{{ .Status }}</title></head>
<body style="font-family: sans-serif">
{{ if .Fallback }}<p style="background:#fff3cd">This message reaches you because receiver {{ .Fallback.Receiver }} ({{ .Fallback.Integration }}) has failed since {{ .Fallback.Since.Format "2006-01-02 15:04:05 MST" }}: {{ .Fallback.Error }}</p>
{{ end }}{{ if .Alerts.Firing }}<h2 style="color:#c0392b">{{ .Alerts.Firing | len }} firing</h2>
<ul>{{ range .Alerts.Firing }}
<li><strong>{{ .Labels.alertname }}</strong>{{ with .Labels.severity }} [{{ . }}]{{ end }}{{ with .Annotations.summary }}: {{ . }}{{ end }}<br>
{{ with .Annotations.description }}{{ . }}<br>{{ end }}{{ with .Annotations.value }}Value: {{ . }}<br>{{ end }}{{ with .Annotations.exit_code }}Exit code: {{ . }}<br>{{ end }}
{{ with .Annotations.output }}Output (last lines):<pre>{{ . }}</pre>{{ end }}{{ with .Annotations.log_lines }}Last log lines:<pre>{{ . }}</pre>{{ end }}
Labels: {{ range .Labels.SortedPairs }}<code>{{ .Name }}={{ .Value }}</code> {{ end }}<br>
Since: {{ .StartsAt.Format "2006-01-02 15:04:05 MST" }}<br>
{{ with .Annotations.runbook_url }}<a href="{{ . }}">Runbook</a> {{ end }}{{ with .GeneratorURL }}<a href="{{ . }}">Source</a> {{ end }}{{ with .AckURL }}<a href="{{ . }}">Acknowledge</a>{{ end }}</li>{{ end }}
</ul>{{ end }}{{ if .Alerts.Resolved }}<h2 style="color:#27ae60">{{ .Alerts.Resolved | len }} resolved</h2>
<ul>{{ range .Alerts.Resolved }}
<li><strong>{{ .Labels.alertname }}</strong>{{ with .Annotations.summary }}: {{ . }}{{ end }}<br>
Labels: {{ range .Labels.SortedPairs }}<code>{{ .Name }}={{ .Value }}</code> {{ end }}<br>
From {{ .StartsAt.Format "2006-01-02 15:04:05 MST" }} to {{ .EndsAt.Format "2006-01-02 15:04:05 MST" }}</li>{{ end }}
</ul>{{ end }}
<p><a href="{{ .ExternalURL }}">vigie</a></p>
</body></html>
`

	DefaultSlackTitle = `{{ if .Fallback }}[fallback for {{ .Fallback.Receiver }}] {{ end }}[{{ .Status | toUpper }}{{ if eq .Status "firing" }}:{{ .Alerts.Firing | len }}{{ end }}] {{ .GroupLabels.SortedPairs.Values | join " " }}`
)

// title upper-cases the first letter of every word.
func title(s string) string {
	prev := ' '
	return strings.Map(func(r rune) rune {
		defer func() { prev = r }()
		if prev == ' ' || prev == '\t' || prev == '\n' || prev == '-' || prev == '_' {
			return []rune(strings.ToUpper(string(r)))[0]
		}
		return r
	}, s)
}
