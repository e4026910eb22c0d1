package interop_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"
)

// The pinned Durable Streams server conformance suite (interop/node's
// package.json and lock) and what ssehub must pass of it: the protocol's
// own reference server passes 324 of its 332 tests here; ssehub is
// expected to pass them all (docs/durable-streams.md).
const (
	conformanceVersion = "0.3.6"
	conformanceTests   = 332
	conformanceMinPass = 324
)

// TestDurableStreamsConformance runs the Durable Streams server
// conformance suite (@durable-streams/server-conformance-tests, the npm
// package, with vitest) against a real `ssehub serve` process whose
// /v1/stream/ endpoints are public (the suite sends no token), and checks
// the pass count, listing every failure.
func TestDurableStreamsConformance(t *testing.T) {
	node := requireTool(t, "Node.js", "node")
	dir := conformanceModules(t)
	cfg := filepath.Join(t.TempDir(), "ssehub.yaml")
	// A short long-poll timeout, as the protocol's own test run uses
	// (500 ms): the suite waits it out in its 204 tests.
	if err := os.WriteFile(cfg, []byte("durable_streams:\n  public_read: true\n  public_write: true\n  long_poll_timeout: 500ms\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	h := startHub(t, "--config", cfg)

	report := filepath.Join(t.TempDir(), "report.json")
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, filepath.Join("node_modules", "vitest", "vitest.mjs"), "run",
		"--config", "conformance.config.mjs", "--reporter=json", "--outputFile="+report)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "CONFORMANCE_TEST_URL="+h.URL(), "NO_COLOR=1")
	start := time.Now()
	out, err := cmd.CombinedOutput()
	t.Logf("suite ran in %v (vitest: %v)", time.Since(start).Round(time.Second), err)
	raw, rerr := os.ReadFile(report)
	if rerr != nil {
		t.Fatalf("no report from vitest (%v): %v\n%s", err, rerr, lastBytes(out, 4000))
	}
	var rep struct {
		NumTotalTests, NumPassedTests, NumFailedTests, NumPendingTests int
		TestResults                                                    []struct {
			AssertionResults []struct {
				FullName        string   `json:"fullName"`
				Status          string   `json:"status"`
				FailureMessages []string `json:"failureMessages"`
			} `json:"assertionResults"`
		} `json:"testResults"`
	}
	if err := json.Unmarshal(raw, &rep); err != nil {
		t.Fatalf("report: %v", err)
	}
	var failed []string
	passed := 0
	for _, f := range rep.TestResults {
		for _, a := range f.AssertionResults {
			switch a.Status {
			case "passed":
				passed++
			case "failed":
				msg := ""
				if len(a.FailureMessages) > 0 {
					msg = firstLine(a.FailureMessages[0])
				}
				failed = append(failed, a.FullName+": "+msg)
			}
		}
	}
	sort.Strings(failed)
	run := rep.NumTotalTests - rep.NumPendingTests // the subscription tests are skipped unless asked for
	t.Logf("Durable Streams conformance %s: %d of %d passed (%d failed, %d skipped)", conformanceVersion, passed, run, len(failed), rep.NumPendingTests)
	for _, f := range failed {
		t.Logf("  failed: %s", f)
	}
	if run != conformanceTests {
		t.Errorf("the suite ran %d tests, want the %d of version %s", run, conformanceTests, conformanceVersion)
	}
	if passed < conformanceMinPass {
		t.Errorf("passed %d of %d, want at least %d (the reference server's count)", passed, run, conformanceMinPass)
	}
	if passed != rep.NumPassedTests {
		t.Errorf("counted %d passes, the report says %d", passed, rep.NumPassedTests)
	}
}

// conformanceModules returns interop/node with the pinned suite installed,
// running `npm ci` when it is missing or another version.
func conformanceModules(t *testing.T) string {
	t.Helper()
	dir, err := filepath.Abs("node")
	if err != nil {
		t.Fatal(err)
	}
	pkg := filepath.Join(dir, "node_modules", "@durable-streams", "server-conformance-tests", "package.json")
	installed := func() string {
		var p struct{ Version string }
		if b, err := os.ReadFile(pkg); err == nil && json.Unmarshal(b, &p) == nil {
			return p.Version
		}
		return ""
	}
	if installed() != conformanceVersion {
		npm := requireTool(t, "npm", "npm")
		cmd := exec.Command(npm, "ci", "--no-audit", "--no-fund")
		cmd.Dir = dir
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("npm ci in %s: %v\n%s", dir, err, out)
		}
	}
	if v := installed(); v != conformanceVersion {
		t.Fatalf("@durable-streams/server-conformance-tests is %q after npm ci, want %s (interop/node/package.json pins it)", v, conformanceVersion)
	}
	return dir
}

// lastBytes returns at most the last n bytes of b.
func lastBytes(b []byte, n int) []byte {
	if len(b) > n {
		return b[len(b)-n:]
	}
	return b
}

// TestDurableStreamsEventSource: the npm eventsource package, which knows
// nothing of Durable Streams, follows a stream's live=sse URL across
// responses the hub ends (sse_max_duration: 1s): it resumes with
// Last-Event-ID (the offset each control event carries as its id) and gets
// every append exactly once, in order.
func TestDurableStreamsEventSource(t *testing.T) {
	node := requireTool(t, "Node.js", "node")
	dir := nodeModules(t)
	cfg := filepath.Join(t.TempDir(), "ssehub.yaml")
	if err := os.WriteFile(cfg, []byte("durable_streams:\n  public_read: true\n  sse_max_duration: 1s\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	h := startHub(t, "--config", cfg)
	do := func(method, body string, hdr ...string) *http.Response {
		t.Helper()
		req, _ := http.NewRequest(method, h.URL()+"/v1/stream/es", strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+h.token) // writes need a token
		for i := 0; i+1 < len(hdr); i += 2 {
			req.Header.Set(hdr[i], hdr[i+1])
		}
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		return res
	}
	if res := do("PUT", "e0;", "Content-Type", "text/plain"); res.StatusCode != http.StatusCreated {
		t.Fatalf("create: %d", res.StatusCode)
	}
	c := startNodeClient(t, node, dir, h.URL()+"/v1/stream/es?offset=-1&live=sse", 1000, "data")
	want := "e0;"
	for i := 1; i <= 6; i++ {
		time.Sleep(700 * time.Millisecond) // the hub ends a response every second
		s := fmt.Sprintf("e%d;", i)
		if res := do("POST", s, "Content-Type", "text/plain"); res.StatusCode != http.StatusNoContent {
			t.Fatalf("append %d: %d", i, res.StatusCode)
		}
		want += s
	}
	got := func() string {
		var b strings.Builder
		for _, ev := range c.events() {
			b.WriteString(ev.Data)
		}
		return b.String()
	}
	if err := waitFor(20*time.Second, func() bool { return len(got()) >= len(want) }); err != nil {
		t.Fatalf("got %q of %q: %v; client: %q", got(), want, err, c.statuses())
	}
	if g := got(); g != want {
		t.Fatalf("got %q, want %q: every append once, in order", g, want)
	}
	if n := c.count("open"); n < 2 {
		t.Fatalf("the client opened %d times: the hub should have ended responses meanwhile", n)
	}
	t.Logf("%d data events over %d connections", len(c.events()), c.count("open"))
}
