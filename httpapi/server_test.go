package httpapi_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ssehub/ssehub"
	"github.com/ssehub/ssehub/bolt"
	"github.com/ssehub/ssehub/format"
	"github.com/ssehub/ssehub/httpapi"
	"github.com/ssehub/ssehub/httpapi/stream"
	"github.com/ssehub/ssehub/hub"
	"github.com/ssehub/ssehub/internal/hubtest"
	"github.com/ssehub/ssehub/memory"
	"github.com/ssehub/ssehub/sse"
)

const adminToken = hubtest.AdminToken

// testHub is a real hub over a real store behind a real HTTP server.
type testHub struct {
	t   testing.TB
	log ssehub.Store
	hub *hub.Hub
	api *httpapi.Server
	srv *httptest.Server
	ln  *httpapi.Listener // the listener srv serves on
	// client is http.DefaultClient, or over TLS (withTLS) srv's client.
	client *http.Client
}

type hubOption = hubtest.Option

func withStreams(st ...stream.Endpoint) hubOption {
	return func(c *hubtest.Config) { c.Stream.Streams = st }
}

func withQueue(n int) hubOption {
	return func(c *hubtest.Config) { c.Hub.QueueSize = n }
}

func withHot(n int) hubOption {
	return func(c *hubtest.Config) { c.Hub.HotEvents = n }
}

func newMemoryHub(t testing.TB, opts ...hubOption) *testHub {
	return newTestHub(t, memory.New(memory.Options{}), opts...)
}

