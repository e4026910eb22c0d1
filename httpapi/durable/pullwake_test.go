package durable_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"
)

// wakeEvents reads a JSON wake stream's events of subscription id.
func (e *env) wakeEvents(stream, id string) []map[string]any {
	e.t.Helper()
	var all []map[string]any
	if err := json.Unmarshal([]byte(e.read(stream)), &all); err != nil {
		e.t.Fatal(err)
	}
	var out []map[string]any
	for _, ev := range all {
		if ev["subscription_id"] == id {
			out = append(out, ev)
		}
	}
	return out
}

type claimed struct {
	WakeID     string `json:"wake_id"`
	Generation uint64 `json:"generation"`
	Token      string `json:"token"`
	Streams    []struct {
		Path       string `json:"path"`
		Tail       string `json:"tail_offset"`
		HasPending bool   `json:"has_pending"`
	} `json:"streams"`
}

func (e *env) claim(id, worker string) (resp, claimed) {
	e.t.Helper()
	r := e.do("POST", subPath+id+"/claim", `{"worker":"`+worker+`"}`, "Content-Type", "application/json")
	var c claimed
	if r.StatusCode == http.StatusOK {
		if err := json.Unmarshal([]byte(r.body), &c); err != nil {
			e.t.Fatal(err)
		}
	}
	return r, c
}

