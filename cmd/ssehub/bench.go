package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/ssehub/ssehub/internal/bench"
)

func init() {
	register(command{name: "bench", summary: "load-test a hub (fanout, publish, replay, idle)", run: runBench})
}

const benchUsage = `usage: ssehub bench SCENARIO [flags]

Scenarios:
  fanout   S subscribers on one topic, P publishers: deliveries/s, loss, duplicates, latency
  publish  C concurrent publishers (or --batch N per request): acknowledged events/s, ack latency
  replay   one client N events behind: catch-up events/s
  idle     N idle SSE connections: the hub's memory per connection

Against --server URL (default $SSEHUB_SERVER) with --token (default
$SSEHUB_TOKEN), a token that may publish and subscribe (the admin token
will do), or --spawn to start a hub on a temporary data dir. Progress goes
to stderr; a summary table and one final JSON line to stdout.

Examples:
  ssehub bench fanout --spawn --subscribers 1000 --duration 30s
  ssehub bench publish --server localhost:8080 --publishers 8 --batch 100
  ssehub bench idle --spawn --conns 10000
`

// benchScenarios are the runs of ssehub bench, by name.
var benchScenarios = map[string]func(context.Context, *bench.Config) (*bench.Result, error){
	"fanout": bench.Fanout, "publish": bench.Publish, "replay": bench.Replay, "idle": bench.Idle,
}

func runBench(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	var cfg bench.Config
	server := envStringVar(fs, "server", "SSEHUB_SERVER", defaultServer, "hub `URL`; host:port means http://host:port (default $SSEHUB_SERVER, else "+defaultServer+")")
	token := envStringVar(fs, "token", "SSEHUB_TOKEN", "", "`TOKEN` that may publish and subscribe (default $SSEHUB_TOKEN)")
	spawn := fs.Bool("spawn", false, "start a hub on a temporary data dir for the run (ignores --server and --token)")
	store := fs.String("store", "", "with --spawn: the hub's `STORE`, bolt or memory (default the hub's, bolt)")
	hubConfig := fs.String("hub-config", "", "with --spawn: a YAML config `FILE` for the hub")
	fs.IntVar(&cfg.Subscribers, "subscribers", 100, "fanout: `N` subscribers")
	fs.IntVar(&cfg.Publishers, "publishers", 4, "`N` concurrent publishers")
	fs.IntVar(&cfg.PayloadSize, "payload", 64, "payload padding in `BYTES`")
	fs.Float64Var(&cfg.Rate, "rate", 0, "fanout: total publishes per second, a `RATE` (0 = as fast as possible)")
	fs.DurationVar(&cfg.Duration, "duration", 10*time.Second, "fanout, publish: how long to publish, a `DURATION`")
	fs.IntVar(&cfg.Batch, "batch", 1, "publish: `N` events per request (NDJSON) when > 1")
	fs.IntVar(&cfg.Events, "events", 100000, "replay: `N` events behind")
	fs.IntVar(&cfg.Conns, "conns", 1000, "idle: `N` connections")
	fs.BoolVar(&cfg.H2C, "h2c", false, "subscribe over cleartext HTTP/2 (with --spawn, the hub gets --h2c)")
	fs.IntVar(&cfg.PerConn, "per-conn", 1, "with --h2c: `N` streams per HTTP/2 connection")
	fs.StringVar(&cfg.AcceptEncoding, "accept-encoding", "", "idle: the streams' Accept-Encoding `VALUE` (e.g. gzip; the hub needs server.compression)")
	fs.IntVar(&cfg.PID, "pid", 0, "the hub's `PID`, for memory readings (default: read its /metrics)")
	fs.Func("subscribe-server", "fanout, idle: subscribe on this hub `URL` instead of --server (repeat for the nodes of a cluster; subscribers take them in turn)",
		func(s string) error { cfg.SubscribeServers = append(cfg.SubscribeServers, s); return nil })
	pos, code, ok := parseArgs(fs, args, "bench", true, benchUsage, stderr)
	if !ok {
		return code
	}
	if len(pos) != 1 {
		return usageError(stderr, "bench", "want one SCENARIO (fanout, publish, replay or idle), got %d arguments", len(pos))
	}
	scenario := pos[0]
	run := benchScenarios[scenario]
	if run == nil {
		return usageError(stderr, "bench", "unknown scenario %q: want fanout, publish, replay or idle", scenario)
	}
	cfg.Token, _ = token.Get()
	stderr = newRedactWriter(stderr, cfg.Token)
	cfg.Progress = stderr
	if *spawn {
		exe, err := os.Executable()
		if err != nil {
			fmt.Fprintf(stderr, "ssehub bench: %v\n", err)
			return 1
		}
		var extra []string
		if *hubConfig != "" {
			extra = []string{"--config", *hubConfig}
		}
		url, token, pid, stop, err := bench.Spawn(ctx, exe, *store, cfg.H2C, io.Discard, extra...)
		if err != nil {
			fmt.Fprintf(stderr, "ssehub bench: spawn: %v\n", err)
			return 1
		}
		defer stop()
		cfg.Server, cfg.Token, cfg.PID = url, token, pid
		stderr = newRedactWriter(stderr, token)
		cfg.Progress = stderr
		fmt.Fprintf(stderr, "bench: spawned hub pid %d at %s\n", pid, url)
	} else {
		var err error
		if cfg.Server, err = hubURL(server); err != nil {
			return usageError(stderr, "bench", "%v", err)
		}
		if err := benchPreflight(ctx, &cfg, scenario); err != nil {
			fmt.Fprintf(stderr, "ssehub bench %s: %v\n", scenario, err)
			return 1
		}
	}
	res, err := run(ctx, &cfg)
	if err != nil {
		fmt.Fprintf(stderr, "ssehub bench %s: %v\n", scenario, err)
		return 1
	}
	res.Table(stdout)
	b, _ := json.Marshal(res)
	fmt.Fprintf(stdout, "%s\n", b)
	return 0
}

