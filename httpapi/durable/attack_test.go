package durable_test

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ssehub/ssehub/httpapi"
	"github.com/ssehub/ssehub/httpapi/durable"
)

// TestForkOfItself: a PUT that names its own stream as the fork source is
// refused (it once deadlocked the name: the create locked the stream, then
// locked it again as the source), and the name stays usable.
func TestForkOfItself(t *testing.T) {
	e := newEnv(t, publicOpts())
	done := make(chan resp, 1)
	go func() { done <- e.do("PUT", "/v1/stream/self", "", "Stream-Forked-From", "/v1/stream/self") }()
	select {
	case r := <-done:
		want(t, r, http.StatusNotFound) // the source does not exist (yet)
	case <-time.After(5 * time.Second):
		t.Fatal("a fork of itself hangs")
	}
	e.mustCreate("/v1/stream/self", textPlain, "x")
	go func() { done <- e.do("PUT", "/v1/stream/self", "", "Stream-Forked-From", "/v1/stream/self") }()
	select {
	case r := <-done:
		want(t, r, http.StatusConflict) // exists, and is no fork
	case <-time.After(5 * time.Second):
		t.Fatal("a fork of itself hangs")
	}
	// Percent-encoded in the header, as in the path.
	want(t, e.do("PUT", "/v1/stream/a%20b", "", "Content-Type", textPlain), http.StatusCreated)
	want(t, e.do("PUT", "/v1/stream/copy", "", "Stream-Forked-From", "/v1/stream/a%20b"), http.StatusCreated)
	want(t, e.do("GET", "/v1/stream/self", ""), http.StatusOK)
}

// TestLiveLimits: long-polls and SSE responses count against the stream
// limits, so a client cannot hold an unbounded number of them.
func TestLiveLimits(t *testing.T) {
	o := publicOpts()
	o.LongPollTimeout = 2 * time.Second
	e := newEnvWith(t, o, func(c *hubtestConfig) { c.API.Limits.StreamsPerAddr = 2 })
	tail := e.mustCreate("/v1/stream/lim", textPlain, "")
	got := make(chan int, 3)
	for i := 0; i < 2; i++ {
		go func() { got <- e.do("GET", "/v1/stream/lim?offset="+tail+"&live=long-poll", "").StatusCode }()
	}
	time.Sleep(200 * time.Millisecond)
	r := e.do("GET", "/v1/stream/lim?offset="+tail+"&live=sse", "")
	want(t, r, http.StatusTooManyRequests)
	if r.h("Retry-After") == "" {
		t.Fatal("no Retry-After")
	}
	for i := 0; i < 2; i++ {
		if c := <-got; c != http.StatusNoContent {
			t.Fatalf("a long-poll within the limit: %d", c)
		}
	}
}

// TestHostileHeaders: oversized values are refused with 400, not stored.
func TestHostileHeaders(t *testing.T) {
	e := newEnv(t, publicOpts())
	e.mustCreate("/v1/stream/h", textPlain, "")
	want(t, e.do("POST", "/v1/stream/h", "x", "Content-Type", textPlain, "Stream-Seq", strings.Repeat("9", 300)), http.StatusBadRequest)
	want(t, e.do("POST", "/v1/stream/h", "x", "Content-Type", textPlain, "Producer-Id", strings.Repeat("p", 2000),
		"Producer-Epoch", "0", "Producer-Seq", "0"), http.StatusBadRequest)
	want(t, e.do("PUT", "/v1/stream/h2", "", "Stream-TTL", strings.Repeat("9", 40)), http.StatusBadRequest)
	want(t, e.do("GET", "/v1/stream/h?offset="+strings.Repeat("0", 5000), ""), http.StatusBadRequest)
	if got := e.read("/v1/stream/h"); got != "" {
		t.Fatalf("stored %q", got)
	}
}

// TestDeleteEndsWaits: deleting a stream ends the long-polls and SSE
// responses waiting on it.
func TestDeleteEndsWaits(t *testing.T) {
	o := publicOpts()
	o.LongPollTimeout = 10 * time.Second
	e := newEnv(t, o)
	tail := e.mustCreate("/v1/stream/del", textPlain, "")
	got := make(chan int, 1)
	go func() { got <- e.do("GET", "/v1/stream/del?offset="+tail+"&live=long-poll", "").StatusCode }()
	time.Sleep(100 * time.Millisecond)
	want(t, e.do("DELETE", "/v1/stream/del", ""), http.StatusNoContent)
	select {
	case c := <-got:
		if c != http.StatusNotFound {
			t.Fatalf("long-poll on a deleted stream: %d", c)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the long-poll went on waiting after the delete")
	}
}

// TestCacheBound: a node keeps the state of at most MaxCachedStreams
// streams (and a tenth more before it evicts); evicted streams load again
// from the log when used, a long-poll waiting on one still gets its data.
func TestCacheBound(t *testing.T) {
	o := publicOpts()
	o.MaxCachedStreams = 10
	o.LongPollTimeout = 10 * time.Second
	f := durable.New(o)
	e := newEnvWith(t, o, func(c *hubtestConfig) { c.Extra = []httpapi.Feature{f} })
	tail := e.mustCreate("/v1/stream/c/waiting", textPlain, "")
	got := make(chan resp, 1)
	go func() { got <- e.do("GET", "/v1/stream/c/waiting?offset="+tail+"&live=long-poll", "") }()
	time.Sleep(100 * time.Millisecond)
	for i := 0; i < 40; i++ {
		e.mustCreate(fmt.Sprintf("/v1/stream/c/%d", i), textPlain, strconv.Itoa(i))
	}
	if n := f.Cached(); n > 11 {
		t.Fatalf("%d streams held, want at most 11", n)
	}
	for i := 0; i < 40; i++ {
		if got := e.read(fmt.Sprintf("/v1/stream/c/%d", i)); got != strconv.Itoa(i) {
			t.Fatalf("stream %d reads %q", i, got)
		}
	}
	e.mustAppend("/v1/stream/c/waiting", textPlain, "woken")
	select {
	case r := <-got:
		if r.body != "woken" {
			t.Fatalf("long-poll: %d %q", r.StatusCode, r.body)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the long-poll on an evicted stream missed the append")
	}
	if n := f.Cached(); n > 11 {
		t.Fatalf("%d streams held after the reads, want at most 11", n)
	}
}
