package durable_test

import (
	"net/http"
	"testing"
	"time"
)

func TestFork(t *testing.T) {
	e := newEnv(t, publicOpts())
	const src, fork = "/v1/stream/src", "/v1/stream/fork"
	e.mustCreate(src, textPlain, "a")
	at := e.mustAppend(src, textPlain, "b")
	e.mustAppend(src, textPlain, "c")
	r := e.do("PUT", fork, "", "Stream-Forked-From", src, "Stream-Fork-Offset", at)
	want(t, r, http.StatusCreated)
	wantHeader(t, r, "Content-Type", textPlain) // inherited
	wantHeader(t, r, "Stream-Next-Offset", at)
	// Idempotent with the same source and offset; 409 with another.
	want(t, e.do("PUT", fork, "", "Stream-Forked-From", src, "Stream-Fork-Offset", at), http.StatusOK)
	want(t, e.do("PUT", fork, "", "Stream-Forked-From", src, "Stream-Fork-Offset", "0000000000000000_0000000000000000"), http.StatusConflict)
	want(t, e.do("PUT", fork, "", "Content-Type", textPlain), http.StatusConflict) // not a fork
	want(t, e.do("PUT", "/v1/stream/fork2", "", "Stream-Forked-From", src, "Content-Type", "application/json"), http.StatusConflict)

	e.mustAppend(fork, textPlain, "X")
	e.mustAppend(src, textPlain, "d")
	if got := e.read(fork); got != "abX" {
		t.Fatalf("fork reads %q, want abX", got)
	}
	if got := e.read(src); got != "abcd" {
		t.Fatalf("source reads %q, want abcd", got)
	}
	// Offsets continue the source's: reading the fork from the fork
	// offset gives only its own data.
	if r := e.do("GET", fork+"?offset="+at, ""); r.body != "X" {
		t.Fatalf("fork from the fork offset: %q", r.body)
	}
	// A fork of the fork, at its tail (no offset), then the source goes:
	// soft-deleted (410, its name blocked) while forks read from it.
	e.mustAppend(fork, textPlain, "Y")
	r = e.do("PUT", "/v1/stream/grandchild", "", "Stream-Forked-From", fork)
	want(t, r, http.StatusCreated)
	want(t, e.do("DELETE", src, ""), http.StatusNoContent)
	want(t, e.do("GET", src, ""), http.StatusGone)
	want(t, e.do("HEAD", src, ""), http.StatusGone)
	want(t, e.do("POST", src, "x", "Content-Type", textPlain), http.StatusGone)
	want(t, e.do("DELETE", src, ""), http.StatusGone)
	want(t, e.do("PUT", src, "", "Content-Type", textPlain), http.StatusConflict)
	want(t, e.do("PUT", "/v1/stream/fork3", "", "Stream-Forked-From", src), http.StatusConflict)
	if got := e.read("/v1/stream/grandchild"); got != "abXY" {
		t.Fatalf("grandchild reads %q", got)
	}
	// Deleting the fork: soft too (the grandchild reads it), so the
	// source stays; deleting the grandchild then removes all three.
	want(t, e.do("DELETE", fork, ""), http.StatusNoContent)
	want(t, e.do("GET", fork, ""), http.StatusGone)
	if got := e.read("/v1/stream/grandchild"); got != "abXY" {
		t.Fatalf("grandchild reads %q after its sources went", got)
	}
	want(t, e.do("DELETE", "/v1/stream/grandchild", ""), http.StatusNoContent)
	for _, p := range []string{src, fork, "/v1/stream/grandchild"} {
		want(t, e.do("GET", p, ""), http.StatusNotFound)
	}
	e.mustCreate(src, textPlain, "new") // the name is free again
	if got := e.read(src); got != "new" {
		t.Fatalf("re-created source reads %q", got)
	}
}

