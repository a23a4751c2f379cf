// Package pgtest starts throwaway PostgreSQL clusters for tests: a fresh
// initdb in a temporary directory, a postmaster on a free 127.0.0.1 port
// with scram-sha-256 password authentication over TCP (so a wrong password
// is really refused), its Unix socket inside the temporary directory, and
// everything stopped and removed when the test ends, even when it fails.
//
// The binaries come from $VIGIE_TEST_PG_BIN (e.g. /usr/lib/postgresql/15/bin),
// else from the newest /usr/lib/postgresql/*/bin. When none is found the test
// is skipped with a loud message, or fails when $CI is set. When the test
// runs as root, initdb and postgres run as the "postgres" system user.
//
//	c := pgtest.Start(t, pgtest.Options{MaxConnections: 10})
//	conn, err := pgx.Connect(ctx, c.DSN("postgres", c.Password, "postgres"))
package pgtest

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// Superuser is the name of every cluster's superuser.
const Superuser = "postgres"

// Options shape a cluster. The zero value is a usable default.
type Options struct {
	// MaxConnections is max_connections (default 20).
	MaxConnections int
	// SuperuserReservedConnections is superuser_reserved_connections
	// (default 0, so that ordinary and superuser connections compete for the
	// same slots and "too many connections" is easy to reach).
	SuperuserReservedConnections int
	// SharedPreloadLibraries lists libraries loaded at start, e.g.
	// "pg_stat_statements".
	SharedPreloadLibraries []string
	// Settings are extra postgresql.conf lines, name → value as written in
	// the file ("'on'", "100").
	Settings map[string]string
}

// Cluster is one running (or stopped) test cluster.
type Cluster struct {
	// Port is the TCP port on 127.0.0.1.
	Port int
	// Password is the superuser's password.
	Password string
	// Dir holds data/, the socket directory and the server log.
	Dir string
	// BinDir is where initdb, postgres and psql were found.
	BinDir string

	t       testing.TB
	dataDir string
	sockDir string
	logPath string
	cred    *syscall.Credential

	mu     sync.Mutex
	cmd    *exec.Cmd
	waitCh chan error
	log    *os.File
}

// BinDir returns the directory of the PostgreSQL binaries to test with, or
// "" when none is installed.
func BinDir() string {
	if d := os.Getenv("VIGIE_TEST_PG_BIN"); d != "" {
		return d
	}
	matches, _ := filepath.Glob("/usr/lib/postgresql/*/bin/initdb")
	if len(matches) == 0 {
		return ""
	}
	sort.Slice(matches, func(i, j int) bool { return versionOf(matches[i]) < versionOf(matches[j]) })
	return filepath.Dir(matches[len(matches)-1])
}

func versionOf(initdb string) int {
	v, _ := strconv.Atoi(filepath.Base(filepath.Dir(filepath.Dir(initdb))))
	return v
}

