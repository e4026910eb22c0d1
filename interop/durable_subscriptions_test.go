package interop_test

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// conformanceSubscriptionTests is how many subscription tests (protocol
// sections 6–7, "Reserved subscription APIs") the pinned suite has.
const conformanceSubscriptionTests = 6

// TestDurableStreamsSubscriptionsConformance runs the pinned conformance
// suite's subscription tests, which it skips unless its harness asks for
// them (subscriptions: true, interop/node/subscriptions.conformance.mjs),
// against a real `ssehub serve` whose webhooks may reach loopback (the
// suite's receivers listen on 127.0.0.1), and wants every one to pass.
func TestDurableStreamsSubscriptionsConformance(t *testing.T) {
	node := requireTool(t, "Node.js", "node")
	dir := conformanceModules(t)
	cfg := filepath.Join(t.TempDir(), "ssehub.yaml")
	conf := "durable_streams:\n  public_read: true\n  public_write: true\n  long_poll_timeout: 500ms\n" +
		"  subscriptions:\n    webhook_allow_networks: [\"127.0.0.0/8\"]\n"
	if err := os.WriteFile(cfg, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	h := startHub(t, "--config", cfg)
	report := filepath.Join(t.TempDir(), "report.json")
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, filepath.Join("node_modules", "vitest", "vitest.mjs"), "run",
		"--config", "conformance-subscriptions.config.mjs", "-t", "Reserved subscription APIs", "--reporter=json", "--outputFile="+report)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "CONFORMANCE_TEST_URL="+h.URL(), "NO_COLOR=1")
	out, err := cmd.CombinedOutput()
	raw, rerr := os.ReadFile(report)
	if rerr != nil {
		t.Fatalf("no report from vitest (%v): %v\n%s", err, rerr, lastBytes(out, 4000))
	}
	var rep struct {
		TestResults []struct {
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
	passed, ran := 0, 0
	for _, f := range rep.TestResults {
		for _, a := range f.AssertionResults {
			if !strings.Contains(a.FullName, "Reserved subscription APIs") {
				continue
			}
			switch a.Status {
			case "passed":
				passed++
				ran++
			case "failed":
				ran++
				msg := ""
				if len(a.FailureMessages) > 0 {
					msg = firstLine(a.FailureMessages[0])
				}
				t.Errorf("failed: %s: %s", a.FullName, msg)
			}
		}
	}
	t.Logf("Durable Streams conformance %s, subscriptions: %d of %d passed", conformanceVersion, passed, ran)
	if ran != conformanceSubscriptionTests {
		t.Errorf("ran %d subscription tests, want the %d of version %s", ran, conformanceSubscriptionTests, conformanceVersion)
	}
}
