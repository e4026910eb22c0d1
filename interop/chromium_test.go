package interop_test

import (
	"context"
	"fmt"
	"html/template"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// pageTemplate is the test page: an EventSource on the hub (another origin,
// so CORS applies) that records every event and every open/error with the
// readyState it left behind.
var pageTemplate = template.Must(template.New("page").Parse(`<!doctype html>
<meta charset="utf-8">
<title>ssehub interop</title>
<script>
window.received = [];
window.states = [];
const es = new EventSource({{.}});
window.es = es;
for (const type of ["message", "update"]) {
  es.addEventListener(type, (ev) => {
    received.push({type: ev.type, data: ev.data, lastEventId: ev.lastEventId});
  });
}
es.onopen = () => states.push("open " + es.readyState);
es.onerror = () => states.push("error " + es.readyState);
</script>
`))

// pageState is what the test reads back from the page.
type pageState struct {
	Received   []published `json:"received"`
	States     []string    `json:"states"`
	ReadyState int         `json:"readyState"`
}

// TestChromiumEventSource opens a page in headless Chromium whose EventSource
// subscribes to a real hub on another origin, restarts the hub, and checks
// that the browser reconnects (readyState back to OPEN) and receives every
// event exactly once, in order, including those published while it was away.
func TestChromiumEventSource(t *testing.T) {
	chromium := requireTool(t, "Chromium", "/usr/bin/chromium", "chromium", "chromium-browser", "google-chrome")

	// The page's origin is only allowed by the hub's config, so the test
	// fails if the hub ignores cors_origins or omits the CORS header.
	page := httptest.NewServer(nil)
	defer page.Close()
	cfg := filepath.Join(t.TempDir(), "ssehub.yaml")
	if err := os.WriteFile(cfg, fmt.Appendf(nil, "server:\n  cors_origins: [%q]\n", page.URL), 0o600); err != nil {
		t.Fatal(err)
	}
	h := startHub(t, "--config", cfg)
	streamURL := h.URL() + "/events?topic=interop.browser.*&token=" + h.token
	page.Config.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/" {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		_ = pageTemplate.Execute(w, streamURL)
	})

	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(ctx, append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromium),
		chromedp.Headless,
		chromedp.NoSandbox, // Chromium's sandbox refuses to run as root
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
			t.Fatalf("EventSource failed for good (readyState CLOSED; a CORS or response error): %q", s.States)
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

	wait("the EventSource to open", 20*time.Second, func(s pageState) bool { return opens(s) == 1 && s.ReadyState == 1 })

	const perPhase = 4
	var want []published
	publish := func(phase string) {
		for i := range perPhase {
			typ := "update"
			if i%2 == 1 {
				typ = "" // the default type, message
			}
			data := fmt.Sprintf(`{"phase":%q,"i":%d,"text":"héllo ✓"}`, phase, i)
			if i == 3 {
				data = phase + " line one\nline two\n\nafter an empty line"
			}
			id := h.Publish(fmt.Sprintf("interop.browser.t%d", i), typ, data)
			if typ == "" {
				typ = "message"
			}
			want = append(want, published{Type: typ, Data: data, LastEventID: id})
		}
		h.Publish("interop.elsewhere", "update", "not subscribed") // must not reach the page
	}

	publish("live")
	wait("the live events", 15*time.Second, func(s pageState) bool { return len(s.Received) >= perPhase })

	start := time.Now()
	h.Restart()
	publish("while-away") // before the browser's reconnect delay ends: replayed from Last-Event-ID
	wait("the EventSource to reconnect", 30*time.Second, func(s pageState) bool { return opens(s) == 2 && s.ReadyState == 1 })
	t.Logf("Chromium reconnected %v after the restart began", time.Since(start).Round(time.Millisecond))
	publish("after-reconnect")
	// Events come in id order, so once the last one is in, nothing is missing.
	lastID := want[len(want)-1].LastEventID
	wait("every event", 15*time.Second, func(s pageState) bool {
		n := len(s.Received)
		return n >= len(want) || (n > 0 && s.Received[n-1].LastEventID == lastID)
	})

	// Give a duplicate a moment to show up before the final check.
	time.Sleep(300 * time.Millisecond)
	s := state()
	checkReceived(t, s.Received, want)
	if !slices.Contains(s.States, "error 0") {
		t.Errorf("expected an error event with readyState CONNECTING (0) when the hub restarted; states %q", s.States)
	}
	if s.ReadyState != 1 {
		t.Errorf("readyState = %d at the end, want 1 (OPEN)", s.ReadyState)
	}
	if got := strings.Join(s.States, ","); !strings.HasPrefix(got, "open 1,error 0") {
		t.Errorf("states = %q, want open, then error while reconnecting, then open again", got)
	}
}
