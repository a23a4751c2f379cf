package logs

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/moby/moby/api/pkg/stdcopy"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/client"
	"github.com/prometheus/prometheus/model/labels"

	"github.com/vigie-dev/vigie/logs"
)

const (
	dockerCursorPrefix = "docker:"
	dockerFlushEvery   = 250 * time.Millisecond
	dockerBatch        = 1000
)

// dockerSource follows the stdout and stderr of running containers
// through the Engine API. Its position per container is the time of the
// last stored entry (Docker timestamps every line).
type dockerSource struct {
	cli      *client.Client
	store    CursorStore
	pipeline *Pipeline
	m        *Metrics
	logger   *slog.Logger
	now      func() time.Time

	mu       sync.Mutex
	followed map[string]context.CancelFunc
	wg       sync.WaitGroup
}

func newDockerSource(host string, store CursorStore, p *Pipeline, m *Metrics, logger *slog.Logger, now func() time.Time) (*dockerSource, error) {
	cli, err := client.New(client.WithHost(host))
	if err != nil {
		return nil, fmt.Errorf("docker client for %s: %w", host, err)
	}
	return &dockerSource{cli: cli, store: store, pipeline: p, m: m, logger: logger, now: now, followed: map[string]context.CancelFunc{}}, nil
}

// poll starts following containers that run and are not followed yet, and
// forgets the positions of containers that no longer exist.
func (d *dockerSource) poll(ctx context.Context, cfg logs.Config) {
	ctx2, cancel := context.WithTimeout(ctx, 10*time.Second)
	list, err := d.cli.ContainerList(ctx2, client.ContainerListOptions{All: true})
	cancel()
	if err != nil {
		d.logger.Warn("list containers for logs", "err", err)
		return
	}
	exists := map[string]bool{}
	for _, s := range list.Items {
		exists[dockerCursorPrefix+s.ID] = true
		if s.State != container.StateRunning {
			continue
		}
		d.mu.Lock()
		_, ok := d.followed[s.ID]
		if !ok {
			fctx, cancel := context.WithCancel(ctx)
			d.followed[s.ID] = cancel
			d.wg.Go(func() {
				defer func() {
					d.mu.Lock()
					delete(d.followed, s.ID)
					d.mu.Unlock()
					cancel()
				}()
				d.follow(fctx, s, cfg)
			})
		}
		d.mu.Unlock()
	}
	cursors, err := d.store.Cursors(ctx, dockerCursorPrefix)
	if err != nil {
		return
	}
	for k := range cursors {
		if !exists[k] {
			_ = d.store.DeleteCursor(ctx, k)
		}
	}
}

// stop ends every follower and waits for them.
func (d *dockerSource) stop() {
	d.mu.Lock()
	for _, cancel := range d.followed {
		cancel()
	}
	d.mu.Unlock()
	d.wg.Wait()
	_ = d.cli.Close()
}

// containerLabels names a container's streams: its name, Compose project
// and service, Swarm service and task.
func containerLabels(s container.Summary) (labels.Labels, string) {
	name := strings.TrimPrefix(firstOr(s.Names, s.ID[:12]), "/")
	b := labels.NewScratchBuilder(6)
	b.Add("container", name)
	source := name
	for label, key := range map[string]string{
		"com.docker.compose.project": "compose_project", "com.docker.compose.service": "compose_service",
		"com.docker.swarm.service.name": "swarm_service", "com.docker.swarm.task.name": "swarm_task",
	} {
		if v := s.Labels[label]; v != "" {
			b.Add(key, v)
		}
	}
	if v := s.Labels["com.docker.compose.service"]; v != "" {
		source = v
	}
	if v := s.Labels["com.docker.swarm.service.name"]; v != "" {
		source = v
	}
	b.Add("source", source)
	b.Sort()
	return b.Labels(), source
}

func firstOr(s []string, def string) string {
	if len(s) > 0 {
		return s[0]
	}
	return def
}

type dockerLine struct {
	stderr bool
	ts     int64
	text   string
}

