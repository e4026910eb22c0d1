package durable_test

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// produce posts body as producer id at epoch and seq.
func (e *env) produce(path, id string, epoch, seq int, body string, hdr ...string) resp {
	e.t.Helper()
	h := append([]string{"Content-Type", textPlain, "Producer-Id", id, "Producer-Epoch", strconv.Itoa(epoch), "Producer-Seq", strconv.Itoa(seq)}, hdr...)
	return e.do("POST", path, body, h...)
}

func TestIdempotentProducer(t *testing.T) {
	e := newEnv(t, publicOpts())
	const p = "/v1/stream/prod"
	e.mustCreate(p, textPlain, "")

	r := e.produce(p, "w1", 0, 0, "a")
	want(t, r, http.StatusOK)
	wantHeader(t, r, "Producer-Epoch", "0")
	wantHeader(t, r, "Producer-Seq", "0")
	tail := r.h("Stream-Next-Offset")
	want(t, e.produce(p, "w1", 0, 1, "b"), http.StatusOK)
	// A retry: 204, the highest accepted seq, nothing stored.
	r = e.produce(p, "w1", 0, 0, "a")
	want(t, r, http.StatusNoContent)
	wantHeader(t, r, "Producer-Seq", "1")
	// A gap: 409 with what was expected.
	r = e.produce(p, "w1", 0, 5, "x")
	want(t, r, http.StatusConflict)
	wantHeader(t, r, "Producer-Expected-Seq", "2")
	wantHeader(t, r, "Producer-Received-Seq", "5")
	// A new producer must start at 0.
	r = e.produce(p, "w2", 0, 1, "x")
	want(t, r, http.StatusConflict)
	wantHeader(t, r, "Producer-Expected-Seq", "0")
	// A new epoch must start at 0, then fences the old one.
	want(t, e.produce(p, "w1", 1, 3, "x"), http.StatusBadRequest)
	want(t, e.produce(p, "w1", 1, 0, "c"), http.StatusOK)
	r = e.produce(p, "w1", 0, 2, "zombie")
	want(t, r, http.StatusForbidden)
	wantHeader(t, r, "Producer-Epoch", "1")
	if got := e.read(p); got != "abc" {
		t.Fatalf("stream holds %q, want abc", got)
	}
	if tail >= e.do("HEAD", p, "").h("Stream-Next-Offset") {
		t.Fatal("the tail did not move")
	}
}

// TestProducerConcurrentRetries: many copies of each request of one
// producer, sent at once, store each batch exactly once and in order of
// the sequence (validation and append are serialized per stream).
func TestProducerConcurrentRetries(t *testing.T) {
	e := newEnv(t, publicOpts())
	const p = "/v1/stream/retries"
	e.mustCreate(p, textPlain, "")
	const n, copies = 20, 4
	for seq := 0; seq < n; seq++ {
		var wg sync.WaitGroup
		codes := make([]int, copies)
		for c := 0; c < copies; c++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				codes[c] = e.produce(p, "w", 0, seq, fmt.Sprintf("[%d]", seq)).StatusCode
			}()
		}
		wg.Wait()
		ok := 0
		for _, c := range codes {
			switch c {
			case http.StatusOK:
				ok++
			case http.StatusNoContent:
			default:
				t.Fatalf("seq %d: status %d", seq, c)
			}
		}
		if ok != 1 {
			t.Fatalf("seq %d: %d of %d copies were stored, want exactly 1", seq, ok, copies)
		}
	}
	wantBody := ""
	for seq := 0; seq < n; seq++ {
		wantBody += fmt.Sprintf("[%d]", seq)
	}
	if got := e.read(p); got != wantBody {
		t.Fatalf("stream holds %q, want %q", got, wantBody)
	}
}

func TestStreamSeq(t *testing.T) {
	e := newEnv(t, publicOpts())
	const p = "/v1/stream/seq"
	e.mustCreate(p, textPlain, "")
	e.mustAppend(p, textPlain, "a", "Stream-Seq", "0002")
	e.mustAppend(p, textPlain, "b", "Stream-Seq", "0010") // byte-wise: "0010" > "0002"
	want(t, e.do("POST", p, "c", "Content-Type", textPlain, "Stream-Seq", "0010"), http.StatusConflict)
	want(t, e.do("POST", p, "c", "Content-Type", textPlain, "Stream-Seq", "0003"), http.StatusConflict)
	e.mustAppend(p, textPlain, "d") // without Stream-Seq: not checked
	e.mustAppend(p, textPlain, "e", "Stream-Seq", "1")
	if got := e.read(p); got != "abde" {
		t.Fatalf("stream holds %q", got)
	}
}

