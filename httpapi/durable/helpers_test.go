package durable_test

import (
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ssehub/ssehub"
	"github.com/ssehub/ssehub/bolt"
	"github.com/ssehub/ssehub/httpapi/durable"
	"github.com/ssehub/ssehub/internal/hubtest"
)

// clock is a test clock that moves only when told.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

// env is a whole hub over a bolt store in a temporary directory with the
// Durable Streams feature, behind real HTTP on loopback.
type env struct {
	t     testing.TB
	dir   string
	th    *hubtest.Hub
	url   string
	clock *clock
	opts  durable.Options
	token string // sent as Authorization: Bearer unless empty
	mod   func(*hubtest.Config)
}

// newEnv starts an env; opts.Now defaults to the env's clock and the
// endpoints are public unless opts says otherwise via a non-zero value.
func newEnv(t testing.TB, opts durable.Options) *env {
	t.Helper()
	return newEnvWith(t, opts, nil)
}

// hubtestConfig is the test hub's configuration.
type hubtestConfig = hubtest.Config

// newEnvWith is newEnv with a change to the test hub's configuration.
func newEnvWith(t testing.TB, opts durable.Options, mod func(*hubtest.Config)) *env {
	t.Helper()
	e := &env{t: t, dir: t.TempDir(), clock: &clock{now: time.Now()}, mod: mod}
	if opts.Now == nil {
		opts.Now = e.clock.Now
	}
	if opts.LongPollTimeout == 0 {
		opts.LongPollTimeout = 300 * time.Millisecond
	}
	e.opts = opts
	e.start()
	return e
}

func publicOpts() durable.Options { return durable.Options{PublicRead: true, PublicWrite: true} }

func (e *env) start() {
	e.t.Helper()
	store, err := bolt.Open(e.dir, bolt.Options{})
	if err != nil {
		e.t.Fatal(err)
	}
	e.startOn(store)
}

func (e *env) startOn(store ssehub.Store) {
	e.th = hubtest.New(e.t, store, func(c *hubtest.Config) {
		c.API.Logger = slog.New(slog.NewTextHandler(io.Discard, nil)) // the public_write warning, each time
		c.Extra = append(c.Extra, durable.New(e.opts))
		if e.mod != nil {
			e.mod(c)
		}
	})
	e.url = e.th.Srv.URL
}

// restart stops the hub and starts a new one on the same data directory.
func (e *env) restart() {
	e.t.Helper()
	e.th.API.Shutdown()
	e.th.Srv.CloseClientConnections()
	e.th.Srv.Close()
	_ = e.th.Store.Close() // the cleanup closes it again, harmlessly
	e.start()
}

// resp is a response with its body read.
type resp struct {
	*http.Response
	body string
}

func (r resp) h(k string) string { return r.Header.Get(k) }

// do sends a request to path (below the hub's URL); hdr holds header
// pairs.
func (e *env) do(method, path, body string, hdr ...string) resp {
	e.t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, e.url+path, rd)
	if err != nil {
		e.t.Fatal(err)
	}
	if e.token != "" {
		req.Header.Set("Authorization", "Bearer "+e.token)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	c := &http.Client{Timeout: 20 * time.Second}
	res, err := c.Do(req)
	if err != nil {
		e.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		e.t.Fatalf("%s %s: reading the body: %v", method, path, err)
	}
	return resp{res, string(b)}
}

// want checks a response's status.
func want(t testing.TB, r resp, status int) {
	t.Helper()
	if r.StatusCode != status {
		t.Fatalf("%s %s: status %d, want %d; body %q", r.Request.Method, r.Request.URL.Path, r.StatusCode, status, r.body)
	}
}

// wantHeader checks one header.
func wantHeader(t testing.TB, r resp, k, v string) {
	t.Helper()
	if got := r.h(k); got != v {
		t.Fatalf("%s %s: %s is %q, want %q", r.Request.Method, r.Request.URL.Path, k, got, v)
	}
}

const textPlain = "text/plain"

// mustCreate creates a text stream with body and returns its tail offset.
func (e *env) mustCreate(path, ct, body string, hdr ...string) string {
	e.t.Helper()
	r := e.do("PUT", path, body, append([]string{"Content-Type", ct}, hdr...)...)
	want(e.t, r, http.StatusCreated)
	return r.h("Stream-Next-Offset")
}

// mustAppend appends and returns the new tail offset.
func (e *env) mustAppend(path, ct, body string, hdr ...string) string {
	e.t.Helper()
	r := e.do("POST", path, body, append([]string{"Content-Type", ct}, hdr...)...)
	if r.StatusCode != http.StatusNoContent && r.StatusCode != http.StatusOK {
		e.t.Fatalf("POST %s: status %d; body %q", path, r.StatusCode, r.body)
	}
	return r.h("Stream-Next-Offset")
}

// read reads the whole stream from -1 (catch-up).
func (e *env) read(path string) string {
	e.t.Helper()
	r := e.do("GET", path+"?offset=-1", "")
	want(e.t, r, http.StatusOK)
	return r.body
}
