package discovery

import (
	"reflect"
	"testing"

	"github.com/vigie-dev/vigie/uptime/probe"
)

func TestDomains(t *testing.T) {
	for _, tc := range []struct {
		rule string
		want []string
	}{
		{"Host(`a.example`)", []string{"a.example"}},
		{"Host(`a.example`) || Host(`b.example`)", []string{"a.example", "b.example"}},
		{"Host(`a.example`, `b.example`)", []string{"a.example", "b.example"}},
		{`Host("a.example") && PathPrefix("/api")`, []string{"a.example"}},
		{"(Host(`A.Example`) || Host(`www.a.example`)) && PathPrefix(`/`)", []string{"a.example", "www.a.example"}},
		{"HostSNI(`db.example`)", []string{"db.example"}},
		{"HostSNI(`*`)", nil},
		{"HostRegexp(`{sub:[a-z]+}.example`)", nil},
		{"HostHeader(`a.example`)", nil},
		{"Host(`*.example`) || Host(`ok.example`)", []string{"ok.example"}},
		{"Host(`a.example`) || Host(`a.example`)", []string{"a.example"}},
		{"PathPrefix(`/`)", nil},
		{"Host(`unterminated", nil},
	} {
		if got := Domains(tc.rule); !reflect.DeepEqual(got, tc.want) {
			t.Errorf("Domains(%q) = %q, want %q", tc.rule, got, tc.want)
		}
	}
}

func TestProbesFromLabels(t *testing.T) {
	d := New(Options{Config: Config{Group: "sites"}})
	owner := func() map[string]string { return map[string]string{"service": "shop", "stack": ""} }
	got := d.Probes(map[string]string{
		"traefik.enable":                        "true",
		"traefik.http.routers.shop.rule":        "Host(`shop.example`) || Host(`www.shop.example`)",
		"traefik.http.routers.shop-http.rule":   "Host(`shop.example`)",
		"traefik.tcp.routers.pg.rule":           "HostSNI(`pg.example`)",
		"traefik.http.routers.shop.entrypoints": "websecure",
		LabelPath:                               "healthz",
		LabelExpectStatus:                       "200, 204,bad",
	}, owner())
	want := []probe.Config{
		{Name: "shop.example", Type: probe.TypeHTTP, URL: "https://shop.example/healthz", Group: "sites", Labels: map[string]string{"service": "shop"}, HTTP: probe.HTTPConfig{ValidStatusCodes: []int{200, 204}}},
		{Name: "www.shop.example", Type: probe.TypeHTTP, URL: "https://www.shop.example/healthz", Group: "sites", Labels: map[string]string{"service": "shop"}, HTTP: probe.HTTPConfig{ValidStatusCodes: []int{200, 204}}},
		{Name: "pg.example", Type: probe.TypeTLS, Target: "pg.example:443", Group: "sites", Labels: map[string]string{"service": "shop"}},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got  %+v\nwant %+v", got, want)
	}
	for _, off := range []map[string]string{
		{"traefik.http.routers.x.rule": "Host(`x.example`)", LabelEnabled: "false"},
		{"traefik.http.routers.x.rule": "Host(`x.example`)", "traefik.enable": "false"},
	} {
		if got := d.Probes(off, owner()); len(got) != 0 {
			t.Errorf("opted out, got %+v", got)
		}
	}
}
