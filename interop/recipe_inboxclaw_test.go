package interop_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// The seed's response, byte for byte (docs/recipes/inboxclaw.md).
const (
	inboxclawInfo      = "event: info\ndata: connected\n\n"
	inboxclawMessage   = "event: message\nid: 42\ndata: {\"id\": 42, \"event_id\": \"evt_abc\", \"event_type\": \"user.login\", \"entity_id\": \"user_1\", \"created_at\": \"2024-03-15T10:00:00+00:00\", \"data\": {\"ip\": \"1.2.3.4\"}, \"source\": {\"id\": 1, \"name\": \"web_frontend\"}, \"meta\": {}}\n\n"
	inboxclawHeartbeat = "event: heartbeat\ndata: ping\n\n"
	// The seed's event, as a publisher sends it.
	inboxclawPublish = `{"event_type": "user.login", "event_id": "evt_abc", "entity_id": "user_1", "data": {"ip": "1.2.3.4"}, "source": {"id": 1, "name": "web_frontend"}}`
)

var createdAt = regexp.MustCompile(`"created_at": "\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+00:00"`)

// TestRecipeInboxclawSSE runs the Inboxclaw SSE sink page verbatim: its
// YAML, its curl line (the frames byte for byte, created_at by shape), its
// ?event_type= narrowing, the heartbeat of the full configuration, the
// (source, event_id) dedupe, and its browser snippet in Chromium.
func TestRecipeInboxclawSSE(t *testing.T) {
	h, seed := startRecipeHub(t, recipeYAML(t, "inboxclaw"))
	// 41 events first, so that the seed's event gets the seed's id, 42.
	for i := range 41 {
		if st, body := h.post("/publish/warmup.e"+fmt.Sprint(i%3), "", "x"); st != 200 {
			t.Fatalf("warm-up publish: %d %s", st, body)
		}
	}
	all := curl(t, "-N", seed("http://localhost:8000/events_stream/"))
	narrowed := curl(t, "-N", seed("http://localhost:8000/events_stream/?event_type=gmail.message_received"))
	all.wait(t, inboxclawInfo, 10*time.Second)
	narrowed.wait(t, inboxclawInfo, 10*time.Second)
	if st, body := h.post("/publish", "application/json", inboxclawPublish); st != 200 || body != "{\"id\":\"42\"}\n" {
		t.Fatalf("publish the seed's event: %d %s", st, body)
	}
	out := all.wait(t, "\"meta\": {}}\n\n", 10*time.Second)
	if !createdAt.MatchString(out) {
		t.Fatalf("created_at is not the seed's shape: %q", out)
	}
	got := createdAt.ReplaceAllString(out, `"created_at": "2024-03-15T10:00:00+00:00"`)
	if got != inboxclawInfo+inboxclawMessage {
		t.Fatalf("curl -N …/events_stream/ printed\n%q\nwant the seed's bytes\n%q", got, inboxclawInfo+inboxclawMessage)
	}
	// The same event_id from the same source is stored once.
	if st, body := h.post("/publish", "application/json", inboxclawPublish); st != 200 || !strings.Contains(body, `"duplicate":true`) {
		t.Fatalf("the same (source, event_id) again: %d %s", st, body)
	}
	other := strings.Replace(inboxclawPublish, `"id": 1`, `"id": 2`, 1)
	if st, body := h.post("/publish", "application/json", other); st != 200 || strings.Contains(body, "duplicate") {
		t.Fatalf("the same event_id from another source: %d %s", st, body)
	}
	h.post("/publish/gmail.message_received", "application/json", `{"subject": "Hello"}`)
	n := narrowed.wait(t, `"data": {"subject": "Hello"}`, 10*time.Second)
	if strings.Contains(n, "user.login") {
		t.Errorf("?event_type= did not narrow: %q", n)
	}

	// The full configuration: GET /alerts/live, match alert.*, heartbeat 15 s.
	alerts := curl(t, "-N", seed("http://localhost:8000/alerts/live"))
	alerts.wait(t, inboxclawInfo, 10*time.Second)
	h.post("/publish/user.logout", "", "not an alert")
	h.post("/publish/alert.disk", "application/json", `{"free": 1}`)
	a := alerts.wait(t, `"data": {"free": 1}`, 10*time.Second)
	if strings.Contains(a, "not an alert") {
		t.Errorf("an alerts sink streamed a user event: %q", a)
	}
	a = alerts.wait(t, inboxclawHeartbeat, 25*time.Second)
	if !strings.HasSuffix(a, "}\n\n"+inboxclawHeartbeat) {
		t.Errorf("heartbeat: %q", a)
	}

	t.Run("browser", func(t *testing.T) { inboxclawBrowser(t, h, seed) })
}

