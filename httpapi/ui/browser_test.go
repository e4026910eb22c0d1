package ui_test

import (
	"bytes"
	"context"
	"fmt"
	"image"
	"image/png"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
)

// requireChromium returns Debian's chromium (or another Chromium on PATH).
// Without one the test is skipped, unless CI=true or
// SSEHUB_REQUIRE_INTEROP=1, where a missing browser is a failure.
func requireChromium(t *testing.T) string {
	t.Helper()
	for _, c := range []string{"/usr/bin/chromium", "chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(c); err == nil {
			return p
		}
	}
	msg := "Chromium not found (apt-get install -y chromium; .ci/run does)"
	if os.Getenv("CI") == "true" || os.Getenv("SSEHUB_REQUIRE_INTEROP") == "1" {
		t.Fatal(msg + "; failing because CI=true or SSEHUB_REQUIRE_INTEROP=1")
	}
	t.Skip(msg)
	return ""
}

// browser is one headless Chromium for a test; each tab has its own
// browser context (its own cookies), like two people on two machines.
type browser struct {
	t    *testing.T
	root context.Context
}

func newBrowser(t *testing.T) *browser {
	t.Helper()
	path := requireChromium(t)
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(path),
		chromedp.Headless,
		chromedp.NoSandbox, // Chromium's sandbox refuses to run as root
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("hide-scrollbars", true),
		chromedp.Flag("font-render-hinting", "none"),
		chromedp.Flag("lang", "en-US"),
		chromedp.UserDataDir(t.TempDir()),
	)...)
	root, cancelRoot := chromedp.NewContext(allocCtx)
	if err := chromedp.Do(root); err != nil {
		cancelRoot()
		cancelAlloc()
		t.Fatalf("start Chromium: %v", err)
	}
	t.Cleanup(func() {
		cancelRoot()
		cancelAlloc()
	})
	return &browser{t: t, root: root}
}

// tab is one page in its own browser context.
type tab struct {
	t    *testing.T
	name string
	ctx  context.Context
	base string

	mu       sync.Mutex
	problems []string // uncaught exceptions and console errors
}

// cspProbe records Content-Security-Policy violations and Trusted Types
// refusals before any of the page's own scripts run.
const cspProbe = `window.__csp = [];
document.addEventListener('securitypolicyviolation', (e) => window.__csp.push(e.violatedDirective + ' ' + e.blockedURI + ' ' + (e.sample || '')));`

// tab opens a tab at 1280×800 on base (the hub's URL).
func (b *browser) tab(name, base string) *tab {
	b.t.Helper()
	ctx, cancel := chromedp.NewContext(b.root, chromedp.WithNewBrowserContext())
	b.t.Cleanup(cancel)
	tb := &tab{t: b.t, name: name, ctx: ctx, base: base}
	if err := chromedp.Do(ctx, chromedp.EmulateViewport(1280, 800)); err != nil {
		b.t.Fatalf("%s: open a tab: %v", name, err)
	}
	if _, err := chromedp.Call(ctx, page.AddScriptToEvaluateOnNewDocument, page.AddScriptToEvaluateOnNewDocumentParams{Source: cspProbe}); err != nil {
		b.t.Fatal(err)
	}
	exceptions := chromedp.Events(ctx, runtime.ExceptionThrown)
	console := chromedp.Events(ctx, runtime.ConsoleAPICalled)
	go func() {
		for ev, err := range exceptions {
			if err != nil {
				return
			}
			tb.problem("uncaught exception: " + exceptionText(&ev))
		}
	}()
	go func() {
		for ev, err := range console {
			if err != nil {
				return
			}
			if ev.Type == runtime.ConsoleAPICalledTypeError {
				var parts []string
				for _, a := range ev.Args {
					parts = append(parts, string(a.Value)+a.Description)
				}
				tb.problem("console.error: " + strings.Join(parts, " "))
			}
		}
	}()
	return tb
}

