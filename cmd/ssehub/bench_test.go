package main

import (
	"bufio"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ssehub/ssehub/internal/bench"
)

// asBinaryEnv makes the test binary behave as the ssehub binary, so that
// `bench --spawn` (which starts its own executable as `serve`) runs real
// hub processes from a test.
const asBinaryEnv = "SSEHUB_TEST_AS_BINARY"

func TestMain(m *testing.M) {
	if os.Getenv(asBinaryEnv) == "1" {
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
		code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
		stop()
		os.Exit(code)
	}
	os.Exit(m.Run())
}

// benchJSON runs ssehub bench with args and returns its figures.
func benchJSON(t *testing.T, args ...string) map[string]float64 {
	t.Helper()
	f, _ := benchRun(t, args...)
	return f
}

// benchRun runs ssehub bench with args and returns its figures and stderr.
func benchRun(t *testing.T, args ...string) (map[string]float64, string) {
	t.Helper()
	code, out, errOut := runCmd(t, append([]string{"bench"}, args...)...)
	if code != 0 {
		t.Fatalf("bench %q: exit %d\nstdout:\n%s\nstderr:\n%s", args, code, out, errOut)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	var res struct {
		Scenario string         `json:"scenario"`
		Figures  map[string]any `json:"figures"`
	}
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &res); err != nil || res.Scenario != args[0] {
		t.Fatalf("bench %q: last line %q: %v", args, lines[len(lines)-1], err)
	}
	if !strings.HasPrefix(out, "scenario  "+args[0]+"\n") {
		t.Errorf("bench %q: no table first:\n%s", args, out)
	}
	figs := map[string]float64{}
	for k, v := range res.Figures {
		if f, ok := v.(float64); ok {
			figs[k] = f
		}
	}
	t.Logf("bench %s: %v", strings.Join(args, " "), figs)
	return figs, errOut
}

// TestBenchScenariosSpawn runs each scenario of the core and feature
// figures at a tiny size against hubs it spawns itself (real `serve`
// processes: bolt on a temporary dir; for pull with the bench's pull
// endpoint; for nats two nodes on an embedded JetStream), and checks that
// what was sent arrived, once.
func TestBenchScenariosSpawn(t *testing.T) {
	if testing.Short() {
		t.Skip("starts hub processes")
	}
	t.Setenv(asBinaryEnv, "1")
	t.Setenv("SSEHUB_TOKEN", "")
	t.Setenv("SSEHUB_SERVER", "")
	zero := func(t *testing.T, f map[string]float64, keys ...string) {
		t.Helper()
		for _, k := range keys {
			if v, ok := f[k]; !ok || v != 0 {
				t.Errorf("%s = %v (present %v), want 0", k, v, ok)
			}
		}
	}
	positive := func(t *testing.T, f map[string]float64, keys ...string) {
		t.Helper()
		for _, k := range keys {
			if !(f[k] > 0) {
				t.Errorf("%s = %v, want > 0", k, f[k])
			}
		}
	}
	t.Run("topics", func(t *testing.T) {
		f := benchJSON(t, "topics", "--spawn", "--topics", "40", "--topics-per-sub", "4", "--subscribers", "10",
			"--batch", "20", "--duration", "300ms")
		zero(t, f, "lost", "duplicates", "publish_errors")
		positive(t, f, "published", "deliveries_per_s", "hub_cpu_percent")
		if f["deliveries"] != f["published"] || f["topics_with_subscribers"] != 40 { // every topic has one subscriber
			t.Errorf("deliveries %v, published %v, topics covered %v", f["deliveries"], f["published"], f["topics_with_subscribers"])
		}
	})
	t.Run("sparse", func(t *testing.T) {
		f := benchJSON(t, "sparse", "--spawn", "--events", "2000", "--sparse-every", "50", "--rounds", "2")
		zero(t, f, "duplicates")
		positive(t, f, "rare_events_per_s", "dense_events_per_s", "rare_vs_dense")
		if f["replayed_events"] != 40 || f["rounds"] != 2 {
			t.Errorf("replayed %v in %v rounds", f["replayed_events"], f["rounds"])
		}
	})
	t.Run("arrow-ingest", func(t *testing.T) {
		f := benchJSON(t, "arrow-ingest", "--spawn", "--rows", "50", "--publishers", "2", "--duration", "300ms", "--rounds", "1")
		zero(t, f, "ipc_errors", "json_errors")
		positive(t, f, "ipc_rows_per_s", "json_rows_per_s", "ipc_vs_json")
	})
	t.Run("arrow-ingest-json-only", func(t *testing.T) {
		f := benchJSON(t, "arrow-ingest", "--spawn", "--rows", "50", "--publishers", "1", "--duration", "200ms", "--rounds", "1", "--body", "json")
		positive(t, f, "json_batches")
		if _, ok := f["ipc_batches"]; ok {
			t.Errorf("IPC ran with --body json: %v", f)
		}
	})
	t.Run("arrow-fanout", func(t *testing.T) {
		f := benchJSON(t, "arrow-fanout", "--spawn", "--subscribers", "8", "--rows", "20", "--duration", "300ms")
		zero(t, f, "lost", "duplicates", "unknown_ids", "ingest_errors")
		positive(t, f, "batches_ingested", "latency_p50_ms")
		if f["batches_delivered"] != 8*f["batches_ingested"] {
			t.Errorf("delivered %v of %v batches × 8", f["batches_delivered"], f["batches_ingested"])
		}
	})
	t.Run("pull", func(t *testing.T) {
		f := benchJSON(t, "pull", "--spawn", "--events", "1000", "--batch", "100", "--consumers", "2")
		zero(t, f, "missing", "extracted_twice", "foreign_events", "left_after", "drained_before")
		if f["confirmed"] != 1000 || f["distinct_events"] != 1000 || f["cycles"] != 10 {
			t.Errorf("confirmed %v, distinct %v, cycles %v", f["confirmed"], f["distinct_events"], f["cycles"])
		}
	})
	t.Run("nats", func(t *testing.T) {
		f := benchJSON(t, "nats", "--spawn", "--subscribers", "6", "--publishers", "2", "--duration", "500ms")
		zero(t, f, "lost", "duplicates", "publish_errors")
		positive(t, f, "published", "other_node_p50_ms", "same_node_p50_ms", "hubs_cpu_percent")
		if f["deliveries"] != 6*f["published"] || f["subscribers_other_node"] != 3 {
			t.Errorf("deliveries %v of %v × 6; %v on the other node", f["deliveries"], f["published"], f["subscribers_other_node"])
		}
	})
}

