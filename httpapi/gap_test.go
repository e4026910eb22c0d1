package httpapi_test

import (
	"context"
	"encoding/json"
	"io"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/ssehub/ssehub"
	"github.com/ssehub/ssehub/internal/hubtest"
	"github.com/ssehub/ssehub/memory"
)

// TestGapWhenHistoryIsGone resumes from an id retention has removed: the
// stream starts with a gap event naming both ids, then the oldest retained.
func TestGapWhenHistoryIsGone(t *testing.T) { forEachMode(t, testGapWhenHistoryIsGone) }

func testGapWhenHistoryIsGone(t *testing.T, mode hubOption) {
	th := newTestHub(t, memory.New(memory.Options{Retention: ssehub.Retention{MaxEvents: 5}}), withHot(1), mode)
	var ids []uint64
	for i := 0; i < 10; i++ {
		ids = append(ids, th.publish("g.t", strconv.Itoa(i)))
	}
	pos, _ := th.log.Bounds(context.Background())
	first := pos.First
	if first != ids[5] {
		t.Fatalf("retention kept from %d, want %d", first, ids[5])
	}
	s := th.subscribe("/events?topic=g.t", "Last-Event-ID", strconv.FormatUint(ids[1], 10))
	ev := s.next(t)
	var gap struct {
		LastEventID string `json:"last_event_id"`
		Earliest    string `json:"earliest"`
	}
	if ev.Type != "gap" || json.Unmarshal(ev.Data, &gap) != nil || gap.LastEventID != strconv.FormatUint(ids[1], 10) || gap.Earliest != strconv.FormatUint(first, 10) {
		t.Fatalf("want a gap event, got %+v", ev)
	}
	for i := 5; i < 10; i++ {
		if ev := s.next(t); ev.ID != strconv.FormatUint(ids[i], 10) {
			t.Fatalf("after gap: %+v, want id %d", ev, ids[i])
		}
	}
}

// TestIDBeyondHead: an id the log never assigned means the log lost its
// history; the client gets a gap event and everything retained.
func TestIDBeyondHead(t *testing.T) {
	th := newMemoryHub(t)
	a := th.publish("b.h", "a")
	th.publish("b.h", "b")
	s := th.subscribe("/events?topic=b.h", "Last-Event-ID", "1000")
	if ev := s.next(t); ev.Type != "gap" || !strings.Contains(string(ev.Data), `"last_event_id":"1000"`) {
		t.Fatalf("want gap, got %+v", ev)
	}
	if ev := s.next(t); ev.ID != strconv.FormatUint(a, 10) {
		t.Fatalf("want id %d, got %+v", a, ev)
	}
}

func TestHealthReadyMetrics(t *testing.T) {
	reg := prometheus.NewRegistry()
	th := newMemoryHub(t, func(c *hubtest.Config) { c.API.Registerer, c.API.Gatherer = reg, reg })
	deadline := time.Now().Add(2 * time.Second)
	for !th.hub.Ready() && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	for _, p := range []string{"/healthz", "/readyz"} {
		if resp, b := th.do("GET", p, "", ""); resp.StatusCode != 200 {
			t.Errorf("%s: %d %s", p, resp.StatusCode, b)
		}
	}
	s := th.subscribe("/events?topic=m.*")
	th.publish("m.x", "1")
	s.next(t)
	resp, b := th.do("GET", "/metrics", "", "")
	body := string(b)
	for _, want := range []string{"ssehub_published_events_total 1", "ssehub_deliveries_total 1", "ssehub_subscribers 1", "ssehub_stream_writes_total 1"} {
		if resp.StatusCode != 200 || !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
	th.api.Shutdown()
	if resp, _ := th.do("GET", "/readyz", "", ""); resp.StatusCode != 503 {
		t.Errorf("readyz while shutting down: %d", resp.StatusCode)
	}
	// Shutdown ends open streams so clients reconnect.
	if _, err := io.ReadAll(s.resp.Body); err != nil {
		t.Errorf("stream after shutdown: %v", err)
	}
}
