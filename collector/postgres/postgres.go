// Package postgres collects PostgreSQL server metrics with the names, types
// and labels of postgres_exporter (pg_up, pg_stat_database_*, pg_locks_count,
// …), one pooled connection per configured instance, and counts vigie's own
// failed connection attempts by reason in
// vigie_postgres_connection_errors_total{instance,reason}.
//
// Every pg_* series carries instance=<configured name>. Queries are chosen
// by server version (12 and later), run under statement_timeout and the
// gather's deadline, and need no more than the pg_monitor role.
package postgres

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/vigie-dev/vigie/collector"
	"github.com/vigie-dev/vigie/config"
)

var _ collector.Collector = (*Collector)(nil)

// Connection error reasons, the values of the reason label.
const (
	ReasonAuthFailed         = "auth_failed"          // SQLSTATE 28P01, 28000
	ReasonTooManyConnections = "too_many_connections" // SQLSTATE 53300
	ReasonCannotConnectNow   = "cannot_connect_now"   // SQLSTATE 57P03 (starting up, shutting down, recovery)
	ReasonDatabaseMissing    = "database_missing"     // SQLSTATE 3D000
	ReasonNetwork            = "network"              // refused, reset, unreachable, DNS
	ReasonTimeout            = "timeout"              // connect_timeout or the gather's deadline
	ReasonOther              = "other"
)

// Reasons lists every reason; each is reported from the start at 0.
var Reasons = []string{ReasonAuthFailed, ReasonTooManyConnections, ReasonCannotConnectNow,
	ReasonDatabaseMissing, ReasonNetwork, ReasonTimeout, ReasonOther}

var connErrorsDesc = prometheus.NewDesc("vigie_postgres_connection_errors_total",
	"Failed connection attempts of vigie to the PostgreSQL instance, by reason.",
	[]string{"instance", "reason"}, nil)

// Collector gathers every configured instance, each on its own connection.
type Collector struct {
	logger    *slog.Logger
	instances []*instance
	// Reconnection backoff after consecutive failed attempts: min, doubling up to max.
	minBackoff, maxBackoff time.Duration
	now                    func() time.Time
}

