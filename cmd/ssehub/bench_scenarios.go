package main

import (
	"context"
	"flag"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/ssehub/ssehub/internal/bench"
)

// benchScenarioFlags adds the flags of the scenarios that reproduce the
// core and feature figures (topics, sparse, arrow-*, pull, nats).
func benchScenarioFlags(fs *flag.FlagSet, cfg *bench.Config) {
	fs.IntVar(&cfg.Topics, "topics", 10000, "topics: `N` topics")
	fs.IntVar(&cfg.TopicsPerSub, "topics-per-sub", 10, "topics: `N` topics each subscriber subscribes to (at most limits.max_topics, 32)")
	fs.IntVar(&cfg.SparseEvery, "sparse-every", 100, "sparse: one event in `N` is on the rare topic")
	fs.IntVar(&cfg.Rounds, "rounds", 0, "sparse, arrow-ingest: `N` rounds, alternating what is compared (default 5 for sparse, 2 for arrow-ingest)")
	fs.IntVar(&cfg.Rows, "rows", 1000, "arrow-ingest, arrow-fanout: `N` rows per batch (ts int64, sym utf8, price float64)")
	fs.Func("body", "arrow-ingest: the body `KINDS` compared, ipc, json or ipc,json (default ipc,json)", func(s string) error {
		cfg.Bodies = nil
		for _, k := range strings.Split(s, ",") {
			if k = strings.TrimSpace(k); k != "ipc" && k != "json" {
				return fmt.Errorf("%q: want ipc or json", k)
			}
			cfg.Bodies = append(cfg.Bodies, strings.TrimSpace(k))
		}
		return nil
	})
	fs.StringVar(&cfg.PullName, "pull-endpoint", "bench", "pull: the pull endpoint's `NAME` (GET /NAME/extract)")
	fs.IntVar(&cfg.Consumers, "consumers", 1, "pull: `N` concurrent extract/confirm loops")
}

// benchDefaults sets the scenario's own defaults of the flags that were
// not given (set holds those that were).
func benchDefaults(scenario string, cfg *bench.Config, set map[string]bool) {
	def := func(name string, apply func()) {
		if !set[name] {
			apply()
		}
	}
	switch scenario {
	case "topics":
		def("subscribers", func() { cfg.Subscribers = 1000 })
		def("batch", func() { cfg.Batch = 100 })
	case "arrow-ingest":
		def("publishers", func() { cfg.Publishers = 16 })
		def("duration", func() { cfg.Duration = 6 * time.Second })
	case "arrow-fanout":
		def("subscribers", func() { cfg.Subscribers = 1000 })
		def("publishers", func() { cfg.Publishers = 1 })
	case "pull":
		def("events", func() { cfg.Events = 20000 })
		def("batch", func() { cfg.Batch = 100 })
	case "nats":
		def("subscribers", func() { cfg.Subscribers = 1000 })
	}
}

// benchPullConfig is the hub's config for pull --spawn: the pull endpoint
// "bench" over bench.pull.*, a stream token's (or the admin token's).
const benchPullConfig = `log: {level: warn}
sink:
  bench:
    type: http_pull
    match: "bench.pull.*"
    max_batch_size: 1000
    public: false
`

// benchSpawn starts the hubs a scenario runs against and sets cfg's
// Server, Token, PID (and for nats SubscribeServers and PIDs); stop stops
// them. pull gets the pull endpoint "bench"; nats gets two hubs on one
// JetStream, the first with an embedded NATS server, the second its client.
func benchSpawn(ctx context.Context, exe, scenario, store, hubConfig string, cfg *bench.Config) (stop func(), err error) {
	dir, err := os.MkdirTemp("", "ssehub-bench-")
	if err != nil {
		return nil, err
	}
	var stops []func()
	stop = func() {
		for i := len(stops) - 1; i >= 0; i-- { // the NATS server's hub last
			stops[i]()
		}
		_ = os.RemoveAll(dir)
	}
	o := bench.SpawnOptions{Exe: exe, Store: store, H2C: cfg.H2C, Token: bench.NewToken()}
	writeConfig := func(name, text string) (string, error) {
		p := filepath.Join(dir, name)
		return p, os.WriteFile(p, []byte(text), 0o600)
	}
	spawn := func(sub string, o bench.SpawnOptions) (string, int, error) {
		o.Dir = filepath.Join(dir, sub)
		if err := os.MkdirAll(o.Dir, 0o700); err != nil {
			return "", 0, err
		}
		url, _, pid, s, err := bench.SpawnHub(ctx, o)
		if err != nil {
			return "", 0, err
		}
		stops = append(stops, s)
		cfg.PIDs = append(cfg.PIDs, pid)
		return url, pid, nil
	}
	fail := func(err error) (func(), error) {
		stop()
		return nil, err
	}
	switch scenario {
	case "pull":
		p, err := writeConfig("pull.yaml", benchPullConfig)
		if err != nil {
			return fail(err)
		}
		o.Args = []string{"--config", p}
	case "nats":
		if store != "" {
			return fail(fmt.Errorf("nats --spawn runs the NATS store; --store does not apply"))
		}
		port, err := freeLoopbackPort()
		if err != nil {
			return fail(err)
		}
		natsURL := fmt.Sprintf("nats://127.0.0.1:%d", port)
		p, err := writeConfig("node1.yaml", fmt.Sprintf("log: {level: warn}\nstorage:\n  driver: nats\n  nats:\n    stream: BENCH\n    embedded:\n      listen: 127.0.0.1:%d\n", port))
		if err != nil {
			return fail(err)
		}
		o.Args = []string{"--config", p}
		if cfg.Server, cfg.PID, err = spawn("node1", o); err != nil {
			return fail(err)
		}
		p, err = writeConfig("node2.yaml", fmt.Sprintf("log: {level: warn}\nstorage:\n  driver: nats\n  nats:\n    stream: BENCH\n    url: %q\n", natsURL))
		if err != nil {
			return fail(err)
		}
		o.Args = []string{"--config", p}
		other, _, err := spawn("node2", o)
		if err != nil {
			return fail(err)
		}
		cfg.SubscribeServers, cfg.Token = []string{other}, o.Token
		return stop, nil
	default:
		if hubConfig != "" {
			o.Args = []string{"--config", hubConfig}
		}
	}
	if cfg.Server, cfg.PID, err = spawn("hub", o); err != nil {
		return fail(err)
	}
	cfg.Token = o.Token
	return stop, nil
}

// freeLoopbackPort returns a loopback port nobody listens on right now.
func freeLoopbackPort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}
