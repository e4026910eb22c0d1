package main

import (
	"context"
	"crypto/tls"
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
	register(command{name: "bench", summary: "load-test a hub (fanout, publish, replay, idle, topics, sparse, arrow-ingest, arrow-fanout, pull, nats)", run: runBench})
}

const benchUsage = `usage: ssehub bench SCENARIO [flags]

Scenarios:
  fanout   S subscribers on one topic, P publishers: deliveries/s, loss, duplicates, latency
  publish  C concurrent publishers (or --batch N per request): acknowledged events/s, ack latency
  replay   one client N events behind: catch-up events/s
  idle     N idle SSE connections: the hub's memory per connection
  topics   many topics: S subscribers each on --topics-per-sub of --topics
           topics, P publishers over all of them: dispatch rate, loss, latency
           (defaults: 10000 topics, 1000 subscribers on 10 each, --batch 100)
  sparse   replay of a rare topic (one event in --sparse-every) from the start
           of a log of --events events, against as many events of the dense
           topic, alternately --rounds times: events/s of each, their ratio
           (defaults: 1 in 100, 5 rounds)
  arrow-ingest
           POST /ingest/{token} of --rows-row batches as Arrow IPC and as JSON
           rows (--body ipc,json), alternately --rounds times, for --duration
           each: rows/s of each (defaults: 1000 rows, 16 clients, 6s, 2 rounds)
  arrow-fanout
           S subscribers of an Arrow stream (?format=arrow), P clients
           ingesting IPC batches: rows delivered/s, loss, latency
           (defaults: 1000 subscribers, 1 client, 1000 rows)
  pull     the pull endpoint --pull-endpoint (Inboxclaw http_pull): --events
           events taken in extract + mark-processed cycles of --batch by
           --consumers loops: cycles/s, events/s, latency, each event once
           (defaults: endpoint bench, 20000 events, batch 100, 1 consumer)
  nats     two hub nodes on one NATS JetStream: publish on --server, subscribe
           half on the other node (--subscribe-server), half on the same one:
           deliveries/s, loss, latency across nodes and on one node
           (defaults: 1000 subscribers)

Against --server URL (default $SSEHUB_SERVER) with --token (default
$SSEHUB_TOKEN), a token that may publish and subscribe (the admin token
will do), or --spawn to start a hub on a temporary data dir. With --spawn,
pull gets a hub configured with the pull endpoint "bench" (match
bench.pull.*), and nats starts two hubs: the first with an embedded NATS
server (JetStream on a temporary dir), the second connected to it. Without
--spawn, pull needs a pull endpoint that delivers bench.pull.* and that
nothing else uses (the bench confirms whatever it hands out), and nats needs
--subscribe-server URL of a second node on the same log. Progress goes to
stderr; a summary table and one final JSON line to stdout. Every flag has
the default shown, unless a scenario's own default is given above.

Examples:
  ssehub bench fanout --spawn --subscribers 1000 --duration 30s
  ssehub bench publish --server localhost:8080 --publishers 8 --batch 100
  ssehub bench idle --spawn --conns 10000
  ssehub bench topics --spawn --topics 10000 --subscribers 1000 --topics-per-sub 10
  ssehub bench sparse --spawn --events 1000000 --sparse-every 1000
  ssehub bench arrow-ingest --spawn
  ssehub bench pull --spawn --batch 1000 --events 100000
  ssehub bench nats --spawn --subscribers 2000 --publishers 16
  ssehub bench nats --server http://127.0.0.1:8081 --subscribe-server http://127.0.0.1:8082
  ssehub bench publish --spawn --nats-nodes 3 --publishers 32 --duration 6s
  ssehub bench fanout --spawn --protocol mercure --subscribers 1000 --rate 100
  ssehub bench fanout --protocol mercure --server http://127.0.0.1:3000 \
      --mercure-key '!ChangeThisMercureHubJWTSecretKey!' --subscribers 1000 --rate 100

With --protocol mercure, fanout subscribes (?topic=) and publishes (form
POST) through /.well-known/mercure with HS256 JWTs whose mercure claim
grants publish and subscribe on "*": against ssehub's Mercure surface or
any Mercure hub (scripts/bench-mercure.sh compares them, docs/bench.md).
`

