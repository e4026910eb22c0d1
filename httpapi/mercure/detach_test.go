package mercure_test

import (
	"bufio"
	"context"
	"fmt"
	"net/http"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/ssehub/ssehub"
	"github.com/ssehub/ssehub/auth"
	"github.com/ssehub/ssehub/httpapi/mercure"
	"github.com/ssehub/ssehub/internal/hubtest"
	"github.com/ssehub/ssehub/sse"
)

// TestGoroutinePerStream runs the stream tests again with a goroutine per
// stream (HTTP/2, QUERY, server.goroutine_per_stream keep that path).
func TestGoroutinePerStream(t *testing.T) {
	perStream = true
	defer func() { perStream = false }()
	for _, c := range []struct {
		name string
		fn   func(*testing.T)
	}{
		{"PublishSubscribeExact", TestPublishSubscribeExact},
		{"LastEventID", TestLastEventID},
		{"PrivateUpdates", TestPrivateUpdates},
		{"SSEHubTokensAndBothWays", TestSSEHubTokensAndBothWays},
		{"SubscriptionsAPIAndEvents", TestSubscriptionsAPIAndEvents},
		{"TokenExpiryEndsStream", TestTokenExpiryEndsStream},
		{"StalledSubscriber", TestStalledSubscriber},
		{"RevocationEndsStream", TestRevocationEndsStream},
		{"NativeTopicsDelivery", TestNativeTopicsDelivery},
		{"NativeReplay", TestNativeReplay},
	} {
		t.Run(c.name, c.fn)
	}
}

// handlers counts the goroutines serving Mercure streams in their
// handler (the goroutine path's loop).
func handlers() int {
	buf := make([]byte, 1<<22)
	n := runtime.Stack(buf, true)
	return strings.Count(string(buf[:n]), "mercure.(*Feature).serveGoroutine(")
}

// TestStreamsDetach: over HTTP/1.1 a Mercure stream keeps no handler
// goroutine, and still gets its updates; with GoroutinePerStream each
// keeps one.
func TestStreamsDetach(t *testing.T) {
	const n = 20
	t.Run("detached", func(t *testing.T) { testStreamsDetach(t, false, n, 0) })
	t.Run("goroutine", func(t *testing.T) { testStreamsDetach(t, true, n, n) })
}

func testStreamsDetach(t *testing.T, perStream bool, n, want int) {
	e := newEnv(t, mercure.Options{Anonymous: true, GoroutinePerStream: perStream})
	var ss []*stream
	for range n {
		ss = append(ss, e.subscribe(q("match", "https://example.com/d"), nil))
	}
	e.mustPublish(form("topic", "https://example.com/d", "data", "d"))
	for _, s := range ss {
		if ev := s.next(t); string(ev.Data) != "d" {
			t.Fatalf("got %q", ev.Data)
		}
	}
	if got := handlers(); got != want {
		t.Errorf("%d handler goroutines for %d streams, want %d", got, n, want)
	}
	for _, s := range ss {
		s.cancel()
	}
	if err := waitStreams(e, 0); err != nil {
		t.Error(err)
	}
}

// TestRevocationEndsStream: revoking the ssehub token a stream opened
// with ends it at once.
func TestRevocationEndsStream(t *testing.T) {
	e := newEnv(t, mercure.Options{})
	ctx := context.Background()
	tok, rec, err := e.th.API.Tokens().Create(ctx, auth.CreateOptions{Purpose: auth.PurposeStream, Topics: []string{"mercure.*"}})
	if err != nil {
		t.Fatal(err)
	}
	s := e.subscribe(q("match", "*"), bearer(tok))
	e.mustPublish(form("topic", "a", "data", "before"))
	if ev := s.next(t); string(ev.Data) != "before" {
		t.Fatalf("got %q", ev.Data)
	}
	req, _ := http.NewRequest(http.MethodDelete, e.th.Srv.URL+"/api/tokens/"+rec.ID, nil)
	req.Header.Set("Authorization", "Bearer "+hubtest.AdminToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		t.Fatalf("revoke: %d", resp.StatusCode)
	}
	select {
	case ev, ok := <-s.events:
		if ok {
			t.Fatalf("got %q after the revocation", ev.Data)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the stream outlived its token's revocation")
	}
	if err := waitStreams(e, 0); err != nil {
		t.Error(err)
	}
}

// TestDetachedSkipsOthersUpdates: a resuming stream whose history is
// hundreds of KiB of updates for other topics (more than a pump turn
// reads at once) still gets its own, after them, and then live ones.
func TestDetachedSkipsOthersUpdates(t *testing.T) {
	// No heartbeat comes to wake a stuck stream within the test.
	e := newEnv(t, mercure.Options{Anonymous: true, Heartbeat: time.Minute})
	var evs []*ssehub.Event
	for range 400 {
		evs = append(evs, &ssehub.Event{Topic: mercure.TopicFor("https://example.com/other", false), Data: []byte(strings.Repeat("o", 2048))})
	}
	evs = append(evs, &ssehub.Event{Topic: mercure.TopicFor("https://example.com/mine", false), Data: []byte("mine")})
	if _, err := e.th.Hub.Publish(context.Background(), evs); err != nil {
		t.Fatal(err)
	}
	s := e.subscribe(q("match", "https://example.com/mine", "last_event_id", "earliest"), nil)
	if ev := s.next(t); string(ev.Data) != "mine" {
		t.Fatalf("got %q", ev.Data)
	}
	e.mustPublish(form("topic", "https://example.com/mine", "data", "live"))
	if ev := s.next(t); string(ev.Data) != "live" {
		t.Fatalf("got %q", ev.Data)
	}
}

// TestTLSStreamsDetach: an HTTP/1.1 stream over TLS detaches too, and
// gets its updates through the pump's TLS layer.
func TestTLSStreamsDetach(t *testing.T) {
	e := newEnv(t, mercure.Options{Anonymous: true}, func(c *hubtest.Config) { c.HTTP.TLS = true })
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, e.url+"?"+q("match", "https://example.com/tls"), nil)
	resp, err := e.th.Srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 || resp.ProtoMajor != 1 {
		t.Fatalf("status %d over %s", resp.StatusCode, resp.Proto)
	}
	if err := waitStreams(e, 1); err != nil {
		t.Fatal(err)
	}
	if got := handlers(); got != 0 {
		t.Errorf("%d handler goroutines, want the TLS stream detached", got)
	}
	res, err := e.th.Hub.Publish(ctx, []*ssehub.Event{{Topic: mercure.TopicFor("https://example.com/tls", false), Data: []byte("sealed")}})
	if err != nil {
		t.Fatal(err)
	}
	d := sse.NewDecoder(bufio.NewReader(resp.Body))
	ev, err := d.Next()
	if want := e.hubID(fmt.Sprint(res[0].ID)); err != nil || string(ev.Data) != "sealed" || ev.ID != want {
		t.Fatalf("got %+v %v, want id %s", ev, err, want)
	}
}
