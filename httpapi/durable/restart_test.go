package durable_test

import (
	"bufio"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ssehub/ssehub"
	"github.com/ssehub/ssehub/bolt"
)

// TestStateSurvivesRestart: everything a stream is comes back from the log
// after the hub restarts on the same data.
func TestStateSurvivesRestart(t *testing.T) {
	e := newEnv(t, publicOpts())
	e.mustCreate("/v1/stream/a", "application/json", `[{"n":1}]`, "Stream-TTL", "3600")
	want(t, e.produce("/v1/stream/a", "w", 3, 0, `{"n":2}`, "Content-Type", "application/json"), http.StatusOK)
	e.mustAppend("/v1/stream/a", "application/json", `{"n":3}`, "Stream-Seq", "b")
	e.mustCreate("/v1/stream/src", textPlain, "s")
	e.do("PUT", "/v1/stream/f", "", "Stream-Forked-From", "/v1/stream/src")
	e.mustAppend("/v1/stream/f", textPlain, "f")
	want(t, e.do("DELETE", "/v1/stream/src", ""), http.StatusNoContent) // soft: f reads it
	e.mustCreate("/v1/stream/done", textPlain, "end", "Stream-Closed", "true")
	e.mustCreate("/v1/stream/gone", textPlain, "x")
	want(t, e.do("DELETE", "/v1/stream/gone", ""), http.StatusNoContent)
	before := e.do("HEAD", "/v1/stream/a", "").h("Stream-Next-Offset")

	e.restart()

	r := e.do("HEAD", "/v1/stream/a", "")
	want(t, r, http.StatusOK)
	wantHeader(t, r, "Content-Type", "application/json")
	wantHeader(t, r, "Stream-TTL", "3600")
	wantHeader(t, r, "Stream-Next-Offset", before)
	if got := e.read("/v1/stream/a"); got != `[{"n":1},{"n":2},{"n":3}]` {
		t.Fatalf("a reads %s", got)
	}
	// The producer's state: a retry is a duplicate, an old epoch fenced.
	want(t, e.produce("/v1/stream/a", "w", 3, 0, `{"n":2}`, "Content-Type", "application/json"), http.StatusNoContent)
	r = e.produce("/v1/stream/a", "w", 2, 0, `{"n":0}`, "Content-Type", "application/json")
	want(t, r, http.StatusForbidden)
	wantHeader(t, r, "Producer-Epoch", "3")
	want(t, e.do("POST", "/v1/stream/a", `{}`, "Content-Type", "application/json", "Stream-Seq", "a"), http.StatusConflict)
	// Forks, soft deletes, closure.
	if got := e.read("/v1/stream/f"); got != "sf" {
		t.Fatalf("fork reads %q", got)
	}
	want(t, e.do("GET", "/v1/stream/src", ""), http.StatusGone)
	wantHeader(t, e.do("HEAD", "/v1/stream/done", ""), "Stream-Closed", "true")
	want(t, e.do("POST", "/v1/stream/done", "x", "Content-Type", textPlain), http.StatusConflict)
	want(t, e.do("GET", "/v1/stream/gone", ""), http.StatusNotFound)
	// Idempotent create still matches.
	want(t, e.do("PUT", "/v1/stream/a", "", "Content-Type", "application/json", "Stream-TTL", "3600"), http.StatusOK)
}

const crashDirEnv = "SSEHUB_DURABLE_CRASH_DIR"