func TestClose(t *testing.T) {
	e := newEnv(t, publicOpts())
	const p = "/v1/stream/closing"
	e.mustCreate(p, textPlain, "a")
	// Append and close at once.
	r := e.do("POST", p, "b", "Content-Type", textPlain, "Stream-Closed", "TRUE")
	want(t, r, http.StatusNoContent)
	wantHeader(t, r, "Stream-Closed", "true")
	final := r.h("Stream-Next-Offset")
	// Closing again: 204 (idempotent); appending: 409 with the final offset.
	r = e.do("POST", p, "", "Stream-Closed", "true")
	want(t, r, http.StatusNoContent)
	wantHeader(t, r, "Stream-Next-Offset", final)
	r = e.do("POST", p, "c", "Content-Type", textPlain)
	want(t, r, http.StatusConflict)
	wantHeader(t, r, "Stream-Closed", "true")
	wantHeader(t, r, "Stream-Next-Offset", final)
	// Closed first, even before a content type mismatch.
	r = e.do("POST", p, "{}", "Content-Type", "application/json")
	want(t, r, http.StatusConflict)
	wantHeader(t, r, "Stream-Closed", "true")
	// Readers see EOF at the final offset only.
	r = e.do("GET", p+"?offset=-1", "")
	wantHeader(t, r, "Stream-Closed", "true")
	if r.body != "ab" {
		t.Fatalf("closed stream reads %q", r.body)
	}
	r = e.do("GET", p+"?offset="+final+"&live=long-poll", "")
	want(t, r, http.StatusNoContent)
	wantHeader(t, r, "Stream-Closed", "true")
	r = e.do("HEAD", p, "")
	wantHeader(t, r, "Stream-Closed", "true")
	// Any other Stream-Closed value is no close at all.
	const q = "/v1/stream/not-closing"
	e.mustCreate(q, textPlain, "")
	r = e.do("POST", q, "x", "Content-Type", textPlain, "Stream-Closed", "yes")
	want(t, r, http.StatusNoContent)
	wantHeader(t, r, "Stream-Closed", "")
	// Create closed; re-creating must say closed too.
	const c = "/v1/stream/created-closed"
	r = e.do("PUT", c, "all", "Content-Type", textPlain, "Stream-Closed", "true")
	want(t, r, http.StatusCreated)
	wantHeader(t, r, "Stream-Closed", "true")
	want(t, e.do("PUT", c, "", "Content-Type", textPlain), http.StatusConflict)
	want(t, e.do("PUT", c, "", "Content-Type", textPlain, "Stream-Closed", "true"), http.StatusOK)
}

func TestCloseWithProducer(t *testing.T) {
	e := newEnv(t, publicOpts())
	const p = "/v1/stream/pclose"
	e.mustCreate(p, textPlain, "")
	want(t, e.produce(p, "w", 0, 0, "a"), http.StatusOK)
	r := e.produce(p, "w", 0, 1, "last", "Stream-Closed", "true")
	want(t, r, http.StatusOK)
	wantHeader(t, r, "Stream-Closed", "true")
	// The same request again is a duplicate; any other one a conflict.
	r = e.produce(p, "w", 0, 1, "last", "Stream-Closed", "true")
	want(t, r, http.StatusNoContent)
	wantHeader(t, r, "Stream-Closed", "true")
	r = e.produce(p, "w", 0, 2, "more")
	want(t, r, http.StatusConflict)
	wantHeader(t, r, "Stream-Closed", "true")
	// A close-only by a producer counts in its sequence.
	const q = "/v1/stream/pclose2"
	e.mustCreate(q, textPlain, "")
	want(t, e.produce(q, "w", 0, 0, "a"), http.StatusOK)
	r = e.do("POST", q, "", "Producer-Id", "w", "Producer-Epoch", "0", "Producer-Seq", "1", "Stream-Closed", "true")
	want(t, r, http.StatusNoContent)
	wantHeader(t, r, "Stream-Closed", "true")
	wantHeader(t, r, "Producer-Seq", "1")
	r = e.do("POST", q, "", "Producer-Id", "w", "Producer-Epoch", "0", "Producer-Seq", "1", "Stream-Closed", "true")
	want(t, r, http.StatusNoContent)
	r = e.do("POST", q, "", "Producer-Id", "w", "Producer-Epoch", "0", "Producer-Seq", "2", "Stream-Closed", "true")
	want(t, r, http.StatusConflict)
}

