// Package hubsuite is the hub-level test suite that any store runs: a
// whole hub (hubtest) over a fresh store, driven through HTTP, checking
// what a subscriber sees: exact replay while others publish, a slow
// subscriber caught up from the log, the gap event past retention,
// Inboxclaw sinks, tokens with scopes and revocation, and topic
// deregistration. The memory store runs it in this package's own test;
// other stores call Run from theirs with their own Config, so no test
// code is copied per store.
package hubsuite

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ssehub/ssehub"
	"github.com/ssehub/ssehub/format"
	"github.com/ssehub/ssehub/httpapi/stream"
	"github.com/ssehub/ssehub/internal/hubtest"
)

// Config describes the store under test.
type Config struct {
	// Open returns a new, empty store; the hub's cleanup closes it.
	Open func(t testing.TB) ssehub.Store
	// OpenRetention returns a new, empty store keeping at most r.MaxEvents
	// events; the gap test is skipped without it.
	OpenRetention func(t testing.TB, r ssehub.Retention) ssehub.Store
	// Short makes the heaviest tests smaller (for slow stores under -short).
	Short bool
}

// Run runs every test of the suite.
func Run(t *testing.T, c Config) {
	tests := []struct {
		name string
		fn   func(*testing.T, Config)
	}{
		{"ReplayExactUnderConcurrentPublishing", ReplayExactUnderConcurrentPublishing},
		{"SlowSubscriber", SlowSubscriber},
		{"GapPastRetention", GapPastRetention},
		{"InboxclawSink", InboxclawSink},
		{"Tokens", Tokens},
		{"Deregister", Deregister},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { tc.fn(t, c) })
	}
}

// ReplayExactUnderConcurrentPublishing connects subscribers at moments
// while publishers run, each resuming from a different id; every one must
// see every later event exactly once and in order, across the switch from
// replay to live.
func ReplayExactUnderConcurrentPublishing(t *testing.T, c Config) {
	n := NewNode(t, c.Open(t), func(h *hubtest.Config) { h.Hub.QueueSize, h.Hub.HotEvents = 64, 256 })
	n.WaitReady()
	publishers, perPublisher := 4, 150
	if c.Short {
		perPublisher = 60
	}
	total := uint64(publishers * perPublisher)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var published []uint64
	for p := 0; p < publishers; p++ {
		wg.Add(1)
		go func(p int) {
			defer wg.Done()
			for i := 0; i < perPublisher; i++ {
				id, status, b := n.TryPublish("t."+strconv.Itoa(i%3), fmt.Sprintf("%d-%d", p, i), "")
				if status != 200 {
					t.Errorf("publish: %d %s", status, b)
					return
				}
				mu.Lock()
				published = append(published, id)
				mu.Unlock()
			}
		}(p)
	}
	type result struct {
		from uint64
		got  []uint64
		err  error
	}
	results := make(chan result, 6)
	var subs sync.WaitGroup
	for k := 0; k < 6; k++ {
		time.Sleep(10 * time.Millisecond)
		mu.Lock()
		from := uint64(0)
		if len(published) > 0 {
			sorted := append([]uint64(nil), published...)
			sort.Slice(sorted, func(i, j int) bool { return sorted[i] < sorted[j] })
			from = sorted[len(sorted)/2]
		}
		mu.Unlock()
		subs.Add(1)
		go func(from uint64) {
			defer subs.Done()
			s, status, b := n.TrySubscribe("/events?topic=t.*", hubtest.AdminToken, "Last-Event-ID", strconv.FormatUint(from, 10))
			if status != 200 {
				results <- result{from: from, err: fmt.Errorf("subscribe: %d %s", status, b)}
				return
			}
			defer s.Close()
			timer := time.AfterFunc(30*time.Second, s.Close)
			defer timer.Stop()
			var got []uint64
			for {
				ev, err := s.Raw()
				if err != nil {
					results <- result{from, got, fmt.Errorf("after %d events: %w", len(got), err)}
					return
				}
				if ev.Type == "info" || ev.Type == "heartbeat" {
					continue
				}
				id, _ := strconv.ParseUint(ev.ID, 10, 64)
				got = append(got, id)
				if id == total {
					results <- result{from, got, nil}
					return
				}
			}
		}(from)
	}
	wg.Wait()
	subs.Wait()
	close(results)
	for r := range results {
		if r.err != nil {
			t.Errorf("from %d: %v", r.from, r.err)
			continue
		}
		if uint64(len(r.got)) != total-r.from {
			t.Errorf("from %d: got %d events, want %d", r.from, len(r.got), total-r.from)
		}
		for i, id := range r.got {
			if id != r.from+uint64(i)+1 {
				t.Fatalf("from %d: event %d has id %d, want %d (gap or duplicate)", r.from, i, id, r.from+uint64(i)+1)
			}
		}
	}
}