// inboxclawBrowser runs the seed's browser snippet, verbatim, in Chromium
// on another origin.
func inboxclawBrowser(t *testing.T, h *hubProc, seed func(string) string) {
	snippet := seed(`const source = new EventSource("http://localhost:8000/events_stream/");
source.onmessage = (event) => {
  const data = JSON.parse(event.data);
  console.log("New event:", data);
};`)
	page := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprintf(w, "<!doctype html><meta charset=utf-8><script>%s\n%s\nwindow.source = source;</script>", consoleCapture, snippet)
	}))
	defer page.Close()
	browser := newChromium(t, 60*time.Second)
	if err := chromedp.Do(browser, chromedp.Navigate(page.URL)); err != nil {
		t.Fatal(err)
	}
	if err := waitFor(20*time.Second, func() bool {
		s, _ := chromedp.Run(browser, chromedp.Evaluate[int](`window.source.readyState`))
		return s == 1
	}); err != nil {
		t.Fatal("the EventSource did not open")
	}
	h.post("/publish", "application/json", strings.Replace(inboxclawPublish, "evt_abc", "evt_browser", 1))
	logs := waitLogs(t, browser, "evt_browser", 15*time.Second)
	for _, l := range logs {
		if strings.Contains(l, "evt_browser") {
			var ev map[string]any
			if err := json.Unmarshal([]byte(strings.TrimPrefix(l, "log New event: ")), &ev); err != nil {
				t.Fatalf("console line %q: %v", l, err)
			}
			src, _ := ev["source"].(map[string]any)
			if ev["event_type"] != "user.login" || src["name"] != "web_frontend" {
				t.Errorf("the page parsed %v", ev)
			}
		}
	}
}

// TestRecipeInboxclawPull runs the http_pull sink of the recipe: extract,
// mark-processed, 404 for a batch confirmed already, the lease.
func TestRecipeInboxclawPull(t *testing.T) {
	h, seed := startRecipeHub(t, recipeYAML(t, "inboxclaw"))
	for i := range 3 {
		h.post("/publish/invoice.paid", "application/json", fmt.Sprintf(`{"n": %d}`, i))
	}
	h.post("/publish/user.login", "", "not for accounting")
	x := curl(t, seed("http://localhost:8000/accounting_service/extract?batch_size=2")).wait(t, "}\n", 10*time.Second)
	var got struct {
		BatchID   int               `json:"batch_id"`
		Events    []json.RawMessage `json:"events"`
		Remaining int               `json:"remaining_events"`
	}
	if err := json.Unmarshal([]byte(x), &got); err != nil || got.BatchID != 1 || len(got.Events) != 2 || got.Remaining != 1 {
		t.Fatalf("extract: %s (%v)", x, err)
	}
	if !strings.Contains(string(got.Events[0]), `"event_type":"invoice.paid"`) || !strings.Contains(string(got.Events[0]), `"data":{"n": 0}`) {
		t.Errorf("event: %s", got.Events[0])
	}
	c := curl(t, "-X", "POST", seed("http://localhost:8000/accounting_service/mark-processed?batch_id=1")).wait(t, "}\n", 10*time.Second)
	if c != "{\"status\":\"ok\",\"marked_count\":2}\n" {
		t.Fatalf("mark-processed: %q", c)
	}
	again := curl(t, "-X", "POST", seed("http://localhost:8000/accounting_service/mark-processed?batch_id=1")).wait(t, "}\n", 10*time.Second)
	if !strings.HasPrefix(again, `{"error":{"code":"NOT_FOUND",`) {
		t.Fatalf("mark-processed again: %q", again)
	}
	rest := curl(t, seed("http://localhost:8000/accounting_service/extract")).wait(t, "}\n", 10*time.Second)
	if !strings.HasPrefix(rest, `{"batch_id":2,"events":[{"id":3,`) || !strings.HasSuffix(rest, `"remaining_events":0}`+"\n") {
		t.Fatalf("the rest: %q", rest)
	}
}
