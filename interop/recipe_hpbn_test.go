package interop_test

import (
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// hpbnSnippet is the seed's EventSource example; its "{ ... }"
// placeholders, which are no JavaScript, log instead.
const hpbnSnippet = `var source = new EventSource("/path/to/stream-url");
source.onopen = function () { console.log("open"); };
source.onerror = function () { console.log("error"); };
source.addEventListener("foo", function (event) {
	processFoo(event.data);
});
							  
source.onmessage = function (event) {
	log_message(event.id, event.data);
	if (event.id == "CLOSE") {
		source.close();
	}
}`

const hpbnSetup = `function processFoo(d) { console.log("foo", d); }
function log_message(id, d) { console.log("message", id, d); }`

// TestRecipeHPBN runs the seed's snippet in Chromium against the hub's
// /path/to/stream-url (the page on the hub's origin, as its relative URL
// wants), and against the emitter's, which ends with the CLOSE id.
func TestRecipeHPBN(t *testing.T) {
	h, _ := startRecipeHub(t, recipeYAML(t, "hpbn"))
	browser := newChromium(t, 60*time.Second)
	// Any page of the hub's origin will do: the snippet runs in it.
	if err := chromedp.Do(browser, chromedp.Navigate(h.URL()+"/healthz")); err != nil {
		t.Fatal(err)
	}
	if _, err := chromedp.Run(browser, chromedp.Evaluate[any](consoleCapture+hpbnSetup+"\n"+hpbnSnippet+"\nwindow.source = source; true")); err != nil {
		t.Fatal(err)
	}
	waitLogs(t, browser, "log open", 20*time.Second)
	h.post("/publish/hpbn.x?type=foo", "", "foo data")
	st, body := h.post("/publish/hpbn.x", "", "line one\nline two")
	id := strings.TrimSuffix(strings.TrimPrefix(body, `{"id":"`), "\"}\n")
	if st != 200 {
		t.Fatalf("publish: %d %s", st, body)
	}
	// A MessageEvent has no id attribute (it is lastEventId): the seed's
	// event.id is undefined, and logs as nothing.
	logs := waitLogs(t, browser, "line two", 15*time.Second)
	if strings.Join(logs, "|") != "log open|log foo foo data|log message  line one\nline two" {
		t.Errorf("console %q", logs)
	}
	if got, _ := chromedp.Run(browser, chromedp.Evaluate[string](`window.source.url`)); !strings.HasSuffix(got, "/path/to/stream-url") {
		t.Errorf("url %q", got)
	}
	_ = id

	t.Run("CLOSE", func(t *testing.T) {
		base := startSeeds(t, seedPage(hpbnSetup+"\nwindow.opens = 0;", hpbnSnippet+"\nwindow.source = source; source.addEventListener('open', () => window.opens++);"))
		browser, eval := openBrowser(t, base+"/")
		waitLogs(t, browser, "log message  bye", 20*time.Second)
		logs := pageLogs(t, browser)
		if !strings.HasPrefix(strings.Join(logs, "|"), "log open|log foo foo data|log message  a message|log message  bye") {
			t.Errorf("console %q", logs)
		}
		// event.id is undefined, so the seed's own check never closes the
		// source: it reconnects with Last-Event-ID: CLOSE, gets 204, and
		// stops for good, the job not run again.
		if err := waitFor(15*time.Second, func() bool { return eval(`String(window.source.readyState)`) == "2" }); err != nil {
			t.Fatalf("readyState %s: the EventSource did not stop", eval(`String(window.source.readyState)`))
		}
		time.Sleep(500 * time.Millisecond)
		if o := eval(`String(window.opens)`); o != "1" {
			t.Errorf("%s opens, want one", o)
		}
		if got := eval(`String(window.source.readyState)`); got != "2" {
			t.Errorf("readyState %s", got)
		}
	})
}