// Start creates and starts a cluster that is stopped and deleted at the end of t.
func Start(t testing.TB, opts Options) *Cluster {
	t.Helper()
	if opts.MaxConnections == 0 {
		opts.MaxConnections = 20
	}
	c := newCluster(t, "pgtest-"+strconv.FormatInt(time.Now().UnixNano(), 36))
	pwFile := filepath.Join(c.Dir, "pwfile")
	if err := os.WriteFile(pwFile, []byte(c.Password+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	c.chown(pwFile)
	initdb := c.command(filepath.Join(c.BinDir, "initdb"), "-D", c.dataDir, "-U", Superuser,
		"--pwfile", pwFile, "--auth-local=trust", "--auth-host=scram-sha-256",
		"-E", "UTF8", "--locale=C", "--no-sync")
	if out, err := initdb.CombinedOutput(); err != nil {
		t.Fatalf("pgtest: initdb: %v\n%s", err, out)
	}
	os.Remove(pwFile)

	conf := map[string]string{
		"max_connections":                strconv.Itoa(opts.MaxConnections),
		"superuser_reserved_connections": strconv.Itoa(opts.SuperuserReservedConnections),
		"fsync":                          "off",
		"full_page_writes":               "off",
		"shared_buffers":                 "16MB",
		"password_encryption":            "'scram-sha-256'",
		"deadlock_timeout":               "'100ms'",
		"log_min_messages":               "warning",
		"track_io_timing":                "on",
	}
	if len(opts.SharedPreloadLibraries) > 0 {
		conf["shared_preload_libraries"] = "'" + strings.Join(opts.SharedPreloadLibraries, ",") + "'"
	}
	for k, v := range opts.Settings {
		conf[k] = v
	}
	c.appendConf(conf)
	c.startOnFreePort()
	return c
}

// StartStandby makes a streaming-replication standby of primary
// (pg_basebackup -R, as the superuser) and starts it. It has the primary's
// settings, roles and password.
func StartStandby(t testing.TB, primary *Cluster) *Cluster {
	t.Helper()
	c := newCluster(t, primary.Password)
	bb := c.command(filepath.Join(c.BinDir, "pg_basebackup"), "-D", c.dataDir, "-R", "-X", "stream",
		"-h", "127.0.0.1", "-p", strconv.Itoa(primary.Port), "-U", Superuser, "--no-sync")
	bb.Env = append(bb.Env, "PGPASSWORD="+primary.Password)
	if out, err := bb.CombinedOutput(); err != nil {
		t.Fatalf("pgtest: pg_basebackup: %v\n%s", err, out)
	}
	c.appendConf(map[string]string{"hot_standby": "on"})
	c.startOnFreePort()
	return c
}

// newCluster makes the directory of a cluster, removed (after the server
// is stopped) at the end of t.
func newCluster(t testing.TB, password string) *Cluster {
	t.Helper()
	bin := BinDir()
	if bin == "" {
		msg := "PostgreSQL binaries not found: set VIGIE_TEST_PG_BIN (e.g. /usr/lib/postgresql/15/bin) or run .ci/postgres.sh"
		if os.Getenv("CI") != "" {
			t.Fatal(msg)
		}
		t.Skip("!!! SKIPPING POSTGRESQL TESTS: " + msg + " !!!")
	}
	if _, err := os.Stat(filepath.Join(bin, "initdb")); err != nil {
		t.Fatalf("pgtest: VIGIE_TEST_PG_BIN=%s: %v", bin, err)
	}
	// Not t.TempDir: its parents are private to the test's user, and the
	// server may have to run as the postgres user.
	dir, err := os.MkdirTemp("", "pgtest-")
	if err != nil {
		t.Fatal(err)
	}
	c := &Cluster{
		t:        t,
		Dir:      dir,
		BinDir:   bin,
		Password: password,
		dataDir:  filepath.Join(dir, "data"),
		sockDir:  filepath.Join(dir, "sock"),
		logPath:  filepath.Join(dir, "postgres.log"),
	}
	t.Cleanup(func() {
		c.stop()
		if t.Failed() {
			if b, err := os.ReadFile(c.logPath); err == nil {
				t.Logf("pgtest: server log (%s):\n%s", c.logPath, tail(string(b), 4000))
			}
		}
		os.RemoveAll(dir)
	})
	if err := os.Mkdir(c.sockDir, 0o700); err != nil {
		t.Fatal(err)
	}
	if os.Geteuid() == 0 {
		u, err := user.Lookup("postgres")
		if err != nil {
			t.Fatalf("pgtest: running as root needs the postgres system user (apt-get install postgresql): %v", err)
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		c.cred = &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid), NoSetGroups: true}
	}
	c.chown(dir)
	c.chown(c.sockDir)
	return c
}

// chown gives p to the user the server runs as.
func (c *Cluster) chown(p string) {
	if c.cred == nil {
		return
	}
	if err := os.Chown(p, int(c.cred.Uid), int(c.cred.Gid)); err != nil {
		c.t.Fatal(err)
	}
}

// appendConf adds settings (and the cluster's own address and socket) at the end of postgresql.conf.
func (c *Cluster) appendConf(conf map[string]string) {
	conf["listen_addresses"] = "'127.0.0.1'"
	conf["unix_socket_directories"] = "'" + c.sockDir + "'"
	keys := make([]string, 0, len(conf))
	for k := range conf {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	b.WriteString("\n# pgtest\n")
	for _, k := range keys {
		fmt.Fprintf(&b, "%s = %s\n", k, conf[k])
	}
	f, err := os.OpenFile(filepath.Join(c.dataDir, "postgresql.conf"), os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		c.t.Fatal(err)
	}
	_, err = f.WriteString(b.String())
	f.Close()
	if err != nil {
		c.t.Fatal(err)
	}
}

// startOnFreePort starts the server; a port taken between choosing and binding fails the start: try again.
func (c *Cluster) startOnFreePort() {
	c.t.Helper()
	for attempt := 0; ; attempt++ {
		c.Port = freePort(c.t)
		err := c.Start()
		if err == nil {
			return
		}
		if attempt == 4 || !strings.Contains(c.serverLog(), "could not bind") {
			c.t.Fatalf("pgtest: %v", err)
		}
	}
}

func (c *Cluster) command(name string, args ...string) *exec.Cmd {
	cmd := exec.Command(name, args...)
	cmd.Dir = c.Dir
	cmd.Env = append(os.Environ(), "LC_ALL=C", "PGTZ=UTC")
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: c.cred}
	return cmd
}

// DSN returns a TCP connection URL for user/password to database db.
func (c *Cluster) DSN(user, password, db string) string {
	return fmt.Sprintf("postgres://%s:%s@127.0.0.1:%d/%s?sslmode=disable",
		urlEscape(user), urlEscape(password), c.Port, urlEscape(db))
}

// SuperuserDSN returns the superuser's TCP connection URL to database db.
func (c *Cluster) SuperuserDSN(db string) string { return c.DSN(Superuser, c.Password, db) }

// Addr returns "127.0.0.1:port".
func (c *Cluster) Addr() string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(c.Port)) }