// benchScenarios are the runs of ssehub bench, by name.
var benchScenarios = map[string]func(context.Context, *bench.Config) (*bench.Result, error){
	"fanout": bench.Fanout, "publish": bench.Publish, "replay": bench.Replay, "idle": bench.Idle,
	"topics": bench.Topics, "sparse": bench.Sparse, "arrow-ingest": bench.ArrowIngest, "arrow-fanout": bench.ArrowFanout,
	"pull": bench.Pull, "nats": bench.Nodes,
}

// benchScenarioNames lists the scenarios for messages, in the usage's order.
const benchScenarioNames = "fanout, publish, replay, idle, topics, sparse, arrow-ingest, arrow-fanout, pull or nats"

func runBench(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	var cfg bench.Config
	server := envStringVar(fs, "server", "SSEHUB_SERVER", defaultServer, "hub `URL`; host:port means http://host:port (default $SSEHUB_SERVER, else "+defaultServer+")")
	token := envStringVar(fs, "token", "SSEHUB_TOKEN", "", "`TOKEN` that may publish and subscribe (default $SSEHUB_TOKEN)")
	spawn := fs.Bool("spawn", false, "start the hub (nats, --nats-nodes: the hubs) on a temporary data dir for the run, on loopback (ignores --server and --token)")
	store := fs.String("store", "", "with --spawn: the hub's `STORE`, bolt, memory, or pebble in a binary built with -tags pebble (default the hub's, bolt)")
	hubConfig := fs.String("hub-config", "", "with --spawn: a YAML config `FILE` for the hub")
	natsNodes := fs.Int("nats-nodes", 0, "with --spawn: start `N` hubs on an embedded NATS cluster (stream replicas min(N, 3)); publishes go to node 1, fanout subscribes on nodes 1 and 2 in turn, nats on node 2")
	fs.IntVar(&cfg.Subscribers, "subscribers", 100, "fanout, topics, arrow-fanout, nats: `N` subscribers")
	fs.IntVar(&cfg.Publishers, "publishers", 4, "`N` concurrent publishers")
	fs.IntVar(&cfg.PayloadSize, "payload", 64, "payload padding in `BYTES`")
	fs.Float64Var(&cfg.Rate, "rate", 0, "fanout, nats: total publishes per second; topics: events per second; arrow-fanout: batches per second, a `RATE` (0 = as fast as possible)")
	fs.DurationVar(&cfg.Duration, "duration", 10*time.Second, "fanout, publish, topics, arrow-fanout, nats: how long to publish; arrow-ingest: how long each body kind is ingested, a `DURATION`")
	fs.IntVar(&cfg.Batch, "batch", 1, "publish, topics: `N` events per request (NDJSON) when > 1; pull: events per extract")
	fs.IntVar(&cfg.Events, "events", 100000, "replay: `N` events behind; sparse: events in the log; pull: events to take")
	fs.IntVar(&cfg.Conns, "conns", 1000, "idle: `N` connections")
	fs.DurationVar(&cfg.Hold, "hold", 0, "idle: keep the streams open this `DURATION` after measuring, e.g. to profile the hub (serve --pprof)")
	fs.BoolVar(&cfg.H2C, "h2c", false, "subscribe over cleartext HTTP/2 (with --spawn, the hub gets --h2c)")
	fs.IntVar(&cfg.PerConn, "per-conn", 1, "with --h2c or --h2: `N` streams per HTTP/2 connection")
	useTLS := fs.Bool("tls", false, "with --spawn: the hub serves HTTPS with a self-signed certificate (not verified); subscribers use HTTP/1.1 over TLS unless --h2")
	fs.BoolVar(&cfg.H2, "h2", false, "subscribe over HTTP/2 over TLS (an https hub, or --spawn --tls)")
	fs.BoolVar(&cfg.Insecure, "insecure", false, "do not verify an https hub's certificate")
	fs.StringVar(&cfg.AcceptEncoding, "accept-encoding", "", "idle: the streams' Accept-Encoding `VALUE` (e.g. gzip; the hub needs server.compression)")
	fs.IntVar(&cfg.PID, "pid", 0, "the hub's `PID`, for memory readings (default: read its /metrics)")
	fs.Func("subscribe-server", "fanout, idle: subscribe on this hub `URL` instead of --server (repeat for the nodes of a cluster; subscribers take them in turn); nats: the other node",
		func(s string) error { cfg.SubscribeServers = append(cfg.SubscribeServers, s); return nil })
	benchScenarioFlags(fs, &cfg)
	mercure := benchMercureFlags(fs)
	pos, code, ok := parseArgs(fs, args, "bench", true, benchUsage, stderr)
	if !ok {
		return code
	}
	if len(pos) != 1 {
		return usageError(stderr, "bench", "want one SCENARIO (%s), got %d arguments", benchScenarioNames, len(pos))
	}
	scenario := pos[0]
	run := benchScenarios[scenario]
	if run == nil {
		return usageError(stderr, "bench", "unknown scenario %q: want %s", scenario, benchScenarioNames)
	}
	if name := benchNegative(fs); name != "" {
		return usageError(stderr, "bench", "--%s %s: must not be negative", name, fs.Lookup(name).Value)
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	benchDefaults(scenario, &cfg, set)
	if *natsNodes < 0 || (*natsNodes == 1 && scenario == "nats") {
		return usageError(stderr, "bench", "--nats-nodes %d: want at least %d", *natsNodes, map[bool]int{true: 2, false: 1}[scenario == "nats"])
	}
	if *natsNodes > 0 && !*spawn {
		return usageError(stderr, "bench", "--nats-nodes starts hubs: it needs --spawn")
	}
	if *natsNodes > 0 && scenario == "pull" {
		return usageError(stderr, "bench", "pull --spawn runs one hub with the bench's pull endpoint; --nats-nodes does not apply")
	}
	if *spawn && *hubConfig != "" && (scenario == "pull" || scenario == "nats" || *natsNodes > 0) {
		return usageError(stderr, "bench", "%s --spawn writes the hubs' config itself; --hub-config does not apply (run the hubs yourself and give --server)", scenario)
	}
	if msg := mercure.apply(scenario, *spawn, &cfg); msg != "" {
		return usageError(stderr, "bench", "%s", msg)
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
		if *useTLS {
			cfg.Insecure = true // a spawned hub's certificate is self-signed
		}
		stop, err := benchSpawn(ctx, exe, scenario, *store, *hubConfig, *natsNodes, *useTLS, &cfg)
		if err != nil {
			fmt.Fprintf(stderr, "ssehub bench: spawn: %v\n", err)
			return 1
		}
		defer stop()
		stderr = newRedactWriter(stderr, cfg.Token)
		cfg.Progress = stderr
		for i, u := range cfg.Spawned {
			fmt.Fprintf(stderr, "bench: spawned hub pid %d at %s\n", cfg.PIDs[i], u)
		}
	} else {
		var err error
		if cfg.Server, err = hubURL(server); err != nil {
			return usageError(stderr, "bench", "%v", err)
		}
		preflight := benchPreflight
		if cfg.Protocol == bench.ProtocolMercure {
			preflight = func(ctx context.Context, cfg *bench.Config, _ string) error { return benchMercurePreflight(ctx, cfg) }
		}
		if err := preflight(ctx, &cfg, scenario); err != nil {
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
		client := http.DefaultClient
		if cfg.Insecure {
			tr := &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}
			defer tr.CloseIdleConnections()
			client = &http.Client{Transport: tr}
		}
		resp, err := client.Do(req)
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