// TestConcurrentProducersShareCommits: several producers append to one
// stream at once (their requests share commits); each producer's batches
// land exactly once and in its order, a refused request (a gap) fails
// alone, and every answer's offset is where that request's data ends.
func TestConcurrentProducersShareCommits(t *testing.T) {
	e := newEnv(t, publicOpts())
	const p = "/v1/stream/shared"
	e.mustCreate(p, textPlain, "")
	const producers, n = 6, 25
	var wg sync.WaitGroup
	errs := make(chan error, producers*n)
	offsets := make([][]string, producers)
	for w := 0; w < producers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for seq := 0; seq < n; seq++ {
				r := e.produce(p, fmt.Sprintf("w%d", w), 0, seq, fmt.Sprintf("<%d.%d>", w, seq))
				if r.StatusCode != http.StatusOK {
					errs <- fmt.Errorf("w%d seq %d: %d %s", w, seq, r.StatusCode, r.body)
					return
				}
				offsets[w] = append(offsets[w], r.h("Stream-Next-Offset"))
				// A gap, sent in the middle of the others' traffic.
				if r := e.produce(p, fmt.Sprintf("w%d", w), 0, seq+2, "never"); r.StatusCode != http.StatusConflict {
					errs <- fmt.Errorf("w%d gap: %d", w, r.StatusCode)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	body := e.read(p)
	next := make([]int, producers)
	for body != "" {
		var w, seq int
		if _, err := fmt.Sscanf(body, "<%d.%d>", &w, &seq); err != nil {
			t.Fatalf("unexpected data at %q", body[:min(20, len(body))])
		}
		if seq != next[w] {
			t.Fatalf("w%d: seq %d after %d", w, seq, next[w]-1)
		}
		next[w]++
		body = body[len(fmt.Sprintf("<%d.%d>", w, seq)):]
	}
	for w, c := range next {
		if c != n {
			t.Fatalf("w%d: %d of %d batches stored", w, c, n)
		}
	}
	// Each answer's offset: reading from it starts right after that batch.
	for w := 0; w < producers; w++ {
		for seq, off := range offsets[w] {
			r := e.do("GET", p+"?offset="+off, "")
			if seq+1 < n && !strings.Contains(r.body, fmt.Sprintf("<%d.%d>", w, seq+1)) {
				t.Fatalf("w%d seq %d: reading from its offset %s misses seq %d", w, seq, off, seq+1)
			}
			if strings.Contains(r.body, fmt.Sprintf("<%d.%d>", w, seq)) {
				t.Fatalf("w%d seq %d: reading from its offset %s repeats it", w, seq, off)
			}
		}
	}
}

// TestAppendAnsweredUnderLoad: a client's append is answered with its own
// batch while a stream of other appends keeps the stream's queue busy.
// (The leader of the queue runs apart from its request for this: it used
// to write its own answer only once the queue ran dry. On this machine the
// queue drains often enough that the test did not catch that; it guards
// the latency, not that exact failure.)
func TestAppendAnsweredUnderLoad(t *testing.T) {
	e := newEnv(t, publicOpts())
	const p = "/v1/stream/load"
	e.mustCreate(p, textPlain, "")
	stop := make(chan struct{})
	var wg sync.WaitGroup
	sem := make(chan struct{}, 64)
	wg.Add(1)
	go func() { // open loop: a new append every 100 µs, up to 64 at once
		defer wg.Done()
		time.Sleep(time.Millisecond) // the test's first append finds the queue empty and leads
		tick := time.NewTicker(100 * time.Microsecond)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				return
			case <-tick.C:
			}
			select {
			case sem <- struct{}{}:
			default:
				continue
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer func() { <-sem }()
				e.do("POST", p, "x", "Content-Type", textPlain)
			}()
		}
	}()
	defer func() { close(stop); wg.Wait() }()
	for i := 0; i < 10; i++ {
		start := time.Now()
		e.mustAppend(p, textPlain, "me")
		if d := time.Since(start); d > 3*time.Second {
			t.Fatalf("append %d took %v under load", i, d)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
