package pull_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ssehub/ssehub"
	"github.com/ssehub/ssehub/auth"
	"github.com/ssehub/ssehub/httpapi/pull"
	"github.com/ssehub/ssehub/internal/hubtest"
	"github.com/ssehub/ssehub/memory"
)

// TestExtractAndConfirm walks Inboxclaw's lifecycle: batches oldest first
// within the match, remaining_events, confirmation, 404 for a batch
// confirmed already or never issued, an empty extract.
func TestExtractAndConfirm(t *testing.T) {
	e := newEnv(t, boltStore(t, t.TempDir()), pull.Options{})
	var want []uint64
	for i := range 25 {
		ids := e.publish(fmt.Sprintf("jobs.t%d", i%3), "other.topic")
		want = append(want, ids[0])
	}
	x := e.extract("")
	if x.Status != 200 || x.BatchID == nil || *x.BatchID != 1 || !eq(x.ids(t), want[:10]) || x.Remaining != 15 {
		t.Fatalf("first extract: %+v %v", x, x.ids(t))
	}
	// The envelope is Inboxclaw's (compact in a JSON body).
	if !strings.HasPrefix(string(x.Events[0]), fmt.Sprintf(`{"id":%d,"event_id":null,"event_type":"jobs.t0","entity_id":null,"created_at":"2023-11-14T22:13:2`, want[0])) &&
		!strings.Contains(string(x.Events[0]), `"event_type":"jobs.t0"`) {
		t.Errorf("envelope: %s", x.Events[0])
	}
	y := e.extract("?batch_size=7")
	if *y.BatchID != 2 || !eq(y.ids(t), want[10:17]) || y.Remaining != 8 {
		t.Fatalf("second extract: %+v %v", y, y.ids(t))
	}
	if c := e.confirm(1); c.Status != 200 || c.StatusField != "ok" || c.Marked != 10 {
		t.Fatalf("confirm 1: %+v", c)
	}
	if c := e.confirm(1); c.Status != 404 || c.Error.Code != "NOT_FOUND" {
		t.Fatalf("confirm 1 again: %+v", c)
	}
	if c := e.confirm(99); c.Status != 404 || c.Error.Code != "NOT_FOUND" {
		t.Fatalf("confirm 99: %+v", c)
	}
	z := e.extract("?batch_size=100")
	if *z.BatchID != 3 || !eq(z.ids(t), want[17:]) || z.Remaining != 0 {
		t.Fatalf("third extract: %+v", z)
	}
	empty := e.extract("")
	if empty.Status != 200 || empty.BatchID != nil || len(empty.Events) != 0 || empty.Remaining != 0 {
		t.Fatalf("empty extract: %+v %s", empty, empty.raw)
	}
	if !strings.HasPrefix(empty.raw, `{"batch_id":null,"events":[],"remaining_events":0}`) {
		t.Fatalf("empty extract bytes: %q", empty.raw)
	}
	for _, id := range []uint64{2, 3} {
		if c := e.confirm(id); c.Status != 200 || c.Marked == 0 {
			t.Fatalf("confirm %d: %+v", id, c)
		}
	}
	// New events after everything was confirmed.
	more := e.publish("jobs.new")
	if x := e.extract(""); !eq(x.ids(t), more) || x.Remaining != 0 {
		t.Fatalf("after new publish: %+v", x)
	}
}

// TestNarrowing: ?event_type= narrows within the match and never widens
// it; what it skips stays for other extracts, and remaining_events counts
// within the narrowing.
func TestNarrowing(t *testing.T) {
	e := newEnv(t, memory.New(memory.Options{}), pull.Options{})
	a := e.publish("jobs.a", "jobs.b", "jobs.a", "jobs.b", "jobs.a")
	x := e.extract("?event_type=jobs.a&batch_size=2")
	if !eq(x.ids(t), []uint64{a[0], a[2]}) || x.Remaining != 1 {
		t.Fatalf("narrowed: %+v %v", x, x.ids(t))
	}
	if x := e.extract("?event_type=other.*"); x.Status != 200 || len(x.Events) != 0 {
		t.Fatalf("narrowing outside the match: %+v", x)
	}
	if c := e.confirm(*x.BatchID); c.Marked != 2 {
		t.Fatalf("confirm: %+v", c)
	}
	y := e.extract("")
	if !eq(y.ids(t), []uint64{a[1], a[3], a[4]}) || y.Remaining != 0 {
		t.Fatalf("the rest: %+v %v", y, y.ids(t))
	}
	if x := e.extract("?event_type=jobs..a"); x.Status != 400 || x.Error.Code != "BAD_PATTERN" {
		t.Fatalf("bad pattern: %+v", x)
	}
}

