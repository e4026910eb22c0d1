package pull_test

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/ssehub/ssehub"
	"github.com/ssehub/ssehub/httpapi/pull"
	"github.com/ssehub/ssehub/internal/hubtest"
)

// TestPullHostileConfirmIDs: ids never handed out, past uint64, repeated,
// listed, or already confirmed are refused, and no refusal confirms
// anything: the batch's events are still out, and confirmed once.
func TestPullHostileConfirmIDs(t *testing.T) {
	e := newEnv(t, boltStore(t, t.TempDir()), pull.Options{})
	e.publish("jobs.a", "jobs.a", "jobs.a")
	x := e.extract("?batch_size=2")
	if x.BatchID == nil || len(x.Events) != 2 {
		t.Fatalf("extract: %s", x.raw)
	}
	id := *x.BatchID
	for _, c := range []struct {
		query  string
		status int
		code   string
	}{
		{fmt.Sprintf("batch_id=%d", id+1), 404, "NOT_FOUND"},
		{"batch_id=18446744073709551615", 404, "NOT_FOUND"},
		{"batch_id=18446744073709551616", 400, "BAD_REQUEST"},
		{"batch_id=0", 400, "BAD_REQUEST"},
		{"batch_id=+1", 400, "BAD_REQUEST"},
		{"batch_id=1e0", 400, "BAD_REQUEST"},
		{"batch_id=" + strings.Repeat("9", 5000), 400, "BAD_REQUEST"},
		{fmt.Sprintf("batch_id=%d,%d", id, id), 400, "BAD_REQUEST"},
		{fmt.Sprintf("batch_id=%d&batch_id=%d", id+1, id), 400, "BAD_REQUEST"},
		{fmt.Sprintf("batch_id=%d&batch_id=%d", id, id+1), 400, "BAD_REQUEST"},
		{"batch_id=%00", 400, "BAD_REQUEST"},
	} {
		status, body := e.do("POST", "/jobs/mark-processed?"+c.query)
		if status != c.status || !strings.Contains(body, `"code":"`+c.code+`"`) {
			t.Errorf("%.60s: %d %s, want %d %s", c.query, status, body, c.status, c.code)
		}
		if strings.Count(body, "9") > 100 {
			t.Errorf("%.60s: the error echoes the whole parameter: %.200s", c.query, body)
		}
	}
	// Nothing was confirmed: a JSON body (Inboxclaw's clients send none)
	// is ignored, the query counts.
	req, _ := http.NewRequest("POST", fmt.Sprintf("%s/jobs/mark-processed?batch_id=%d", e.url, id), strings.NewReader(`{"batch_id":`))
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("confirm with a malformed JSON body: %d", resp.StatusCode)
	}
	if c := e.confirm(id); c.Status != 404 || c.Error.Code != "NOT_FOUND" {
		t.Fatalf("confirming twice: %+v", c)
	}
	if x := e.extract(""); len(x.Events) != 1 {
		t.Fatalf("after the confirmation one event is left, got %s", x.raw)
	}
}

// TestPullHostileRacingConfirms: many clients confirming the same batch at
// once: exactly one gets 200 with the batch's count.
func TestPullHostileRacingConfirms(t *testing.T) {
	e := newEnv(t, boltStore(t, t.TempDir()), pull.Options{})
	e.publish("jobs.a", "jobs.b", "jobs.c")
	x := e.extract("")
	var mu sync.Mutex
	ok := 0
	var wg sync.WaitGroup
	for range 16 {
		wg.Go(func() {
			status, body := e.do("POST", fmt.Sprintf("/jobs/mark-processed?batch_id=%d", *x.BatchID))
			mu.Lock()
			defer mu.Unlock()
			switch {
			case status == 200 && strings.Contains(body, `"marked_count":3`):
				ok++
			case status != 404:
				t.Errorf("%d %s", status, body)
			}
		})
	}
	wg.Wait()
	if ok != 1 {
		t.Fatalf("%d confirmations succeeded, want 1", ok)
	}
}

