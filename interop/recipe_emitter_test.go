package interop_test

import (
	"bufio"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// startSeeds builds examples/seeds (the build cache makes it quick after
// the first) and runs it with page served at /
// (on the streams' origin, as the seeds' relative URLs want), returning
// its base URL.
func startSeeds(t *testing.T, page string, args ...string) string {
	t.Helper()
	seedsBin := filepath.Join(t.TempDir(), "seeds")
	goTool, err := exec.LookPath("go")
	if err != nil {
		goTool = "/usr/local/go/bin/go"
	}
	build := exec.Command(goTool, "build", "-o", seedsBin, "./examples/seeds")
	build.Dir = ".."
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build examples/seeds: %v\n%s", err, out)
	}
	file := filepath.Join(t.TempDir(), "page.html")
	if err := os.WriteFile(file, []byte(page), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(seedsBin, append([]string{"--addr", "127.0.0.1:0", "--page", file}, args...)...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	line, err := bufio.NewReader(out).ReadString('\n')
	base, ok := strings.CutPrefix(strings.TrimSpace(line), "listening on ")
	if err != nil || !ok {
		t.Fatalf("examples/seeds printed %q (%v)", line, err)
	}
	return base
}

// seedPage is a page running a seed's client code, with console lines kept.
func seedPage(setup, snippet string) string {
	return "<!doctype html><meta charset=utf-8><div id=response></div><div id=cpu></div><div id=memory></div><div id=requests></div>\n<script>" +
		consoleCapture + setup + "\n" + snippet + "\n</script>"
}

func openBrowser(t *testing.T, url string) (browser context.Context, eval func(string) string) {
	t.Helper()
	browser = newChromium(t, 60*time.Second)
	if err := chromedp.Do(browser, chromedp.Navigate(url)); err != nil {
		t.Fatal(err)
	}
	return browser, func(js string) string {
		v, err := chromedp.Run(browser, chromedp.Evaluate[string](js))
		if err != nil {
			t.Fatalf("%s: %v", js, err)
		}
		return v
	}
}

// TestRecipeBoxLang runs BoxLang's client-side JavaScript, verbatim,
// against its server examples rebuilt with package emitter: the basic
// stream, the AI token stream, a timeout that ends with the end event (no
// reconnect that would restart the job), and the CORS preflight.
func TestRecipeBoxLang(t *testing.T) {
	basic := `// Connect to SSE endpoint
const eventSource = new EventSource('/api/sse/stream');

// Listen for default message events
eventSource.onmessage = function(event) {
    console.log('Received:', event.data);
    const data = JSON.parse(event.data);
    // Handle data
};

// Listen for specific event types
eventSource.addEventListener('update', function(event) {
    const data = JSON.parse(event.data);
    console.log('Update:', data);
});

eventSource.addEventListener('done', function(event) {
    console.log('Stream complete');
    eventSource.close();
});

// Handle errors
eventSource.onerror = function(error) {
    console.error('SSE Error:', error);
    eventSource.close();
};`
	base := startSeeds(t, seedPage("window.onerror = () => true; // the seed's onmessage parses a plain string", basic+"\nwindow.es = eventSource;"))
	browser, eval := openBrowser(t, base+"/")
	logs := waitLogs(t, browser, "Stream complete", 20*time.Second)
	want := []string{"log Received: Hello from server!", `log Update: {"status":"processing","progress":25}`,
		`log Update: {"status":"processing","progress":50}`, `log Update: {"status":"processing","progress":75}`, "log Stream complete"}
	if strings.Join(logs, "\n") != strings.Join(want, "\n") {
		t.Errorf("console:\n%s\nwant\n%s", strings.Join(logs, "\n"), strings.Join(want, "\n"))
	}
	if rs := eval(`String(window.es.readyState)`); rs != "2" {
		t.Errorf("readyState %s, want CLOSED", rs)
	}

	t.Run("ai", func(t *testing.T) {
		ai := `const eventSource = new EventSource('/api/ai/stream?prompt=' + encodeURIComponent(prompt));
let fullResponse = '';

eventSource.addEventListener('token', function(event) {
    const token = event.data;
    fullResponse += token;
    document.getElementById('response').textContent = fullResponse;
});

eventSource.addEventListener('done', function(event) {
    const data = JSON.parse(event.data);
    console.log('Complete! Total tokens:', data.total);
    eventSource.close();
});`
		base := startSeeds(t, seedPage(`const prompt = "tell me about server sent events";`, ai))
		browser, eval := openBrowser(t, base+"/")
		waitLogs(t, browser, "Complete! Total tokens: 6", 20*time.Second)
		if got := eval(`document.getElementById('response').textContent`); got != "tell me about server sent events" {
			t.Errorf("response %q", got)
		}
	})

	t.Run("timeout", func(t *testing.T) {
		// A job past its timeout: the stream ends with the end event. A
		// client that does not listen for it reconnects once, with
		// Last-Event-ID: end, gets 204 and stops for good.
		page := `const es = new EventSource('/api/ai/stream?prompt=' + encodeURIComponent("run forever"));
window.es = es; window.opens = 0; window.tokens = 0;
es.onopen = () => window.opens++;
es.addEventListener('token', () => window.tokens++);
es.addEventListener('end', (e) => console.log('end', e.data, e.lastEventId));`
		base := startSeeds(t, seedPage("", page), "--ai-timeout", "500ms")
		browser, eval := openBrowser(t, base+"/")
		waitLogs(t, browser, `end {"reason":"timeout"} end`, 20*time.Second)
		if err := waitFor(15*time.Second, func() bool { return eval(`String(window.es.readyState)`) == "2" }); err != nil {
			t.Fatalf("the EventSource did not stop after the end (readyState %s)", eval(`String(window.es.readyState)`))
		}
		time.Sleep(500 * time.Millisecond)
		if o := eval(`String(window.opens)`); o != "1" {
			t.Errorf("the stream opened %s times: the job restarted", o)
		}
	})

	t.Run("cors", func(t *testing.T) {
		base := startSeeds(t, "")
		out := curl(t, "-i", "-X", "OPTIONS", "-H", "Origin: https://app.example.com", "-H", "Access-Control-Request-Method: GET", base+"/api/cors").wait(t, "\r\n\r\n", 10*time.Second)
		if !strings.HasPrefix(out, "HTTP/1.1 204") || !strings.Contains(out, "Access-Control-Allow-Origin: *") {
			t.Fatalf("preflight: %q", out)
		}
	})
}
