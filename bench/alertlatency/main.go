// Command alertlatency measures the time from a failure to the notification,
// end to end, for vigie and for Prometheus + Alertmanager side by side in one
// run: one scrape target is stopped, each stack alerts on `up == 0` with
// `for: 0s`, and the time until both an SMTP server and a Slack stand-in
// (both in this process, one pair per stack) hold the firing message is
// recorded. Run through bench/alert-latency.sh.
package main

import (
	"flag"
	"fmt"
	"io"
	"log"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/emersion/go-smtp"
)

type event struct {
	at     time.Time
	kind   string // email or slack
	firing bool
	text   string
}

// sink is an SMTP server and a Slack webhook stand-in for one stack.
type sink struct {
	name     string
	mu       sync.Mutex
	events   []event
	smtpAddr string
	httpAddr string
}

// add records a message; status is the part that says firing or resolved
// (the subject of an email, the whole body of a Slack message), text all of it.
func (s *sink) add(kind, status, text string) {
	up := strings.ToUpper(status)
	firing := strings.Contains(up, "FIRING") && !strings.Contains(up, "RESOLVED")
	s.mu.Lock()
	s.events = append(s.events, event{time.Now(), kind, firing, text})
	s.mu.Unlock()
}

// firstFiring returns when both an email and a Slack message saying that
// target inst is firing arrived after t0.
func (s *sink) firstFiring(t0 time.Time, inst string) (time.Time, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var email, slack time.Time
	for _, e := range s.events {
		if !e.firing || e.at.Before(t0) || !strings.Contains(e.text, inst) {
			continue
		}
		if e.kind == "email" && email.IsZero() {
			email = e.at
		}
		if e.kind == "slack" && slack.IsZero() {
			slack = e.at
		}
	}
	if email.IsZero() || slack.IsZero() {
		return time.Time{}, false
	}
	if email.After(slack) {
		return email, true
	}
	return slack, true
}

// resolvedSince reports whether both an email and a Slack message said
// target inst resolved after t.
func (s *sink) resolvedSince(t time.Time, inst string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	var email, slack bool
	for _, e := range s.events {
		if !e.firing && e.at.After(t) && strings.Contains(e.text, inst) {
			email = email || e.kind == "email"
			slack = slack || e.kind == "slack"
		}
	}
	return email && slack
}

type backend struct{ s *sink }

func (b backend) NewSession(*smtp.Conn) (smtp.Session, error) { return &session{s: b.s}, nil }

type session struct{ s *sink }

func (*session) AuthPlain(string, string) error       { return nil }
func (*session) Mail(string, *smtp.MailOptions) error { return nil }
func (*session) Rcpt(string, *smtp.RcptOptions) error { return nil }
func (*session) Reset()                               {}
func (*session) Logout() error                        { return nil }
func (ss *session) Data(r io.Reader) error {
	b, _ := io.ReadAll(r)
	// The subject says firing or resolved in both stacks.
	subject := ""
	for _, l := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(strings.ToLower(l), "subject:") {
			subject = l
			break
		}
	}
	ss.s.add("email", subject, string(b))
	return nil
}

func newSink(name string) *sink {
	s := &sink{name: name}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	must(err)
	srv := smtp.NewServer(backend{s})
	srv.Domain = "localhost"
	srv.AllowInsecureAuth = true
	go func() { _ = srv.Serve(ln) }()
	s.smtpAddr = ln.Addr().String()
	hl, err := net.Listen("tcp", "127.0.0.1:0")
	must(err)
	go func() {
		_ = http.Serve(hl, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			b, _ := io.ReadAll(r.Body)
			s.add("slack", string(b), string(b))
			io.WriteString(w, "ok")
		}))
	}()
	s.httpAddr = hl.Addr().String()
	return s
}

// target is a scrape target that can be stopped and started.
type target struct {
	addr string
	mu   sync.Mutex
	srv  *http.Server
}

func (t *target) start() {
	t.mu.Lock()
	defer t.mu.Unlock()
	var ln net.Listener
	var err error
	for i := 0; i < 50; i++ {
		ln, err = net.Listen("tcp", t.addr)
		if err == nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	must(err)
	t.srv = &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "# TYPE bench_ok gauge\nbench_ok 1\n")
	})}
	srv := t.srv
	go func() { _ = srv.Serve(ln) }()
}

// stop closes the listener and every open connection: the scrapers' kept-alive
// connections too, so the next scrape fails as it would on a crashed target.
func (t *target) stop() {
	t.mu.Lock()
	defer t.mu.Unlock()
	_ = t.srv.Close()
}

func freeAddr() string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	must(err)
	defer ln.Close()
	return ln.Addr().String()
}

func must(err error) {
	if err != nil {
		log.Fatal(err)
	}
}