// TestPullHostileOtherEndpoint: a batch id of one endpoint means nothing
// at another over the same store: each keeps its own batches and cursor.
func TestPullHostileOtherEndpoint(t *testing.T) {
	a := jobsEndpoint()
	b := jobsEndpoint()
	b.Name, b.ExtractPath, b.ConfirmPath = "audit", "/audit/extract", "/audit/mark-processed"
	e := newEnv(t, boltStore(t, t.TempDir()), pull.Options{Endpoints: []pull.Endpoint{a, b}})
	e.publish("jobs.a", "jobs.a")
	x := e.extract("?batch_size=1")
	if status, body := e.do("POST", fmt.Sprintf("/audit/mark-processed?batch_id=%d", *x.BatchID)); status != 404 {
		t.Fatalf("jobs' batch confirmed at audit: %d %s", status, body)
	}
	status, body := e.do("GET", "/audit/extract")
	if status != 200 || strings.Count(body, `"event_type"`) != 2 {
		t.Fatalf("audit gets both events whatever jobs did: %d %s", status, body)
	}
	if c := e.confirm(*x.BatchID); c.Status != 200 || c.Marked != 1 {
		t.Fatalf("jobs' own confirmation: %+v", c)
	}
}

// TestPullHostileHead: GET routes answer HEAD, but a HEAD of extract (a
// monitor's probe, a link checker) must not hand out a batch whose id
// nobody can read: its events would wait out the lease, and 256 probes
// would block every extract with 429.
func TestPullHostileHead(t *testing.T) {
	e := newEnv(t, boltStore(t, t.TempDir()), pull.Options{MaxOpenBatches: 4})
	e.publish("jobs.a", "jobs.a")
	for range 8 {
		req, _ := http.NewRequest("HEAD", e.url+"/jobs/extract", nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("HEAD: %d", resp.StatusCode)
		}
	}
	x := e.extract("")
	if x.Status != 200 || len(x.Events) != 2 {
		t.Fatalf("after HEAD probes the events are not there: %d %s", x.Status, x.raw)
	}
}

// TestPullHostileTokenNotEchoed: a token in ?token= appears in no error.
func TestPullHostileTokenNotEchoed(t *testing.T) {
	ep := jobsEndpoint()
	ep.Public = false
	e := newEnv(t, boltStore(t, t.TempDir()), pull.Options{Endpoints: []pull.Endpoint{ep}})
	for _, q := range []string{"batch_size=x&token=" + hubtest.AdminToken, "token=" + strings.Repeat("a", 64), "event_type=a..b&token=" + hubtest.AdminToken} {
		_, body := e.do("GET", "/jobs/extract?"+q)
		if strings.Contains(body, hubtest.AdminToken) || strings.Contains(body, strings.Repeat("a", 64)) {
			t.Errorf("%s: the error echoes the token: %s", q, body)
		}
	}
}

// TestPullHostileHugeLists: an extract naming thousands of event_type
// patterns is refused at the pattern limit, and a batch of large events
// ends at the byte bound with one event at least.
func TestPullHostileHugeLists(t *testing.T) {
	c := newClock()
	th := hubtest.New(t, boltStore(t, t.TempDir()), func(cfg *hubtest.Config) {
		cfg.Extra = append(cfg.Extra, pull.New(pull.Options{MaxBatchBytes: 8 << 10, Now: c.Now, Endpoints: []pull.Endpoint{jobsEndpoint()}}))
		cfg.API.Limits.MaxTopics = 64 // limits.max_topics
	})
	e := &env{t: t, th: th, url: th.Srv.URL, clock: c}
	q := "?event_type=" + strings.Repeat("jobs.a&event_type=", 5000) + "jobs.b"
	status, body := e.do("GET", "/jobs/extract"+q)
	if status != 400 || !strings.Contains(body, `"code":"BAD_PATTERN"`) {
		t.Fatalf("5001 patterns: %d %.200s", status, body)
	}
	var evs []*ssehub.Event
	for range 6 {
		evs = append(evs, &ssehub.Event{Topic: "jobs.big", Data: []byte(`"` + strings.Repeat("x", 6<<10) + `"`)})
	}
	if _, err := e.th.Hub.Publish(context.Background(), evs); err != nil {
		t.Fatal(err)
	}
	total := 0
	for range 10 {
		x := e.extract("?batch_size=100")
		if x.BatchID == nil {
			break
		}
		if len(x.Events) != 1 {
			t.Fatalf("a batch of %d events of 6 KiB under an 8 KiB bound", len(x.Events))
		}
		total++
		e.confirm(*x.BatchID)
	}
	if total != 6 {
		t.Fatalf("%d events went out, want 6", total)
	}
}