// TestBenchSpawnNATSCluster: --nats-nodes starts hubs on an embedded NATS
// cluster (here two, an R2 stream): a fan-out publishing on node 1 and
// subscribing on both nodes loses nothing, and the hubs' CPU is reported.
func TestBenchSpawnNATSCluster(t *testing.T) {
	if testing.Short() {
		t.Skip("starts hub processes")
	}
	t.Setenv(asBinaryEnv, "1")
	// One run: a cluster takes about 6 s to elect its JetStream leaders.
	f, errOut := benchRun(t, "fanout", "--spawn", "--nats-nodes", "2", "--subscribers", "6", "--publishers", "2", "--duration", "300ms")
	if n := strings.Count(errOut, "bench: spawned hub pid"); n != 2 {
		t.Errorf("%d hubs spawned, want 2:\n%s", n, errOut)
	}
	if f["lost"] != 0 || f["duplicates"] != 0 || !(f["published"] > 0) || !(f["hubs_cpu_percent"] > 0) || f["deliveries"] != 6*f["published"] {
		t.Errorf("figures %v", f)
	}
}

// TestBenchScenarioUsage: the new scenarios' usage mistakes exit 2 and say
// what is wrong; a second node is required by nats without --spawn.
func TestBenchScenarioUsage(t *testing.T) {
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"bench", "pull", "--spawn", "--hub-config", "x.yaml"}, "pull --spawn writes the hubs' config itself"},
		{[]string{"bench", "nats", "--spawn", "--hub-config", "x.yaml"}, "nats --spawn writes the hubs' config itself"},
		{[]string{"bench", "arrow-ingest", "--body", "csv"}, `"csv": want ipc or json`},
		{[]string{"bench", "nats", "--spawn", "--nats-nodes", "1"}, "--nats-nodes 1: want at least 2"},
		{[]string{"bench", "fanout", "--nats-nodes", "3"}, "--nats-nodes starts hubs: it needs --spawn"},
		{[]string{"bench", "pull", "--spawn", "--nats-nodes", "3"}, "--nats-nodes does not apply"},
		{[]string{"bench", "fanout", "--spawn", "--nats-nodes", "3", "--hub-config", "x.yaml"}, "writes the hubs' config itself"},
	} {
		code, _, errOut := runCmd(t, c.args...)
		if code != 2 || !strings.Contains(errOut, c.want) {
			t.Errorf("%q: exit %d, stderr %q, want 2 and %q", c.args, code, errOut, c.want)
		}
	}
	base, _ := testHubServer(t, "bench-admin")
	code, _, errOut := runCmd(t, "bench", "nats", "--server", base, "--token", "bench-admin", "--duration", "50ms")
	if code != 1 || !strings.Contains(errOut, "--subscribe-server") {
		t.Errorf("nats without a second node: exit %d, stderr %q", code, errOut)
	}
}

