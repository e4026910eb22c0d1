package httpapi_test

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ssehub/ssehub"
	"github.com/ssehub/ssehub/httpapi"
	"github.com/ssehub/ssehub/httpapi/stream"
)

// patternList returns n distinct patterns, exact topics and prefixes
// mixed, none of which matches the topics "hot" or "hot.*".
func patternList(n int) []string {
	ps := make([]string, n)
	for i := range ps {
		if i%2 == 0 {
			ps[i] = "p" + strconv.Itoa(i) + ".*"
		} else {
			ps[i] = "e" + strconv.Itoa(i) + ".x"
		}
	}
	return ps
}

// TestEveryPatternListIsBounded guards defect 3: ?event_type= had no limit
// on its patterns (60 anonymous clients with 9,999 patterns each dropped
// dispatch to ~157 events/s). Every list a client sends is bounded by
// limits.max_topics, counted after splitting on commas, and every pattern
// by limits.max_topic_len: ?topic= of /events (SSE and the JSON page),
// ?event_type= of a public and of a token stream, and the topics of a new
// token. At the limit the request is served.
func TestEveryPatternListIsBounded(t *testing.T) {
	const max = 8
	th := newMemoryHub(t, withLimits(httpapi.Limits{MaxTopics: max, MaxTopicLen: 40}),
		withStreams(
			stream.Endpoint{Name: "pub", Path: "/pub/", Match: ssehub.All(), Replay: true, Public: true},
			stream.Endpoint{Name: "priv", Path: "/priv/", Match: ssehub.MustFilter("p0.*", "e1.x", "p2.*", "e3.x", "p4.*", "e5.x", "p6.*", "e7.x", "p8.*"), Replay: true},
		))
	at, over := patternList(max), patternList(max+1)
	long := []string{"a." + strings.Repeat("x", 40)}
	q := func(name string, ps []string) string {
		v := url.Values{}
		for _, p := range ps {
			v.Add(name, p)
		}
		return v.Encode()
	}
	comma := func(name string, ps []string) string { return name + "=" + url.QueryEscape(strings.Join(ps, ",")) }
	open := func(what, path string, hdr ...string) (*http.Response, []byte) {
		t.Helper()
		req := th.newRequest("GET", path, adminToken, "", hdr...)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		defer resp.Body.Close()
		if strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
			return resp, nil // a stream opened: do not wait for its end
		}
		b, _ := io.ReadAll(resp.Body)
		return resp, b
	}
	for _, c := range []struct{ what, path string }{
		{"?topic= of /events", "/events?"},
		{"?event_type= of a public stream", "/pub/?"},
		{"?event_type= of a token stream", "/priv/?"},
	} {
		name := "topic"
		if strings.Contains(c.what, "event_type") {
			name = "event_type"
		}
		for _, form := range []struct {
			name string
			q    func(string, []string) string
		}{{"repeated", q}, {"comma-separated", comma}} {
			what := c.what + " (" + form.name + ")"
			if resp, b := open(what, c.path+form.q(name, at)); resp.StatusCode != 200 {
				t.Errorf("%s with %d patterns, the limit: %d %s", what, max, resp.StatusCode, b)
			}
			resp, b := open(what, c.path+form.q(name, over))
			wantError(t, what+fmt.Sprintf(" with %d patterns", max+1), resp, b, 400, httpapi.CodeBadPattern)
			resp, b = open(what, c.path+form.q(name, over), "Accept", "application/json")
			wantError(t, what+" as a JSON page", resp, b, 400, httpapi.CodeBadPattern)
		}
		resp, b := open(c.what, c.path+q(name, long))
		wantError(t, c.what+" with a pattern past limits.max_topic_len", resp, b, 400, httpapi.CodeBadPattern)
	}
	// A public stream refuses the list before anything else, without a token.
	resp, b := send(t, th.newRequest("GET", "/pub/?"+comma("event_type", over), "", ""))
	wantError(t, "anonymous ?event_type= past the limit", resp, b, 400, httpapi.CodeBadPattern)

	// The topics of a token.
	body := func(ps []string) string {
		return fmt.Sprintf(`{"purpose":"stream","topics":["%s"]}`, strings.Join(ps, `","`))
	}
	if resp, b := th.do("POST", "/api/tokens", "application/json", body(at)); resp.StatusCode != 201 {
		t.Errorf("token with %d topics, the limit: %d %s", max, resp.StatusCode, b)
	}
	resp, b = th.do("POST", "/api/tokens", "application/json", body(over))
	wantError(t, fmt.Sprintf("token with %d topics", max+1), resp, b, 400, httpapi.CodeBadPattern)
	resp, b = th.do("POST", "/api/tokens", "application/json", body(long))
	wantError(t, "token with a topic past limits.max_topic_len", resp, b, 400, httpapi.CodeBadPattern)
}

// TestDispatchCostDoesNotGrowWithPatternLists guards the other half of
// defect 3: matching an event against a client cost O(patterns of the
// client), so 60 clients with long lists slowed dispatch for everyone.
// The hub's index makes it O(tokens of the topic): with 60 clients
// holding 1,000 patterns each (none matching), 8,000 events reach a
// client of the hot topic about as fast as with no such clients. The
// bound is loose (5× the time without them, plus 1 s) so a noisy machine
// cannot fail it; a cost of O(patterns), 60,000 matches per event, took
// the hub of d739fe2 from 13 ms to 2.6 s (without -race).
func TestDispatchCostDoesNotGrowWithPatternLists(t *testing.T) {
	if testing.Short() {
		t.Skip("opens 60 streams")
	}
	const clients, patterns, events = 60, 1000, 8000
	th := newMemoryHub(t, withLimits(httpapi.Limits{MaxTopics: patterns}), withQueue(events+16))
	hot := th.subscribe("/events?topic=hot")
	deliver := func() time.Duration {
		t.Helper()
		start := time.Now()
		var batch strings.Builder
		for i := 0; i < events; i++ {
			batch.WriteString(`{"topic":"hot","data":1}` + "\n")
			if (i+1)%1000 == 0 {
				if resp, b := th.do("POST", "/publish", "application/x-ndjson", batch.String()); resp.StatusCode != 200 {
					t.Fatalf("publish: %d %s", resp.StatusCode, b)
				}
				batch.Reset()
			}
		}
		for i := 0; i < events; i++ {
			hot.next(t)
		}
		return time.Since(start)
	}
	deliver() // warm up
	base := deliver()

	list := url.QueryEscape(strings.Join(patternList(patterns), ","))
	u, _ := url.Parse(th.srv.URL)
	for i := 0; i < clients; i++ {
		c, err := net.Dial("tcp", u.Host)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		fmt.Fprintf(c, "GET /events?topic=%s HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\n\r\n", list, adminToken)
		c.SetReadDeadline(time.Now().Add(30 * time.Second))
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil || resp.StatusCode != 200 {
			t.Fatalf("client %d with %d patterns: %v %v", i, patterns, resp, err)
		}
	}
	if n := th.api.Limiter().Streams(); n != clients+1 {
		t.Fatalf("%d streams open, want %d", n, clients+1)
	}
	heavy := deliver()
	t.Logf("%d events to a hot client: %v alone, %v beside %d clients of %d patterns", events, base, heavy, clients, patterns)
	if heavy > 5*base+time.Second {
		t.Errorf("dispatch slowed from %v to %v by %d clients of %d patterns: matching grows with a client's list", base, heavy, clients, patterns)
	}
}
