package durable_test

import (
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/ssehub/ssehub"
	"github.com/ssehub/ssehub/bolt"
)

// TestBackfillFindsStreamRetentionEmptied: a stream whose every event
// retention removed still exists (its checkpoint keeps it), so a pattern
// subscription created afterwards links it, as it links a stream with
// events. The backfill once listed only the store's topics, which lists
// topics with retained events, and missed it.
func TestBackfillFindsStreamRetentionEmptied(t *testing.T) {
	e := &env{t: t, dir: t.TempDir(), clock: &clock{now: time.Now()}, opts: subOpts()}
	e.opts.Now = e.clock.Now
	e.opts.LongPollTimeout = 300 * time.Millisecond
	store, err := bolt.Open(e.dir, bolt.Options{Retention: ssehub.Retention{MaxEvents: 5}})
	if err != nil {
		t.Fatal(err)
	}
	e.startOn(store)
	e.mustCreate("/v1/stream/q/old", textPlain, "x")
	e.mustCreate("/v1/stream/q/kept", textPlain, "y")
	e.mustCreate("/v1/stream/z/other", textPlain, "0")
	for i := 1; i < 10; i++ {
		e.mustAppend("/v1/stream/z/other", textPlain, strconv.Itoa(i))
	}
	for _, topic := range []string{"ds.q.old", "ds.q.kept"} {
		if ti, err := store.Topic(t.Context(), topic); err == nil && ti.Events > 0 {
			t.Fatalf("%s keeps %d events: retention did not empty it", topic, ti.Events)
		}
	}
	want(t, e.do("HEAD", "/v1/stream/q/old", ""), http.StatusOK) // the stream is still there
	want(t, e.do("DELETE", "/v1/stream/q/kept", ""), http.StatusNoContent)

	rc := newReceiver(t)
	want(t, e.do("PUT", subPath+"q", webhookSub("q/*", rc.url())), http.StatusCreated)
	s := e.sub("q")
	if len(s.Streams) != 1 || s.Streams[0].Path != "q/old" {
		t.Fatalf("the subscription links %+v, want q/old alone (q/kept is deleted)", s.Streams)
	}
}
