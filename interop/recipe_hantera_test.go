package interop_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// TestRecipeHantera runs the Hantera page's examples against the recipe:
// the curl line with Accept: text/event-stream (init first, then
// updates, then :keepalive, byte for byte), JSON otherwise, the 404 shape,
// and the seed's client code in Chromium.
func TestRecipeHantera(t *testing.T) {
	yaml := recipeYAML(t, "hantera")
	if !strings.Contains(yaml, "heartbeat: 30s") {
		t.Fatal("the recipe's heartbeat changed; update this test")
	}
	// The recipe's 30 s keep-alive, shortened so the test sees one.
	h, seed := startRecipeHub(t, strings.Replace(yaml, "heartbeat: 30s", "heartbeat: 1s", 1))
	pub := func(data string) string {
		st, body := h.post("/publish/skus.PROD-001?type=stockUpdated", "application/json", data)
		if st != 200 {
			t.Fatalf("publish: %d %s", st, body)
		}
		return strings.TrimSuffix(strings.TrimPrefix(body, `{"id":"`), "\"}\n")
	}
	pub(`{"sku":"PROD-001","available":13}`)
	pub(`{"sku":"PROD-001","available":12}`)
	h.post("/publish/skus.OTHER?type=stockUpdated", "application/json", `{"sku":"OTHER"}`)
	url := seed("http://localhost:8000/ingress/api/skus/PROD-001/stock")
	s := curl(t, "-N", "-H", "Accept: text/event-stream", url)
	const init = "event: init\ndata: {\"sku\":\"PROD-001\",\"available\":12}\n\n"
	s.wait(t, init, 10*time.Second)
	id := pub(`{"sku":"PROD-001","available":11}`)
	update := fmt.Sprintf("event: stockUpdated\nid: %s\ndata: {\"sku\":\"PROD-001\",\"available\":11}\n\n", id)
	out := s.wait(t, ":keepalive\n\n", 10*time.Second)
	if out != init+update+":keepalive\n\n" {
		t.Fatalf("curl printed\n%q\nwant\n%q", out, init+update+":keepalive\n\n")
	}

	// JSON otherwise, on the same URL.
	j := curl(t, "-H", "Accept: application/json", url).wait(t, "}\n", 10*time.Second)
	if !strings.HasPrefix(j, `{"events":[{"id":1,`) || !strings.Contains(j, `"data":{"sku":"PROD-001","available":11}`) {
		t.Fatalf("JSON: %q", j)
	}
	// Errors before the stream: status and {"error":{"code","message"}}.
	req, _ := http.NewRequest("GET", seed("http://localhost:8000/ingress/api/skus/NOPE/stock"), nil)
	req.Header.Set("Accept", "text/event-stream")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 404 || resp.Header.Get("Content-Type") != "application/json" {
		t.Fatalf("unknown SKU: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	e := curl(t, "-H", "Accept: text/event-stream", seed("http://localhost:8000/ingress/api/skus/NOPE/stock")).wait(t, "}\n", 10*time.Second)
	if !strings.HasPrefix(e, `{"error":{"code":"NOT_FOUND","message":"`) {
		t.Fatalf("404 body: %q", e)
	}

	t.Run("browser", func(t *testing.T) { hanteraBrowser(t, h, pub) })
}

// hanteraBrowser runs the seed's client-side consumption code, verbatim
// but for the host, in Chromium.
func hanteraBrowser(t *testing.T, h *hubProc, pub func(string) string) {
	snippet := strings.ReplaceAll(`const skuNumber = 'PROD-001'
const eventSource = new EventSource(
`+"`https://api.example.com/ingress/api/skus/${skuNumber}/stock`"+`
)
eventSource.addEventListener('init', (e) => {
const stock = JSON.parse(e.data)
console.log('Initial stock:', stock)
updateStockDisplay(stock)
})
eventSource.addEventListener('stockUpdated', (e) => {
const stock = JSON.parse(e.data)
console.log('Stock updated:', stock)
updateStockDisplay(stock)
})
eventSource.onerror = (e) => {
console.log('Connection error, auto-reconnecting...')
}
// Clean up when done
function cleanup() {
eventSource.close()
}`, "https://api.example.com", h.URL())
	page := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprintf(w, "<!doctype html><meta charset=utf-8><div id=stock></div><script>%s\nfunction updateStockDisplay(s) { document.getElementById('stock').textContent = s.available }\n%s\nwindow.cleanup = cleanup;</script>", consoleCapture, snippet)
	}))
	defer page.Close()
	browser := newChromium(t, 60*time.Second)
	if err := chromedp.Do(browser, chromedp.Navigate(page.URL)); err != nil {
		t.Fatal(err)
	}
	waitLogs(t, browser, `Initial stock: {"sku":"PROD-001","available":11}`, 20*time.Second)
	pub(`{"sku":"PROD-001","available":10}`)
	waitLogs(t, browser, `Stock updated: {"sku":"PROD-001","available":10}`, 15*time.Second)
	shown, err := chromedp.Run(browser, chromedp.Evaluate[string](`cleanup(), document.getElementById('stock').textContent`))
	if err != nil || shown != "10" {
		t.Fatalf("the display shows %q (%v)", shown, err)
	}
}