// SlowSubscriber: a subscriber that reads nothing while a lot is published
// falls behind its queue and the hot tier; once it reads, it gets every
// event in order from the log, without a gap event, and a fast subscriber
// was never held up.
func SlowSubscriber(t *testing.T, c Config) {
	n := NewNode(t, c.Open(t), func(h *hubtest.Config) { h.Hub.QueueSize, h.Hub.HotEvents = 8, 16 })
	n.WaitReady()
	slow := n.Subscribe("/events?topic=slow.*")
	fast := n.Subscribe("/events?topic=slow.*")
	count := 400
	if c.Short {
		count = 200
	}
	payload := strings.Repeat("x", 8<<10) // enough to fill the slow stream's socket buffers
	var last uint64
	fastDone := make(chan []uint64, 1)
	go func() { fastDone <- fast.IDs(t, count, 60*time.Second) }()
	for i := 0; i < count; i++ {
		last = n.Publish("slow."+strconv.Itoa(i%2), fmt.Sprintf(`"%d%s"`, i, payload))
	}
	fids := <-fastDone
	if fids[len(fids)-1] != last {
		t.Fatalf("fast subscriber ended at %d, want %d", fids[len(fids)-1], last)
	}
	ids := slow.IDs(t, count, 60*time.Second)
	for i, id := range ids {
		if id != uint64(i+1) {
			t.Fatalf("slow subscriber: event %d has id %d, want %d", i, id, i+1)
		}
	}
	st := n.Hub.Hub.Stats()
	t.Logf("catch-ups %d, reads from the store %d", st.CatchUps.Load(), st.LogReads.Load())
}

// GapPastRetention resumes from an id retention has removed: the stream
// starts with a gap event naming both ids, then the oldest retained.
func GapPastRetention(t *testing.T, c Config) {
	if c.OpenRetention == nil {
		t.Skip("no Config.OpenRetention")
	}
	n := NewNode(t, c.OpenRetention(t, ssehub.Retention{MaxEvents: 5}), func(h *hubtest.Config) { h.Hub.HotEvents = 1 })
	n.WaitReady()
	var ids []uint64
	for i := 0; i < 10; i++ {
		ids = append(ids, n.Publish("g.t", strconv.Itoa(i)))
	}
	deadline := time.Now().Add(5 * time.Second)
	for n.Bounds().First != ids[5] {
		if time.Now().After(deadline) {
			t.Fatalf("retention kept from %d, want %d", n.Bounds().First, ids[5])
		}
		time.Sleep(10 * time.Millisecond)
	}
	s := n.Subscribe("/events?topic=g.t", "Last-Event-ID", strconv.FormatUint(ids[1], 10))
	ev := s.Next(t)
	var gap struct {
		LastEventID string `json:"last_event_id"`
		Earliest    string `json:"earliest"`
	}
	if ev.Type != "gap" || json.Unmarshal(ev.Data, &gap) != nil || gap.LastEventID != strconv.FormatUint(ids[1], 10) || gap.Earliest != strconv.FormatUint(ids[5], 10) {
		t.Fatalf("want a gap event, got %+v", ev)
	}
	for i := 5; i < 10; i++ {
		if ev := s.Next(t); ev.ID != strconv.FormatUint(ids[i], 10) {
			t.Fatalf("after gap: %+v, want id %d", ev, ids[i])
		}
	}
}

