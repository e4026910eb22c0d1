package interop_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// seedBase is the address the seeds' examples use (Inboxclaw's port).
const seedBase = "http://localhost:8000"

// recipeYAML returns the first yaml block of docs/recipes/NAME.md: the
// configuration a recipe shows is the one its test runs.
func recipeYAML(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "docs", "recipes", name+".md"))
	if err != nil {
		t.Fatal(err)
	}
	_, rest, ok := strings.Cut(string(b), "```yaml\n")
	if !ok {
		t.Fatalf("docs/recipes/%s.md has no yaml block", name)
	}
	block, _, ok := strings.Cut(rest, "```")
	if !ok {
		t.Fatalf("docs/recipes/%s.md: unterminated yaml block", name)
	}
	return block
}

// startRecipeHub runs `ssehub serve --config` with yaml on port 8000, as the
// recipe says, or on a free port when 8000 is taken; url rewrites a seed's
// URL to the hub's.
func startRecipeHub(t *testing.T, yaml string) (h *hubProc, url func(string) string) {
	t.Helper()
	cfg := filepath.Join(t.TempDir(), "config.yaml")
	if err := os.WriteFile(cfg, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	var raw [32]byte
	_, _ = rand.Read(raw[:])
	h = &hubProc{t: t, dataDir: filepath.Join(t.TempDir(), "data"), extra: []string{"--config", cfg},
		token: hex.EncodeToString(raw[:]), logs: new(syncBuffer)}
	t.Cleanup(func() {
		if h.run != nil {
			_ = h.run.cmd.Process.Kill()
			<-h.run.done
			h.run = nil
		}
		if t.Failed() {
			t.Logf("ssehub output:\n%s", h.logs.String())
		}
	})
	if err := h.start("127.0.0.1:8000"); err != nil {
		t.Logf("port 8000 is not free (%v); the seed URLs are rewritten to a free port", firstLine(err.Error()))
		if err := h.start("127.0.0.1:0"); err != nil {
			t.Fatal(err)
		}
	}
	return h, func(s string) string { return strings.ReplaceAll(s, seedBase, h.URL()) }
}

func firstLine(s string) string { l, _, _ := strings.Cut(s, "\n"); return l }

// curlStream is a running `curl -N …` (or, without curl, the same GET done
// by net/http), whose output is collected.
type curlStream struct {
	mu     sync.Mutex
	out    bytes.Buffer
	header http.Header
	cancel func()
}

// curl runs the seed's curl line (args after "curl") and collects what it
// prints. A line with -N streams until the test stops it.
func curl(t *testing.T, args ...string) *curlStream {
	t.Helper()
	c := &curlStream{}
	ctx, cancel := context.WithCancel(context.Background())
	c.cancel = cancel
	t.Cleanup(cancel)
	if path, err := exec.LookPath("curl"); err == nil {
		cmd := exec.CommandContext(ctx, path, append([]string{"-s"}, args...)...)
		cmd.Stdout = c
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		go func() { _ = cmd.Wait() }()
		return c
	}
	// No curl: the same request, by hand (GET or -X METHOD, -H headers).
	method, url, hdr := "GET", "", http.Header{}
	for i := 0; i < len(args); i++ {
		switch args[i] {
		case "-X":
			i++
			method = args[i]
		case "-H":
			i++
			k, v, _ := strings.Cut(args[i], ":")
			hdr.Add(strings.TrimSpace(k), strings.TrimSpace(v))
		case "-N":
		default:
			url = args[i]
		}
	}
	req, err := http.NewRequestWithContext(ctx, method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header = hdr
	go func() {
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return
		}
		defer resp.Body.Close()
		_, _ = io.Copy(c, bufio.NewReader(resp.Body))
	}()
	return c
}

func (c *curlStream) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.out.Write(p)
}

func (c *curlStream) String() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.out.String()
}

// wait returns the output once it holds want, or fails the test.
func (c *curlStream) wait(t *testing.T, want string, timeout time.Duration) string {
	t.Helper()
	if err := waitFor(timeout, func() bool { return strings.Contains(c.String(), want) }); err != nil {
		t.Fatalf("curl output never held %q; it is:\n%s", want, c.String())
	}
	return c.String()
}

// newChromium starts headless Chromium for a test.
func newChromium(t *testing.T, timeout time.Duration) context.Context {
	t.Helper()
	chromium := requireArrowTool(t, "Chromium", "/usr/bin/chromium", "chromium", "chromium-browser", "google-chrome")
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	t.Cleanup(cancel)
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(ctx, append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromium), chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU, chromedp.NoFirstRun,
		chromedp.Flag("disable-quic", true), chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true), chromedp.Flag("disable-sync", true),
		chromedp.UserDataDir(t.TempDir()))...)
	t.Cleanup(cancelAlloc)
	browser, cancelBrowser := chromedp.NewContext(allocCtx)
	t.Cleanup(cancelBrowser)
	return browser
}

// consoleCapture is the script a page runs before a seed's snippet: it
// keeps every console.log and console.error line in window.logs.
const consoleCapture = `window.logs = [];
for (const k of ["log", "error"]) {
  const orig = console[k];
  console[k] = (...args) => { window.logs.push(k + " " + args.map(a => typeof a === "string" ? a : JSON.stringify(a)).join(" ")); orig(...args); };
}
`

// pageLogs reads window.logs.
func pageLogs(t *testing.T, browser context.Context) []string {
	t.Helper()
	logs, err := chromedp.Run(browser, chromedp.Evaluate[[]string](`window.logs || []`))
	if err != nil {
		t.Fatalf("read the page: %v", err)
	}
	return logs
}

// waitLogs waits until some console line contains want.
func waitLogs(t *testing.T, browser context.Context, want string, timeout time.Duration) []string {
	t.Helper()
	var logs []string
	if err := waitFor(timeout, func() bool {
		logs = pageLogs(t, browser)
		for _, l := range logs {
			if strings.Contains(l, want) {
				return true
			}
		}
		return false
	}); err != nil {
		t.Fatalf("the page never logged %q; it logged %q", want, logs)
	}
	return logs
}

// post sends a request with the hub's admin token and returns status and body.
func (h *hubProc) post(path, ctype, body string) (int, string) {
	h.t.Helper()
	req, _ := http.NewRequest("POST", h.URL()+path, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+h.token)
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	resp, err := (&http.Client{Timeout: 10 * time.Second}).Do(req)
	if err != nil {
		h.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}