func exceptionText(ev *runtime.EventExceptionThrown) string {
	d := ev.ExceptionDetails
	if d == nil {
		return "?"
	}
	s := d.Text
	if d.Exception != nil {
		s += " " + d.Exception.Description
	}
	return fmt.Sprintf("%s (%s:%d:%d)", s, d.URL, d.LineNumber, d.ColumnNumber)
}

func (tb *tab) problem(s string) {
	tb.mu.Lock()
	tb.problems = append(tb.problems, s)
	tb.mu.Unlock()
}

// checkClean fails the test for exceptions, console errors and CSP
// violations the tab has seen.
func (tb *tab) checkClean() {
	tb.t.Helper()
	tb.mu.Lock()
	probs := append([]string(nil), tb.problems...)
	tb.mu.Unlock()
	for _, p := range probs {
		tb.t.Errorf("%s: %s", tb.name, p)
	}
	if v := evalJS[[]string](tb, `window.__csp || []`); len(v) > 0 {
		tb.t.Errorf("%s: Content-Security-Policy violations: %q", tb.name, v)
	}
}

func (tb *tab) do(what string, actions ...chromedp.Action[chromedp.Void]) {
	tb.t.Helper()
	ctx, cancel := context.WithTimeout(tb.ctx, 30*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		tb.t.Fatalf("%s: %s: %v", tb.name, what, err)
	}
}

// open navigates to a console path, e.g. "/ui/#/topics".
func (tb *tab) open(path string) {
	tb.t.Helper()
	tb.do("open "+path, chromedp.Navigate(tb.base+path))
}

// route changes the console's page without reloading it.
func (tb *tab) route(hash string) {
	tb.t.Helper()
	evalJS[chromedp.Void](tb, fmt.Sprintf(`location.hash = %q`, hash))
}

// evalJS evaluates expr in the tab and decodes its value.
func evalJS[T any](tb *tab, expr string) T {
	tb.t.Helper()
	ctx, cancel := context.WithTimeout(tb.ctx, 20*time.Second)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](expr, chromedp.EvalAwaitPromise))
	if err != nil {
		tb.t.Fatalf("%s: evaluate %.200s: %v", tb.name, expr, err)
	}
	return v
}

