package durable_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/ssehub/ssehub"
	"github.com/ssehub/ssehub/internal/hubtest"
	"github.com/ssehub/ssehub/internal/natstest"
	"github.com/ssehub/ssehub/memory"
	ssenats "github.com/ssehub/ssehub/nats"
)

// scenario exercises what depends on the store (batches with markers,
// meta, types, per-topic reads, producer keys) and, when restart is set,
// that the state comes back from it.
func scenario(t *testing.T, e *env, restart func()) {
	t.Helper()
	e.mustCreate("/v1/stream/s", "application/json", `[{"a":1},{"a":2}]`)
	want(t, e.produce("/v1/stream/s", "w", 0, 0, `{"a":3}`, "Content-Type", "application/json"), http.StatusOK)
	want(t, e.produce("/v1/stream/s", "w", 0, 0, `{"a":3}`, "Content-Type", "application/json"), http.StatusNoContent)
	at := e.do("HEAD", "/v1/stream/s", "").h("Stream-Next-Offset")
	want(t, e.do("PUT", "/v1/stream/f", "", "Stream-Forked-From", "/v1/stream/s", "Stream-Fork-Offset", at), http.StatusCreated)
	e.mustAppend("/v1/stream/f", "application/json", `{"f":1}`)
	e.mustAppend("/v1/stream/s", "application/json", `{"a":4}`, "Stream-Closed", "true")
	check := func() {
		t.Helper()
		if got := e.read("/v1/stream/s"); got != `[{"a":1},{"a":2},{"a":3},{"a":4}]` {
			t.Fatalf("source reads %s", got)
		}
		if got := e.read("/v1/stream/f"); got != `[{"a":1},{"a":2},{"a":3},{"f":1}]` {
			t.Fatalf("fork reads %s", got)
		}
		wantHeader(t, e.do("HEAD", "/v1/stream/s", ""), "Stream-Closed", "true")
		r := e.do("GET", "/v1/stream/f?offset="+at+"&live=long-poll", "")
		if r.body != `[{"f":1}]` {
			t.Fatalf("fork long-poll from the fork offset: %s", r.body)
		}
	}
	check()
	if restart != nil {
		restart()
		check()
		want(t, e.produce("/v1/stream/f", "w", 0, 1, `{}`, "Content-Type", "application/json"), http.StatusConflict) // forks start without producers
		want(t, e.produce("/v1/stream/f", "w", 0, 0, `{}`, "Content-Type", "application/json"), http.StatusOK)
	}
}

func TestMemoryStore(t *testing.T) {
	e := &env{t: t, clock: &clock{now: time.Now()}, opts: publicOpts()}
	e.opts.Now = e.clock.Now
	e.opts.LongPollTimeout = time.Second
	e.startOn(memory.New(memory.Options{}))
	scenario(t, e, nil)
}

func TestNATSStore(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a NATS server")
	}
	srv := natstest.Start(t, 1)
	open := func() ssehub.Store {
		s, err := ssenats.Open(context.Background(), ssenats.Options{URL: srv.URL(), Stream: "DS", SubjectPrefix: "ds",
			ReadyTimeout: 20 * time.Second, Logger: natstest.Quiet})
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	e := &env{t: t, clock: &clock{now: time.Now()}, opts: publicOpts()}
	e.opts.Now = e.clock.Now
	e.opts.LongPollTimeout = time.Second
	e.startOn(open())
	scenario(t, e, func() {
		e.th.API.Shutdown()
		e.th.Srv.CloseClientConnections()
		e.th.Srv.Close()
		_ = e.th.Store.Close()
		e.startOn(open())
	})
}