// New checks cfg, reads dsn_file and parses every DSN. It does not connect:
// the first Update does, so a server down at start is reported, not fatal.
// Errors carry config.FieldError paths relative to collect.postgres.
func New(cfg Config, logger *slog.Logger) (*Collector, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	c := &Collector{
		logger:     logger.With("collector", "postgres"),
		minBackoff: time.Second,
		maxBackoff: time.Minute,
		now:        time.Now,
	}
	var errs []error
	for i, ic := range cfg {
		in, err := newInstance(ic, c)
		if err != nil {
			field := "dsn"
			if ic.DSNFile != "" {
				field = "dsn_file"
			}
			errs = append(errs, config.Errorf(fmt.Sprintf("[%d].%s", i, field), "%v", err))
			continue
		}
		c.instances = append(c.instances, in)
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return c, nil
}

// Name is "postgres".
func (c *Collector) Name() string { return "postgres" }

// Update gathers every instance concurrently. An instance that cannot be
// reached reports pg_up 0 and makes the gather fail; the others are kept.
func (c *Collector) Update(ctx context.Context, ch chan<- prometheus.Metric) error {
	if len(c.instances) == 0 {
		return collector.ErrNoData
	}
	errs := make([]error, len(c.instances))
	var wg sync.WaitGroup
	for i, in := range c.instances {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := in.gather(ctx, ch); err != nil {
				errs[i] = fmt.Errorf("instance %q: %w", in.name, err)
			}
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

// Close closes every connection.
func (c *Collector) Close() error {
	for _, in := range c.instances {
		in.close()
	}
	return nil
}

// instance is one server and its single connection.
type instance struct {
	c        *Collector
	name     string
	cfg      InstanceConfig
	connCfg  *pgx.ConnConfig
	secrets  []string // strings never to show: the password, the DSN
	stmtTO   time.Duration
	dbFilter []string
	logger   *slog.Logger

	sem chan struct{} // one gather at a time owns conn

	conn        *pgx.Conn
	failures    int       // consecutive failed connection attempts
	nextAttempt time.Time // no attempt before this, after a failure
	lastReason  string    // reason of the last logged failure, to log a change once
	lastErr     string

	sizes   []dbSize // last pg_database_size() answers, and when
	sizesAt time.Time

	tables       *tableFilter
	pickedTables []int64 // relids of the last per-table gather, for bloat
	scrapes      float64 // gathers so far: pg_exporter_scrapes_total

	mu         sync.Mutex
	connErrors map[string]float64
	queries    atomic.Int64 // queries sent, for the benchmark
	stmtsOff   atomic.Bool  // pg_stat_statements found unusable, logged once
}

func newInstance(ic InstanceConfig, c *Collector) (*instance, error) {
	dsn, err := config.ResolveSecret(ic.DSN, ic.DSNFile, "dsn")
	if err != nil {
		return nil, err
	}
	secrets := []string{dsn.Value()}
	connCfg, err := pgx.ParseConfig(dsn.Value())
	if err != nil {
		// pgx masks the password of a URL, not always of key=value strings.
		return nil, fmt.Errorf("invalid DSN: %s", redact(errors.Unwrap(err), secrets))
	}
	if connCfg.Password != "" {
		secrets = append(secrets, connCfg.Password)
	}
	if ic.StatementTimeout == 0 {
		ic.StatementTimeout = config.Duration(DefaultStatementTimeout)
	}
	if ic.ConnectTimeout == 0 {
		ic.ConnectTimeout = config.Duration(DefaultConnectTimeout)
	}
	if ic.QueryTextLength == 0 {
		ic.QueryTextLength = DefaultQueryTextLength
	}
	if connCfg.ConnectTimeout == 0 {
		connCfg.ConnectTimeout = ic.ConnectTimeout.D()
	}
	if connCfg.RuntimeParams == nil {
		connCfg.RuntimeParams = map[string]string{}
	}
	connCfg.RuntimeParams["statement_timeout"] = fmt.Sprint(ic.StatementTimeout.D().Milliseconds())
	connCfg.RuntimeParams["lock_timeout"] = fmt.Sprint(ic.StatementTimeout.D().Milliseconds())
	if _, ok := connCfg.RuntimeParams["application_name"]; !ok {
		connCfg.RuntimeParams["application_name"] = "vigie"
	}
	// Monitoring queries never need the statement cache; without it a
	// pooler in transaction mode (PgBouncer) works too.
	connCfg.DefaultQueryExecMode = pgx.QueryExecModeExec
	in := &instance{
		c:          c,
		name:       ic.Name,
		cfg:        ic,
		connCfg:    connCfg,
		secrets:    secrets,
		stmtTO:     ic.StatementTimeout.D(),
		dbFilter:   append([]string{}, ic.Databases...),
		sem:        make(chan struct{}, 1),
		connErrors: map[string]float64{},
		logger: c.logger.With("instance", ic.Name, "host", connCfg.Host,
			"port", connCfg.Port, "user", connCfg.User, "database", connCfg.Database),
	}
	for _, r := range Reasons {
		in.connErrors[r] = 0
	}
	if in.tables, err = newTableFilter(ic); err != nil {
		return nil, err
	}
	return in, nil
}

// gather collects one instance. It always reports pg_up and the connection error counters.
func (in *instance) gather(ctx context.Context, ch chan<- prometheus.Metric) error {
	select {
	case in.sem <- struct{}{}:
		defer func() { <-in.sem }()
	case <-ctx.Done():
		return ctx.Err()
	}
	e := &emitter{ch: ch, instance: in.name}
	defer in.emitConnErrors(ch)
	start := time.Now()
	err := in.gatherUp(ctx, e)
	// postgres_exporter's own health series, per instance.
	in.scrapes++
	e.gauge(scrapeDurationDesc, time.Since(start).Seconds())
	e.emit(scrapesTotalDesc, prometheus.CounterValue, in.scrapes)
	e.gauge(scrapeErrorDesc, b2f(err != nil))
	return err
}

func (in *instance) gatherUp(ctx context.Context, e *emitter) error {
	info, err := in.serverInfo(ctx)
	if err != nil {
		e.gauge(upDesc, 0)
		return err
	}
	e.gauge(upDesc, 1)
	return in.collect(ctx, e, info)
}

// serverInfo ensures a connection and reads what the other queries depend
// on. A connection found dead (server restarted, backend terminated) is
// replaced at once by a new one.
func (in *instance) serverInfo(ctx context.Context) (serverInfo, error) {
	for attempt := 0; ; attempt++ {
		fresh := in.conn == nil
		conn, err := in.connect(ctx)
		if err != nil {
			return serverInfo{}, err
		}
		info, err := queryServerInfo(ctx, in, conn)
		if err == nil {
			return info, nil
		}
		if !conn.IsClosed() || fresh || attempt > 0 {
			in.dropIfClosed()
			return serverInfo{}, in.redactErr(err)
		}
		in.logger.Info("postgres connection lost, reconnecting", "err", in.redactErr(err))
		in.dropIfClosed()
	}
}

// connect returns the open connection or makes one, unless a recent failure
// asks to wait. Each failed attempt is counted by reason.
func (in *instance) connect(ctx context.Context) (*pgx.Conn, error) {
	if in.conn != nil && !in.conn.IsClosed() {
		return in.conn, nil
	}
	in.dropIfClosed()
	now := in.c.now()
	if now.Before(in.nextAttempt) {
		return nil, fmt.Errorf("not connected, next attempt in %s: %s", in.nextAttempt.Sub(now).Round(time.Millisecond), in.lastErr)
	}
	conn, err := pgx.ConnectConfig(ctx, in.connCfg)
	if err != nil {
		reason := Classify(err)
		if ctx.Err() != nil && reason != ReasonTimeout {
			reason = ReasonTimeout
		}
		in.mu.Lock()
		in.connErrors[reason]++
		in.mu.Unlock()
		in.failures++
		backoff := in.c.minBackoff << min(in.failures-1, 16)
		if backoff > in.c.maxBackoff || backoff <= 0 {
			backoff = in.c.maxBackoff
		}
		in.nextAttempt = in.c.now().Add(backoff)
		msg := in.redactErr(err).Error()
		in.lastErr = reason + ": " + msg
		if reason != in.lastReason {
			in.logger.Warn("postgres connection failed", "reason", reason, "err", msg, "retry_in", backoff)
		} else {
			in.logger.Debug("postgres connection failed", "reason", reason, "err", msg, "retry_in", backoff)
		}
		in.lastReason = reason
		return nil, fmt.Errorf("connect: %s", in.lastErr)
	}
	if in.failures > 0 {
		in.logger.Info("postgres connection restored", "failed_attempts", in.failures)
	}
	in.failures, in.lastReason, in.lastErr, in.nextAttempt = 0, "", "", time.Time{}
	in.conn = conn
	return conn, nil
}

func (in *instance) dropIfClosed() {
	if in.conn != nil && in.conn.IsClosed() {
		in.conn = nil
	}
}

func (in *instance) close() {
	in.sem <- struct{}{}
	defer func() { <-in.sem }()
	if in.conn != nil {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		in.conn.Close(ctx)
		cancel()
		in.conn = nil
	}
}

func (in *instance) emitConnErrors(ch chan<- prometheus.Metric) {
	in.mu.Lock()
	defer in.mu.Unlock()
	for _, r := range Reasons {
		ch <- prometheus.MustNewConstMetric(connErrorsDesc, prometheus.CounterValue, in.connErrors[r], in.name, r)
	}
}

// redactErr returns err's message with every secret masked, as a new error.
func (in *instance) redactErr(err error) error {
	if err == nil {
		return nil
	}
	return errors.New(redact(err, in.secrets))
}

func redact(err error, secrets []string) string {
	if err == nil {
		return ""
	}
	msg := err.Error()
	for _, s := range secrets {
		if len(s) >= 3 {
			msg = strings.ReplaceAll(msg, s, "xxxxx")
		}
	}
	return msg
}

// Classify names the reason of a failed connection attempt: from the
// server's SQLSTATE when it answered, else from the network error.
func Classify(err error) string {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		switch {
		case pgErr.Code == "28P01", strings.HasPrefix(pgErr.Code, "28"):
			return ReasonAuthFailed
		case pgErr.Code == "53300":
			return ReasonTooManyConnections
		case pgErr.Code == "57P03":
			return ReasonCannotConnectNow
		case pgErr.Code == "3D000":
			return ReasonDatabaseMissing
		}
		return ReasonOther
	}
	if errors.Is(err, context.DeadlineExceeded) || pgconn.Timeout(err) {
		return ReasonTimeout
	}
	var netErr net.Error
	if errors.As(err, &netErr) && netErr.Timeout() {
		return ReasonTimeout
	}
	var opErr *net.OpError
	var dnsErr *net.DNSError
	if errors.As(err, &opErr) || errors.As(err, &dnsErr) ||
		errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ECONNRESET) ||
		errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, os.ErrNotExist) {
		return ReasonNetwork
	}
	return ReasonOther
}
