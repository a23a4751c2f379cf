package main

import (
	"context"
	"log/slog"
	"time"

	"github.com/vigie-dev/vigie/internal/footprint"
)

// trimComponent drops the executable's pages once more after start-up.
// main trims them before anything runs, but start-up itself (decoding the
// configuration, replaying the WAL, the first collections and sends)
// touches most of the Prometheus libraries' code and read-only data: 45 MiB
// of file-backed RSS on an agent, of which it then runs about 18. Trimming
// once settled brings an agent from ~57 MiB to ~30 MiB and a server on
// the default configuration from ~58 MiB to ~36 MiB
// (docs/benchmarks/agent.md); the pages still used fault back in.
type trimComponent struct {
	base
	ready <-chan struct{}
	after time.Duration
	log   *slog.Logger
}

func (*trimComponent) Name() string { return "footprint" }

func (c *trimComponent) Run(ctx context.Context) {
	select {
	case <-c.ready:
	case <-ctx.Done():
		return
	}
	t := time.NewTimer(c.after)
	defer t.Stop()
	select {
	case <-t.C:
		n, err := footprint.TrimExecutable()
		c.log.Debug("dropped the executable's pages touched at start-up", "bytes", n, "err", err)
	case <-ctx.Done():
	}
}