// TestLease: a batch's events go to nobody else while its lease runs, and
// come back, oldest first, once it ended; a late confirmation of a batch
// whose events went out again is 404.
func TestLease(t *testing.T) {
	e := newEnv(t, memory.New(memory.Options{}), pull.Options{})
	ids := e.publish("jobs.a", "jobs.a", "jobs.a", "jobs.a")
	x := e.extract("?batch_size=2")
	y := e.extract("?batch_size=2")
	if !eq(x.ids(t), ids[:2]) || !eq(y.ids(t), ids[2:]) {
		t.Fatalf("leased batches: %v %v", x.ids(t), y.ids(t))
	}
	if z := e.extract(""); len(z.Events) != 0 || z.Remaining != 0 {
		t.Fatalf("during the leases: %+v", z)
	}
	e.clock.Add(9 * time.Second)
	if c := e.confirm(*y.BatchID); c.Marked != 2 {
		t.Fatalf("confirm within the lease: %+v", c)
	}
	e.clock.Add(2 * time.Second) // batch 1's lease ended
	z := e.extract("?batch_size=1")
	if !eq(z.ids(t), ids[:1]) || z.Remaining != 1 {
		t.Fatalf("after the lease: %+v %v", z, z.ids(t))
	}
	// Batch 1 still holds its second event: confirming it confirms that one.
	if c := e.confirm(*x.BatchID); c.Status != 200 || c.Marked != 1 {
		t.Fatalf("late confirm of a partly re-issued batch: %+v", c)
	}
	e.clock.Add(11 * time.Second)
	w := e.extract("")
	if !eq(w.ids(t), ids[:1]) {
		t.Fatalf("the unconfirmed event again: %v", w.ids(t))
	}
	if c := e.confirm(*z.BatchID); c.Status != 404 {
		t.Fatalf("a batch whose events all went out again: %+v", c)
	}
	if c := e.confirm(*w.BatchID); c.Marked != 1 {
		t.Fatalf("confirm: %+v", c)
	}
	e.clock.Add(time.Minute)
	if z := e.extract(""); len(z.Events) != 0 {
		t.Fatalf("everything was confirmed: %+v", z)
	}
}

// TestDurable: a hub restarted on the same data directory keeps the
// cursor, the batches and their leases.
func TestDurable(t *testing.T) {
	dir := t.TempDir()
	var ids []uint64
	var open uint64
	c := newClock()
	t.Run("first", func(t *testing.T) {
		e := newEnv(t, boltStore(t, dir), pull.Options{Now: c.Now})
		ids = e.publish("jobs.a", "jobs.a", "jobs.a", "jobs.a", "jobs.a")
		x := e.extract("?batch_size=2")
		if e.confirm(*x.BatchID).Marked != 2 {
			t.Fatal("confirm")
		}
		open = *e.extract("?batch_size=2").BatchID
	}) // its cleanup stops the hub and closes the store
	t.Run("restarted", func(t *testing.T) {
		e := newEnv(t, boltStore(t, dir), pull.Options{Now: c.Now})
		x := e.extract("")
		if !eq(x.ids(t), ids[4:]) || *x.BatchID != open+1 {
			t.Fatalf("after restart: %+v %v", x, x.ids(t))
		}
		c.Add(11 * time.Second)
		y := e.extract("")
		if !eq(y.ids(t), ids[2:]) { // batch 2 and the one just taken
			t.Fatalf("the open batch after its lease: %v", y.ids(t))
		}
	})
}

// TestConcurrentExtractors: extractors racing each other never get the same
// event while its batch is live; with a lease longer than the test every
// event goes out once.
func TestConcurrentExtractors(t *testing.T) {
	e := newEnv(t, boltStore(t, t.TempDir()), pull.Options{})
	const n = 600
	var want []uint64
	for i := 0; i < n; i += 100 {
		topics := make([]string, 100)
		for j := range topics {
			topics[j] = fmt.Sprintf("jobs.w%d", j%4)
		}
		want = append(want, e.publish(topics...)...)
	}
	var mu sync.Mutex
	got := map[uint64]int{}
	var wg sync.WaitGroup
	for w := range 6 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				q := fmt.Sprintf("?batch_size=%d", 1+w*3)
				if w%2 == 1 {
					q += fmt.Sprintf("&event_type=jobs.w%d", w%4)
				}
				x := e.extract(q)
				if x.Status != 200 {
					t.Errorf("extract: %+v", x)
					return
				}
				if x.BatchID == nil {
					if w%2 == 0 {
						return
					}
					q = "?batch_size=5"
					if x = e.extract(q); x.BatchID == nil {
						return
					}
				}
				mu.Lock()
				for _, id := range x.ids(t) {
					got[id]++
				}
				mu.Unlock()
				if w%3 == 0 {
					if c := e.confirm(*x.BatchID); c.Status != 200 {
						t.Errorf("confirm: %+v", c)
					}
				}
			}
		}()
	}
	wg.Wait()
	for _, id := range want {
		if got[id] != 1 {
			t.Errorf("event %d went out %d times", id, got[id])
		}
	}
	if len(got) != n {
		t.Errorf("%d events went out, want %d", len(got), n)
	}
}

