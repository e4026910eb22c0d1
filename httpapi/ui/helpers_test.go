package ui_test

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/ssehub/ssehub/auth"
	"github.com/ssehub/ssehub/bolt"
	"github.com/ssehub/ssehub/httpapi/ingest"
	"github.com/ssehub/ssehub/httpapi/ui"
	"github.com/ssehub/ssehub/internal/hubtest"
	"github.com/ssehub/ssehub/internal/leakcheck"
	"github.com/ssehub/ssehub/sse"
)

// TestMain fails the package when goroutines outlive its tests: every hub,
// stream, browser and client a test starts must be gone once its cleanup
// has run (10 s of grace).
func TestMain(m *testing.M) { leakcheck.Main(m) }

// env is a whole hub with the console, on a real bolt store behind a real
// HTTP server on loopback.
type env struct {
	t   testing.TB
	th  *hubtest.Hub
	url string
}

// admin is the operator's admin token of every test hub.
const admin = hubtest.AdminToken

// newEnv starts a hub with every feature, Arrow ingest and the console
// (enabled unless opts say otherwise).
func newEnv(t testing.TB, uiOpts ui.Options, opts ...hubtest.Option) *env {
	t.Helper()
	store, err := bolt.Open(t.TempDir(), bolt.Options{})
	if err != nil {
		t.Fatal(err)
	}
	ing := ingest.New(ingest.Options{})
	all := append([]hubtest.Option{func(c *hubtest.Config) {
		c.Extra = append(c.Extra, ing, ui.New(uiOpts))
		c.Stream.FormatFor = ing.FormatFor
		c.Admin.TopicDetails = ing.TopicDetails
	}}, opts...)
	th := hubtest.New(t, store, all...)
	return &env{t: t, th: th, url: th.Srv.URL}
}

// token issues a token directly in the store.
func (e *env) token(p auth.Purpose, ttl time.Duration, label string, topics ...string) (secret, id string) {
	e.t.Helper()
	secret, tok, err := e.th.API.Tokens().Create(context.Background(), auth.CreateOptions{Purpose: p, Topics: topics, TTL: ttl, Label: label})
	if err != nil {
		e.t.Fatal(err)
	}
	return secret, tok.ID
}

// reply is a finished HTTP exchange.
type reply struct {
	Status int
	Header http.Header
	Body   []byte
}

// JSON decodes the body into v.
func (r reply) JSON(t testing.TB, v any) {
	t.Helper()
	if err := json.Unmarshal(r.Body, v); err != nil {
		t.Fatalf("decode %.300s: %v", r.Body, err)
	}
}

// do sends a request to the hub; hdr are header pairs.
func (e *env) do(method, path, token, body string, hdr ...string) reply {
	e.t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, e.url+path, rd)
	if err != nil {
		e.t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return reply{Status: resp.StatusCode, Header: resp.Header, Body: b}
}

// publish publishes data to topic with the admin token and returns its id.
func (e *env) publish(topic, data string) string {
	e.t.Helper()
	r := e.do("POST", "/publish/"+topic, admin, data, "Content-Type", "application/json")
	if r.Status != 200 {
		e.t.Fatalf("publish %s: %d %s", topic, r.Status, r.Body)
	}
	var out struct{ ID string }
	r.JSON(e.t, &out)
	return out.ID
}

// wantError checks a JSON error reply.
func wantError(t testing.TB, what string, r reply, status int, code string) {
	t.Helper()
	var e struct {
		Error struct{ Code, Message string }
	}
	err := json.Unmarshal(r.Body, &e)
	switch {
	case r.Status != status:
		t.Errorf("%s: status %d, want %d: %.300s", what, r.Status, status, r.Body)
	case !strings.HasPrefix(r.Header.Get("Content-Type"), "application/json"):
		t.Errorf("%s: Content-Type %q, want JSON: %.300s", what, r.Header.Get("Content-Type"), r.Body)
	case err != nil || e.Error.Code == "" || e.Error.Message == "":
		t.Errorf("%s: not {\"error\":{\"code\",\"message\"}}: %.300s", what, r.Body)
	case code != "" && e.Error.Code != code:
		t.Errorf("%s: code %q, want %q: %.300s", what, e.Error.Code, code, r.Body)
	}
}

// stream is an open SSE response.
type stream struct {
	resp *http.Response
	dec  *sse.Decoder
	next chan streamEvent
}

type streamEvent struct {
	ev  sse.Event
	err error
}

// openStream opens an SSE stream and checks its status; the test's cleanup
// closes it.
func (e *env) openStream(path, token string, hdr ...string) *stream {
	e.t.Helper()
	req, err := http.NewRequest("GET", e.url+path, nil)
	if err != nil {
		e.t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	if resp.StatusCode != 200 {
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		e.t.Fatalf("GET %s: %d %s", path, resp.StatusCode, b)
	}
	s := &stream{resp: resp, dec: sse.NewDecoder(bufio.NewReader(resp.Body)), next: make(chan streamEvent)}
	go func() {
		defer close(s.next)
		for {
			ev, err := s.dec.Next()
			ev.Data = append([]byte(nil), ev.Data...)
			s.next <- streamEvent{ev, err}
			if err != nil {
				return
			}
		}
	}()
	e.t.Cleanup(s.close)
	return s
}

func (s *stream) close() {
	s.resp.Body.Close()
	for range s.next { // until the reader goroutine ends
	}
}

// event returns the next event of type typ (others are skipped), or fails.
func (s *stream) event(t testing.TB, typ string, timeout time.Duration) sse.Event {
	t.Helper()
	deadline := time.After(timeout)
	for {
		select {
		case x, ok := <-s.next:
			if !ok || x.err != nil {
				t.Fatalf("stream ended waiting for a %q event: %v", typ, x.err)
			}
			if x.ev.Type == typ {
				return x.ev
			}
		case <-deadline:
			t.Fatalf("no %q event within %v", typ, timeout)
		}
	}
}

// ended waits for the stream to end and returns the last event before the
// end, if any.
func (s *stream) ended(t testing.TB, timeout time.Duration) (last sse.Event) {
	t.Helper()
	deadline := time.After(timeout)
	for {
		select {
		case x, ok := <-s.next:
			if !ok || x.err != nil {
				return last
			}
			last = x.ev
		case <-deadline:
			t.Fatalf("the stream did not end within %v", timeout)
		}
	}
}
