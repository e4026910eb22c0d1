package main

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
)

func runCmd(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var out, errOut lockedBuffer
	code := run(context.Background(), args, &out, &errOut)
	return code, out.String(), errOut.String()
}

func statusOf(t *testing.T, url, token string) int {
	t.Helper()
	req, _ := http.NewRequest("GET", url, nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

func TestTokenCommandOverAPI(t *testing.T) {
	t.Setenv("SSEHUB_ADMIN_TOKEN", "cli-admin")
	url, _, _ := startServe(t, "--store", "memory")
	code, out, errOut := runCmd(t, "token", "create", "--purpose", "stream", "--topic", "a.*", "--label", "dash", "--server", url, "--token", "cli-admin")
	secret := strings.TrimSpace(out)
	if code != 0 || len(secret) != 64 || !strings.Contains(errOut, "shown only once") {
		t.Fatalf("create: %d %q %q", code, out, errOut)
	}
	if s := statusOf(t, url+"/events?topic=a.*", secret); s != 200 {
		t.Fatalf("new token cannot stream: %d", s)
	}
	code, out, _ = runCmd(t, "token", "list", "--server", url, "--token", "cli-admin")
	if code != 0 || !strings.Contains(out, "dash") || strings.Contains(out, secret) {
		t.Fatalf("list: %d %s", code, out)
	}
	id := strings.Fields(strings.Split(out, "\n")[1])[0]
	if code, _, errOut := runCmd(t, "token", "revoke", id, "--server", url, "--token", "cli-admin"); code != 0 {
		t.Fatalf("revoke: %d %s", code, errOut)
	}
	if s := statusOf(t, url+"/events?topic=a.*", secret); s != 401 {
		t.Fatalf("revoked token: %d", s)
	}
	if code, _, errOut := runCmd(t, "token", "list", "--server", url, "--token", "wrong"); code != 1 || !strings.Contains(errOut, "400") {
		t.Fatalf("bad admin token: %d %s", code, errOut)
	}
}

func TestTokenCommandOffline(t *testing.T) {
	t.Setenv("SSEHUB_ADMIN_TOKEN", "cli-admin")
	dir := t.TempDir()
	code, out, errOut := runCmd(t, "token", "create", "--purpose", "publish", "--data", dir)
	secret := strings.TrimSpace(out)
	if code != 0 || len(secret) != 64 {
		t.Fatalf("offline create: %d %q %q", code, out, errOut)
	}
	url, _, stop := startServe(t, "--data", dir)
	req, _ := http.NewRequest("POST", url+"/publish/x", strings.NewReader("1"))
	req.Header.Set("Authorization", "Bearer "+secret)
	resp, err := http.DefaultClient.Do(req)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("offline-created token: %v %v", resp, err)
	}
	resp.Body.Close()
	// While the hub runs, the data dir is locked: a clear error.
	if code, _, errOut := runCmd(t, "token", "list", "--data", dir); code != 1 || !strings.Contains(errOut, "--server") {
		t.Fatalf("list on a running hub's dir: %d %s", code, errOut)
	}
	stop()
}

// TestTokenListPages: `token list` follows GET /api/tokens' pages (at most
// 1,000 tokens each) to the end: with more tokens than one page holds,
// every one is listed, once.
func TestTokenListPages(t *testing.T) {
	if testing.Short() {
		t.Skip("creates 1,050 tokens")
	}
	t.Setenv("SSEHUB_ADMIN_TOKEN", "cli-admin")
	url, _, _ := startServe(t, "--store", "memory")
	const n = 1050
	for i := range n {
		req, _ := http.NewRequest("POST", url+"/api/tokens", strings.NewReader(fmt.Sprintf(`{"purpose":"stream","topics":["a"],"label":"page-%04d"}`, i)))
		req.Header.Set("Authorization", "Bearer cli-admin")
		req.Header.Set("Content-Type", "application/json")
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != http.StatusCreated && res.StatusCode != http.StatusOK {
			t.Fatalf("create token %d: %d", i, res.StatusCode)
		}
	}
	code, out, errOut := runCmd(t, "token", "list", "--server", url, "--token", "cli-admin")
	if code != 0 {
		t.Fatalf("list: %d %s", code, errOut)
	}
	seen := map[string]int{}
	for _, f := range strings.Fields(out) {
		if strings.HasPrefix(f, "page-") {
			seen[f]++
		}
	}
	if len(seen) != n {
		t.Fatalf("token list shows %d of the %d tokens", len(seen), n)
	}
	for label, c := range seen {
		if c != 1 {
			t.Fatalf("%s listed %d times", label, c)
		}
	}
}
