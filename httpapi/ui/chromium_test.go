package ui_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/ssehub/ssehub/httpapi/ui"
)

// TestConsoleInChromium drives the console in headless Chromium against a
// real hub (bolt store, loopback HTTP): an operator signs in, creates
// tokens, publishes; a second person (another browser context, so other
// cookies) signs in with a scoped admin token, sees only its topics and
// tails them; the operator sees that stream on the connections page,
// revokes the token and the second person's stream ends and sends them
// back to sign-in; a topic is deregistered; a page on another origin tries
// to change things with the operator's cookie and fails; a token that
// expires signs its holder out. Every page is then shot at 1280×800 and
// 360×740, light and dark, and checked for its key elements.
func TestConsoleInChromium(t *testing.T) {
	b := newBrowser(t)
	e := newEnv(t, ui.Options{Enabled: true, StoreName: "bolt ./data"})
	for i := range 3 {
		e.publish("orders.created", fmt.Sprintf(`{"order":%d,"total":%d.5}`, i+1, 40+i))
	}
	e.publish("alerts.cpu", `{"host":"web-1","load":0.93}`)
	// Data that would run as script if the console ever made HTML of it.
	if r := e.do("POST", "/publish/orders.created", admin, `<img src=x onerror="window.__xss=1">`); r.Status != 200 {
		t.Fatalf("publish: %d %s", r.Status, r.Body)
	}
	// A label that would run as script if the tokens page made HTML of it
	// (labels are printable text, and markup is printable).
	if r := e.do("POST", "/api/tokens", admin, `{"purpose":"stream","label":"<img src=x onerror=\"window.__xss=2\">"}`,
		"Content-Type", "application/json"); r.Status != 201 {
		t.Fatalf("create a token: %d %s", r.Status, r.Body)
	}
	if r := e.do("POST", "/ingest/"+admin+"?topic=trades", "", `[{"ts":1,"sym":"ABC","px":1.5},{"ts":2,"sym":"XYZ","px":2.25}]`,
		"Content-Type", "application/json"); r.Status != 200 {
		t.Fatalf("ingest: %d %s", r.Status, r.Body)
	}

	// The operator signs in.
	op := b.tab("operator", e.url)
	op.open("/ui/")
	op.waitVisible("#token")
	if n := evalJS[int](op, `document.cookie.length + localStorage.length + sessionStorage.length`); n != 0 {
		t.Errorf("before sign-in the page has cookies or storage it can read (%d bytes)", n)
	}
	op.typeIn("#token", "not-a-token")
	op.click("#sign-in")
	op.waitJS("a refusal", `document.querySelector('#signin-error:not([hidden])')`, 10*time.Second)
	op.typeIn("#token", admin)
	op.click("#sign-in")
	op.waitVisible("#card-health")
	op.waitJS("a ready hub and a stats sample", `document.querySelector('#card-health-value').innerText.includes('Ready') &&
		document.querySelector('#card-head-value').innerText.startsWith('#')`, 15*time.Second)
	// The token went into an HttpOnly cookie: the page can read none of it,
	// and keeps nothing in storage.
	if n := evalJS[int](op, `document.cookie.length + localStorage.length + sessionStorage.length`); n != 0 {
		t.Errorf("after sign-in the page can read %d bytes of cookies or storage; the token belongs in an HttpOnly cookie only", n)
	}

	// Keyboard: g t goes to the topics, ? lists the shortcuts, Esc closes.
	evalJS[any](op, `document.activeElement && document.activeElement.blur()`)
	op.key("g")
	op.key("t")
	op.waitVisible("#topics-table")
	op.key("?")
	op.waitVisible("dialog[open] .keys")
	op.key("\x1b")
	op.waitJS("the dialog to close", `!document.querySelector('dialog[open]')`, 5*time.Second)
	// The theme button cycles automatic → light → dark → automatic.
	for _, want := range []string{"light", "dark", ""} {
		op.click("#theme-toggle")
		if got := evalJS[string](op, `document.documentElement.dataset.theme || ''`); got != want {
			t.Errorf("theme %q after a click, want %q", got, want)
		}
	}
	for _, topic := range []string{"orders.created", "alerts.cpu", "trades"} {
		op.waitVisible(fmt.Sprintf(`#topics-table tr[data-topic=%q]`, topic))
	}

	// The Arrow topic shows its schema.
	op.click(`#topics-table tr[data-topic="trades"] a`)
	op.waitVisible("#schema-fields")
	if got := op.text("#schema-fields tbody"); !strings.Contains(got, "ts") || !strings.Contains(got, "sym") || !strings.Contains(got, "int64") {
		t.Errorf("schema of trades: %q", got)
	}

	// A stream token, created with the secret shown once and ready lines.
	op.route("#/tokens")
	op.waitVisible("#token-form")
	op.typeIn("#tok-scope", "orders.*")
	op.typeIn("#tok-label", "dashboard")
	op.click("#tok-create")
	op.waitVisible("#secret-value")
	streamSecret := evalJS[string](op, `document.querySelector('#secret-value').value`)
	if len(streamSecret) != 64 {
		t.Fatalf("the secret shown is %q", streamSecret)
	}
	lines := op.text("#token-secret")
	if !strings.Contains(lines, `new EventSource("`+e.url+"/events?topic=orders.*&token="+streamSecret) ||
		!strings.Contains(lines, "curl -N -H \"Authorization: Bearer "+streamSecret) {
		t.Errorf("the ready-to-paste lines of a stream token: %q", lines)
	}
	op.click("#secret-done")
	op.waitJS("the secret to be gone", `!document.querySelector('#secret-value') && !document.body.innerText.includes(`+jsString(streamSecret)+`)`, 5*time.Second)
	op.waitVisible(`#tokens-table tr`)
	op.waitJS("the markup label", `document.querySelector('#tokens-table').innerText.includes('<img src=x onerror=')`, 5*time.Second)
	if evalJS[bool](op, `!!document.querySelector('#tokens-table img') || window.__xss === 2`) {
		t.Error("a token's label became markup on the tokens page")
	}

	// A scoped admin token for the second person.
	evalJS[any](op, `document.querySelector('input[name=purpose][value=admin]').click()`)
	op.typeIn("#tok-scope", "orders.*")
	op.typeIn("#tok-label", "orders-desk")
	op.click("#tok-create")
	op.waitVisible("#secret-value")
	deskSecret := evalJS[string](op, `document.querySelector('#secret-value').value`)
	op.click("#secret-done")
	deskID := tokenID(t, e, "orders-desk")

	// The second person signs in and sees only the topics of the scope.
	desk := b.tab("desk", e.url)
	desk.open("/ui/")
	desk.typeIn("#token", deskSecret)
	desk.click("#sign-in")
	desk.waitVisible("#card-health")
	if who := desk.text("#who"); !strings.Contains(who, "orders-desk") || !strings.Contains(who, "orders.*") {
		t.Errorf("the header says %q, want the token's label and scope", who)
	}
	desk.route("#/topics")
	desk.waitVisible(`#topics-table tr[data-topic="orders.created"]`)
	if rows := evalJS[[]string](desk, `[...document.querySelectorAll('#topics-table tbody tr')].map((tr) => tr.dataset.topic)`); len(rows) != 1 {
		t.Errorf("a token scoped to orders.* lists topics %q, want orders.created only", rows)
	}
	desk.route("#/tail")
	desk.waitJS("the tail to go live", `document.querySelector('#tail-status').innerText.startsWith('Live')`, 15*time.Second)
	if p := evalJS[string](desk, `document.querySelector('#tail-pattern').value`); p != "orders.*" {
		t.Errorf("the tail's pattern is %q, want the token's scope orders.*", p)
	}

	// The operator publishes; JSON is checked as it is typed.
	op.route("#/publish")
	op.waitVisible("#pub-topic")
	op.typeIn("#pub-topic", "orders.created")
	op.typeIn("#pub-data", `{"order": 7, "total": }`)
	op.waitJS("the JSON error", `document.querySelector('#pub-data-status').innerText.startsWith('Not JSON')`, 5*time.Second)
	if evalJS[string](op, `document.querySelector('#pub-data').getAttribute('aria-invalid')`) != "true" {
		t.Error("invalid JSON is not marked aria-invalid")
	}
	op.typeIn("#pub-data", `{"order": 7, "total": 99.5, "note": "from the console"}`)
	op.waitJS("valid JSON", `document.querySelector('#pub-data-status').innerText === 'Valid JSON.'`, 5*time.Second)
	op.typeIn("#pub-key", "order-7")
	op.click("#pub-send")
	op.waitVisible("#pub-id")
	id := strings.TrimPrefix(strings.ReplaceAll(op.text("#pub-id"), ",", ""), "#")

	// It arrives in the second person's tail.
	desk.waitJS("the event in the tail", fmt.Sprintf(`document.querySelector('#tail-list li[data-id="%s"]')`, id), 15*time.Second)
	if got := desk.text(fmt.Sprintf(`#tail-list li[data-id="%s"]`, id)); !strings.Contains(got, "from the console") || !strings.Contains(got, "orders.created") {
		t.Errorf("the tail shows %q", got)
	}

	// The operator sees that stream among the connections.
	op.route("#/connections")
	op.waitJS("the desk's stream", `[...document.querySelectorAll('#conn-table tbody tr')].some((tr) => tr.innerText.includes('orders-desk') &&
		tr.innerText.includes('orders.*') && tr.innerText.includes('127.0.0.1'))`, 15*time.Second)

	// The operator revokes the desk's token: its stream ends, and the desk
	// is sent back to sign-in with the reason.
	op.route("#/tokens")
	sel := fmt.Sprintf(`#tokens-table tr[data-id=%q] button`, deskID)
	op.click(sel)
	op.waitVisible("dialog[open]")
	op.click(`dialog[open] button[value=ok]`)
	desk.waitJS("the desk back at sign-in", `document.querySelector('#signin-message')`, 15*time.Second)
	if msg := desk.text("#signin-message"); !strings.Contains(msg, "revoked") {
		t.Errorf("the desk's sign-in message is %q, want one saying the token was revoked", msg)
	}
	op.route("#/connections")
	op.waitJS("the desk's stream gone", `document.querySelector('#conn-body') && document.querySelector('#conn-body').getAttribute('aria-busy') === 'false' &&
		![...document.querySelectorAll('#conn-table tbody tr')].some((tr) => tr.innerText.includes('orders-desk'))`, 15*time.Second)

	// Deregistering needs the topic's name typed.
	op.route("#/topics/alerts.cpu")
	op.click("#deregister")
	op.waitVisible("dialog[open] #confirm-typed")
	if !evalJS[bool](op, `document.querySelector('dialog[open] button[value=ok]').disabled`) {
		t.Error("the deregister button is enabled before the topic's name is typed")
	}
	op.typeIn("dialog[open] #confirm-typed", "alerts.cpu")
	op.click(`dialog[open] button[value=ok]`)
	op.waitJS("the deregistered badge", `document.querySelector('#topic-body') && document.querySelector('#topic-body').innerText.includes('deregistered')`, 10*time.Second)
	wantError(t, "publish to a deregistered topic", e.do("POST", "/publish/alerts.cpu", admin, `{}`), 410, "GONE")

	// A page on another origin of the same site (the cookie goes along:
	// SameSite is per site) tries to change things with the operator's
	// cookie: the hub's Origin and CSRF checks refuse every attempt, and
	// the browser does not let it read the console's answers.
	csrfAttempt(t, e, op)

	// A token that expires sends its holder back to sign-in.
	shortSecret, _ := e.token("stream", 4*time.Second, "short", "*")
	short := b.tab("short", e.url)
	short.open("/ui/")
	short.typeIn("#token", shortSecret)
	short.click("#sign-in")
	short.waitVisible("#card-health")
	short.waitJS("sign-in after the expiry", `document.querySelector('#signin-message')`, 20*time.Second)
	if msg := short.text("#signin-message"); !strings.Contains(msg, "expired") {
		t.Errorf("after its token expired the sign-in page says %q", msg)
	}

	screenshots(t, e, op, short)
	for _, tb := range []*tab{op, desk, short} {
		tb.checkClean()
	}
}