// Start starts the server (again) and waits until it accepts connections.
func (c *Cluster) Start() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.cmd != nil {
		return errors.New("pgtest: server already running")
	}
	logf, err := os.OpenFile(c.logPath, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	cmd := c.command(filepath.Join(c.BinDir, "postgres"), "-D", c.dataDir, "-p", strconv.Itoa(c.Port))
	cmd.Stdout, cmd.Stderr = logf, logf
	// If the test binary dies, the postmaster goes too (immediate shutdown).
	cmd.SysProcAttr.Pdeathsig = syscall.SIGQUIT
	if err := cmd.Start(); err != nil {
		logf.Close()
		return fmt.Errorf("start postgres: %w", err)
	}
	c.cmd, c.log = cmd, logf
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()

	deadline := time.Now().Add(30 * time.Second)
	for {
		select {
		case err := <-exited:
			c.cmd = nil
			logf.Close()
			return fmt.Errorf("postgres exited during start: %v; log:\n%s", err, tail(c.serverLog(), 2000))
		default:
		}
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		conn, err := pgx.Connect(ctx, c.SuperuserDSN("postgres"))
		if err == nil {
			conn.Close(ctx)
			cancel()
			c.waitCh = exited
			return nil
		}
		cancel()
		if time.Now().After(deadline) {
			return fmt.Errorf("postgres not ready after 30s: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Stop stops the server at once (immediate shutdown, as pg_ctl stop -m
// immediate) and waits until it has exited. Start brings it back.
func (c *Cluster) Stop() {
	c.t.Helper()
	if err := c.stop(); err != nil {
		c.t.Fatalf("pgtest: stop: %v", err)
	}
}

func (c *Cluster) stop() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.cmd == nil {
		return nil
	}
	defer func() { c.cmd, c.waitCh = nil, nil; c.log.Close() }()
	if err := syscall.Kill(c.cmd.Process.Pid, syscall.SIGQUIT); err != nil && !errors.Is(err, syscall.ESRCH) {
		return err
	}
	select {
	case <-c.waitCh:
		return nil
	case <-time.After(15 * time.Second):
		syscall.Kill(c.cmd.Process.Pid, syscall.SIGKILL)
		<-c.waitCh
		return errors.New("postgres ignored SIGQUIT for 15s; killed")
	}
}

// Exec runs sql as the superuser in database "postgres".
func (c *Cluster) Exec(sql string, args ...any) error { return c.ExecDB("postgres", sql, args...) }

// ExecDB runs sql as the superuser in database db.
func (c *Cluster) ExecDB(db, sql string, args ...any) error {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, c.SuperuserDSN(db))
	if err != nil {
		return fmt.Errorf("pgtest: connect to %s: %w", db, err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, sql, args...); err != nil {
		return fmt.Errorf("pgtest: %s: %w", firstLine(sql), err)
	}
	return nil
}

// MustExec is Exec that fails the test on error. Call it from the test's goroutine.
func (c *Cluster) MustExec(sql string, args ...any) {
	c.t.Helper()
	if err := c.Exec(sql, args...); err != nil {
		c.t.Fatal(err)
	}
}

// Log returns the server log so far.
func (c *Cluster) Log() string { return c.serverLog() }

func (c *Cluster) serverLog() string {
	b, _ := os.ReadFile(c.logPath)
	return string(b)
}

func freePort(t testing.TB) int {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

func urlEscape(s string) string {
	r := strings.NewReplacer("%", "%25", "@", "%40", ":", "%3A", "/", "%2F", "?", "%3F", "#", "%23", " ", "%20")
	return r.Replace(s)
}

func firstLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[:i] + " …"
	}
	return s
}

func tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return "…" + s[len(s)-n:]
}
