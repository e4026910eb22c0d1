package durable_test

import (
	"context"
	"io"
	"net/http"
	"testing"
	"time"

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