func jsString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// tokenID returns the id of the token with label.
func tokenID(t *testing.T, e *env, label string) string {
	t.Helper()
	var out struct {
		Tokens []struct{ ID, Label string }
	}
	e.do("GET", "/api/tokens", admin, "").JSON(t, &out)
	for _, tk := range out.Tokens {
		if tk.Label == label {
			return tk.ID
		}
	}
	t.Fatalf("no token labelled %q", label)
	return ""
}

// csrfAttempt opens, in the operator's browser, a page of another origin
// that tries to create a token, deregister a topic, publish (a form, which
// needs no CORS) and read the console's session with the operator's cookie.
func csrfAttempt(t *testing.T, e *env, op *tab) {
	t.Helper()
	var before struct{ Tokens []json.RawMessage }
	e.do("GET", "/api/tokens", admin, "").JSON(t, &before)
	topicEvents := func() int {
		var tp struct{ Events int }
		e.do("GET", "/api/topics/orders.created", admin, "").JSON(t, &tp)
		return tp.Events
	}
	eventsBefore := topicEvents()

	evil := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprintf(w, `<!doctype html><title>evil</title>
<form id="f" method="POST" action="%[1]s/publish/orders.created" enctype="text/plain"><input name='{"stolen":"' value='yes"}'></form>
<script>
const hub = %[2]q;
window.results = {};
const done = [
  fetch(hub + '/api/tokens', {method: 'POST', mode: 'no-cors', credentials: 'include', headers: {'Content-Type': 'text/plain'},
    body: '{"purpose":"admin","label":"stolen"}'}).then(() => results.token = 'sent').catch(() => results.token = 'blocked'),
  fetch(hub + '/api/topics/orders.created', {method: 'DELETE', credentials: 'include'})
    .then((r) => results.deregister = 'answered ' + r.status).catch(() => results.deregister = 'blocked'),
  fetch(hub + '/ui/api/session', {credentials: 'include'}).then((r) => r.text())
    .then((t) => results.session = 'read ' + t).catch(() => results.session = 'blocked'),
];
Promise.all(done).then(() => { results.done = true; });
</script>`, e.url, e.url)
	}))
	defer evil.Close()
	op.do("open the other origin", chromedp.Navigate(evil.URL+"/"))
	op.waitJS("the attempts", `window.results && window.results.done`, 15*time.Second)
	res := evalJS[map[string]any](op, `window.results`)
	if res["session"] != "blocked" {
		t.Errorf("a page of another origin read the console's session (and its CSRF value): %v", res["session"])
	}
	if res["deregister"] != "blocked" {
		t.Errorf("a cross-origin DELETE with credentials was answered: %v", res["deregister"])
	}
	// The form posts with the cookie; the hub must answer 403 CSRF.
	evalJS[any](op, `document.getElementById('f').submit()`)
	op.waitJS("the form's answer", `location.href.startsWith(`+jsString(e.url)+`) && document.body && document.body.innerText.includes('"code"')`, 10*time.Second)
	if body := evalJS[string](op, `document.body.innerText`); !strings.Contains(body, `"CSRF"`) {
		t.Errorf("the cross-origin form post got %q, want a 403 CSRF error", body)
	}
	var after struct{ Tokens []json.RawMessage }
	e.do("GET", "/api/tokens", admin, "").JSON(t, &after)
	if len(after.Tokens) != len(before.Tokens) {
		t.Errorf("the other origin created a token: %d tokens, %d before", len(after.Tokens), len(before.Tokens))
	}
	if n := topicEvents(); n != eventsBefore {
		t.Errorf("the other origin published: orders.created has %d events, %d before", n, eventsBefore)
	}
	if r := e.do("GET", "/api/topics/orders.created", admin, ""); strings.Contains(string(r.Body), `"deregistered":true`) {
		t.Error("the other origin deregistered orders.created")
	}
	op.open("/ui/#/overview")
	op.waitVisible("#card-health") // still signed in
}

