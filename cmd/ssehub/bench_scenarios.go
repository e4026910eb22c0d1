package main

import (
	"context"
	"flag"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
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

// benchNegative returns the name of the first count flag given a
// negative value, if any: counts are refused before anything runs.
func benchNegative(fs *flag.FlagSet) string {
	bad := ""
	fs.Visit(func(f *flag.Flag) {
		if g, ok := f.Value.(flag.Getter); ok && bad == "" {
			switch v := g.Get().(type) {
			case int:
				if v < 0 {
					bad = f.Name
				}
			case float64:
				if v < 0 {
					bad = f.Name
				}
			case time.Duration:
				if v < 0 {
					bad = f.Name
				}
			}
		}
	})
	return bad
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
// Server, Token, PID, PIDs and Spawned (and for nats, or with natsNodes,
// SubscribeServers); stop stops them. pull gets the pull endpoint "bench";
// nats gets two hubs on one JetStream, the first with an embedded NATS
// server, the second its client; natsNodes > 0 starts that many hubs on an
// embedded NATS cluster (every hub runs one of its servers) for any
// scenario. With useTLS every hub serves HTTPS with a self-signed
// certificate.
func benchSpawn(ctx context.Context, exe, scenario, store, hubConfig string, natsNodes int, useTLS bool, cfg *bench.Config) (stop func(), err error) {
	dir, err := os.MkdirTemp("", "ssehub-bench-")
	if err != nil {
		return nil, err
	}
	var mu sync.Mutex
	var stops []func()
	stop = func() {
		for i := len(stops) - 1; i >= 0; i-- { // a NATS server's own hub last
			stops[i]()
		}
		_ = os.RemoveAll(dir)
	}
	fail := func(err error) (func(), error) {
		stop()
		return nil, err
	}
	o := bench.SpawnOptions{Exe: exe, Store: store, H2C: cfg.H2C, Token: bench.NewToken(), Env: benchMercureEnv(cfg)}
	cfg.Token = o.Token
	// node writes the node's config (if any) and starts it.
	node := func(name, config string) (string, int, error) {
		o := o
		o.Dir = filepath.Join(dir, name)
		if err := os.MkdirAll(o.Dir, 0o700); err != nil {
			return "", 0, err
		}
		if config != "" {
			p := filepath.Join(dir, name+".yaml")
			if err := os.WriteFile(p, []byte(config), 0o600); err != nil {
				return "", 0, err
			}
			o.Args = []string{"--config", p}
		} else if hubConfig != "" {
			o.Args = []string{"--config", hubConfig}
		}
		if useTLS {
			o.Args = append(o.Args, "--tls-self-signed")
		}
		url, _, pid, s, err := bench.SpawnHub(ctx, o)
		if err != nil {
			return "", 0, fmt.Errorf("%s: %w", name, err)
		}
		mu.Lock()
		stops = append(stops, s)
		mu.Unlock()
		return url, pid, nil
	}
	var urls []string
	var pids []int
	switch {
	case natsNodes > 0 || scenario == "nats":
		if store != "" {
			return fail(fmt.Errorf("the NATS hubs run the NATS store; --store does not apply"))
		}
		configs, err := natsNodeConfigs(natsNodes)
		if err != nil {
			return fail(err)
		}
		urls, pids = make([]string, len(configs)), make([]int, len(configs))
		// The nodes of a cluster wait for each other before they listen:
		// start them together.
		errs := make([]error, len(configs))
		var wg sync.WaitGroup
		for i, c := range configs {
			wg.Add(1)
			go func() {
				defer wg.Done()
				urls[i], pids[i], errs[i] = node(fmt.Sprintf("node%d", i+1), c)
			}()
			if natsNodes == 0 {
				wg.Wait() // node 2 connects to node 1's server: one after the other
			}
		}
		wg.Wait()
		for _, err := range errs {
			if err != nil {
				return fail(err)
			}
		}
		// idle stays on node 1: its memory is the one measured.
		if len(urls) > 1 && (scenario == "nats" || scenario == "fanout") && len(cfg.SubscribeServers) == 0 {
			cfg.SubscribeServers = urls[:2]
			if scenario == "nats" {
				cfg.SubscribeServers = urls[1:2]
			}
		}
	case scenario == "pull":
		u, pid, err := node("hub", benchPullConfig)
		if err != nil {
			return fail(err)
		}
		urls, pids = []string{u}, []int{pid}
	default:
		config := ""
		if cfg.Protocol == bench.ProtocolMercure && hubConfig == "" {
			config = benchMercureConfig
		}
		u, pid, err := node("hub", config)
		if err != nil {
			return fail(err)
		}
		urls, pids = []string{u}, []int{pid}
	}
	cfg.Server, cfg.PID, cfg.PIDs, cfg.Spawned = urls[0], pids[0], pids, urls
	return stop, nil
}

// natsNodeConfigs returns the hubs' configs on one NATS JetStream: for
// n = 0, two hubs, the first running an embedded server and the second
// its client; else n hubs on an embedded cluster of n servers (one without
// routes for n = 1) with min(n, 3) replicas.
func natsNodeConfigs(n int) ([]string, error) {
	const head = "log: {level: warn}\nstorage:\n  driver: nats\n  nats:\n    stream: BENCH\n"
	if n == 0 {
		port, err := freeLoopbackPort()
		if err != nil {
			return nil, err
		}
		return []string{
			head + fmt.Sprintf("    embedded:\n      listen: 127.0.0.1:%d\n", port),
			head + fmt.Sprintf("    url: \"nats://127.0.0.1:%d\"\n", port),
		}, nil
	}
	client, route := make([]int, n), make([]int, n)
	var routes []string
	for i := range n {
		var err error
		if client[i], err = freeLoopbackPort(); err == nil {
			route[i], err = freeLoopbackPort()
		}
		if err != nil {
			return nil, err
		}
		routes = append(routes, fmt.Sprintf("nats://127.0.0.1:%d", route[i]))
	}
	out := make([]string, n)
	for i := range n {
		c := head + fmt.Sprintf("    replicas: %d\n    embedded:\n      name: n%d\n      listen: 127.0.0.1:%d\n", min(n, 3), i+1, client[i])
		if n > 1 {
			c += fmt.Sprintf("      cluster_listen: 127.0.0.1:%d\n      routes: [%s]\n", route[i], strings.Join(routes, ", "))
		}
		out[i] = c
	}
	return out, nil
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