// waitJS waits until expr is true.
func (tb *tab) waitJS(what, expr string, timeout time.Duration) {
	tb.t.Helper()
	deadline := time.Now().Add(timeout)
	for !evalJS[bool](tb, "!!("+expr+")") {
		if time.Now().After(deadline) {
			body := evalJS[string](tb, `document.body ? document.body.innerText.slice(0, 1500) : ''`)
			tb.t.Fatalf("%s: waiting for %s (%s): timed out; the page shows:\n%s", tb.name, what, expr, body)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// waitVisible waits for an element matching the CSS selector to be visible.
func (tb *tab) waitVisible(sel string) {
	tb.t.Helper()
	tb.waitJS(sel+" visible", visibleJS(sel), 20*time.Second)
}

func visibleJS(sel string) string {
	return fmt.Sprintf(`(() => { const el = document.querySelector(%q); if (!el) return false;
		const r = el.getBoundingClientRect(); const cs = getComputedStyle(el);
		return r.width > 0 && r.height > 0 && cs.visibility !== 'hidden' && cs.display !== 'none'; })()`, sel)
}

// text returns an element's visible text ("" when absent).
func (tb *tab) text(sel string) string {
	tb.t.Helper()
	return evalJS[string](tb, fmt.Sprintf(`(document.querySelector(%q) || {}).innerText || ''`, sel))
}

// click clicks the element (a real mouse click at its centre).
func (tb *tab) click(sel string) {
	tb.t.Helper()
	tb.waitVisible(sel)
	tb.do("click "+sel, chromedp.Click(chromedp.CSS(sel), chromedp.NodeVisible))
}

// typeIn types text into a field with real key events, after emptying it.
func (tb *tab) typeIn(sel, text string) {
	tb.t.Helper()
	tb.waitVisible(sel)
	evalJS[chromedp.Void](tb, fmt.Sprintf(`(() => { const el = document.querySelector(%q); el.value = ''; el.focus(); })()`, sel))
	tb.do("type into "+sel, chromedp.SendKeys(chromedp.CSS(sel), text))
}

// fill sets a field's value at once and fires its input event (for text
// too long to type key by key).
func (tb *tab) fill(sel, text string) {
	tb.t.Helper()
	tb.waitVisible(sel)
	evalJS[chromedp.Void](tb, fmt.Sprintf(`(() => { const el = document.querySelector(%q); el.value = %q;
		el.dispatchEvent(new Event('input', {bubbles: true})); el.dispatchEvent(new Event('change', {bubbles: true})); })()`, sel, text))
}

// key presses one key on the focused element (or the page).
func (tb *tab) key(k string) {
	tb.t.Helper()
	tb.do("press "+k, chromedp.KeyEvent(k))
}

// view sets the viewport and the colour scheme the page sees.
func (tb *tab) view(w, h int64, dark bool) {
	tb.t.Helper()
	opts := []chromedp.EmulateViewportOption{}
	if w < 600 {
		opts = append(opts, chromedp.EmulateMobile, chromedp.EmulatePortrait)
	}
	scheme := "light"
	if dark {
		scheme = "dark"
	}
	tb.do("viewport", chromedp.EmulateViewport(w, h, opts...), chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		_, err := chromedp.Call(ctx, emulation.SetEmulatedMedia, emulation.SetEmulatedMediaParams{
			Features: []*emulation.MediaFeature{{Name: "prefers-color-scheme", Value: scheme}}})
		return err
	}))
}

// shot writes a screenshot of the viewport to dir/name.png, checks that
// it is a w×h PNG with more than a blank page in it, and that the page
// does not scroll sideways.
func (tb *tab) shot(dir, name string, w, h int64) {
	tb.t.Helper()
	time.Sleep(150 * time.Millisecond) // let transitions and the next stats sample settle
	if over := evalJS[int](tb, `document.documentElement.scrollWidth - window.innerWidth`); over > 1 {
		tb.t.Errorf("%s: %s: the page is %d px wider than the %d px viewport (it scrolls sideways)", tb.name, name, over, w)
	}
	ctx, cancel := context.WithTimeout(tb.ctx, 30*time.Second)
	defer cancel()
	b, err := chromedp.Run(ctx, chromedp.CaptureScreenshot())
	if err != nil {
		tb.t.Fatalf("%s: screenshot %s: %v", tb.name, name, err)
	}
	img, err := png.Decode(bytes.NewReader(b))
	if err != nil {
		tb.t.Fatalf("%s: screenshot %s is not a PNG: %v", tb.name, name, err)
	}
	if r := img.Bounds(); int64(r.Dx()) != w || int64(r.Dy()) != h {
		tb.t.Errorf("%s: screenshot %s is %v, want %dx%d", tb.name, name, r.Size(), w, h)
	}
	if n := colours(img, 3); n < 3 {
		tb.t.Errorf("%s: screenshot %s has %d colours: a blank page?", tb.name, name, n)
	}
	if err := os.WriteFile(filepath.Join(dir, name+".png"), b, 0o644); err != nil {
		tb.t.Fatal(err)
	}
}

// colours counts the distinct colours of img, up to max.
func colours(img image.Image, max int) int {
	seen := map[[4]uint32]bool{}
	r := img.Bounds()
	for y := r.Min.Y; y < r.Max.Y; y += 7 {
		for x := r.Min.X; x < r.Max.X; x += 7 {
			cr, cg, cb, ca := img.At(x, y).RGBA()
			seen[[4]uint32{cr, cg, cb, ca}] = true
			if len(seen) >= max {
				return len(seen)
			}
		}
	}
	return len(seen)
}