// screenshots shoots every page in four views and checks each for its key
// elements. They go to $SSEHUB_CONSOLE_SHOTS, or a new temporary
// directory, whose path is logged.
func screenshots(t *testing.T, e *env, op, signedOut *tab) {
	t.Helper()
	dir := os.Getenv("SSEHUB_CONSOLE_SHOTS")
	if dir == "" {
		var err error
		if dir, err = os.MkdirTemp("", "ssehub-console-"); err != nil {
			t.Fatal(err)
		}
	} else if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Logf("console screenshots: %s", dir)

	// Some traffic, so that rates and charts move.
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			case <-time.After(60 * time.Millisecond):
			}
			e.do("POST", "/publish/orders.created", admin, fmt.Sprintf(`{"order":%d,"total":%d.25,"currency":"EUR"}`, 100+i, 10+i%90),
				"Content-Type", "application/json")
			if i%4 == 0 {
				e.do("POST", "/publish/alerts.mem", admin, fmt.Sprintf(`{"host":"web-%d","free_mb":%d}`, i%3+1, 900-i%200),
					"Content-Type", "application/json")
			}
		}
	}()
	defer func() {
		close(stop)
		wg.Wait()
	}()

	// The operator's tail shows every retained event, and is a connection.
	op.route("#/tail")
	op.waitVisible("#tail-form")
	if evalJS[bool](op, `document.querySelector('#tail-start').innerText.includes('Stop')`) {
		op.click("#tail-start")
	}
	op.fill("#tail-pattern", "*")
	op.fill("#tail-from", "earliest")
	op.click("#tail-start")
	op.waitJS("events in the tail", `document.querySelectorAll('#tail-list .tail-event').length > 3`, 15*time.Second)
	op.fill("#tail-filter", "onerror")
	op.waitJS("the markup event", `document.querySelector('#tail-list').innerText.includes('<img src=x onerror=')`, 10*time.Second)
	if evalJS[bool](op, `!!document.querySelector('#tail-list img') || window.__xss === 1`) {
		t.Error("event data became markup in the tail")
	}
	op.fill("#tail-filter", "")
	time.Sleep(2500 * time.Millisecond) // a few stats samples for the charts

	pages := []struct {
		name, hash string
		keys       []string // selectors that must be visible
		check      string   // and a condition
	}{
		{"overview", "#/overview", []string{"#card-health", "#card-publish .spark", "#busiest .bars"},
			`document.querySelector('#card-publish-value').innerText !== '—'`},
		{"topics", "#/topics", []string{"#topics-table", `#topics-table tr[data-topic="orders.created"]`}, `true`},
		{"topic-arrow", "#/topics/trades", []string{"#schema-fields", "#last-event"},
			`document.querySelectorAll('#schema-fields tbody tr').length === 3`},
		{"tail", "#/tail", []string{"#tail-list .tail-event", "#tail-pause"}, `document.querySelector('#tail-status').innerText.startsWith('Live')`},
		{"publish", "#/publish?topic=orders.created", []string{"#pub-topic", "#pub-data", "#pub-send"}, `true`},
		{"tokens", "#/tokens", []string{"#token-form", "#secret-value", "#tokens-table"}, `true`},
		{"connections", "#/connections", []string{"#conn-table tbody tr"}, `true`},
	}
	views := []struct {
		name string
		w, h int64
		dark bool
	}{
		{"desktop-light", 1280, 800, false}, {"desktop-dark", 1280, 800, true},
		{"phone-light", 360, 740, false}, {"phone-dark", 360, 740, true},
	}
	for _, v := range views {
		for _, tb := range []*tab{op, signedOut} {
			tb.view(v.w, v.h, v.dark)
		}
		checkTheme(t, signedOut, v.dark, v.name)
		signedOut.waitVisible("#token")
		signedOut.waitVisible("#sign-in")
		signedOut.shot(dir, "signin-"+v.name, v.w, v.h)
		for _, p := range pages {
			op.route(p.hash)
			if p.name == "tokens" {
				op.waitVisible("#token-form")
				op.typeIn("#tok-label", "dashboard")
				op.click("#tok-create")
			}
			for _, k := range p.keys {
				op.waitVisible(k)
			}
			op.waitJS(p.name+" ready", p.check, 10*time.Second)
			op.waitVisible("main h1")
			op.waitVisible("nav.nav")
			evalJS[any](op, `window.scrollTo(0, 0)`)
			checkTheme(t, op, v.dark, p.name+"-"+v.name)
			op.shot(dir, p.name+"-"+v.name, v.w, v.h)
		}
	}
}

// checkTheme checks that the page follows the emulated colour scheme.
func checkTheme(t *testing.T, tb *tab, dark bool, what string) {
	t.Helper()
	lum := evalJS[float64](tb, `(() => { const m = getComputedStyle(document.body).backgroundColor.match(/\d+(\.\d+)?/g).map(Number);
		return (0.2126 * m[0] + 0.7152 * m[1] + 0.0722 * m[2]) / 255; })()`)
	if dark && lum > 0.25 || !dark && lum < 0.75 {
		t.Errorf("%s: background luminance %.2f with dark=%v", what, lum, dark)
	}
}