// follow reads one container's logs until it stops or ctx ends.
func (d *dockerSource) follow(ctx context.Context, s container.Summary, cfg logs.Config) {
	key := dockerCursorPrefix + s.ID
	var after int64
	if c, ok, err := d.store.Cursor(ctx, key); err == nil && ok {
		if t, err := time.Parse(time.RFC3339Nano, c); err == nil {
			after = t.UnixNano()
		}
	}
	opts := client.ContainerLogsOptions{ShowStdout: true, ShowStderr: true, Follow: true, Timestamps: true}
	if after > 0 {
		opts.Since = fmt.Sprintf("%d.%09d", after/1e9, after%1e9)
	}
	rc, err := d.cli.ContainerLogs(ctx, s.ID, opts)
	if err != nil {
		d.logger.Warn("follow container logs", "container", s.Names, "err", err)
		return
	}
	defer rc.Close()
	tty := false
	if in, err := d.cli.ContainerInspect(ctx, s.ID, client.ContainerInspectOptions{}); err == nil && in.Container.Config != nil {
		tty = in.Container.Config.Tty
	}
	lines := make(chan dockerLine, 256)
	go d.read(rc, tty, lines)
	base, source := containerLabels(s)
	f := &dockerFollower{d: d, key: key, after: after, src: d.pipeline.Source(source)}
	for i, name := range []string{"stdout", "stderr"} {
		lb := labels.NewBuilder(base)
		lb.Set("stream", name)
		f.labels[i] = lb.Labels()
		f.join[i] = joiner{maxLines: cfg.Multiline.MaxLines, timeout: cfg.Multiline.FlushTimeout.D(),
			emit: func(line []byte, ts, _ int64) { f.emit(i, line, ts) }}
	}
	f.run(ctx, lines, int(cfg.MaxLineSize))
}

// read demultiplexes the log stream into lines.
func (d *dockerSource) read(rc io.Reader, tty bool, out chan<- dockerLine) {
	defer close(out)
	if tty {
		scanLines(rc, false, out)
		return
	}
	or, ow := io.Pipe()
	er, ew := io.Pipe()
	var wg sync.WaitGroup
	wg.Go(func() { scanLines(or, false, out) })
	wg.Go(func() { scanLines(er, true, out) })
	_, err := stdcopy.StdCopy(ow, ew, rc)
	ow.CloseWithError(err)
	ew.CloseWithError(err)
	wg.Wait()
}

func scanLines(r io.Reader, stderr bool, out chan<- dockerLine) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		ts, text, ok := strings.Cut(sc.Text(), " ")
		t, err := time.Parse(time.RFC3339Nano, ts)
		if !ok || err != nil {
			continue
		}
		out <- dockerLine{stderr: stderr, ts: t.UnixNano(), text: text}
	}
	if sc.Err() != nil {
		_, _ = io.Copy(io.Discard, r) // unblock the writer
	}
}

// dockerFollower turns one container's lines into stored entries.
type dockerFollower struct {
	d       *dockerSource
	key     string
	after   int64 // entries at or before this time are already stored
	src     *Source
	labels  [2]labels.Labels
	join    [2]joiner
	entries []logs.Entry
	last    int64
}

func (f *dockerFollower) run(ctx context.Context, lines <-chan dockerLine, maxLine int) {
	tick := time.NewTicker(dockerFlushEvery)
	defer tick.Stop()
	for {
		select {
		case l, ok := <-lines:
			if !ok {
				f.join[0].flush()
				f.join[1].flush()
				f.commit(context.WithoutCancel(ctx))
				return
			}
			if l.ts <= f.after {
				continue
			}
			if len(l.text) > maxLine {
				f.d.m.truncated.Inc()
				l.text = l.text[:maxLine]
			}
			i := 0
			if l.stderr {
				i = 1
			}
			f.join[i].add([]byte(l.text), l.ts, 0, f.d.now())
			if len(f.entries) >= dockerBatch {
				f.commit(ctx)
			}
		case <-tick.C:
			now := f.d.now()
			f.join[0].tick(now)
			f.join[1].tick(now)
			f.commit(ctx)
		case <-ctx.Done():
			f.commit(context.WithoutCancel(ctx))
			return
		}
	}
}

func (f *dockerFollower) emit(i int, line []byte, ts int64) {
	e := logs.Entry{Labels: f.labels[i], TS: ts, Line: strings.ToValidUTF8(string(line), "\uFFFD")}
	f.src.Process(&e)
	f.entries = append(f.entries, e)
	f.last = max(f.last, ts)
}

// commit stores the entries with the container's position: the newest
// stored time, but before any entry still being joined.
func (f *dockerFollower) commit(ctx context.Context) {
	if len(f.entries) == 0 {
		return
	}
	pos := f.last
	for i := range f.join {
		if f.join[i].pending() {
			pos = min(pos, f.join[i].ts-1)
		}
	}
	err := f.d.store.Append(ctx, f.entries, map[string]string{f.key: time.Unix(0, pos).UTC().Format(time.RFC3339Nano)})
	if err != nil {
		f.d.m.dropped.WithLabelValues(DropStoreError).Add(float64(len(f.entries)))
		f.d.logger.Warn("store container log lines", "err", err)
	}
	clear(f.entries)
	f.entries = f.entries[:0]
}
