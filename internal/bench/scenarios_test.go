package bench_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/ssehub/ssehub"
	"github.com/ssehub/ssehub/bolt"
	"github.com/ssehub/ssehub/httpapi"
	"github.com/ssehub/ssehub/httpapi/ingest"
	"github.com/ssehub/ssehub/httpapi/pull"
	"github.com/ssehub/ssehub/internal/bench"
	"github.com/ssehub/ssehub/internal/hubtest"
	"github.com/ssehub/ssehub/internal/natstest"
	ssenats "github.com/ssehub/ssehub/nats"
)

// benchPull is the pull endpoint the pull scenario uses by default.
var benchPull = pull.Endpoint{Name: "bench", ExtractPath: "/bench/extract", ConfirmPath: "/bench/mark-processed",
	Match: ssehub.MustFilter("bench.pull.*"), MaxBatchSize: 1000}

// newHub starts a whole hub (every feature the scenarios use: stream,
// publish, admin, Arrow ingest, the pull endpoint "bench") over a bolt
// store on a temporary dir, behind real HTTP on loopback.
func newHub(t *testing.T) (*hubtest.Hub, *bench.Config) {
	t.Helper()
	store, err := bolt.Open(t.TempDir(), bolt.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return hubOver(t, store)
}

func hubOver(t *testing.T, store ssehub.Store, opts ...hubtest.Option) (*hubtest.Hub, *bench.Config) {
	t.Helper()
	th := hubtest.New(t, store, append([]hubtest.Option{func(c *hubtest.Config) {
		c.Extra = append(c.Extra, ingest.New(ingest.Options{}), pull.New(pull.Options{Endpoints: []pull.Endpoint{benchPull}}))
	}}, opts...)...)
	return th, &bench.Config{Server: th.Srv.URL, Token: hubtest.AdminToken, Publishers: 2, PayloadSize: 16,
		Duration: 300 * time.Millisecond, Progress: testWriter{t}}
}

// testWriter sends progress lines to the test log.
type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// num returns a figure as a number; a missing one fails the test.
func num(t *testing.T, r *bench.Result, k string) float64 {
	t.Helper()
	switch v := r.Figures[k].(type) {
	case int:
		return float64(v)
	case int64:
		return float64(v)
	case uint64:
		return float64(v)
	case float64:
		return v
	}
	t.Fatalf("figure %q is %T %v", k, r.Figures[k], r.Figures[k])
	return 0
}

// want checks figures that must be exactly v.
func want(t *testing.T, r *bench.Result, v float64, keys ...string) {
	t.Helper()
	for _, k := range keys {
		if got := num(t, r, k); got != v {
			t.Errorf("%s = %v, want %v (%v)", k, got, v, r.Figures)
		}
	}
}

// positive checks figures that must be above zero.
func positive(t *testing.T, r *bench.Result, keys ...string) {
	t.Helper()
	for _, k := range keys {
		if got := num(t, r, k); !(got > 0) {
			t.Errorf("%s = %v, want > 0 (%v)", k, got, r.Figures)
		}
	}
}

// countTopics counts the stored events per topic.
func countTopics(t *testing.T, store ssehub.Store) map[string]int {
	t.Helper()
	n := map[string]int{}
	if err := store.Read(context.Background(), 0, ssehub.All(), func(e *ssehub.Event) error { n[e.Topic]++; return nil }); err != nil {
		t.Fatal(err)
	}
	return n
}

func run(t *testing.T, f func(context.Context, *bench.Config) (*bench.Result, error), cfg *bench.Config) *bench.Result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	res, err := f(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	res.Table(&b)
	t.Log(b.String())
	return res
}

// TestTopics: subscribers on a few of many topics each get every event of
// their topics and nothing else, with NDJSON batches over the topics and
// with one event per request.
func TestTopics(t *testing.T) {
	for _, batch := range []int{10, 1} {
		t.Run(fmt.Sprint("batch=", batch), func(t *testing.T) {
			th, cfg := newHub(t)
			cfg.Topics, cfg.TopicsPerSub, cfg.Subscribers, cfg.Batch = 50, 3, 20, batch
			res := run(t, bench.Topics, cfg)
			want(t, res, 0, "lost", "duplicates", "publish_errors")
			want(t, res, 50, "topics_with_subscribers")
			positive(t, res, "published", "deliveries_per_s", "latency_p50_ms")
			// Subscriber i is on topics 3i…3i+2 mod 50: 10 topics have two
			// subscribers, 40 one. Every stored event reached each of its
			// topic's subscribers once.
			var stored, deliveries int
			for topic, n := range countTopics(t, th.Store) {
				stored += n
				var k int
				if _, err := fmt.Sscanf(topic[strings.LastIndex(topic, ".t")+2:], "%d", &k); err != nil {
					t.Fatalf("topic %q", topic)
				}
				subs := 1
				if k < 10 {
					subs = 2
				}
				deliveries += n * subs
			}
			want(t, res, float64(stored), "published")
			want(t, res, float64(deliveries), "deliveries")
		})
	}
}

// TestSparse: the rare topic's events come back whole from the start, and
// as many of the dense topic's.
func TestSparse(t *testing.T) {
	th, cfg := newHub(t)
	cfg.Events, cfg.SparseEvery, cfg.Rounds = 3000, 100, 2
	res := run(t, bench.Sparse, cfg)
	want(t, res, 30, "replayed_events")
	want(t, res, 0, "duplicates")
	positive(t, res, "rare_events_per_s", "dense_events_per_s", "rare_vs_dense")
	counts := countTopics(t, th.Store)
	var rare, dense int
	for topic, n := range counts {
		switch {
		case strings.HasSuffix(topic, ".rare"):
			rare = n
		case strings.HasSuffix(topic, ".dense"):
			dense = n
		}
	}
	if rare != 30 || dense != 2970 {
		t.Errorf("stored %d rare and %d dense events, want 30 and 2970: %v", rare, dense, counts)
	}
}

// TestSparseRefusesTooFew: fewer events than one rare one is a usage error.
func TestSparseRefusesTooFew(t *testing.T) {
	_, cfg := newHub(t)
	cfg.Events, cfg.SparseEvery = 50, 100
	if _, err := bench.Sparse(context.Background(), cfg); err == nil || !strings.Contains(err.Error(), "at least") {
		t.Fatalf("err %v", err)
	}
}

// TestArrowIngest: both body kinds are ingested, each answer counts its
// rows, and the store holds one event per acknowledged batch.
func TestArrowIngest(t *testing.T) {
	th, cfg := newHub(t)
	cfg.Rows, cfg.Rounds, cfg.Duration = 100, 2, 400*time.Millisecond
	res := run(t, bench.ArrowIngest, cfg)
	want(t, res, 0, "ipc_errors", "json_errors")
	positive(t, res, "ipc_rows_per_s", "json_rows_per_s", "ipc_vs_json")
	for topic, n := range countTopics(t, th.Store) {
		kind := topic[strings.LastIndexByte(topic, '.')+1:]
		// One IPC batch set the topic's schema before the run, and
		// one JSON body checked that the hub takes it.
		before := 1
		if kind == "json" {
			before = 2
		}
		want(t, res, float64(n-before), kind+"_batches")
	}
}

// TestArrowIngestHeaderToken: an admin token that is not 64 hex digits
// (an operator's own) goes in Authorization (POST /ingest?topic=), and a
// refused ingest is an error with the hub's answer.
func TestArrowIngestHeaderToken(t *testing.T) {
	store, err := bolt.Open(t.TempDir(), bolt.Options{})
	if err != nil {
		t.Fatal(err)
	}
	_, cfg := hubOver(t, store, func(c *hubtest.Config) { c.API.AdminHash = httpapi.HashToken("operator-admin") })
	cfg.Token, cfg.Bodies, cfg.Rounds, cfg.Rows = "operator-admin", []string{"ipc"}, 1, 10
	res := run(t, bench.ArrowIngest, cfg)
	want(t, res, 0, "ipc_errors")
	positive(t, res, "ipc_batches")
	if _, ok := res.Figures["json_batches"]; ok {
		t.Errorf("json ran: %v", res.Figures)
	}
	cfg.Token = "wrong-token"
	if _, err = bench.ArrowIngest(context.Background(), cfg); err == nil || !strings.Contains(err.Error(), "BAD_TOKEN") {
		t.Fatalf("err %v", err)
	}
}

// TestArrowFanout: every subscriber of the Arrow stream gets every batch
// once, and every delivery has a latency.
func TestArrowFanout(t *testing.T) {
	_, cfg := newHub(t)
	cfg.Subscribers, cfg.Publishers, cfg.Rows = 5, 1, 50
	res := run(t, bench.ArrowFanout, cfg)
	want(t, res, 0, "lost", "duplicates", "unknown_ids", "ingest_errors")
	positive(t, res, "batches_ingested", "rows_delivered_per_s", "latency_p50_ms")
	want(t, res, 5*num(t, res, "batches_ingested"), "batches_delivered")
}

// TestPull: what the endpoint held before is taken first; then every
// published event is extracted once and confirmed, and nothing is left.
func TestPull(t *testing.T) {
	th, cfg := newHub(t)
	old := []*ssehub.Event{{Topic: "bench.pull.old", Data: []byte("1")}, {Topic: "bench.pull.old", Data: []byte("2")}, {Topic: "other", Data: []byte("3")}}
	if _, err := th.Hub.Publish(context.Background(), old); err != nil {
		t.Fatal(err)
	}
	cfg.Events, cfg.Batch, cfg.Consumers = 500, 50, 2
	res := run(t, bench.Pull, cfg)
	want(t, res, 2, "drained_before")
	want(t, res, 500, "confirmed", "distinct_events")
	want(t, res, 10, "cycles")
	want(t, res, 0, "missing", "extracted_twice", "foreign_events", "left_after")
	positive(t, res, "cycles_per_s", "extract_p50_ms", "confirm_p50_ms")
}

// TestPullUnknownEndpoint: an endpoint the hub does not have is an error
// naming the path.
func TestPullUnknownEndpoint(t *testing.T) {
	_, cfg := newHub(t)
	cfg.PullName = "nope"
	_, err := bench.Pull(context.Background(), cfg)
	if err == nil || !strings.Contains(err.Error(), "/nope/extract") || !strings.Contains(err.Error(), "404") {
		t.Fatalf("err %v", err)
	}
}

// TestNodes: two hubs on one JetStream; what is published on one reaches
// every subscriber on both, once, with the same ids.
func TestNodes(t *testing.T) {
	srv := natstest.Start(t, 1)
	open := func() ssehub.Store {
		s, err := ssenats.Open(context.Background(), ssenats.Options{URL: srv.URL(), Stream: "BENCH", Logger: natstest.Quiet})
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	a, cfg := hubOver(t, open())
	b, _ := hubOver(t, open())
	cfg.SubscribeServers = []string{b.Srv.URL}
	cfg.Subscribers = 6
	res := run(t, bench.Nodes, cfg)
	want(t, res, 0, "lost", "duplicates", "publish_errors")
	want(t, res, 3, "subscribers_other_node", "subscribers_same_node")
	positive(t, res, "published", "other_node_p50_ms", "same_node_p50_ms")
	want(t, res, 6*num(t, res, "published"), "deliveries")
	if na, nb := countTopics(t, a.Store), countTopics(t, b.Store); fmt.Sprint(na) != fmt.Sprint(nb) {
		t.Errorf("the nodes disagree: %v and %v", na, nb)
	}
}

// TestNodesNeedsTheOtherNode: without a second node the scenario says so.
func TestNodesNeedsTheOtherNode(t *testing.T) {
	_, cfg := newHub(t)
	if _, err := bench.Nodes(context.Background(), cfg); err == nil || !strings.Contains(err.Error(), "--subscribe-server") {
		t.Fatalf("err %v", err)
	}
}

// TestRefusedSubscriptionSaysWhy: a subscription the hub refuses (more
// topics than limits.max_topics) fails the run with the hub's own error,
// not only its status.
func TestRefusedSubscriptionSaysWhy(t *testing.T) {
	store, err := bolt.Open(t.TempDir(), bolt.Options{})
	if err != nil {
		t.Fatal(err)
	}
	_, cfg := hubOver(t, store, func(c *hubtest.Config) { c.API.Limits.MaxTopics = 32 }) // serve's default
	cfg.Topics, cfg.TopicsPerSub, cfg.Subscribers = 100, 40, 2
	_, err = bench.Topics(context.Background(), cfg)
	if err == nil || !strings.Contains(err.Error(), "400") || !strings.Contains(err.Error(), `"error"`) {
		t.Fatalf("err %v", err)
	}
}

// TestArrowIngestRefusedBody: a body kind the hub refuses (JSON rows over
// limits.max_ingest_bytes) fails the run at once with the hub's answer,
// instead of measuring thousands of refusals.
func TestArrowIngestRefusedBody(t *testing.T) {
	_, cfg := newHub(t)
	cfg.Rows, cfg.Rounds = 4000, 1 // 88 KB of IPC, 183 KB of JSON
	start := time.Now()
	_, err := bench.ArrowIngest(context.Background(), cfg)
	if err == nil || !strings.Contains(err.Error(), "TOO_LARGE") || !strings.Contains(err.Error(), "json") {
		t.Fatalf("err %v", err)
	}
	if d := time.Since(start); d > cfg.Duration {
		t.Errorf("failed after %s, the whole run's time", d)
	}
}

// TestNegativeCountsAreDefaults: a library caller's negative counts take
// the scenario's defaults instead of panicking (make with a negative size,
// the median of no rounds).
func TestNegativeCountsAreDefaults(t *testing.T) {
	_, cfg := newHub(t)
	cfg.Topics, cfg.TopicsPerSub, cfg.Subscribers, cfg.Batch, cfg.Duration = -1, -1, 3, 5, 100*time.Millisecond
	res := run(t, bench.Topics, cfg)
	want(t, res, 10000, "topics")
	want(t, res, 10, "topics_per_subscriber")
	_, cfg = newHub(t)
	cfg.Events, cfg.SparseEvery, cfg.Rounds = 500, 100, -3
	res = run(t, bench.Sparse, cfg)
	want(t, res, 5, "rounds")
	_, cfg = newHub(t)
	cfg.Events, cfg.Batch, cfg.Consumers = -1, -1, -1
	res = run(t, bench.Pull, cfg)
	want(t, res, 20000, "events", "confirmed")
	want(t, res, 1, "consumers")
	_, cfg = newHub(t)
	cfg.Rows, cfg.Rounds, cfg.Publishers, cfg.Bodies = -1, -1, 1, []string{"ipc"}
	res = run(t, bench.ArrowIngest, cfg)
	want(t, res, 1000, "rows_per_batch")
	want(t, res, 2, "rounds")
}

// TestReplayEndingShortStops: when the log holds fewer events than the
// replay waits for (retention removed some), sparse and replay stop with
// an error once nothing more arrives, instead of waiting on the live
// stream for ever.
func TestReplayEndingShortStops(t *testing.T) {
	defer bench.SetReplayIdle(300 * time.Millisecond)()
	store, err := bolt.Open(t.TempDir(), bolt.Options{Retention: ssehub.Retention{MaxEvents: 1000}})
	if err != nil {
		t.Fatal(err)
	}
	_, cfg := hubOver(t, store)
	cfg.Events, cfg.SparseEvery, cfg.Rounds = 3000, 100, 1
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if _, err := bench.Sparse(ctx, cfg); err == nil || !strings.Contains(err.Error(), "ended after") {
		t.Fatalf("sparse: err %v", err)
	}
	if _, err := bench.Replay(ctx, cfg); err == nil || !strings.Contains(err.Error(), "ended after") {
		t.Fatalf("replay: err %v", err)
	}
	if ctx.Err() != nil {
		t.Fatal("the scenarios waited for the test's deadline")
	}
}

// TestStalledHubStops: a server that accepts requests and never answers
// fails pull and arrow-ingest after the request bound, instead of hanging.
func TestStalledHubStops(t *testing.T) {
	defer bench.SetRequestTimeout(200 * time.Millisecond)()
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	defer srv.Close()
	defer close(release)
	cfg := &bench.Config{Server: srv.URL, Token: hubtest.AdminToken, Publishers: 1, Duration: time.Second}
	for name, f := range map[string]func(context.Context, *bench.Config) (*bench.Result, error){"pull": bench.Pull, "arrow-ingest": bench.ArrowIngest} {
		start := time.Now()
		_, err := f(context.Background(), cfg)
		if err == nil || time.Since(start) > 5*time.Second {
			t.Errorf("%s: err %v after %s", name, err, time.Since(start))
		}
	}
}

// TestFanoutAndPublish: the older scenarios, whose publishing loop the
// new ones share, still deliver every event to every subscriber, and
// publish counts what the store holds.
func TestFanoutAndPublish(t *testing.T) {
	th, cfg := newHub(t)
	cfg.Subscribers = 5
	res := run(t, bench.Fanout, cfg)
	want(t, res, 0, "lost", "duplicates", "publish_errors")
	want(t, res, 5*num(t, res, "published"), "deliveries")
	stored := 0
	for _, n := range countTopics(t, th.Store) {
		stored += n
	}
	want(t, res, float64(stored), "published")
	res = run(t, bench.Publish, cfg)
	want(t, res, 0, "errors")
	total := 0
	for _, n := range countTopics(t, th.Store) {
		total += n
	}
	want(t, res, float64(total-stored), "events_acknowledged")
}