const ruleFile = `groups:
  - name: bench
    rules:
      - alert: BenchTargetDown
        expr: up{job="bench"} == 0
        for: 0s
        labels: {severity: critical}
        annotations: {summary: "bench target down"}
`

func start(dir, name string, args ...string) *exec.Cmd {
	logf, err := os.Create(filepath.Join(dir, name+".log"))
	must(err)
	cmd := exec.Command(args[0], args[1:]...)
	cmd.Dir = dir
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	must(cmd.Start())
	return cmd
}

func waitHTTP(url string) {
	for i := 0; i < 600; i++ {
		resp, err := http.Get(url)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	log.Fatalf("%s never answered", url)
}

func main() {
	vigieBin := flag.String("vigie", "", "vigie binary")
	promBin := flag.String("prometheus", "/usr/bin/prometheus", "Prometheus binary")
	amBin := flag.String("alertmanager", "/usr/bin/prometheus-alertmanager", "Alertmanager binary")
	runs := flag.Int("runs", 10, "failures to measure")
	defaults := flag.Bool("vigie-defaults", true, "also measure vigie with its own default intervals")
	ntargets := flag.Int("targets", 4, "scrape targets stopped together: each has its own scrape phase, so each run gives that many samples")
	jitter := flag.Duration("jitter", 15*time.Second, "random wait before each failure, to spread its phase")
	flag.Parse()
	dir, err := os.MkdirTemp("", "alertlatency-")
	must(err)
	defer os.RemoveAll(dir)

	var tgts []*target
	var addrs []string
	for i := 0; i < *ntargets; i++ {
		t := &target{addr: freeAddr()}
		t.start()
		tgts = append(tgts, t)
		addrs = append(addrs, fmt.Sprintf("%q", t.addr))
	}
	targetList := "[" + strings.Join(addrs, ", ") + "]"

	type stack struct {
		name  string
		sink  *sink
		procs []*exec.Cmd
		lat   []time.Duration
		skip  bool
	}
	var stacks []*stack

	vigieStack := func(name string, tuned bool) *stack {
		s := &stack{name: name, sink: newSink(name)}
		sub := filepath.Join(dir, name)
		must(os.MkdirAll(sub, 0o755))
		must(os.WriteFile(filepath.Join(sub, "rules.yml"), []byte(ruleFile), 0o644))
		collect, scrape, eval, route := "", "", "", ""
		if tuned {
			collect = "  interval: 1s\n"
			scrape = "      interval: 1s\n"
			eval = "  evaluation_interval: 1s\n"
			route = "    group_wait: 0s\n    group_interval: 1s\n"
		}
		cfg := fmt.Sprintf(`collect:
%s  scrape:
    - job_name: bench
      targets: %s
%srules:
%s  files: [rules.yml]
notify:
  route:
    receiver: team
    group_by: [alertname, instance]
%s  receivers:
    - name: team
      email_configs:
        - {to: ops@example.com, from: vigie@example.com, smarthost: %q, require_tls: false}
      slack_configs:
        - {api_url: "http://%s/hook", channel: "#alerts"}
`, collect, targetList, scrape, eval, route, s.sink.smtpAddr, s.sink.httpAddr)
		must(os.WriteFile(filepath.Join(sub, "vigie.yml"), []byte(cfg), 0o644))
		addr := freeAddr()
		s.procs = append(s.procs, start(sub, "vigie", *vigieBin, "run", "--config", "vigie.yml", "--listen", addr, "--data-dir", "data"))
		waitHTTP("http://" + addr + "/-/ready")
		return s
	}
	stacks = append(stacks, vigieStack("vigie-tuned", true))

	if _, err := os.Stat(*promBin); err == nil {
		s := &stack{name: "prometheus+alertmanager-tuned", sink: newSink("prom")}
		sub := filepath.Join(dir, "prom")
		must(os.MkdirAll(sub, 0o755))
		must(os.WriteFile(filepath.Join(sub, "rules.yml"), []byte(ruleFile), 0o644))
		amAddr, amCluster, promAddr := freeAddr(), freeAddr(), freeAddr()
		must(os.WriteFile(filepath.Join(sub, "prometheus.yml"), []byte(fmt.Sprintf(`global:
  scrape_interval: 1s
  scrape_timeout: 1s
  evaluation_interval: 1s
rule_files: [rules.yml]
alerting:
  alertmanagers:
    - static_configs: [{targets: [%q]}]
scrape_configs:
  - job_name: bench
    static_configs: [{targets: %s}]
`, amAddr, targetList)), 0o644))
		must(os.WriteFile(filepath.Join(sub, "alertmanager.yml"), []byte(fmt.Sprintf(`route:
  receiver: team
  group_by: [alertname, instance]
  group_wait: 0s
  group_interval: 1s
  repeat_interval: 1h
receivers:
  - name: team
    email_configs:
      - {to: ops@example.com, from: am@example.com, smarthost: %q, require_tls: false, send_resolved: true}
    slack_configs:
      - {api_url: "http://%s/hook", channel: "#alerts", send_resolved: true}
`, s.sink.smtpAddr, s.sink.httpAddr)), 0o644))
		s.procs = append(s.procs, start(sub, "alertmanager", *amBin, "--config.file=alertmanager.yml", "--storage.path=am",
			"--web.listen-address="+amAddr, "--cluster.listen-address="+amCluster))
		s.procs = append(s.procs, start(sub, "prometheus", *promBin, "--config.file=prometheus.yml", "--storage.tsdb.path=tsdb",
			"--web.listen-address="+promAddr))
		waitHTTP("http://" + amAddr + "/-/ready")
		waitHTTP("http://" + promAddr + "/-/ready")
		stacks = append(stacks, s)
	} else {
		log.Printf("Prometheus not found at %s: measuring vigie alone", *promBin)
	}
	if *defaults {
		stacks = append(stacks, vigieStack("vigie-defaults", false))
	}
	defer func() {
		for _, s := range stacks {
			for _, p := range s.procs {
				_ = p.Process.Signal(syscall.SIGTERM)
				_ = p.Wait()
			}
		}
	}()

	// Let every stack see the target up for a while.
	time.Sleep(20 * time.Second)
	for i := 0; i < *runs; i++ {
		// Failures happen at any moment: a random wait puts this one at a
		// random phase of every stack's scrape and evaluation schedules.
		time.Sleep(time.Duration(rand.Int64N(int64(*jitter))))
		t0 := time.Now()
		for _, t := range tgts {
			t.stop()
		}
		deadline := t0.Add(90 * time.Second)
		got := map[*stack]map[string]bool{}
		for _, s := range stacks {
			got[s] = map[string]bool{}
		}
		for {
			done := true
			for _, s := range stacks {
				if s.skip {
					continue
				}
				for _, t := range tgts {
					if got[s][t.addr] {
						continue
					}
					if at, ok := s.sink.firstFiring(t0, t.addr); ok {
						s.lat = append(s.lat, at.Sub(t0))
						got[s][t.addr] = true
					} else {
						done = false
					}
				}
			}
			if done {
				break
			}
			if time.Now().After(deadline) {
				for _, s := range stacks {
					if len(got[s]) < len(tgts) && !s.skip {
						log.Printf("%s: not every target notified within 90s in run %d; leaving the stack out", s.name, i+1)
						s.skip = true
					}
				}
				break
			}
			time.Sleep(5 * time.Millisecond)
		}
		var parts []string
		for _, s := range stacks {
			if !s.skip {
				last := s.lat[len(s.lat)-len(tgts):]
				var ms []string
				for _, d := range last {
					ms = append(ms, d.Round(time.Millisecond).String())
				}
				parts = append(parts, fmt.Sprintf("%s [%s]", s.name, strings.Join(ms, " ")))
			}
		}
		fmt.Printf("run %2d: %s\n", i+1, strings.Join(parts, ", "))
		// Back up, and wait for every stack to send every resolution.
		up := time.Now()
		for _, t := range tgts {
			t.start()
		}
		rdeadline := up.Add(90 * time.Second)
		for time.Now().Before(rdeadline) {
			all := true
			for _, s := range stacks {
				for _, t := range tgts {
					if !s.skip && !s.sink.resolvedSince(up, t.addr) {
						all = false
					}
				}
			}
			if all {
				break
			}
			time.Sleep(20 * time.Millisecond)
		}
		time.Sleep(3 * time.Second)
	}
	fmt.Println()
	med := map[string]time.Duration{}
	for _, s := range stacks {
		if len(s.lat) == 0 {
			fmt.Printf("%-32s no measurement\n", s.name)
			continue
		}
		sort.Slice(s.lat, func(i, j int) bool { return s.lat[i] < s.lat[j] })
		med[s.name] = s.lat[len(s.lat)/2]
		fmt.Printf("%-32s median %8v  min %8v  max %8v  (n=%d failures)\n", s.name, med[s.name].Round(time.Millisecond),
			s.lat[0].Round(time.Millisecond), s.lat[len(s.lat)-1].Round(time.Millisecond), len(s.lat))
	}
	if a, b := med["vigie-tuned"], med["prometheus+alertmanager-tuned"]; a > 0 && b > 0 {
		fmt.Printf("ratio vigie/prometheus+alertmanager (tuned): %.2f (target <= 0.75, vigie under 1s)\n", a.Seconds()/b.Seconds())
	}
	if d := med["vigie-defaults"]; d > 0 {
		fmt.Printf("vigie with its default intervals: %v (target < 15s)\n", d.Round(time.Millisecond))
	}
}
