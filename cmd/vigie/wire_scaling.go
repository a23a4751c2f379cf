package main

import (
	"log/slog"
	"time"

	"github.com/prometheus/prometheus/promql"
	promrules "github.com/prometheus/prometheus/rules"

	"github.com/vigie-dev/vigie/collector"
	"github.com/vigie-dev/vigie/collector/container"
	"github.com/vigie-dev/vigie/scaling"
	"github.com/vigie-dev/vigie/storage"
)

// newScalingComponent builds the scaler: it reads the TSDB through the
// engine after each collection, and scales Swarm services in apply mode
// when Docker is configured.
func newScalingComponent(cfg *Config, engine promql.QueryEngine, store *storage.Storage, loop *collector.Loop, a *app) (*scaling.Scaler, component, error) {
	log := a.log.With("component", "scaling")
	var actuator scaling.Actuator
	var inventory scaling.Inventory
	var swarm *scaling.SwarmActuator
	if cfg.Collect.Docker.Enabled != container.EnabledFalse {
		var err error
		if swarm, err = scaling.NewSwarmActuator(cfg.Collect.Docker.Host); err != nil {
			log.Warn("no Docker engine to scale services on: apply mode is off", "err", err)
			swarm = nil
		} else {
			actuator, inventory = swarm, swarm
		}
	}
	s, err := scaling.New(scaling.Options{
		Config:     cfg.Scaling,
		Logger:     a.log,
		Registerer: a.reg,
		Query:      scaling.QueryFunc(promrules.EngineQueryFunc(engine, store.TSDB)),
		StateDB:    store.State,
		Actuator:   actuator,
		Inventory:  inventory,
		Now:        time.Now,
	})
	if err != nil {
		if swarm != nil {
			_ = swarm.Close()
		}
		return nil, nil, err
	}
	// Recommendations follow the data: one evaluation per collection.
	loop.OnCommit(s.Collected)
	return s, funcs{
		name:   "scaling",
		run:    s.Run,
		routes: s.Routes,
		prepare: func(cfg *Config) (func(), error) {
			sc := cfg.Scaling
			if err := sc.Validate(); err != nil {
				return nil, err
			}
			return func() { logApplyErr(log, s.ApplyConfig(sc)) }, nil
		},
		close: func() error {
			if swarm != nil {
				return swarm.Close()
			}
			return nil
		},
	}, nil
}

// logApplyErr logs a configuration that validated but did not apply.
func logApplyErr(log *slog.Logger, err error) {
	if err != nil {
		log.Error("configuration validated but not applied", "err", err)
	}
}