// TestBenchScenarioDefaults: a scenario's own defaults apply to the flags
// not given, and a flag given wins.
func TestBenchScenarioDefaults(t *testing.T) {
	parse := func(scenario string, args ...string) bench.Config {
		fs := flag.NewFlagSet("bench", flag.ContinueOnError)
		cfg := bench.Config{}
		fs.IntVar(&cfg.Subscribers, "subscribers", 100, "")
		fs.IntVar(&cfg.Publishers, "publishers", 4, "")
		fs.IntVar(&cfg.Batch, "batch", 1, "")
		fs.IntVar(&cfg.Events, "events", 100000, "")
		fs.DurationVar(&cfg.Duration, "duration", 10*time.Second, "")
		benchScenarioFlags(fs, &cfg)
		if err := fs.Parse(args); err != nil {
			t.Fatal(err)
		}
		set := map[string]bool{}
		fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
		benchDefaults(scenario, &cfg, set)
		return cfg
	}
	if c := parse("topics"); c.Subscribers != 1000 || c.Batch != 100 || c.Topics != 10000 || c.TopicsPerSub != 10 {
		t.Errorf("topics: %+v", c)
	}
	if c := parse("topics", "--subscribers", "7", "--batch", "1"); c.Subscribers != 7 || c.Batch != 1 {
		t.Errorf("topics with flags: %+v", c)
	}
	if c := parse("arrow-ingest"); c.Publishers != 16 || c.Duration != 6*time.Second || c.Rows != 1000 {
		t.Errorf("arrow-ingest: %+v", c)
	}
	if c := parse("pull"); c.Events != 20000 || c.Batch != 100 || c.PullName != "bench" || c.Consumers != 1 {
		t.Errorf("pull: %+v", c)
	}
	if c := parse("fanout"); c.Subscribers != 100 || c.Batch != 1 || c.Events != 100000 {
		t.Errorf("fanout keeps the shared defaults: %+v", c)
	}
}

// TestBenchRefusesNegativeCounts: a negative count is a usage error, not
// a panic inside a scenario.
func TestBenchRefusesNegativeCounts(t *testing.T) {
	for _, f := range []string{"--topics", "--topics-per-sub", "--rows", "--rounds", "--consumers", "--events", "--subscribers", "--publishers", "--batch", "--sparse-every", "--conns"} {
		code, _, errOut := runCmd(t, "bench", "topics", f, "-1")
		if code != 2 || !strings.Contains(errOut, f[2:]) || !strings.Contains(errOut, "negative") {
			t.Errorf("%s -1: exit %d, stderr %q", f, code, errOut)
		}
	}
}

