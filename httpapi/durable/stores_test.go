package durable_test

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/ssehub/ssehub"
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