// benchPreflight checks, before a run, that the hub answers and accepts the
// token for what the scenario does, so that a refusal is reported with the
// hub's own error message instead of failing inside the load generator.
// Subscribing is checked with a stream (live only: nothing is replayed);
// publishing with a body declared JSON that is not, which the hub refuses
// with BAD_JSON after the token's checks, so nothing is stored.
func benchPreflight(ctx context.Context, cfg *bench.Config, scenario string) error {
	topic := "bench." + scenario + ".preflight"
	check := func(method, path, ctype, body string, want func(*http.Response, []byte) bool, need string) error {
		ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		req, err := http.NewRequestWithContext(ctx, method, cfg.Server+path, strings.NewReader(body))
		if err != nil {
			return fmt.Errorf("preflight: %w", err)
		}
		if ctype != "" {
			req.Header.Set("Content-Type", ctype)
		}
		if method == "GET" {
			req.Header.Set("Accept", "text/event-stream")
		}
		if cfg.Token != "" {
			req.Header.Set("Authorization", "Bearer "+cfg.Token)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return connectError(cfg.Server, err, refusedHint)
		}
		defer resp.Body.Close()
		var b []byte
		if resp.StatusCode != http.StatusOK {
			b, _ = io.ReadAll(io.LimitReader(resp.Body, 64<<10))
		}
		if want(resp, b) {
			return nil
		}
		msg := fmt.Sprintf("the hub refused to let the bench %s: %v", need, hubError(resp, b))
		if h := tokenHint(resp.StatusCode, b, cfg.Token != "", "a token that may publish and subscribe (e.g. the admin token)"); h != "" {
			msg += "\n  " + h
		}
		return errors.New(msg)
	}
	err := check("GET", "/events?topic="+url.QueryEscape(topic), "", "", func(r *http.Response, _ []byte) bool {
		return r.StatusCode == http.StatusOK
	}, "subscribe")
	if err != nil || scenario == "idle" {
		return err
	}
	return check("POST", "/publish/"+topic, "application/json", "{", func(r *http.Response, b []byte) bool {
		var e apiError
		return r.StatusCode == http.StatusBadRequest && json.Unmarshal(b, &e) == nil && strings.EqualFold(e.Error.Code, "bad_json")
	}, "publish")
}
