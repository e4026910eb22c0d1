package durable_test

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/ssehub/ssehub"
	"github.com/ssehub/ssehub/auth"
	"github.com/ssehub/ssehub/httpapi/durable"
	"github.com/ssehub/ssehub/internal/hubtest"
)

// openLive starts a GET of path with token and returns its response once
// the headers are in; the request ends with the test.
func openLive(t *testing.T, e *env, path, token string) *http.Response {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, e.url+path, nil)
	req.Header.Set("Authorization", "Bearer "+token)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	t.Cleanup(func() { cancel(); res.Body.Close() })
	return res
}

// TestLiveReadsCountAgainstTheToken: an SSE read or a long-poll is a
// stream like any other, so limits.streams_per_token bounds how many one
// token holds open; they were counted against the address only, so a
// token spread over many addresses had no bound.
func TestLiveReadsCountAgainstTheToken(t *testing.T) {
	o := durable.Options{SSEMaxDuration: 30 * time.Second, LongPollTimeout: 5 * time.Second}
	e := newEnvWith(t, o, func(c *hubtestConfig) { c.API.Limits.StreamsPerToken = 1; c.API.Limits.StreamsPerAddr = 0 })
	e.token = hubtest.AdminToken
	tail := e.mustCreate("/v1/stream/team/live", textPlain, "x")
	reader, _, err := auth.NewStore(e.th.Store).Create(context.Background(), auth.CreateOptions{Purpose: auth.PurposeStream, Topics: []string{"ds.team.*"}})
	if err != nil {
		t.Fatal(err)
	}
	if res := openLive(t, e, "/v1/stream/team/live?offset="+tail+"&live=sse", reader); res.StatusCode != http.StatusOK {
		t.Fatalf("first SSE read: %d", res.StatusCode)
	}
	for _, live := range []string{"sse", "long-poll"} {
		res := openLive(t, e, "/v1/stream/team/live?offset="+tail+"&live="+live, reader)
		if res.StatusCode != http.StatusTooManyRequests {
			t.Errorf("a second live=%s read with the same token: %d, want 429", live, res.StatusCode)
		}
	}
}

