package interop_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
)

// TestChromiumCompressedEventSource: with server.compression on, real
// Chromium's EventSource gets its stream compressed, gzip or zstd (it asks
// for both by itself, "gzip, deflate, br, zstd", on loopback too), replays what was published before it opened, receives live
// events one by one (each write is flushed, so none waits for the next),
// and after a hub restart resumes with Last-Event-ID on a compressed stream
// again: every event exactly once, in order. Both paths: the pump
// (detached HTTP/1.1) and a goroutine per stream.
func TestChromiumCompressedEventSource(t *testing.T) {
	chromium := requireTool(t, "Chromium", "/usr/bin/chromium", "chromium", "chromium-browser", "google-chrome")
	for _, c := range []struct{ name, mode, config string }{
		{"gzip/pump", "auto", ""},
		{"gzip/goroutine", "auto", "  goroutine_per_stream: true\n"},
		// A frame per write: Chromium decodes the frames one after another.
		{"zstd/pump", "zstd", ""},
		{"zstd/goroutine", "zstd", "  goroutine_per_stream: true\n"},
	} {
		t.Run(c.name, func(t *testing.T) { testChromiumCompressed(t, chromium, c.mode, c.config) })
	}
}

func testChromiumCompressed(t *testing.T, chromium, mode, extraServer string) {
	wantEncoding := map[string]string{"auto": "gzip", "zstd": "zstd"}[mode]
	page := httptest.NewServer(nil)
	defer page.Close()
	cfg := filepath.Join(t.TempDir(), "ssehub.yaml")
	yaml := fmt.Sprintf("server:\n  cors_origins: [%q]\n  compression: %s\n%s", page.URL, mode, extraServer)
	if err := os.WriteFile(cfg, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	h := startHub(t, "--config", cfg)

	var want []published
	publish := func(phase string, n int) {
		for i := range n {
			// Alike enough to compress, and a multi-line one.
			data := fmt.Sprintf(`{"phase":%q,"i":%d,"text":"héllo ✓ %s"}`, phase, i, strings.Repeat("abc", 40))
			if i == 2 {
				data = phase + " line one\nline two\n\nafter an empty line"
			}
			id := h.Publish("interop.gz.t", "update", data)
			want = append(want, published{Type: "update", Data: data, LastEventID: id})
		}
	}
	publish("before", 5) // replayed: the page asks for everything retained

	streamURL := h.URL() + "/events?topic=interop.gz.*&last_event_id=earliest&token=" + h.token
	page.Config.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/" {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		_ = pageTemplate.Execute(w, streamURL)
	})

	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(ctx, append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromium),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.UserDataDir(t.TempDir()),
	)...)
	defer cancelAlloc()
	browser, cancelBrowser := chromedp.NewContext(allocCtx)
	defer cancelBrowser()

	// What the browser saw of each stream response: its request's
	// Accept-Encoding and the response's Content-Encoding and Vary.
	var mu sync.Mutex
	var responses []string
	var accepts []string // the Accept-Encoding of every request the page sent
	get := func(h network.Headers, k string) string {
		for name, v := range h {
			if strings.EqualFold(name, k) {
				return fmt.Sprint(v)
			}
		}
		return ""
	}
	if err := chromedp.Listen(browser, func(ev any) {
		mu.Lock()
		defer mu.Unlock()
		switch e := ev.(type) {
		case *network.EventResponseReceived:
			if e.Type == network.ResourceTypeEventSource {
				responses = append(responses, fmt.Sprintf("%d encoding=%q vary=%q", e.Response.Status,
					get(e.Response.Headers, "Content-Encoding"), get(e.Response.Headers, "Vary")))
			}
		case *network.EventRequestWillBeSentExtraInfo:
			accepts = append(accepts, get(e.Headers, "Accept-Encoding"))
		}
	}); err != nil {
		t.Fatal(err)
	}
	if err := chromedp.Do(browser, chromedp.Navigate(page.URL+"/")); err != nil {
		t.Fatalf("open the page in Chromium: %v", err)
	}
	state := func() pageState {
		t.Helper()
		s, err := chromedp.Run(browser, chromedp.Evaluate[pageState](
			`({received: window.received, states: window.states, readyState: window.es.readyState})`))
		if err != nil {
			t.Fatalf("read the page: %v", err)
		}
		if slices.Contains(s.States, "error 2") {
			t.Fatalf("EventSource failed for good (readyState CLOSED): %q", s.States)
		}
		return s
	}
	opens := func(s pageState) int {
		n := 0
		for _, st := range s.States {
			if st == "open 1" {
				n++
			}
		}
		return n
	}
	wait := func(what string, timeout time.Duration, cond func(pageState) bool) {
		t.Helper()
		var last pageState
		if err := waitFor(timeout, func() bool { last = state(); return cond(last) }); err != nil {
			t.Fatalf("waiting for %s: %v; page state: %+v", what, err, last)
		}
	}

	wait("the replay", 20*time.Second, func(s pageState) bool { return len(s.Received) >= len(want) })
	for i := range 4 { // one at a time: each must arrive on its own
		publish(fmt.Sprint("live", i), 1)
		n := len(want)
		wait(fmt.Sprintf("live event %d", i), 10*time.Second, func(s pageState) bool { return len(s.Received) >= n })
	}

	h.Restart()
	publish("while-away", 3) // replayed from Last-Event-ID on reconnect
	wait("the EventSource to reconnect", 30*time.Second, func(s pageState) bool { return opens(s) == 2 && s.ReadyState == 1 })
	publish("after-reconnect", 3)
	lastID := want[len(want)-1].LastEventID
	wait("every event", 15*time.Second, func(s pageState) bool {
		n := len(s.Received)
		return n >= len(want) || (n > 0 && s.Received[n-1].LastEventID == lastID)
	})
	time.Sleep(300 * time.Millisecond) // a duplicate would show up now
	checkReceived(t, state().Received, want)

	mu.Lock()
	defer mu.Unlock()
	if len(responses) < 2 {
		t.Fatalf("saw %d EventSource responses, want 2 (before and after the restart): %q", len(responses), responses)
	}
	for _, r := range responses {
		if !strings.HasPrefix(r, "200 ") || !strings.Contains(r, `encoding="`+wantEncoding+`"`) || !strings.Contains(r, "Accept-Encoding") {
			t.Errorf("a stream response was not %s with Vary: Accept-Encoding: %s", wantEncoding, r)
		}
	}
	t.Logf("Chromium's stream responses: %q; its requests' Accept-Encoding: %q", responses, accepts)
}