// TestCrashChild is the process TestProducerStateSurvivesKill kills: a hub
// on bolt in the given directory, and a producer that appends "[seq]" with
// Producer-Seq seq, printing "ack SEQ" for each 200. It does nothing when
// run on its own.
func TestCrashChild(t *testing.T) {
	dir := os.Getenv(crashDirEnv)
	if dir == "" {
		t.Skip("only run as the child of TestProducerStateSurvivesKill")
	}
	e := &env{t: t, dir: dir, clock: &clock{now: time.Now()}, opts: publicOpts()}
	e.opts.Now = e.clock.Now
	e.start()
	if r := e.do("PUT", "/v1/stream/crash", "", "Content-Type", textPlain); r.StatusCode != http.StatusCreated && r.StatusCode != http.StatusOK {
		fmt.Println("create:", r.StatusCode)
		os.Exit(2)
	}
	out := bufio.NewWriter(os.Stdout)
	fmt.Fprintln(out, "ready")
	out.Flush()
	deadline := time.Now().Add(30 * time.Second) // never outlive a lost parent
	for seq := 0; time.Now().Before(deadline); seq++ {
		r := e.produce("/v1/stream/crash", "w", 0, seq, fmt.Sprintf("[%d]", seq))
		if r.StatusCode != http.StatusOK {
			fmt.Println("status", r.StatusCode)
			os.Exit(3)
		}
		fmt.Fprintf(out, "ack %d\n", seq)
		out.Flush() // the parent counts a seq only once it is printed
	}
	os.Exit(0)
}

