package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vigie-dev/vigie/internal/vigietest"
)

// TestPrometheusWithTokens: with access control required and /metrics
// behind a token, Debian's Prometheus scrapes vigie with a read token
// (`authorization.credentials_file`) and remote-writes back into it with an
// admin token; a scrape without a token is refused (up 0).
func TestPrometheusWithTokens(t *testing.T) {
	bin, err := exec.LookPath("prometheus")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("prometheus (Debian's package) is needed: %v", err)
		}
		t.Skipf("prometheus not installed: %v", err)
	}
	dir := t.TempDir()
	if code, _, errs := vigieCLI(t, e2ePassword+"\n", "user", "add", "ops", "--data-dir", dir); code != 0 {
		t.Fatal(errs)
	}
	_, readToken, _ := vigieCLI(t, "", "token", "create", "--data-dir", dir, "--scope", "read", "prometheus")
	_, adminToken, _ := vigieCLI(t, "", "token", "create", "--data-dir", dir, "--scope", "admin", "writer")
	readToken, adminToken = strings.TrimSpace(readToken), strings.TrimSpace(adminToken)
	p := vigietest.Start(t, vigietest.Options{DataDir: dir,
		Config: "collect:\n  interval: 1s\n  docker: {enabled: false}\nauth:\n  mode: required\n  metrics_require_token: true\n"})

	work := t.TempDir()
	for name, secret := range map[string]string{"read": readToken, "admin": adminToken} {
		if err := os.WriteFile(filepath.Join(work, name), []byte(secret), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	cfg := fmt.Sprintf(`global: {scrape_interval: 1s}
scrape_configs:
  - job_name: vigie-with-token
    authorization: {credentials_file: %[1]s/read}
    static_configs: [{targets: [%[2]q]}]
  - job_name: vigie-without-token
    static_configs: [{targets: [%[2]q]}]
remote_write:
  - url: http://%[2]s/api/v1/write
    authorization: {credentials_file: %[1]s/admin}
    queue_config: {batch_send_deadline: 200ms}
`, work, p.Addr)
	if err := os.WriteFile(filepath.Join(work, "prometheus.yml"), []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	prom := exec.Command(bin, "--config.file="+filepath.Join(work, "prometheus.yml"),
		"--storage.tsdb.path="+filepath.Join(work, "data"), "--web.listen-address=127.0.0.1:0")
	var log lockedBuffer
	prom.Stdout, prom.Stderr = &log, &log
	if err := prom.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = prom.Process.Kill()
		_ = prom.Wait()
		if t.Failed() {
			t.Logf("prometheus log:\n%s", log.String())
		}
	})

	// up as Prometheus recorded it, read back from vigie with the read token.
	up := func(job string) (float64, bool) {
		req, _ := http.NewRequest(http.MethodGet, "http://"+p.Addr+"/api/v1/query?query="+url.QueryEscape(`up{job="`+job+`"}`), nil)
		req.Header.Set("Authorization", "Bearer "+readToken)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return 0, false
		}
		defer resp.Body.Close()
		var body struct {
			Data struct {
				Result []struct {
					Value [2]any `json:"value"`
				} `json:"result"`
			} `json:"data"`
		}
		if json.NewDecoder(resp.Body).Decode(&body) != nil || len(body.Data.Result) == 0 {
			return 0, false
		}
		s, _ := body.Data.Result[0].Value[1].(string)
		return map[string]float64{"1": 1, "0": 0}[s], true
	}
	vigietest.Eventually(t, 60*time.Second, "Prometheus's scrape with a token, remote-written into vigie", func() bool {
		v, ok := up("vigie-with-token")
		return ok && v == 1
	})
	vigietest.Eventually(t, 30*time.Second, "the scrape without a token recorded as down", func() bool {
		v, ok := up("vigie-without-token")
		return ok && v == 0
	})
	if strings.Contains(p.Log(), readToken) || strings.Contains(p.Log(), adminToken) {
		t.Error("vigie's log shows a token")
	}
}
