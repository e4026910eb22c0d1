package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ssehub/ssehub"
	"github.com/ssehub/ssehub/httpapi"
	"github.com/ssehub/ssehub/hub"
	"github.com/ssehub/ssehub/memory"
	"net/http/httptest"
)

// testHubServer runs a real hub (memory store) and returns its URL and log.
func testHubServer(t *testing.T, admin string) (string, ssehub.Log) {
	t.Helper()
	l := memory.New(memory.Options{})
	h := hub.New(l, hub.Options{})
	api := httpapi.New(httpapi.Options{Hub: h, KV: l, AdminHash: httpapi.HashToken(admin)})
	srv := httptest.NewServer(api)
	ctx, cancel := context.WithCancel(context.Background())
	go h.Run(ctx)
	t.Cleanup(func() { api.Shutdown(); srv.Close(); cancel(); l.Close() })
	return srv.URL, l
}

func TestPublishCommand(t *testing.T) {
	url, l := testHubServer(t, "pub-admin")
	t.Setenv("SSEHUB_TOKEN", "pub-admin")
	t.Setenv("SSEHUB_SERVER", url)
	if code, out, errOut := runCmd(t, "publish", "orders.paid", `{"total":42}`, "--json", "--type", "paid"); code != 0 || strings.TrimSpace(out) != "1" {
		t.Fatalf("literal: %d %q %q", code, out, errOut)
	}
	file := filepath.Join(t.TempDir(), "d.txt")
	os.WriteFile(file, []byte("line1\nline2"), 0o600)
	if code, out, _ := runCmd(t, "publish", "--key", "k1", "files.x", "@"+file); code != 0 || strings.TrimSpace(out) != "2" {
		t.Fatalf("@file: %d %q", code, out)
	}
	if code, out, _ := runCmd(t, "publish", "files.x", "other", "--key", "k1"); code != 0 || strings.TrimSpace(out) != "2 (duplicate)" {
		t.Fatalf("duplicate: %d %q", code, out)
	}
	stdin = strings.NewReader("from stdin")
	defer func() { stdin = os.Stdin }()
	if code, out, _ := runCmd(t, "publish", "in.x", "-"); code != 0 || strings.TrimSpace(out) != "3" {
		t.Fatalf("stdin: %d %q", code, out)
	}
	if code, _, errOut := runCmd(t, "publish", "bad.json", "{nope", "--json"); code != 1 || !strings.Contains(errOut, "bad_json") {
		t.Fatalf("invalid JSON: %d %q", code, errOut)
	}
	if code, _, errOut := runCmd(t, "publish", "a", "x", "--token", ""); code != 1 || !strings.Contains(errOut, "401") {
		t.Fatalf("no token: %d %q", code, errOut)
	}
	batch := filepath.Join(t.TempDir(), "b.ndjson")
	os.WriteFile(batch, []byte("{\"topic\":\"b.1\",\"data\":1}\n{\"topic\":\"b.2\",\"data\":\"two\"}\n"), 0o600)
	if code, out, errOut := runCmd(t, "publish", "--batch", batch); code != 0 || out != "4\n5\n" {
		t.Fatalf("batch: %d %q %q", code, out, errOut)
	}
	if code, _, _ := runCmd(t, "publish"); code != 2 {
		t.Fatalf("usage: %d", code)
	}
	var got []string
	l.Read(context.Background(), 0, nil, func(e *ssehub.Event) error {
		got = append(got, e.Topic+"|"+e.Type+"|"+string(e.Data))
		return nil
	})
	want := []string{`orders.paid|paid|{"total":42}`, "files.x||line1\nline2", "in.x||from stdin", "b.1||1", "b.2||two"}
	if strings.Join(got, ",") != strings.Join(want, ",") {
		t.Fatalf("stored %q, want %q", got, want)
	}
}