// TestErrors: bad parameters, methods and tokens are JSON errors.
func TestErrors(t *testing.T) {
	ep := jobsEndpoint()
	ep.Public = false
	e := newEnv(t, memory.New(memory.Options{}), pull.Options{Endpoints: []pull.Endpoint{ep}})
	for _, c := range []struct {
		method, path string
		status       int
		code         string
	}{
		{"GET", "/jobs/extract", 401, "UNAUTHORIZED"},
		{"POST", "/jobs/mark-processed?batch_id=1", 401, "UNAUTHORIZED"},
		{"POST", "/jobs/extract", 405, "METHOD_NOT_ALLOWED"},
		{"GET", "/jobs/mark-processed?batch_id=1", 405, "METHOD_NOT_ALLOWED"},
	} {
		status, body := e.do(c.method, c.path)
		if status != c.status || !strings.Contains(body, `"code":"`+c.code+`"`) {
			t.Errorf("%s %s: %d %s", c.method, c.path, status, body)
		}
	}
	pub := newEnv(t, memory.New(memory.Options{}), pull.Options{})
	for _, c := range []struct {
		method, path string
		status       int
		code         string
	}{
		{"GET", "/jobs/extract?batch_size=0", 400, "BAD_REQUEST"},
		{"GET", "/jobs/extract?batch_size=101", 400, "BAD_REQUEST"},
		{"GET", "/jobs/extract?batch_size=x", 400, "BAD_REQUEST"},
		{"POST", "/jobs/mark-processed", 400, "BAD_REQUEST"},
		{"POST", "/jobs/mark-processed?batch_id=-1", 400, "BAD_REQUEST"},
		{"POST", "/jobs/mark-processed?batch_id=7", 404, "NOT_FOUND"},
	} {
		status, body := pub.do(c.method, c.path)
		if status != c.status || !strings.Contains(body, `"code":"`+c.code+`"`) {
			t.Errorf("%s %s: %d %s", c.method, c.path, status, body)
		}
	}
}

// TestMaxOpenBatches: past the bound of unconfirmed batches an extract is
// 429 with Retry-After, until one is confirmed.
func TestMaxOpenBatches(t *testing.T) {
	e := newEnv(t, memory.New(memory.Options{}), pull.Options{MaxOpenBatches: 2})
	e.publish("jobs.a", "jobs.a", "jobs.a")
	one, two := e.extract("?batch_size=1"), e.extract("?batch_size=1")
	if x := e.extract("?batch_size=1"); x.Status != 429 || x.Error.Code != "RATE_LIMITED" {
		t.Fatalf("third open batch: %+v", x)
	}
	e.confirm(*one.BatchID)
	if x := e.extract("?batch_size=1"); x.Status != 200 || len(x.Events) != 1 {
		t.Fatalf("after a confirmation: %+v", x)
	}
	_ = two
}

// TestRetentionLoss: events of an expired batch that retention removed
// before they went out again are reported as lost_events.
func TestRetentionLoss(t *testing.T) {
	e := newEnv(t, memory.New(memory.Options{Retention: ssehub.Retention{MaxEvents: 4}}), pull.Options{})
	ids := e.publish("jobs.a", "jobs.a")
	x := e.extract("")
	if !eq(x.ids(t), ids) {
		t.Fatalf("%v", x.ids(t))
	}
	more := e.publish("jobs.a", "jobs.a", "jobs.a", "jobs.a") // pushes the first two out
	e.clock.Add(time.Minute)
	y := e.extract("")
	if y.Lost != 2 || !eq(y.ids(t), more) {
		t.Fatalf("after retention: %+v %v", y, y.ids(t))
	}
}

