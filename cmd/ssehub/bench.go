package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
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

Against --server URL (default $SSEHUB_SERVER) with --token (default $SSEHUB_TOKEN), or --spawn
to start a hub on a temporary data dir. Progress goes to stderr; a summary table and one final
JSON line to stdout.
`

func runBench(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" {
		fmt.Fprint(stderr, benchUsage)
		return 2
	}
	scenario := args[0]
	fs := flag.NewFlagSet("bench "+scenario, flag.ContinueOnError)
	fs.SetOutput(stderr)
	var cfg bench.Config
	fs.StringVar(&cfg.Server, "server", envOr("SSEHUB_SERVER", "http://localhost:8080"), "hub URL")
	fs.StringVar(&cfg.Token, "token", os.Getenv("SSEHUB_TOKEN"), "token that may publish and subscribe")
	spawn := fs.Bool("spawn", false, "start a hub on a temporary data dir for the run")
	store := fs.String("store", "", "with --spawn: the store (bolt, memory)")
	hubConfig := fs.String("hub-config", "", "with --spawn: a YAML config file for the hub")
	fs.IntVar(&cfg.Subscribers, "subscribers", 100, "fanout: subscribers")
	fs.IntVar(&cfg.Publishers, "publishers", 4, "concurrent publishers")
	fs.IntVar(&cfg.PayloadSize, "payload", 64, "payload padding in bytes")
	fs.Float64Var(&cfg.Rate, "rate", 0, "fanout: total publishes per second (0 = as fast as possible)")
	fs.DurationVar(&cfg.Duration, "duration", 10*time.Second, "fanout, publish: how long to publish")
	fs.IntVar(&cfg.Batch, "batch", 1, "publish: events per request (NDJSON) when > 1")
	fs.IntVar(&cfg.Events, "events", 100000, "replay: events behind")
	fs.IntVar(&cfg.Conns, "conns", 1000, "idle: connections")
	fs.BoolVar(&cfg.H2C, "h2c", false, "subscribe over cleartext HTTP/2 (with --spawn, the hub gets --h2c)")
	fs.IntVar(&cfg.PerConn, "per-conn", 1, "with --h2c: streams per HTTP/2 connection")
	fs.IntVar(&cfg.PID, "pid", 0, "the hub's pid, for memory readings (default: read its /metrics)")
	if err := fs.Parse(args[1:]); err != nil {
		return 2
	}
	cfg.Progress = stderr
	run := map[string]func(context.Context, *bench.Config) (*bench.Result, error){
		"fanout": bench.Fanout, "publish": bench.Publish, "replay": bench.Replay, "idle": bench.Idle,
	}[scenario]
	if run == nil {
		fmt.Fprintf(stderr, "ssehub bench: unknown scenario %q\n\n%s", scenario, benchUsage)
		return 2
	}
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
		fmt.Fprintf(stderr, "bench: spawned hub pid %d at %s\n", pid, url)
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
