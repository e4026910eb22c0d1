package interop_test

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// mercureDevKey, issuer and audience are the reference hub's development
// settings, which its conformance suite signs its token with.
const (
	mercureDevKey   = "!ChangeThisMercureHubJWTSecretKey!"
	mercureIssuer   = "https://localhost"
	mercureAudience = "https://localhost/.well-known/mercure"
)

// startMercureHub starts `ssehub serve` configured like the reference hub
// the conformance suite expects: the dev key for both roles (through the
// reference hub's environment variables), its issuer and audience, and
// anonymous subscribers.
func startMercureHub(t *testing.T) *hubProc {
	t.Helper()
	cfg := filepath.Join(t.TempDir(), "ssehub.yaml")
	yaml := "mercure:\n  issuer: " + mercureIssuer + "\n  resource_identifier: " + mercureAudience + "\n  anonymous: true\n  subscriptions: true\n"
	if err := os.WriteFile(cfg, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("MERCURE_PUBLISHER_JWT_KEY", mercureDevKey)
	t.Setenv("MERCURE_SUBSCRIBER_JWT_KEY", mercureDevKey)
	return startHub(t, "--config", cfg)
}

// playwrightModules returns interop/node with @playwright/test installed
// (npm ci from the committed lock file when it is missing).
func playwrightModules(t *testing.T) string {
	t.Helper()
	dir, err := filepath.Abs("node")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "node_modules", "@playwright", "test", "package.json")); err == nil {
		return dir
	}
	npm := requireTool(t, "npm", "npm")
	cmd := exec.Command(npm, "ci", "--no-audit", "--no-fund")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("npm ci in %s: %v\n%s", dir, err, out)
	}
	return dir
}

// playwrightReport is the part of Playwright's JSON report the test reads.
type playwrightReport struct {
	Stats struct {
		Expected   int `json:"expected"`
		Unexpected int `json:"unexpected"`
		Skipped    int `json:"skipped"`
		Flaky      int `json:"flaky"`
	} `json:"stats"`
}

// runPlaywright runs the specs in specDir against h with Debian's Chromium
// and fails the test unless every one passes.
func runPlaywright(t *testing.T, h *hubProc, specDir string, minTests int) {
	t.Helper()
	node := requireTool(t, "Node.js", "node")
	chromium := requireTool(t, "Chromium", "chromium", "chromium-browser")
	dir := playwrightModules(t)
	out := t.TempDir()
	report := filepath.Join(out, "report.json")
	cmd := exec.Command(node, filepath.Join(dir, "node_modules", "@playwright", "test", "cli.js"), "test",
		"--config", filepath.Join(dir, "mercure", "playwright.config.mjs"))
	cmd.Dir = dir
	cmd.Env = append(os.Environ(),
		"BASE_URL="+h.URL()+"/.well-known/mercure",
		"MERCURE_SPEC_DIR="+specDir,
		"MERCURE_REPORT="+report,
		"MERCURE_OUT="+filepath.Join(out, "results"),
		"MERCURE_JWT_KEY="+mercureDevKey,
		"CHROMIUM="+chromium,
		"CUSTOM_ID=1", // the reference suite's .env: the hub must honour publisher ids
		"PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1",
		"CI=", // the suite's config is not used, but keep Playwright's CI defaults off
	)
	combined, err := cmd.CombinedOutput()
	t.Logf("playwright (%s):\n%s", specDir, combined)
	b, rerr := os.ReadFile(report)
	if rerr != nil {
		t.Fatalf("no Playwright report (%v); exit: %v", rerr, err)
	}
	var r playwrightReport
	if err := json.Unmarshal(b, &r); err != nil {
		t.Fatalf("report: %v", err)
	}
	t.Logf("passed %d, failed %d, skipped %d, flaky %d", r.Stats.Expected, r.Stats.Unexpected, r.Stats.Skipped, r.Stats.Flaky)
	if err != nil || r.Stats.Unexpected > 0 || r.Stats.Flaky > 0 || r.Stats.Skipped > 0 {
		t.Fatalf("the Mercure conformance run failed: %v", err)
	}
	if r.Stats.Expected < minTests {
		t.Fatalf("only %d tests ran, want at least %d", r.Stats.Expected, minTests)
	}
}

// TestMercureConformance runs ssehub's own Mercure checks
// (node/mercure/conformance.spec.mjs) in real Chromium against a real hub.
func TestMercureConformance(t *testing.T) {
	h := startMercureHub(t)
	dir, err := filepath.Abs(filepath.Join("node", "mercure"))
	if err != nil {
		t.Fatal(err)
	}
	runPlaywright(t, h, dir, 16)
}

// TestMercureReferenceSuite runs the reference hub's conformance suite
// (conformance-tests/mercure.spec.ts of github.com/dunglas/mercure, AGPL,
// so not in this repository) when MERCURE_CONFORMANCE_DIR names a folder
// holding it: the spec file is copied beside a link to interop/node's
// node_modules and run with this folder's Playwright configuration.
func TestMercureReferenceSuite(t *testing.T) {
	src := os.Getenv("MERCURE_CONFORMANCE_DIR")
	if src == "" {
		t.Skip("MERCURE_CONFORMANCE_DIR is not set (a checkout of dunglas/mercure's conformance-tests); see docs/mercure.md")
	}
	spec, err := os.ReadFile(filepath.Join(src, "mercure.spec.ts"))
	if err != nil {
		t.Fatal(err)
	}
	h := startMercureHub(t)
	dir := playwrightModules(t)
	work := t.TempDir()
	if err := os.WriteFile(filepath.Join(work, "mercure.spec.ts"), spec, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Join(dir, "node_modules"), filepath.Join(work, "node_modules")); err != nil {
		t.Fatal(err)
	}
	runPlaywright(t, h, work, strings.Count(string(spec), "name: \""))
}