// TestModel runs random publishes, extracts (narrowed or not, of random
// sizes), confirmations and clock steps against a plain model of the
// endpoint, comparing every answer: the events, their order and
// remaining_events.
func TestModel(t *testing.T) {
	for seed := range uint64(4) {
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(seed, 7))
			e := newEnv(t, memory.New(memory.Options{}), pull.Options{})
			type mev struct {
				id    uint64
				topic string
			}
			var log []mev
			confirmedSet := map[uint64]bool{}
			type mbatch struct {
				ids     []uint64
				expires time.Time
			}
			batches := map[uint64]*mbatch{}
			owner := map[uint64]uint64{}
			topics := []string{"jobs.a", "jobs.b", "jobs.c.d", "other"}
			narrows := []string{"", "jobs.a", "jobs.c.*", "jobs.b", "other"}
			for step := range 400 {
				switch op := rng.IntN(10); {
				case op < 3:
					var ts []string
					for range 1 + rng.IntN(5) {
						ts = append(ts, topics[rng.IntN(len(topics))])
					}
					for i, id := range e.publish(ts...) {
						log = append(log, mev{id, ts[i]})
					}
				case op < 7:
					narrow := narrows[rng.IntN(len(narrows))]
					size := 1 + rng.IntN(6)
					q := fmt.Sprintf("?batch_size=%d", size)
					f := ssehub.MustFilter("jobs.*")
					if narrow != "" {
						q += "&event_type=" + narrow
						f = f.Intersect(ssehub.MustFilter(narrow))
					}
					now := e.clock.Now()
					avail := func(ev mev) bool {
						if !f.Match(ev.topic) || confirmedSet[ev.id] {
							return false
						}
						b, ok := owner[ev.id]
						return !ok || !batches[b].expires.After(now)
					}
					var want []uint64
					rest := 0
					for _, ev := range log {
						if avail(ev) {
							if len(want) < size {
								want = append(want, ev.id)
							} else {
								rest++
							}
						}
					}
					x := e.extract(q)
					if got := x.ids(t); !eq(got, want) || x.Remaining != int64(rest) {
						t.Fatalf("step %d extract%s: got %v remaining %d, want %v remaining %d", step, q, got, x.Remaining, want, rest)
					}
					if x.BatchID != nil {
						for _, id := range want {
							if old, ok := owner[id]; ok {
								ob := batches[old]
								ob.ids = slices.DeleteFunc(ob.ids, func(v uint64) bool { return v == id })
								if len(ob.ids) == 0 {
									delete(batches, old)
								}
							}
							owner[id] = *x.BatchID
						}
						batches[*x.BatchID] = &mbatch{ids: want, expires: now.Add(10 * time.Second)}
					}
				case op < 9:
					var open []uint64
					for id := range batches {
						open = append(open, id)
					}
					slices.Sort(open)
					id := uint64(1 + rng.IntN(30))
					if len(open) > 0 && rng.IntN(4) > 0 {
						id = open[rng.IntN(len(open))]
					}
					c := e.confirm(id)
					b, ok := batches[id]
					switch {
					case !ok && c.Status != 404:
						t.Fatalf("step %d confirm %d: %+v, want 404", step, id, c)
					case ok && (c.Status != 200 || c.Marked != len(b.ids)):
						t.Fatalf("step %d confirm %d: %+v, want %d", step, id, c, len(b.ids))
					}
					if ok {
						for _, v := range b.ids {
							confirmedSet[v] = true
							delete(owner, v)
						}
						delete(batches, id)
					}
				default:
					e.clock.Add(time.Duration(rng.IntN(8)) * time.Second)
				}
			}
		})
	}
}

// TestTokens: a non-public endpoint (a mode: pull stream) takes a token of
// purpose stream whose scope covers its match.
func TestTokens(t *testing.T) {
	ep := jobsEndpoint()
	ep.Public = false
	e := newEnv(t, memory.New(memory.Options{}), pull.Options{Endpoints: []pull.Endpoint{ep}})
	e.publish("jobs.a")
	mk := func(p auth.Purpose, topics ...string) string {
		s, _, err := e.th.API.Tokens().Create(context.Background(), auth.CreateOptions{Purpose: p, Topics: topics})
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	for _, c := range []struct {
		token  string
		status int
	}{
		{mk(auth.PurposeStream, "jobs.*"), 200},
		{mk(auth.PurposeStream, "other.*"), 403},
		{mk(auth.PurposePublish, "jobs.*"), 403},
		{hubtest.AdminToken, 200},
	} {
		req, _ := http.NewRequest("GET", e.url+"/jobs/extract?token="+c.token, nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != c.status {
			t.Errorf("token %.8s…: %d, want %d", c.token, resp.StatusCode, c.status)
		}
	}
}