func newBoltHub(t testing.TB, opts ...hubOption) *testHub {
	l, err := bolt.Open(t.TempDir(), bolt.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	return newTestHub(t, l, opts...)
}

func newTestHub(t testing.TB, l ssehub.Store, opts ...hubOption) *testHub {
	t.Helper()
	h := hubtest.New(t, l, opts...)
	client := http.DefaultClient
	if h.Srv.TLS != nil {
		client = h.Srv.Client()
	}
	return &testHub{t: t, log: l, hub: h.Hub, api: h.API, srv: h.Srv, ln: h.Listener, client: client}
}

// do sends a request with the admin token.
func (th *testHub) do(method, path, contentType, body string, hdr ...string) (*http.Response, []byte) {
	th.t.Helper()
	req, err := http.NewRequest(method, th.srv.URL+path, strings.NewReader(body))
	if err != nil {
		th.t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+adminToken)
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := th.client.Do(req)
	if err != nil {
		th.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, b
}

// publish posts data to topic and returns the id.
func (th *testHub) publish(topic, data string) uint64 {
	th.t.Helper()
	resp, b := th.do("POST", "/publish/"+topic, "", data)
	if resp.StatusCode != 200 {
		th.t.Fatalf("publish: %d %s", resp.StatusCode, b)
	}
	var r struct{ ID string }
	if err := json.Unmarshal(b, &r); err != nil {
		th.t.Fatal(err)
	}
	id, _ := strconv.ParseUint(r.ID, 10, 64)
	return id
}

// openStream is an open SSE response decoded with the sse package.
type openStream struct {
	resp *http.Response
	dec  *sse.Decoder
}

func (th *testHub) subscribe(path string, hdr ...string) *openStream {
	th.t.Helper()
	req, _ := http.NewRequest("GET", th.srv.URL+path, nil)
	req.Header.Set("Authorization", "Bearer "+adminToken)
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := th.client.Do(req)
	if err != nil {
		th.t.Fatal(err)
	}
	if resp.StatusCode != 200 {
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		th.t.Fatalf("subscribe %s: %d %s", path, resp.StatusCode, b)
	}
	s := &openStream{resp: resp, dec: sse.NewDecoder(bufio.NewReaderSize(resp.Body, 64<<10))}
	th.t.Cleanup(func() { resp.Body.Close() })
	return s
}

// next returns the next event that is not a hello or heartbeat.
func (s *openStream) next(t *testing.T) sse.Event {
	t.Helper()
	for {
		ev, err := s.dec.Next()
		if err != nil {
			t.Fatalf("stream: %v", err)
		}
		if ev.Type == "info" || ev.Type == "heartbeat" {
			continue
		}
		return ev
	}
}

func TestPublishSubscribeLive(t *testing.T) {
	th := newMemoryHub(t)
	s := th.subscribe("/events?topic=orders.*")
	id := th.publish("orders.created", `{"n":1}`)
	th.publish("other.thing", `x`)
	id3 := th.publish("orders.paid", "line1\nline2")
	ev := s.next(t)
	if ev.ID != strconv.FormatUint(id, 10) || string(ev.Data) != `{"n":1}` || ev.Type != "message" {
		t.Fatalf("got %+v", ev)
	}
	ev = s.next(t)
	if ev.ID != strconv.FormatUint(id3, 10) || string(ev.Data) != "line1\nline2" {
		t.Fatalf("got %+v", ev)
	}
}

func TestReplayFromLastEventID(t *testing.T) {
	for name, mk := range map[string]func(testing.TB, ...hubOption) *testHub{"memory": newMemoryHub, "bolt": newBoltHub} {
		t.Run(name, func(t *testing.T) {
			th := mk(t)
			var ids []uint64
			for i := 0; i < 10; i++ {
				ids = append(ids, th.publish("a.b", fmt.Sprint(i)))
			}
			s := th.subscribe("/events?topic=a.b", "Last-Event-ID", strconv.FormatUint(ids[4], 10))
			for i := 5; i < 10; i++ {
				ev := s.next(t)
				if ev.ID != strconv.FormatUint(ids[i], 10) || string(ev.Data) != fmt.Sprint(i) {
					t.Fatalf("event %d: got %+v", i, ev)
				}
			}
			idLive := th.publish("a.b", "live")
			if ev := s.next(t); ev.ID != strconv.FormatUint(idLive, 10) {
				t.Fatalf("live: got %+v", ev)
			}
			// Query parameter forms for a first connection.
			for _, q := range []string{"last_event_id", "lastEventId"} {
				s := th.subscribe("/events?topic=a.b&" + q + "=" + strconv.FormatUint(ids[8], 10))
				if ev := s.next(t); ev.ID != strconv.FormatUint(ids[9], 10) {
					t.Fatalf("%s: got %+v", q, ev)
				}
			}
			s = th.subscribe("/events?topic=a.b&last_event_id=earliest")
			if ev := s.next(t); ev.ID != strconv.FormatUint(ids[0], 10) {
				t.Fatalf("earliest: got %+v", ev)
			}
		})
	}
}

// TestReplayExactUnderConcurrentPublishing connects subscribers at random
// points while publishers run, each resuming from a different id; every one
// must see every later event exactly once, in order, across the switch from
// replay to live.
func TestReplayExactUnderConcurrentPublishing(t *testing.T) {
	forEachMode(t, testReplayExactUnderConcurrentPublishing)
}

func testReplayExactUnderConcurrentPublishing(t *testing.T, mode hubOption) {
	th := newBoltHub(t, mode, withQueue(64), withHot(256))
	const publishers, perPublisher = 4, 300
	var wg sync.WaitGroup
	var mu sync.Mutex
	var published []uint64
	for p := 0; p < publishers; p++ {
		wg.Add(1)
		go func(p int) {
			defer wg.Done()
			for i := 0; i < perPublisher; i++ {
				topic := "t." + strconv.Itoa(i%3)
				id := th.publish(topic, fmt.Sprintf("%d-%d", p, i))
				mu.Lock()
				published = append(published, id)
				mu.Unlock()
			}
		}(p)
	}
	type result struct {
		from uint64
		got  []uint64
	}
	results := make(chan result, 8)
	var subs sync.WaitGroup
	for k := 0; k < 8; k++ {
		time.Sleep(15 * time.Millisecond)
		mu.Lock()
		from := uint64(0)
		if len(published) > 0 {
			from = published[len(published)/2]
		}
		mu.Unlock()
		subs.Add(1)
		go func(from uint64) {
			defer subs.Done()
			req, _ := http.NewRequest("GET", th.srv.URL+"/events?topic=t.*", nil)
			req.Header.Set("Authorization", "Bearer "+adminToken)
			req.Header.Set("Last-Event-ID", strconv.FormatUint(from, 10))
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Error(err)
				return
			}
			defer resp.Body.Close()
			dec := sse.NewDecoder(resp.Body)
			want := uint64(publishers * perPublisher)
			var got []uint64
			for {
				ev, err := dec.Next()
				if err != nil {
					t.Errorf("from %d: %v after %d events", from, err, len(got))
					break
				}
				id, _ := strconv.ParseUint(ev.ID, 10, 64)
				got = append(got, id)
				if id == want {
					break
				}
			}
			results <- result{from, got}
		}(from)
	}
	wg.Wait()
	subs.Wait()
	close(results)
	total := uint64(publishers * perPublisher)
	for r := range results {
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

func TestErrors(t *testing.T) {
	th := newMemoryHub(t, withStreams(stream.Endpoint{Name: "s", Path: "/s/", Match: ssehub.All(), Replay: true}))
	big := strings.Repeat("x", 2<<20)
	cases := []struct {
		method, path, ctype, body string
		status                    int
		code                      string
	}{
		{"POST", "/publish/bad..topic", "", "x", 400, "BAD_TOPIC"},
		{"POST", "/publish/a.b", "application/json", "{nope", 400, "BAD_JSON"},
		{"POST", "/publish/a.b", "", big, 413, "TOO_LARGE"},
		{"POST", "/publish", "text/plain", "x", 415, "UNSUPPORTED_MEDIA_TYPE"},
		{"POST", "/publish", "application/json", `{"topic":"a","data":1,"bogus":2}`, 400, "BAD_JSON"},
		{"POST", "/publish", "application/x-ndjson", "{\"topic\":\"a\"}\n{\"topic\":\"bad topic\"}\n", 400, "BAD_TOPIC"},
		{"GET", "/events?topic=a..b", "", "", 400, "BAD_PATTERN"},
		{"GET", "/events", "", "", 400, "BAD_PATTERN"},
		{"GET", "/events?topic=a", "", "", 400, "BAD_ID"}, // with Last-Event-ID below
		{"GET", "/nostream/", "", "", 404, "NOT_FOUND"},
		{"PUT", "/publish/a.b", "", "", 405, "METHOD_NOT_ALLOWED"},
		{"POST", "/events", "", "", 405, "METHOD_NOT_ALLOWED"},
	}
	for _, c := range cases {
		var hdr []string
		if c.code == "BAD_ID" {
			hdr = []string{"Last-Event-ID", "abc"}
		}
		resp, b := th.do(c.method, c.path, c.ctype, c.body, hdr...)
		var e struct {
			Error struct{ Code, Message string }
		}
		if resp.StatusCode != c.status || json.Unmarshal(b, &e) != nil || e.Error.Code != c.code || e.Error.Message == "" {
			t.Errorf("%s %s: got %d %s, want %d %s", c.method, c.path, resp.StatusCode, b, c.status, c.code)
		}
		if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
			t.Errorf("%s %s: Content-Type %q", c.method, c.path, ct)
		}
	}
	// A failed batch stored nothing.
	if pos, _ := th.log.Bounds(context.Background()); pos.Head != 0 {
		t.Errorf("failed requests stored events: head %d", pos.Head)
	}
	// No token: 401.
	resp, err := http.Post(th.srv.URL+"/publish/a.b", "", strings.NewReader("x"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 401 {
		t.Errorf("no token: %d", resp.StatusCode)
	}
}

func TestDeregisterTopic(t *testing.T) {
	th := newMemoryHub(t)
	th.publish("gone.topic", "1")
	s := th.subscribe("/events?topic=gone.topic")
	wild := th.subscribe("/events?topic=*")
	resp, b := th.do("DELETE", "/api/topics/gone.topic", "", "")
	if resp.StatusCode != 200 {
		t.Fatalf("delete: %d %s", resp.StatusCode, b)
	}
	ev := s.next(t)
	if ev.Type != "error" || !strings.Contains(string(ev.Data), `"GONE"`) {
		t.Fatalf("live subscriber got %+v", ev)
	}
	if _, err := s.dec.Next(); err != io.EOF {
		t.Fatalf("stream not closed after GONE: %v", err)
	}
	resp, b = th.do("GET", "/events?topic=gone.topic", "", "")
	if resp.StatusCode != 410 || !strings.Contains(string(b), "GONE") {
		t.Fatalf("new subscriber: %d %s", resp.StatusCode, b)
	}
	// A wildcard subscriber is not closed.
	id := th.publish("still.here", "x")
	if ev := wild.next(t); ev.ID != strconv.FormatUint(id, 10) {
		t.Fatalf("wildcard subscriber: %+v", ev)
	}
}

func TestJSONPage(t *testing.T) {
	th := newMemoryHub(t)
	for i := 0; i < 5; i++ {
		th.publish("p.q", strconv.Itoa(i))
	}
	th.publish("other", "x")
	resp, b := th.do("GET", "/events?topic=p.*&after=1&limit=2", "", "", "Accept", "application/json")
	if resp.StatusCode != 200 {
		t.Fatalf("%d %s", resp.StatusCode, b)
	}
	var page struct {
		Events []struct {
			ID        uint64          `json:"id"`
			EventType string          `json:"event_type"`
			Data      json.RawMessage `json:"data"`
		}
		Next string
	}
	if err := json.Unmarshal(b, &page); err != nil {
		t.Fatalf("%v: %s", err, b)
	}
	if len(page.Events) != 2 || page.Events[0].ID != 2 || page.Events[1].ID != 3 || page.Next != "3" || string(page.Events[0].Data) != "1" {
		t.Fatalf("page: %s", b)
	}
	resp, b = th.do("GET", "/events?topic=p.*&after="+page.Next, "", "", "Accept", "application/json")
	if err := json.Unmarshal(b, &page); err != nil || len(page.Events) != 2 || page.Next != "6" {
		t.Fatalf("second page: %s", b)
	}
	// A client that prefers text/event-stream gets SSE on the same URL.
	st := th.subscribe("/events?topic=p.*", "Accept", "application/json;q=0.5, text/event-stream")
	if ct := st.resp.Header.Get("Content-Type"); ct != "text/event-stream; charset=utf-8" {
		t.Fatalf("Content-Type %q", ct)
	}
}

func TestInboxclawSink(t *testing.T) { forEachMode(t, testInboxclawSink) }

func testInboxclawSink(t *testing.T, mode hubOption) {
	th := newMemoryHub(t, mode, withStreams(stream.Endpoint{
		Name: "alerts", Path: "/alerts/live", Match: ssehub.MustFilter("alert.*"),
		Format: format.Envelope, Replay: false, Heartbeat: 200 * time.Millisecond, HeartbeatStyle: "event",
		Hello: "info", Public: true,
	}))
	old := th.publish("alert.old", `{"x":0}`)
	resp, err := http.Get(th.srv.URL + "/alerts/live?event_type=alert.disk&last_event_id=0")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	dec := sse.NewDecoder(resp.Body)
	ev, err := dec.Next()
	if err != nil || ev.Type != "info" || string(ev.Data) != "connected" {
		t.Fatalf("hello: %+v %v", ev, err)
	}
	ev, err = dec.Next()
	if err != nil || ev.Type != "heartbeat" || string(ev.Data) != "ping" {
		t.Fatalf("heartbeat: %+v %v", ev, err)
	}
	th.publish("alert.cpu", `{"x":1}`) // narrowed away by event_type
	th.publish("other.disk", `{"x":2}`)
	id := th.publish("alert.disk", `{"x":3}`)
	for {
		ev, err = dec.Next()
		if err != nil {
			t.Fatal(err)
		}
		if ev.Type != "heartbeat" {
			break
		}
	}
	var env map[string]any
	if ev.Type != "message" || ev.ID != strconv.FormatUint(id, 10) || json.Unmarshal(ev.Data, &env) != nil {
		t.Fatalf("message: %+v", ev)
	}
	if env["event_type"] != "alert.disk" || env["id"] != float64(id) || env["data"].(map[string]any)["x"] != float64(3) {
		t.Fatalf("envelope: %s", ev.Data)
	}
	_ = old
}

func TestQueryTokenAndURLEscapes(t *testing.T) {
	th := newMemoryHub(t)
	resp, err := http.Get(th.srv.URL + "/events?topic=a&token=" + url.QueryEscape(adminToken))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
		t.Fatalf("?token=: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	for _, h := range []string{"Cache-Control", "X-Accel-Buffering"} {
		if resp.Header.Get(h) == "" {
			t.Errorf("missing %s", h)
		}
	}
}

// goroutinePerStream serves every stream from its own goroutine.
func goroutinePerStream(c *hubtest.Config) { c.Stream.GoroutinePerStream = true }

// forEachMode runs test with streams handed to the pump (the default for
// plain HTTP/1.1) and with a goroutine per stream (HTTP/2, TLS).
func forEachMode(t *testing.T, test func(*testing.T, hubOption)) {
	t.Run("pump", func(t *testing.T) { test(t, func(*hubtest.Config) {}) })
	t.Run("goroutine", func(t *testing.T) { test(t, goroutinePerStream) })
}
