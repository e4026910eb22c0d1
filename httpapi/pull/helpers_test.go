package pull_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ssehub/ssehub"
	"github.com/ssehub/ssehub/bolt"
	"github.com/ssehub/ssehub/envelope"
	"github.com/ssehub/ssehub/httpapi/pull"
	"github.com/ssehub/ssehub/internal/hubtest"
)

// clock is a test clock that moves only when told.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func newClock() *clock { return &clock{now: time.Unix(1_700_000_000, 0)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

// env is a hub with one pull endpoint "jobs" (match jobs.*, lease 10 s,
// public) over a store, behind real HTTP on loopback.
type env struct {
	t     testing.TB
	th    *hubtest.Hub
	url   string
	clock *clock
}

func jobsEndpoint() pull.Endpoint {
	return pull.Endpoint{Name: "jobs", ExtractPath: "/jobs/extract", ConfirmPath: "/jobs/mark-processed",
		Match: ssehub.MustFilter("jobs.*"), Lease: 10 * time.Second, BatchSize: 10, MaxBatchSize: 100, Public: true,
		Style: envelope.InboxclawCompact}
}

func newEnv(t testing.TB, store ssehub.Store, opts pull.Options) *env {
	t.Helper()
	c := newClock()
	if opts.Now == nil {
		opts.Now = c.Now
	}
	if opts.Endpoints == nil {
		opts.Endpoints = []pull.Endpoint{jobsEndpoint()}
	}
	th := hubtest.New(t, store, func(cfg *hubtest.Config) { cfg.Extra = append(cfg.Extra, pull.New(opts)) })
	return &env{t: t, th: th, url: th.Srv.URL, clock: c}
}

func boltStore(t testing.TB, dir string) ssehub.Store {
	t.Helper()
	s, err := bolt.Open(dir, bolt.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// publish appends events of the given topics and returns their ids.
func (e *env) publish(topics ...string) []uint64 {
	e.t.Helper()
	var evs []*ssehub.Event
	for i, tp := range topics {
		evs = append(evs, &ssehub.Event{Topic: tp, Data: fmt.Appendf(nil, `{"n":%d}`, i)})
	}
	res, err := e.th.Hub.Publish(context.Background(), evs)
	if err != nil {
		e.t.Fatal(err)
	}
	ids := make([]uint64, len(res))
	for i, r := range res {
		ids[i] = r.ID
	}
	return ids
}

// extracted is an extract's answer.
type extracted struct {
	Status    int
	BatchID   *uint64           `json:"batch_id"`
	Events    []json.RawMessage `json:"events"`
	Remaining int64             `json:"remaining_events"`
	Lost      int64             `json:"lost_events"`
	Error     struct {
		Code string `json:"code"`
	} `json:"error"`
	raw string
}

// ids returns the envelope ids of the events.
func (x *extracted) ids(t testing.TB) []uint64 {
	t.Helper()
	out := make([]uint64, 0, len(x.Events))
	for _, raw := range x.Events {
		var ev struct {
			ID uint64 `json:"id"`
		}
		if err := json.Unmarshal(raw, &ev); err != nil {
			t.Fatalf("event %s: %v", raw, err)
		}
		out = append(out, ev.ID)
	}
	return out
}

func (e *env) do(method, path string) (int, string) {
	e.t.Helper()
	req, err := http.NewRequest(method, e.url+path, nil)
	if err != nil {
		e.t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 || method != "HEAD" {
		if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
			e.t.Errorf("%s %s: Content-Type %q", method, path, ct)
		}
	}
	return resp.StatusCode, string(b)
}

func (e *env) extract(query string) *extracted {
	e.t.Helper()
	status, body := e.do("GET", "/jobs/extract"+query)
	x := &extracted{Status: status, raw: body}
	if err := json.Unmarshal([]byte(body), x); err != nil {
		e.t.Fatalf("extract%s: %d %q: %v", query, status, body, err)
	}
	return x
}

// confirmed is a mark-processed answer.
type confirmed struct {
	Status      int
	StatusField string `json:"status"`
	Marked      int    `json:"marked_count"`
	Error       struct {
		Code string `json:"code"`
	} `json:"error"`
}

func (e *env) confirm(id uint64) *confirmed {
	e.t.Helper()
	status, body := e.do("POST", fmt.Sprintf("/jobs/mark-processed?batch_id=%d", id))
	c := &confirmed{Status: status}
	if err := json.Unmarshal([]byte(body), c); err != nil {
		e.t.Fatalf("confirm %d: %d %q: %v", id, status, body, err)
	}
	return c
}

func eq(a, b []uint64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