// TestTwoNodes: two hub nodes on one NATS log, each with the feature
// (Refresh 100 ms). A stream written through either is read through
// either; a producer's sequence carries across nodes (the writer reads the
// topic before it validates); a long-poll on one node wakes for an append
// made through the other.
func TestTwoNodes(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a NATS server")
	}
	srv := natstest.Start(t, 1)
	node := func() *env {
		s, err := ssenats.Open(context.Background(), ssenats.Options{URL: srv.URL(), Stream: "DS2", SubjectPrefix: "ds2",
			ReadyTimeout: 20 * time.Second, Logger: natstest.Quiet})
		if err != nil {
			t.Fatal(err)
		}
		e := &env{t: t, clock: &clock{now: time.Now()}, opts: publicOpts()}
		e.opts.Now = e.clock.Now
		e.opts.LongPollTimeout = 5 * time.Second
		e.opts.Refresh = 100 * time.Millisecond
		e.startOn(s)
		return e
	}
	a, b := node(), node()
	eventually := func(what string, ok func() bool) {
		t.Helper()
		deadline := time.Now().Add(5 * time.Second)
		for !ok() {
			if time.Now().After(deadline) {
				t.Fatalf("%s: not within 5 s", what)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	a.mustCreate("/v1/stream/x", textPlain, "a1")
	eventually("b sees a's stream", func() bool { return b.do("GET", "/v1/stream/x", "").body == "a1" })
	b.mustAppend("/v1/stream/x", textPlain, "b1")
	eventually("a sees b's append", func() bool { return a.do("GET", "/v1/stream/x", "").body == "a1b1" })

	// One producer, alternating nodes.
	want(t, a.produce("/v1/stream/x", "w", 0, 0, "p0"), http.StatusOK)
	eventually("b knows seq 0", func() bool {
		return b.produce("/v1/stream/x", "w", 0, 0, "p0").StatusCode == http.StatusNoContent
	})
	want(t, b.produce("/v1/stream/x", "w", 0, 1, "p1"), http.StatusOK)
	want(t, a.produce("/v1/stream/x", "w", 0, 1, "p1"), http.StatusNoContent) // a reads b's before it validates
	want(t, a.produce("/v1/stream/x", "w", 0, 3, "gap"), http.StatusConflict)

	// A long-poll on a, woken by an append through b.
	tail := a.do("HEAD", "/v1/stream/x", "").h("Stream-Next-Offset")
	got := make(chan resp, 1)
	go func() { got <- a.do("GET", "/v1/stream/x?offset="+tail+"&live=long-poll", "") }()
	time.Sleep(200 * time.Millisecond)
	b.mustAppend("/v1/stream/x", textPlain, "late")
	select {
	case r := <-got:
		if r.StatusCode != http.StatusOK || r.body != "late" {
			t.Fatalf("long-poll on a: %d %q", r.StatusCode, r.body)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the long-poll on a did not see b's append")
	}
	// Closing through a: b refuses appends.
	want(t, a.do("POST", "/v1/stream/x", "", "Stream-Closed", "true"), http.StatusNoContent)
	want(t, b.do("POST", "/v1/stream/x", "more", "Content-Type", textPlain), http.StatusConflict)
	if got := b.read("/v1/stream/x"); got != "a1b1p0p1late" {
		t.Fatalf("b reads %q", got)
	}
}

// TestPublishIntoStreamTopic: an event published into a stream's topic
// with POST /publish is data of the stream, seen by the next write (and
// by reads after Refresh).
func TestPublishIntoStreamTopic(t *testing.T) {
	o := publicOpts()
	o.Refresh = 50 * time.Millisecond
	e := newEnv(t, o)
	e.mustCreate("/v1/stream/mixed", textPlain, "ds ")
	req, _ := http.NewRequest("POST", e.url+"/publish/ds.mixed", strings.NewReader("published "))
	req.Header.Set("Authorization", "Bearer "+hubtest.AdminToken)
	req.Header.Set("Content-Type", textPlain)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusOK {
		t.Fatalf("publish: %d", res.StatusCode)
	}
	e.mustAppend("/v1/stream/mixed", textPlain, "ds again")
	if got := e.read("/v1/stream/mixed"); got != "ds published ds again" {
		t.Fatalf("stream reads %q", got)
	}
}
