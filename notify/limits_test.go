package notify

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/vigie-dev/vigie/config"
)

// intakeServer serves the notifier's real alerts handler on loopback.
func intakeServer(t *testing.T, limits string) (*Notifier, *prometheus.Registry, string) {
	t.Helper()
	cfg := mustConfig(t, "route: {receiver: default}\nreceivers: [{name: default}]\n"+limits)
	reg := prometheus.NewRegistry()
	n, err := New(cfg, Options{State: openState(t, t.TempDir()+"/state.db"), Logger: testLogger(t), Registerer: reg})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /api/v2/alerts", n.postAlerts)
	mux.HandleFunc("POST /api/v2/silences", n.postSilence)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return n, reg, srv.URL
}

func post(t *testing.T, url string, body []byte) (int, string, http.Header) {
	t.Helper()
	resp, err := http.Post(url, "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), resp.Header
}

func alertsBody(from, to int) []byte {
	var b bytes.Buffer
	b.WriteByte('[')
	for i := from; i < to; i++ {
		if i > from {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `{"labels":{"alertname":"Flood","i":"%d"}}`, i)
	}
	b.WriteByte(']')
	return b.Bytes()
}

// TestIntakeLimits reproduces issue 10's attack, one POST of 70,000 alerts
// under the body cap, and the other ways past the intake.
func TestIntakeLimits(t *testing.T) {
	n, reg, url := intakeServer(t, "limits: {max_active_alerts: 5}")
	alertsURL := url + "/api/v2/alerts"
	rejected := func(reason string) float64 {
		return testutil.ToFloat64(n.metrics.rejected.WithLabelValues(reason))
	}

	t.Run("70000 alerts in one request", func(t *testing.T) {
		body := alertsBody(0, 70000)
		if len(body) >= 4<<20 {
			t.Fatalf("the attack body is %d bytes: it must stay under the 4MB cap", len(body))
		}
		code, msg, _ := post(t, alertsURL, body)
		if code != http.StatusRequestEntityTooLarge || !strings.Contains(msg, "70000 in one request") || !strings.Contains(msg, "notify.limits.max_alerts_per_request is 1000") {
			t.Fatalf("got %d %s", code, msg)
		}
		if got := len(n.Alerts()); got != 0 {
			t.Fatalf("%d alerts kept from a refused request", got)
		}
		if v := rejected(rejectPerRequest); v != 70000 {
			t.Fatalf("rejected{max_alerts_per_request} = %v", v)
		}
	})

	t.Run("body over the size cap", func(t *testing.T) {
		body := append([]byte(`[{"labels":{"alertname":"Big","blob":"`), bytes.Repeat([]byte("x"), 5<<20)...)
		body = append(body, `"}}]`...)
		code, msg, _ := post(t, alertsURL, body)
		if code != http.StatusRequestEntityTooLarge || !strings.Contains(msg, "notify.limits.max_request_size is 4194304 bytes") || strings.Contains(msg, "EOF") {
			t.Fatalf("got %d %s", code, msg)
		}
		if v := rejected(rejectBodySize); v != 1 {
			t.Fatalf("rejected{max_request_size} = %v", v)
		}
		// The silence API has the same cap.
		code, msg, _ = post(t, url+"/api/v2/silences", body)
		if code != http.StatusRequestEntityTooLarge || !strings.Contains(msg, "max_request_size") {
			t.Fatalf("silences: got %d %s", code, msg)
		}
	})

	t.Run("active alert limit", func(t *testing.T) {
		if code, msg, _ := post(t, alertsURL, alertsBody(0, 3)); code != http.StatusOK {
			t.Fatalf("3 alerts: %d %s", code, msg)
		}
		code, msg, _ := post(t, alertsURL, alertsBody(0, 7)) // 3 known, 4 new: 2 fit
		if code != http.StatusUnprocessableEntity || !strings.Contains(msg, "2 new alerts refused") || !strings.Contains(msg, "notify.limits.max_active_alerts is 5") {
			t.Fatalf("got %d %s", code, msg)
		}
		if got := len(n.Alerts()); got != 5 {
			t.Fatalf("%d alerts firing, want the limit, 5", got)
		}
		if v := rejected(rejectActiveLimit); v != 2 {
			t.Fatalf("rejected{max_active_alerts} = %v", v)
		}
		// Updates of known alerts always go in; so does a resolution, which makes room.
		if code, msg, _ := post(t, alertsURL, alertsBody(0, 5)); code != http.StatusOK {
			t.Fatalf("re-sending known alerts: %d %s", code, msg)
		}
		ended := time.Now().Add(-time.Second).UTC().Format(time.RFC3339)
		if code, msg, _ := post(t, alertsURL, []byte(`[{"labels":{"alertname":"Flood","i":"0"},"endsAt":"`+ended+`"}]`)); code != http.StatusOK {
			t.Fatalf("resolving: %d %s", code, msg)
		}
		if code, msg, _ := post(t, alertsURL, alertsBody(5, 6)); code != http.StatusOK {
			t.Fatalf("a new alert after a resolution: %d %s", code, msg)
		}
	})

	t.Run("errors never echo raw input", func(t *testing.T) {
		for _, body := range []string{`<script>alert(1)</script>`, `[{"labels":{"<img src=x>":"v"}}]`, `{"labels":{}}`} {
			code, msg, h := post(t, alertsURL, []byte(body))
			if code != http.StatusBadRequest || strings.ContainsAny(msg, "<>") || h.Get("X-Content-Type-Options") != "nosniff" {
				t.Fatalf("%s: got %d %s %v", body, code, msg, h)
			}
			var s string
			if err := json.Unmarshal([]byte(msg), &s); err != nil {
				t.Fatalf("%s: the error is not a JSON string: %s", body, msg)
			}
		}
	})

	if _, err := reg.Gather(); err != nil {
		t.Fatal(err)
	}
}

func TestLimitsConfig(t *testing.T) {
	cfg := mustConfig(t, "limits: {max_request_size: 8MB}")
	if cfg.Limits.MaxRequestSize != 8<<20 || cfg.Limits.MaxAlertsPerRequest != 1000 || cfg.Limits.MaxActiveAlerts != 10000 {
		t.Fatalf("limits = %+v", cfg.Limits)
	}
	cfg = DefaultConfig()
	err := config.Decode("notify.yml", []byte("limits: {max_alerts_per_request: 0, max_active_alerts: -1, max_request_size: 10B}"), &cfg)
	for _, want := range []string{"limits.max_alerts_per_request", "limits.max_active_alerts", "limits.max_request_size"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Validate() = %v, want an error on %s", err, want)
		}
	}
}