// TestProducerStateSurvivesKill: SIGKILL a hub while a producer appends
// (bolt, fsync on); after a restart on the same data every acknowledged
// append is there exactly once, in order, and the producer's state is the
// log's: the last stored seq is a duplicate, the one after it is accepted,
// one past that is a gap. No crash can store data without its sequence
// number or the other way round: they are one event.
func TestProducerStateSurvivesKill(t *testing.T) {
	if testing.Short() {
		t.Skip("starts and kills a child process")
	}
	dir := t.TempDir()
	cmd := exec.Command(os.Args[0], "-test.run=^TestCrashChild$", "-test.v=false")
	cmd.Env = append(os.Environ(), crashDirEnv+"="+dir)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	acked, ready := -1, make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			line := sc.Text()
			if line == "ready" {
				close(ready)
				continue
			}
			if s, ok := strings.CutPrefix(line, "ack "); ok {
				n, _ := strconv.Atoi(s)
				mu.Lock()
				acked = n
				mu.Unlock()
			}
		}
	}()
	select {
	case <-ready:
	case <-time.After(30 * time.Second):
		_ = cmd.Process.Kill()
		t.Fatal("the child did not start")
	}
	for {
		mu.Lock()
		n := acked
		mu.Unlock()
		if n >= 50 {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()
	<-done
	mu.Lock()
	last := acked
	mu.Unlock()

	e := &env{t: t, dir: dir, clock: &clock{now: time.Now()}, opts: publicOpts()}
	e.opts.Now = e.clock.Now
	e.opts.LongPollTimeout = time.Second
	e.start()
	body := e.read("/v1/stream/crash")
	stored := 0
	for ; strings.HasPrefix(body, fmt.Sprintf("[%d]", stored)); stored++ {
		body = body[len(fmt.Sprintf("[%d]", stored)):]
	}
	if body != "" {
		t.Fatalf("after [0]…[%d] the stream holds %q: a duplicate or a gap", stored-1, body)
	}
	if stored-1 < last {
		t.Fatalf("seq %d was acknowledged but the stream ends at %d", last, stored-1)
	}
	t.Logf("acknowledged up to seq %d, stored up to %d (a commit may land without its answer)", last, stored-1)
	r := e.produce("/v1/stream/crash", "w", 0, stored-1, fmt.Sprintf("[%d]", stored-1))
	want(t, r, http.StatusNoContent)
	wantHeader(t, r, "Producer-Seq", strconv.Itoa(stored-1))
	r = e.produce("/v1/stream/crash", "w", 0, stored+1, "gap")
	want(t, r, http.StatusConflict)
	wantHeader(t, r, "Producer-Expected-Seq", strconv.Itoa(stored))
	want(t, e.produce("/v1/stream/crash", "w", 0, stored, fmt.Sprintf("[%d]", stored)), http.StatusOK)
}

// TestRetentionGone: a read from an offset whose data the store's
// retention removed is 410; from -1 it gets what is retained.
func TestRetentionGone(t *testing.T) {
	e := &env{t: t, dir: t.TempDir(), clock: &clock{now: time.Now()}, opts: publicOpts()}
	e.opts.Now = e.clock.Now
	store, err := bolt.Open(e.dir, bolt.Options{Retention: ssehub.Retention{MaxEvents: 5}})
	if err != nil {
		t.Fatal(err)
	}
	e.startOn(store)
	const p = "/v1/stream/short"
	first := e.mustCreate(p, textPlain, "0")
	for i := 1; i < 10; i++ {
		e.mustAppend(p, textPlain, strconv.Itoa(i))
	}
	r := e.do("GET", p+"?offset="+first, "")
	want(t, r, http.StatusGone)
	want(t, e.do("GET", p+"?offset="+first+"&live=sse", ""), http.StatusGone)
	if got := e.read(p); got != "56789" {
		t.Fatalf("from -1: %q, want the 5 retained appends", got)
	}
}

// TestRetentionKeepsStreams: when retention has removed a stream's
// markers (its creation, its close, the fork that refers to it), the
// stream is still there after a restart, with its configuration, closure
// and soft delete, from its checkpoint in the KV.
func TestRetentionKeepsStreams(t *testing.T) {
	dir := t.TempDir()
	e := &env{t: t, dir: dir, clock: &clock{now: time.Now()}, opts: publicOpts()}
	e.opts.Now = e.clock.Now
	open := func() {
		store, err := bolt.Open(dir, bolt.Options{Retention: ssehub.Retention{MaxEvents: 4}})
		if err != nil {
			t.Fatal(err)
		}
		e.startOn(store)
	}
	open()
	e.mustCreate("/v1/stream/cfg", "application/json", "", "Stream-TTL", "3600")
	e.mustCreate("/v1/stream/closed", textPlain, "x", "Stream-Closed", "true")
	e.mustCreate("/v1/stream/src", textPlain, "s")
	want(t, e.do("PUT", "/v1/stream/fork", "", "Stream-Forked-From", "/v1/stream/src"), http.StatusCreated)
	want(t, e.do("DELETE", "/v1/stream/src", ""), http.StatusNoContent) // soft
	e.mustCreate("/v1/stream/gone", textPlain, "")
	want(t, e.do("DELETE", "/v1/stream/gone", ""), http.StatusNoContent)
	for i := 0; i < 10; i++ { // push every marker out of the 4 retained events
		e.mustAppend("/v1/stream/fork", textPlain, strconv.Itoa(i))
	}
	e.th.API.Shutdown()
	e.th.Srv.CloseClientConnections()
	e.th.Srv.Close()
	_ = e.th.Store.Close()
	open()
	r := e.do("HEAD", "/v1/stream/cfg", "")
	want(t, r, http.StatusOK)
	wantHeader(t, r, "Content-Type", "application/json")
	wantHeader(t, r, "Stream-TTL", "3600")
	wantHeader(t, e.do("HEAD", "/v1/stream/closed", ""), "Stream-Closed", "true")
	want(t, e.do("POST", "/v1/stream/closed", "y", "Content-Type", textPlain), http.StatusConflict)
	want(t, e.do("HEAD", "/v1/stream/src", ""), http.StatusGone)
	want(t, e.do("HEAD", "/v1/stream/gone", ""), http.StatusNotFound)
	if got := e.read("/v1/stream/fork"); got != "6789" {
		t.Fatalf("fork reads %q: want the 4 retained appends", got)
	}
	e.mustAppend("/v1/stream/cfg", "application/json", `{"still":"works"}`)
	// Deleting the fork completes the source's delete; both are gone.
	want(t, e.do("DELETE", "/v1/stream/fork", ""), http.StatusNoContent)
	want(t, e.do("HEAD", "/v1/stream/src", ""), http.StatusNotFound)
	want(t, e.do("HEAD", "/v1/stream/fork", ""), http.StatusNotFound)
}
