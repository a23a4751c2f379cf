// Command exposition serves one captured Prometheus text exposition as N
// scrape targets, for bench/agent-vs-prometheus-agent.sh: it listens on N
// loopback ports (each port is a target, so each gets its own instance
// label) and answers every /metrics with the same bytes, gzipped when the
// scraper accepts it, as node_exporter does. Serving stored bytes keeps the
// targets' own CPU out of the way of the senders under test. It prints the
// ports, one a line, once all listen.
package main

import (
	"bytes"
	"compress/gzip"
	"context"
	"flag"
	"fmt"
	"log"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"
)

func main() {
	file := flag.String("file", "", "exposition to serve (Prometheus text format)")
	n := flag.Int("targets", 40, "number of targets (ports)")
	flag.Parse()
	if err := run(*file, *n); err != nil {
		log.Fatal(err)
	}
}

func run(file string, n int) error {
	body, err := os.ReadFile(file)
	if err != nil {
		return fmt.Errorf("read exposition: %w", err)
	}
	var gz bytes.Buffer
	w := gzip.NewWriter(&gz)
	if _, err := w.Write(body); err != nil {
		return fmt.Errorf("gzip exposition: %w", err)
	}
	if err := w.Close(); err != nil {
		return fmt.Errorf("gzip exposition: %w", err)
	}
	h := handler(body, gz.Bytes())
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	var ports []string
	for range n {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return fmt.Errorf("listen: %w", err)
		}
		srv := &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second}
		go func() { _ = srv.Serve(ln) }()
		go func() {
			<-ctx.Done()
			_ = srv.Close()
		}()
		_, p, _ := net.SplitHostPort(ln.Addr().String())
		ports = append(ports, p)
	}
	fmt.Println(strings.Join(ports, "\n"))
	<-ctx.Done()
	return nil
}

func handler(plain, gzipped []byte) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/metrics" {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
		if strings.Contains(r.Header.Get("Accept-Encoding"), "gzip") {
			w.Header().Set("Content-Encoding", "gzip")
			_, _ = w.Write(gzipped)
			return
		}
		_, _ = w.Write(plain)
	})
}