// TestRepeatedFlushErrorLoggedOnce breaks the state database under a
// running notifier: the flush, retried every second, logs its error once
// at warn, then at debug, counting the repeats.
func TestRepeatedFlushErrorLoggedOnce(t *testing.T) {
	var buf syncBuffer
	clock := &fakeClock{t: stageNow}
	reg := prometheus.NewRegistry()
	st := openState(t, t.TempDir()+"/state.db")
	n, err := New(mustConfig(t, "route: {receiver: default, group_wait: 0s}\nreceivers: [{name: default, webhook_configs: [{url: 'http://127.0.0.1:1/'}]}]"),
		Options{State: st, Logger: slogTo(&buf), Registerer: reg, Now: clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	if err := n.Put(t.Context(), firingAt(stageNow, alert("A"))); err != nil {
		t.Fatal(err)
	}
	_ = st.DB.Close() // every write now fails the same way
	t.Cleanup(func() { t.Log(buf.String()) })
	runNotifier(t, n)
	eventually(t, 15*time.Second, "the flush error to repeat", func() bool {
		clock.Set(clock.Now().Add(time.Second)) // failed groups are retried a second later
		return strings.Contains(buf.String(), `level=DEBUG msg="flushing alert groups failed"`) && testutil.ToFloat64(n.metrics.logRepeats) >= 2
	})
	if got := strings.Count(buf.String(), `level=WARN msg="flushing alert groups failed"`); got != 1 {
		t.Fatalf("logged %d times at warn, want once:\n%s", got, buf.String())
	}
	if !strings.Contains(buf.String(), `level=DEBUG msg="flushing alert groups failed"`) {
		t.Fatalf("repeats not logged at debug:\n%s", buf.String())
	}
}
