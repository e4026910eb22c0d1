package interop_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// arrowPageState is window.arrowState of examples/arrow/index.html, plus
// the rows the page shows.
type arrowPageState struct {
	Opens        int      `json:"opens"`
	Errors       int      `json:"errors"`
	Schemas      int      `json:"schemas"`
	SchemaTopics []string `json:"schemaTopics"`
	Batches      []string `json:"batches"`
	Rows         int      `json:"rows"`
	DecodeErrors []string `json:"decodeErrors"`
	TableRows    int      `json:"tableRows"`
	Header       []string `json:"header"`
	FirstCell    string   `json:"firstCell"`
}

// TestArrowChromiumExample opens the example page (examples/arrow) in
// headless Chromium on its own origin: its EventSource on GET
// /stream/{token} of a real `ssehub serve`, decoding with the npm
// apache-arrow package's browser bundle. Batches ingested on the Go side
// appear as rows; after a hub restart the page gets a fresh schema first,
// then every batch it missed, none twice; a schema change shows its new
// column.
func TestArrowChromiumExample(t *testing.T) {
	chromium := requireArrowTool(t, "Chromium", "/usr/bin/chromium", "chromium", "chromium-browser", "google-chrome")
	nodeDir := arrowNodeModules(t)
	h := startHub(t)
	const topic = "interop.arrow.browser"
	ids := []string{h.Ingest(topic, arrowBatch(t, interopV1, 0, 5))}
	token := h.StreamToken(topic)

	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		http.ServeFile(w, r, filepath.Join("..", "examples", "arrow", "index.html"))
	})
	mux.HandleFunc("GET /apache-arrow.js", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/javascript; charset=utf-8")
		http.ServeFile(w, r, filepath.Join(nodeDir, "node_modules", "apache-arrow", "Arrow.es2015.min.js"))
	})
	page := httptest.NewServer(mux)
	defer page.Close()
	pageURL := page.URL + "/?stream=" + url.QueryEscape(h.URL()+"/stream/"+token+"?last_event_id=0")

	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(ctx, append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromium), chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU, chromedp.NoFirstRun,
		chromedp.Flag("disable-quic", true), chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true), chromedp.Flag("disable-sync", true),
		chromedp.UserDataDir(t.TempDir()),
	)...)
	defer cancelAlloc()
	browser, cancelBrowser := chromedp.NewContext(allocCtx)
	defer cancelBrowser()
	if err := chromedp.Do(browser, chromedp.Navigate(pageURL)); err != nil {
		t.Fatalf("open the page: %v", err)
	}
	state := func() arrowPageState {
		t.Helper()
		s, err := chromedp.Run(browser, chromedp.Evaluate[arrowPageState](`({...window.arrowState,
			tableRows: document.querySelectorAll("#rows tbody tr").length,
			header: [...document.querySelectorAll("#rows thead th")].map((th) => th.textContent),
			firstCell: document.querySelector("#rows tbody tr td")?.textContent ?? ""})`))
		if err != nil {
			t.Fatalf("read the page: %v", err)
		}
		if len(s.DecodeErrors) > 0 {
			t.Fatalf("apache-arrow could not decode: %q", s.DecodeErrors)
		}
		return s
	}
	wait := func(what string, timeout time.Duration, cond func(arrowPageState) bool) arrowPageState {
		t.Helper()
		var last arrowPageState
		if err := waitFor(timeout, func() bool { last = state(); return cond(last) }); err != nil {
			t.Fatalf("waiting for %s: %v; page state %+v", what, err, last)
		}
		return last
	}

	// The first batch (replayed from last_event_id=0) and a live one.
	wait("the first batch", 20*time.Second, func(s arrowPageState) bool { return len(s.Batches) == 1 })
	ids = append(ids, h.Ingest(topic, arrowBatch(t, interopV1, 5, 5)))
	s := wait("the live batch", 15*time.Second, func(s arrowPageState) bool { return len(s.Batches) == 2 })
	if s.Schemas != 1 || s.Rows != 10 || s.TableRows != 10 || s.FirstCell != "9" || len(s.Header) != 3 || s.Header[0] != "seq: Int64" {
		t.Fatalf("page after two batches: %+v", s)
	}

	h.Restart()
	ids = append(ids, h.Ingest(topic, arrowBatch(t, interopV1, 10, 5)), h.Ingest(topic, arrowBatch(t, interopV1, 15, 5)))
	wait("the reconnect", 30*time.Second, func(s arrowPageState) bool { return s.Opens == 2 })
	ids = append(ids, h.Ingest(topic, arrowBatch(t, interopV2, 20, 5)))
	s = wait("every batch", 20*time.Second, func(s arrowPageState) bool { return len(s.Batches) >= len(ids) })
	time.Sleep(300 * time.Millisecond) // a duplicate would show up now
	s = state()
	if !slices.Equal(s.Batches, ids) {
		t.Fatalf("batch ids %q, want %q (each once, in order)", s.Batches, ids)
	}
	// Schemas: on connect, on reconnect (before the replayed batches), at
	// the change to v2.
	if s.Schemas != 3 || !slices.Equal(s.SchemaTopics, []string{topic, topic, topic}) {
		t.Fatalf("schema events %d %q, want 3 naming %s", s.Schemas, s.SchemaTopics, topic)
	}
	if s.Rows != 25 || s.TableRows != 25 || s.FirstCell != "24" || len(s.Header) != 4 || s.Header[3] != "venue: Utf8" {
		t.Fatalf("page at the end: %+v", s)
	}
	if s.Errors < 1 {
		t.Fatalf("no error event at the restart: %+v", s)
	}
}