// InboxclawSink: a fire-and-forget envelope stream with Inboxclaw's hello
// and heartbeat, narrowed by ?event_type=.
func InboxclawSink(t *testing.T, c Config) {
	n := NewNode(t, c.Open(t), func(h *hubtest.Config) {
		h.Stream.Streams = []stream.Endpoint{{Name: "alerts", Path: "/alerts/live", Match: ssehub.MustFilter("alert.*"),
			Format: format.Envelope, Replay: false, Heartbeat: 200 * time.Millisecond, HeartbeatStyle: "event", Hello: "info", Public: true}}
	})
	n.WaitReady()
	n.Publish("alert.old", `{"x":0}`)
	s, status, b := n.TrySubscribe("/alerts/live?event_type=alert.disk&last_event_id=0", "")
	if status != 200 {
		t.Fatalf("sink: %d %s", status, b)
	}
	if ev, err := s.Raw(); err != nil || ev.Type != "info" || string(ev.Data) != "connected" {
		t.Fatalf("hello: %+v %v", ev, err)
	}
	if ev, err := s.Raw(); err != nil || ev.Type != "heartbeat" || string(ev.Data) != "ping" {
		t.Fatalf("heartbeat: %+v %v", ev, err)
	}
	n.Publish("alert.cpu", `{"x":1}`) // narrowed away by event_type
	n.Publish("other.disk", `{"x":2}`)
	id := n.Publish("alert.disk", `{"x":3}`)
	ev := s.Next(t)
	var env map[string]any
	if ev.Type != "message" || ev.ID != strconv.FormatUint(id, 10) || json.Unmarshal(ev.Data, &env) != nil {
		t.Fatalf("message: %+v", ev)
	}
	if env["event_type"] != "alert.disk" || env["id"] != float64(id) || env["data"].(map[string]any)["x"] != float64(3) {
		t.Fatalf("envelope: %s", ev.Data)
	}
}

// Tokens: a scoped stream token reads its topics and nothing else, a
// publish token publishes, and revoking a token ends its live stream at
// once and refuses it afterwards.
func Tokens(t *testing.T, c Config) {
	n := NewNode(t, c.Open(t))
	n.WaitReady()
	streamTok, streamID := n.CreateToken(`{"purpose":"stream","topics":["orders.*"]}`)
	pubTok, _ := n.CreateToken(`{"purpose":"publish","topics":["orders.*"]}`)
	if _, status, b := n.TrySubscribe("/events?topic=users.x", streamTok); status != 403 {
		t.Fatalf("out of scope: %d %s", status, b)
	}
	s, status, b := n.TrySubscribe("/events?topic=orders.*", streamTok)
	if status != 200 {
		t.Fatalf("in scope: %d %s", status, b)
	}
	req, _ := http.NewRequest("POST", n.URL()+"/publish/orders.new", strings.NewReader(`{"n":1}`))
	req.Header.Set("Authorization", "Bearer "+pubTok)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("publish with a publish token: %d %s", resp.StatusCode, body)
	}
	if ev := s.Next(t); ev.Type == "error" {
		t.Fatalf("event: %+v", ev)
	}
	start := time.Now()
	if status, b := n.Do("DELETE", "/api/tokens/"+streamID, "", ""); status != 200 {
		t.Fatalf("revoke: %d %s", status, b)
	}
	ExpectEnd(t, s, "UNAUTHORIZED", 5*time.Second)
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("the stream ended %v after the revocation", d)
	}
	if _, status, _ := n.TrySubscribe("/events?topic=orders.*", streamTok); status != 401 {
		t.Fatalf("revoked token: %d, want 401", status)
	}
}

// ExpectEnd reads s until an error event containing want, then expects
// the stream to close; events before it are skipped.
func ExpectEnd(t testing.TB, s *Stream, want string, timeout time.Duration) {
	t.Helper()
	timer := time.AfterFunc(timeout, s.Close)
	defer timer.Stop()
	for {
		ev, err := s.Raw()
		if err != nil {
			t.Fatalf("stream ended without an error event: %v", err)
		}
		if ev.Type != "error" {
			continue
		}
		if !strings.Contains(string(ev.Data), want) {
			t.Fatalf("error event %q, want %s", ev.Data, want)
		}
		break
	}
	if _, err := s.Raw(); err != io.EOF {
		t.Fatalf("stream not closed after the error event: %v", err)
	}
}

// Deregister: deregistering a topic ends the streams that named it,
// refuses new ones with 410 and refuses publishes to it.
func Deregister(t *testing.T, c Config) {
	n := NewNode(t, c.Open(t))
	n.WaitReady()
	n.Publish("d.gone", "1")
	s := n.Subscribe("/events?topic=d.gone")
	if status, b := n.Do("DELETE", "/api/topics/d.gone", "", ""); status != 200 && status != 204 {
		t.Fatalf("deregister: %d %s", status, b)
	}
	ExpectEnd(t, s, "", 5*time.Second)
	if _, status, _ := n.TrySubscribe("/events?topic=d.gone", hubtest.AdminToken); status != 410 {
		t.Fatalf("subscribe to a deregistered topic: %d, want 410", status)
	}
	if _, status, _ := n.TryPublish("d.gone", "2", ""); status != 410 {
		t.Fatalf("publish to a deregistered topic: %d, want 410", status)
	}
}
