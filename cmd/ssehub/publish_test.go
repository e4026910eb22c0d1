package main

import (
	"context"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ssehub/ssehub"
	"github.com/ssehub/ssehub/httpapi"
	"github.com/ssehub/ssehub/internal/hubtest"
	"github.com/ssehub/ssehub/memory"
)

// testHubServer runs a real hub (memory store) and returns its URL and log.
func testHubServer(t *testing.T, admin string) (string, ssehub.Log) {
	t.Helper()
	l := memory.New(memory.Options{})
	th := hubtest.New(t, l, func(c *hubtest.Config) { c.API.AdminHash = httpapi.HashToken(admin) })
	return th.Srv.URL, l
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
	if code, _, errOut := runCmd(t, "publish", "bad.json", "{nope", "--json"); code != 1 || !strings.Contains(errOut, "BAD_JSON") {
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
	l.Read(context.Background(), 0, ssehub.All(), func(e *ssehub.Event) error {
		got = append(got, e.Topic+"|"+e.Type+"|"+string(e.Data))
		return nil
	})
	want := []string{`orders.paid|paid|{"total":42}`, "files.x||line1\nline2", "in.x||from stdin", "b.1||1", "b.2||two"}
	if strings.Join(got, ",") != strings.Join(want, ",") {
		t.Fatalf("stored %q, want %q", got, want)
	}
}

func TestPublishFieldsStdinAndErrors(t *testing.T) {
	url, l := testHubServer(t, "pub-admin2")
	defer func() { stdin = os.Stdin }()
	// No DATA argument reads standard input; flags before and after the topic.
	stdin = strings.NewReader(`{"n":1}`)
	code, out, errOut := runCmd(t, "publish", "--server", url+"/", "--token", "pub-admin2", "users.login",
		"--entity", "user_1", "--source", "web", "--key", "evt_abc", "--json")
	if code != 0 || out != "1\n" {
		t.Fatalf("stdin: %d %q %q", code, out, errOut)
	}
	// A batch from standard input.
	stdin = strings.NewReader("{\"topic\":\"b.1\",\"data\":{\"a\":1}}\n{\"topic\":\"b.2\",\"data\":2}\n")
	if code, out, errOut := runCmd(t, "publish", "--batch", "-", "--server", url, "--token", "pub-admin2"); code != 0 || out != "2\n3\n" {
		t.Fatalf("batch stdin: %d %q %q", code, out, errOut)
	}
	// A batch line repeating a key is answered with the first id, marked.
	stdin = strings.NewReader("{\"topic\":\"users.login\",\"key\":\"evt_abc\",\"data\":0}\n")
	if code, out, errOut := runCmd(t, "publish", "--batch", "-", "--server", url, "--token", "pub-admin2"); code != 0 || out != "1 (duplicate)\n" {
		t.Fatalf("batch duplicate: %d %q %q", code, out, errOut)
	}
	var got []*ssehub.Event
	l.Read(context.Background(), 0, ssehub.All(), func(e *ssehub.Event) error {
		got = append(got, e)
		return nil
	})
	if len(got) != 3 {
		t.Fatalf("stored %d events", len(got))
	}
	if e := got[0]; e.Topic != "users.login" || string(e.Data) != `{"n":1}` || e.Entity != "user_1" || e.Source != "web" || e.Key != "evt_abc" {
		t.Fatalf("stored %+v", e)
	}
	if string(got[1].Data) != `{"a":1}` || got[2].Topic != "b.2" {
		t.Fatalf("batch stored %+v %+v", got[1], got[2])
	}

	// HTTP errors: "ssehub publish: <status> <code>: <message>", exit 1.
	code, _, errOut = runCmd(t, "publish", "--server", url, "--token", "", "a.b", "x")
	if code != 1 || !strings.HasPrefix(errOut, "ssehub publish: 401 Unauthorized UNAUTHORIZED: ") {
		t.Fatalf("no token: %d %q", code, errOut)
	}
	code, _, errOut = runCmd(t, "publish", "--server", url, "--token", "pub-admin2", "bad..topic", "x")
	if code != 1 || !strings.HasPrefix(errOut, "ssehub publish: 400 Bad Request ") {
		t.Fatalf("bad topic: %d %q", code, errOut)
	}
	// A missing @file is a local error.
	if code, _, errOut := runCmd(t, "publish", "--server", url, "a.b", "@"+filepath.Join(t.TempDir(), "nope")); code != 1 || !strings.Contains(errOut, "nope") {
		t.Fatalf("missing file: %d %q", code, errOut)
	}
	// Usage errors exit 2: unknown flag, too many arguments, batch with a topic.
	stdin = strings.NewReader("")
	for _, args := range [][]string{{"publish", "--bogus", "a.b"}, {"publish", "a.b", "x", "y"}, {"publish", "--batch", "-", "a.b"},
		{"publish", "--server", "http://a b", "a.b", "x"}, {"publish", "--server", "http://a b", "--batch", "-"}} {
		if code, _, _ := runCmd(t, args...); code != 2 {
			t.Errorf("%q: exit %d, want 2", args, code)
		}
	}
}

func TestPublishNetworkError(t *testing.T) {
	srv := httptest.NewServer(nil)
	url := srv.URL
	srv.Close() // nothing listens there any more
	code, out, errOut := runCmd(t, "publish", "--server", url, "a.b", "x")
	if code != 1 || out != "" || !strings.HasPrefix(errOut, "ssehub publish: ") {
		t.Fatalf("%d %q %q", code, out, errOut)
	}
}