// TestBenchKilledStopsItsHubs: a bench killed with SIGKILL (or by SIGPIPE,
// when its output goes to a pipe that closes) leaves no hub running: the
// hubs it spawned die with it.
func TestBenchKilledStopsItsHubs(t *testing.T) {
	if testing.Short() {
		t.Skip("starts hub processes")
	}
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(exe, "bench", "publish", "--spawn", "--publishers", "1", "--duration", "60s")
	cmd.Env = append(os.Environ(), asBinaryEnv+"=1", "TMPDIR="+t.TempDir()) // the hub's data dir outlives a killed bench
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	sc := bufio.NewScanner(stderr)
	pid := 0
	for pid == 0 && sc.Scan() {
		if m := regexp.MustCompile(`spawned hub pid (\d+)`).FindStringSubmatch(sc.Text()); m != nil {
			pid, _ = strconv.Atoi(m[1])
		}
	}
	if pid == 0 {
		t.Fatal("no hub spawned")
	}
	go io.Copy(io.Discard, stderr)
	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()
	deadline := time.Now().Add(15 * time.Second)
	for {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil || strings.Contains(string(b), ") Z ") { // gone, or a zombie waiting for init
			return
		}
		if time.Now().After(deadline) {
			_ = syscall.Kill(pid, syscall.SIGKILL)
			t.Fatalf("hub pid %d still runs after the bench was killed: %s", pid, b)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestBenchMercureProtocol runs fanout in the Mercure protocol mode
// against real `serve` processes: one the bench spawns (it hands the hub a
// random key), and one started here with the reference hub's dev key,
// given to the bench as --server and $MERCURE_PUBLISHER_JWT_KEY, first
// with a wrong --mercure-key (the preflight refuses it with the hub's
// answer) and then with the right one. Every acknowledged update must
// reach every subscriber through /.well-known/mercure.
func TestBenchMercureProtocol(t *testing.T) {
	if testing.Short() {
		t.Skip("starts hub processes")
	}
	t.Setenv(asBinaryEnv, "1")
	t.Setenv("SSEHUB_TOKEN", "")
	t.Setenv("SSEHUB_SERVER", "")
	t.Setenv("MERCURE_PUBLISHER_JWT_KEY", "")
	t.Setenv("MERCURE_SUBSCRIBER_JWT_KEY", "")
	check := func(t *testing.T, f map[string]float64, subs float64) {
		t.Helper()
		if f["published"] == 0 || f["deliveries"] != f["published"]*subs || f["lost"] != 0 || f["publish_errors"] != 0 {
			t.Errorf("published %v, delivered %v to %v subscribers, lost %v, errors %v",
				f["published"], f["deliveries"], subs, f["lost"], f["publish_errors"])
		}
		if !(f["latency_p50_ms"] > 0) || f["latency_p99_ms"] < f["latency_p50_ms"] {
			t.Errorf("latency p50 %v, p99 %v", f["latency_p50_ms"], f["latency_p99_ms"])
		}
	}
	t.Run("spawn", func(t *testing.T) {
		f := benchJSON(t, "fanout", "--spawn", "--protocol", "mercure", "--subscribers", "12", "--rate", "200", "--duration", "400ms")
		check(t, f, 12)
		// More streams from one address than the hub's default limit
		// (1,000 per address, which the admin token on /events is exempt
		// from): the spawned hub's limits are raised.
		f = benchJSON(t, "fanout", "--spawn", "--protocol", "mercure", "--subscribers", "1010", "--publishers", "2", "--rate", "50", "--duration", "300ms")
		check(t, f, 1010)
	})
	t.Run("server", func(t *testing.T) {
		exe, err := os.Executable()
		if err != nil {
			t.Fatal(err)
		}
		const key = "!ChangeThisMercureHubJWTSecretKey!"
		url, _, pid, stop, err := bench.SpawnHub(context.Background(), bench.SpawnOptions{Exe: exe,
			Env: []string{"MERCURE_PUBLISHER_JWT_KEY=" + key, "MERCURE_SUBSCRIBER_JWT_KEY=" + key}})
		if err != nil {
			t.Fatal(err)
		}
		defer stop()
		code, _, errOut := runCmd(t, "bench", "fanout", "--protocol", "mercure", "--server", url, "--mercure-key", "not the key", "--duration", "50ms")
		if code != 1 || !strings.Contains(errOut, "refused the bench's Mercure subscription: 401") || !strings.Contains(errOut, "--mercure-key") {
			t.Errorf("wrong key: exit %d, stderr %q", code, errOut)
		}
		t.Setenv("MERCURE_PUBLISHER_JWT_KEY", key)
		f := benchJSON(t, "fanout", "--protocol", "mercure", "--server", url, "--pid", strconv.Itoa(pid),
			"--subscribers", "9", "--publishers", "2", "--duration", "300ms")
		check(t, f, 9)
		if !(f["hub_cpu_percent"] > 0) {
			t.Errorf("hub_cpu_percent %v with --pid", f["hub_cpu_percent"])
		}
	})
	t.Run("usage", func(t *testing.T) {
		for _, c := range []struct {
			args []string
			want string
		}{
			{[]string{"bench", "publish", "--spawn", "--protocol", "mercure"}, "fanout scenario only"},
			{[]string{"bench", "fanout", "--protocol", "stomp"}, `"stomp": want ssehub or mercure`},
			{[]string{"bench", "fanout", "--protocol", "mercure", "--server", "127.0.0.1:1"}, "needs the hub's publisher JWT key"},
			{[]string{"bench", "fanout", "--spawn", "--protocol", "mercure", "--h2c"}, "--h2c and --h2 do not apply"},
		} {
			code, _, errOut := runCmd(t, c.args...)
			if code != 2 || !strings.Contains(errOut, c.want) {
				t.Errorf("%q: exit %d, stderr %q, want 2 and %q", c.args, code, errOut, c.want)
			}
		}
	})
}