// TestSSEEndsAtTokenExpiry: a stream token that expires ends its SSE
// reads then (docs/security.md: a stream token's holder cannot keep
// streaming after it expires), not at the end of SSEMaxDuration.
func TestSSEEndsAtTokenExpiry(t *testing.T) {
	o := durable.Options{SSEMaxDuration: 30 * time.Second, LongPollTimeout: 5 * time.Second}
	e := newEnv(t, o)
	e.token = hubtest.AdminToken
	tail := e.mustCreate("/v1/stream/team/exp", textPlain, "x")
	reader, _, err := auth.NewStore(e.th.Store).Create(context.Background(), auth.CreateOptions{Purpose: auth.PurposeStream, Topics: []string{"ds.team.*"}, TTL: 1500 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	res := openLive(t, e, "/v1/stream/team/exp?offset="+tail+"&live=sse", reader)
	if res.StatusCode != http.StatusOK {
		t.Fatalf("SSE read: %d", res.StatusCode)
	}
	done := make(chan struct{})
	go func() { _, _ = io.Copy(io.Discard, res.Body); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("the SSE read outlived its token's expiry by 8 s")
	}
}

// TestForgedForkMarker: a publish token scoped to ds.team.* may write
// events into ds.team.* the native way (POST /publish), a create marker
// among them; one whose fork names another stream's topic (or any topic
// of the log) must not let a reader of ds.team.* read that topic. It
// did: the read followed the forged segments.
func TestForgedForkMarker(t *testing.T) {
	e := newEnv(t, durable.Options{})
	ctx := context.Background()
	e.token = hubtest.AdminToken
	e.mustCreate("/v1/stream/secret/x", textPlain, "TOPSECRET")
	tokens := auth.NewStore(e.th.Store)
	writer, _, err := tokens.Create(ctx, auth.CreateOptions{Purpose: auth.PurposePublish, Topics: []string{"ds.team.*"}})
	if err != nil {
		t.Fatal(err)
	}
	reader, _, err := tokens.Create(ctx, auth.CreateOptions{Purpose: auth.PurposeStream, Topics: []string{"ds.team.*"}})
	if err != nil {
		t.Fatal(err)
	}
	// Native events with no scope on ds.secret.*, and on a topic outside ds.*.
	// POST /publish refuses ds.* types on ds.* topics (TestReservedTypes),
	// so a forged marker is written into the log directly, as a store
	// written by an older ssehub, or another writer of a NATS log, could
	// hold one: the reader must not trust it either way.
	publish := func(topic, typ, body string) {
		t.Helper()
		if strings.HasPrefix(typ, "ds.") {
			forgeRecord(t, e.th.Hub, topic, typ, body)
			return
		}
		req, _ := http.NewRequest(http.MethodPost, e.url+"/publish/"+topic+"?type="+typ, strings.NewReader(body))
		req.Header.Set("Content-Type", "text/plain")
		req.Header.Set("Authorization", "Bearer "+writer)
		if topic == "orders.secret" {
			req.Header.Set("Authorization", "Bearer "+hubtest.AdminToken)
		}
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != http.StatusOK {
			t.Fatalf("native publish on %s: %d", topic, res.StatusCode)
		}
	}
	publish("orders.secret", "x", "ORDERSECRET")
	for name, topic := range map[string]string{"evil": "ds.secret.x", "evil2": "orders.secret"} {
		publish("ds.team."+name, "ds.create", `{"content_type":"text/plain","fork":{"from":"secret/x","offset":1000000,"segments":[{"topic":"`+topic+`","after":0}]}}`)
	}
	e.token = reader
	for _, name := range []string{"evil", "evil2"} {
		r := e.do("GET", "/v1/stream/team/"+name+"?offset=-1", "")
		if strings.Contains(r.body, "SECRET") {
			t.Errorf("a ds.team.* reader read %q through a forged fork marker on ds.team.%s (%d)", r.body, name, r.StatusCode)
		}
	}
	// Public reads do not follow a fork out of ds.* either.
	pub := newEnv(t, durable.Options{PublicRead: true})
	pub.token = hubtest.AdminToken
	req, _ := http.NewRequest(http.MethodPost, pub.url+"/publish/orders.secret", strings.NewReader("ORDERSECRET"))
	req.Header.Set("Content-Type", "text/plain")
	req.Header.Set("Authorization", "Bearer "+hubtest.AdminToken)
	if res, err := http.DefaultClient.Do(req); err != nil {
		t.Fatal(err)
	} else {
		res.Body.Close()
	}
	forgeRecord(t, pub.th.Hub, "ds.p", "ds.create", `{"content_type":"text/plain","fork":{"from":"secret/x","offset":1000000,"segments":[{"topic":"orders.secret","after":0}]}}`)
	pub.token = ""
	if r := pub.do("GET", "/v1/stream/p?offset=-1", ""); strings.Contains(r.body, "SECRET") {
		t.Errorf("a public read followed a fork onto orders.secret: %q", r.body)
	}
}

// TestForgedForkDeleteWritesNoUnrefOutsideScope: removing a fork writes
// an unref marker on its source; with a create marker forged the native way
// (naming ds.secret.x as its source), a publish token scoped to ds.team.*
// wrote markers on ds.secret.x by deleting ds.team.evil, or by letting it
// expire and touching it, as often as it liked, and so dropped the
// references that keep a soft-deleted source. A forged fork holds no
// reference (no ref marker came with it), so it releases none.
func TestForgedForkDeleteWritesNoUnrefOutsideScope(t *testing.T) {
	e := newEnv(t, durable.Options{})
	ctx := context.Background()
	e.token = hubtest.AdminToken
	e.mustCreate("/v1/stream/secret/x", textPlain, "TOPSECRET")
	// A real fork, which holds a reference and releases it.
	e.mustCreate("/v1/stream/team/real", "", "", "Stream-Forked-From", "/v1/stream/secret/x")
	writer, _, err := auth.NewStore(e.th.Store).Create(ctx, auth.CreateOptions{Purpose: auth.PurposePublish, Topics: []string{"ds.team.*"}})
	if err != nil {
		t.Fatal(err)
	}
	forge := func(name, extra string) {
		t.Helper()
		forgeRecord(t, e.th.Hub, "ds.team."+name, "ds.create", `{"content_type":"text/plain",`+extra+`"fork":{"from":"secret/x","offset":1,"segments":[]}}`)
	}
	unrefs := func() int {
		n := 0
		err := e.th.Hub.History(ctx, 0, ssehub.MustFilter("ds.secret.x"), func(ev *ssehub.Event) error {
			if ev.Type == "ds.unref" {
				n++
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	e.token = writer
	forge("evil", "")
	want(t, e.do("DELETE", "/v1/stream/team/evil", ""), http.StatusNoContent)
	forge("old", `"expires_at":"2000-01-01T00:00:00Z",`)
	if n := unrefs(); n != 0 {
		t.Errorf("deleting a forged fork wrote %d unref markers on ds.secret.x, outside the token's scope", n)
	}
	want(t, e.do("POST", "/v1/stream/team/old", "x", "Content-Type", textPlain), http.StatusNotFound) // expired on this touch
	if n := unrefs(); n != 0 {
		t.Fatalf("removing forged forks wrote %d unref markers on ds.secret.x, outside the token's scope", n)
	}
	want(t, e.do("DELETE", "/v1/stream/team/real", ""), http.StatusNoContent)
	if n := unrefs(); n != 1 {
		t.Fatalf("deleting a real fork wrote %d unref markers on its source, want 1", n)
	}
}

// TestSSEEndsAtTokenRevocation: revoking a stream token ends its SSE reads
// at once, as it ends its other streams (docs/security.md), not at the end
// of SSEMaxDuration.
func TestSSEEndsAtTokenRevocation(t *testing.T) {
	o := durable.Options{SSEMaxDuration: 30 * time.Second, LongPollTimeout: 5 * time.Second}
	e := newEnv(t, o)
	e.token = hubtest.AdminToken
	tail := e.mustCreate("/v1/stream/team/rev", textPlain, "x")
	ctx := context.Background()
	tokens := auth.NewStore(e.th.Store)
	reader, tok, err := tokens.Create(ctx, auth.CreateOptions{Purpose: auth.PurposeStream, Topics: []string{"ds.team.*"}})
	if err != nil {
		t.Fatal(err)
	}
	res := openLive(t, e, "/v1/stream/team/rev?offset="+tail+"&live=sse", reader)
	if res.StatusCode != http.StatusOK {
		t.Fatalf("SSE read: %d", res.StatusCode)
	}
	done := make(chan struct{})
	go func() { _, _ = io.Copy(io.Discard, res.Body); close(done) }()
	time.Sleep(200 * time.Millisecond)
	if _, err := tokens.Revoke(ctx, tok.ID); err != nil {
		t.Fatal(err)
	}
	if err := e.th.Hub.RevokeToken(ctx, tok.ID); err != nil {
		t.Fatal(err)
	}
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("the SSE read outlived its token's revocation by 5 s")
	}
}

// TestLongPollEndsAtTokenRevocation: revoking a stream token ends its
// long-polls at once with 401, as it ends its SSE reads; it used to run to
// the long-poll timeout (20 s by default).
func TestLongPollEndsAtTokenRevocation(t *testing.T) {
	e := newEnv(t, durable.Options{LongPollTimeout: 10 * time.Second})
	e.token = hubtest.AdminToken
	tail := e.mustCreate("/v1/stream/team/lp", textPlain, "x")
	ctx := context.Background()
	tokens := auth.NewStore(e.th.Store)
	reader, tok, err := tokens.Create(ctx, auth.CreateOptions{Purpose: auth.PurposeStream, Topics: []string{"ds.team.*"}})
	if err != nil {
		t.Fatal(err)
	}
	got := make(chan int, 1)
	start := time.Now()
	go func() {
		res := openLive(t, e, "/v1/stream/team/lp?offset="+tail+"&live=long-poll", reader)
		_, _ = io.Copy(io.Discard, res.Body)
		res.Body.Close()
		got <- res.StatusCode
	}()
	time.Sleep(300 * time.Millisecond)
	if _, err := tokens.Revoke(ctx, tok.ID); err != nil {
		t.Fatal(err)
	}
	if err := e.th.Hub.RevokeToken(ctx, tok.ID); err != nil {
		t.Fatal(err)
	}
	select {
	case code := <-got:
		if code != http.StatusUnauthorized {
			t.Fatalf("the long-poll ended with %d at the revocation, want 401", code)
		}
		if d := time.Since(start); d > 5*time.Second {
			t.Fatalf("the long-poll ended %v after it began (the timeout is 10 s)", d)
		}
	case <-time.After(8 * time.Second):
		t.Fatal("the long-poll outlived its token's revocation by 8 s")
	}
}