func TestForkLongPollWaitsForOwnAppends(t *testing.T) {
	o := publicOpts()
	o.LongPollTimeout = 10 * time.Second
	e := newEnv(t, o)
	const src, fork = "/v1/stream/lsrc", "/v1/stream/lfork"
	e.mustCreate(src, textPlain, "a")
	tail := e.do("PUT", fork, "", "Stream-Forked-From", src).h("Stream-Next-Offset")
	got := make(chan resp, 1)
	go func() { got <- e.do("GET", fork+"?offset="+tail+"&live=long-poll", "") }()
	time.Sleep(100 * time.Millisecond)
	e.mustAppend(src, textPlain, "source only")
	select {
	case r := <-got:
		t.Fatalf("a source append woke the fork's long-poll: %d %q", r.StatusCode, r.body)
	case <-time.After(300 * time.Millisecond):
	}
	e.mustAppend(fork, textPlain, "mine")
	select {
	case r := <-got:
		if r.body != "mine" {
			t.Fatalf("fork long-poll: %q", r.body)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the fork's append did not wake its long-poll")
	}
}

func TestForkSubOffset(t *testing.T) {
	e := newEnv(t, publicOpts())
	const zero = "0000000000000000_0000000000000000"
	e.mustCreate("/v1/stream/s", textPlain, "hello")
	want(t, e.do("PUT", "/v1/stream/f", "", "Stream-Forked-From", "/v1/stream/s", "Stream-Fork-Offset", zero, "Stream-Fork-Sub-Offset", "3"), http.StatusCreated)
	if got := e.read("/v1/stream/f"); got != "hel" {
		t.Fatalf("binary sub-offset fork reads %q", got)
	}
	want(t, e.do("PUT", "/v1/stream/f2", "", "Stream-Forked-From", "/v1/stream/s", "Stream-Fork-Offset", zero, "Stream-Fork-Sub-Offset", "6"), http.StatusBadRequest)
	want(t, e.do("PUT", "/v1/stream/f3", "", "Stream-Forked-From", "/v1/stream/s", "Stream-Fork-Sub-Offset", "1"), http.StatusBadRequest)
	want(t, e.do("PUT", "/v1/stream/f4", "", "Stream-Forked-From", "/v1/stream/s", "Stream-Fork-Offset", zero, "Stream-Fork-Sub-Offset", "01"), http.StatusBadRequest)
	e.mustCreate("/v1/stream/j", "application/json", `[1,2,3,4]`)
	want(t, e.do("PUT", "/v1/stream/jf", "", "Stream-Forked-From", "/v1/stream/j", "Stream-Fork-Offset", zero, "Stream-Fork-Sub-Offset", "2"), http.StatusCreated)
	if got := e.read("/v1/stream/jf"); got != "[1,2]" {
		t.Fatalf("JSON sub-offset fork reads %q", got)
	}
	want(t, e.do("PUT", "/v1/stream/jf", "", "Stream-Forked-From", "/v1/stream/j", "Stream-Fork-Offset", zero, "Stream-Fork-Sub-Offset", "2"), http.StatusOK)
	want(t, e.do("PUT", "/v1/stream/jf", "", "Stream-Forked-From", "/v1/stream/j", "Stream-Fork-Offset", zero, "Stream-Fork-Sub-Offset", "3"), http.StatusConflict)
	want(t, e.do("PUT", "/v1/stream/jf2", "", "Stream-Forked-From", "/v1/stream/j", "Stream-Fork-Offset", zero, "Stream-Fork-Sub-Offset", "5"), http.StatusBadRequest)
}

func TestTTLAndExpiry(t *testing.T) {
	e := newEnv(t, publicOpts())
	const p = "/v1/stream/ttl"
	e.mustCreate(p, textPlain, "x", "Stream-TTL", "10")
	r := e.do("HEAD", p, "")
	wantHeader(t, r, "Stream-TTL", "10")
	// Reads and writes slide the window; HEAD does not.
	for i := 0; i < 3; i++ {
		e.clock.Add(8 * time.Second)
		want(t, e.do("GET", p, ""), http.StatusOK)
	}
	e.clock.Add(8 * time.Second)
	want(t, e.do("HEAD", p, ""), http.StatusOK)
	e.clock.Add(3 * time.Second) // 11 s since the last read
	want(t, e.do("HEAD", p, ""), http.StatusNotFound)
	want(t, e.do("GET", p, ""), http.StatusNotFound)
	e.mustCreate(p, textPlain, "") // the name is free

	const q = "/v1/stream/exp"
	at := e.clock.Now().Add(time.Minute).UTC().Format(time.RFC3339)
	e.mustCreate(q, textPlain, "", "Stream-Expires-At", at)
	wantHeader(t, e.do("HEAD", q, ""), "Stream-Expires-At", at)
	// A fork without its own expiry inherits the source's.
	want(t, e.do("PUT", "/v1/stream/exp-fork", "", "Stream-Forked-From", q), http.StatusCreated)
	wantHeader(t, e.do("HEAD", "/v1/stream/exp-fork", ""), "Stream-Expires-At", at)
	want(t, e.do("PUT", "/v1/stream/exp-fork2", "", "Stream-Forked-From", q, "Stream-TTL", "5"), http.StatusCreated)
	e.clock.Add(59 * time.Second)
	want(t, e.do("POST", q, "still", "Content-Type", textPlain), http.StatusNoContent)
	e.clock.Add(2 * time.Second)
	// The source expired but a fork reads from it: soft-deleted.
	want(t, e.do("GET", q, ""), http.StatusGone)
	want(t, e.do("GET", "/v1/stream/exp-fork", ""), http.StatusNotFound)  // its own expiry passed too
	want(t, e.do("GET", "/v1/stream/exp-fork2", ""), http.StatusNotFound) // 61 s > its TTL of 5 s
	// With both forks gone, the source is gone for good.
	want(t, e.do("GET", q, ""), http.StatusNotFound)
}