// TestPullWake: a pull-wake subscription writes a wake event to its wake
// stream for a matching append; one worker claims, a second is refused
// with the holder; ack without done is a heartbeat, with done it moves the
// cursor and ends the lease; release hands pending work to a new wake;
// stale acks and releases are fenced; a lease that runs out ends the
// claim and makes a new wake.
func TestPullWake(t *testing.T) {
	e := newEnv(t, subOpts())
	e.mustCreate("/v1/stream/wake/pool", "application/json", "[]")
	want(t, e.do("PUT", subPath+"pw", `{"type":"pull-wake","pattern":"jobs/**","wake_stream":"wake/pool","lease_ttl_ms":1000}`), http.StatusCreated)
	r, _ := e.claim("pw", "w1")
	want(t, r, http.StatusConflict)
	if !strings.Contains(r.body, "NO_PENDING_WORK") {
		t.Fatal(r.body)
	}
	tail := e.mustCreate("/v1/stream/jobs/a/1", "application/json", `{"job":1}`)
	waitUntil(t, "a wake event", func() bool { return len(e.wakeEvents("/v1/stream/wake/pool", "pw")) == 1 })
	ev := e.wakeEvents("/v1/stream/wake/pool", "pw")[0]
	if ev["type"] != "wake" || ev["stream"] != "jobs/a/1" || ev["generation"] != float64(1) {
		t.Fatalf("wake event %v", ev)
	}
	r, c := e.claim("pw", "w1")
	want(t, r, http.StatusOK)
	if c.Generation != 1 || c.Token == "" || len(c.Streams) != 1 || c.Streams[0].Tail != tail || !c.Streams[0].HasPending {
		t.Fatalf("claim %+v", c)
	}
	r, _ = e.claim("pw", "w2")
	want(t, r, http.StatusConflict)
	var busy struct {
		Error struct {
			Code          string `json:"code"`
			CurrentHolder string `json:"current_holder"`
			Generation    uint64 `json:"generation"`
		} `json:"error"`
	}
	_ = json.Unmarshal([]byte(r.body), &busy)
	if busy.Error.Code != "ALREADY_CLAIMED" || busy.Error.CurrentHolder != "w1" || busy.Error.Generation != 1 {
		t.Fatalf("busy: %s", r.body)
	}
	// A heartbeat half-way through the lease keeps it past its first end.
	e.clock.Add(600 * time.Millisecond)
	want(t, e.settle("pw", "ack", c.Token, ackBody(c.WakeID, 1, "jobs/a/1", tail, false)), http.StatusOK)
	e.clock.Add(600 * time.Millisecond)
	time.Sleep(100 * time.Millisecond)
	r, _ = e.claim("pw", "w2")
	want(t, r, http.StatusConflict)
	// A callback is for webhooks; an ack from another wake is fenced.
	want(t, e.settle("pw", "callback", c.Token, ackBody(c.WakeID, 1, "jobs/a/1", tail, true)), http.StatusBadRequest)
	want(t, e.settle("pw", "ack", c.Token, ackBody("w_other", 1, "jobs/a/1", tail, true)), http.StatusConflict)
	want(t, e.settle("pw", "ack", c.Token, ackBody(c.WakeID, 2, "jobs/a/1", tail, true)), http.StatusConflict)
	r = e.settle("pw", "ack", c.Token, ackBody(c.WakeID, 1, "jobs/a/1", tail, true))
	want(t, r, http.StatusOK)
	if strings.TrimSpace(r.body) != `{"next_wake":false,"ok":true}` {
		t.Fatal(r.body)
	}
	if a := e.acked("pw", "jobs/a/1"); a != tail {
		t.Fatalf("acked %q, want %q", a, tail)
	}
	want(t, e.settle("pw", "release", c.Token, `{"wake_id":"`+c.WakeID+`","generation":1}`), http.StatusConflict)

	// More work: claim, then release without acking: a new wake is written.
	e.mustAppend("/v1/stream/jobs/a/1", "application/json", `{"job":2}`)
	waitUntil(t, "the second wake event", func() bool { return len(e.wakeEvents("/v1/stream/wake/pool", "pw")) == 2 })
	r, c2 := e.claim("pw", "w2")
	want(t, r, http.StatusOK)
	if c2.Generation != 2 {
		t.Fatalf("generation %d", c2.Generation)
	}
	want(t, e.settle("pw", "release", c2.Token, `{"wake_id":"`+c2.WakeID+`","generation":2}`), http.StatusNoContent)
	waitUntil(t, "a wake after the release", func() bool { return len(e.wakeEvents("/v1/stream/wake/pool", "pw")) == 3 })
	if a := e.acked("pw", "jobs/a/1"); a != tail {
		t.Fatalf("a release moved the cursor to %q", a)
	}
	// A worker that goes silent loses its lease to the clock.
	r, c3 := e.claim("pw", "w3")
	want(t, r, http.StatusOK)
	e.clock.Add(1100 * time.Millisecond)
	waitUntil(t, "a wake after the lease", func() bool { return len(e.wakeEvents("/v1/stream/wake/pool", "pw")) == 4 })
	r, c4 := e.claim("pw", "w4")
	want(t, r, http.StatusOK)
	if c4.Generation <= c3.Generation {
		t.Fatalf("generation %d after %d", c4.Generation, c3.Generation)
	}
	// The silent worker's ack comes too late: fenced, nothing moves.
	want(t, e.settle("pw", "ack", c3.Token, ackBody(c3.WakeID, c3.Generation, "jobs/a/1", c3.Streams[0].Tail, true)), http.StatusConflict)
	if a := e.acked("pw", "jobs/a/1"); a != tail {
		t.Fatalf("a fenced ack moved the cursor to %q", a)
	}
	want(t, e.settle("pw", "ack", c4.Token, ackBody(c4.WakeID, c4.Generation, "jobs/a/1", c4.Streams[0].Tail, true)), http.StatusOK)
	if a := e.acked("pw", "jobs/a/1"); a != c4.Streams[0].Tail {
		t.Fatalf("acked %q", a)
	}
}

// TestPullWakeOwnWakeStream: a pattern that matches the wake stream does
// not wake the subscription with its own wake events (which would loop).
func TestPullWakeOwnWakeStream(t *testing.T) {
	e := newEnv(t, subOpts())
	e.mustCreate("/v1/stream/all/wake", "application/json", "[]")
	want(t, e.do("PUT", subPath+"loop", `{"type":"pull-wake","pattern":"all/*","wake_stream":"all/wake"}`), http.StatusCreated)
	e.mustCreate("/v1/stream/all/x", "application/json", `{"a":1}`)
	waitUntil(t, "a wake event", func() bool { return len(e.wakeEvents("/v1/stream/all/wake", "loop")) == 1 })
	time.Sleep(200 * time.Millisecond)
	if n := len(e.wakeEvents("/v1/stream/all/wake", "loop")); n != 1 {
		t.Fatalf("%d wake events", n)
	}
	for _, s := range e.sub("loop").Streams {
		if s.Path == "all/wake" {
			t.Fatal("the wake stream is linked to its own subscription")
		}
	}
}
