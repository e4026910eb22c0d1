package interop_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// TestPublishOnceServeAll: one native publish (POST /publish/TOPIC), read
// by each protocol's own client on its own surface of the same hub:
// ssehub's EventSource stream (npm eventsource), Mercure (the same
// EventSource with a subscriber JWT signed with the reference hub's
// development key, on the IRI native_iri_prefix+topic) and Durable Streams
// (@durable-streams/client reading the read-only view _topics/TOPIC live
// over SSE). Half the events are history when the clients connect (each
// replays from the start), half arrive live; every client gets all of
// them, in log order, with the same data, and the ids of the two
// EventSource surfaces name the same log ids.
func TestPublishOnceServeAll(t *testing.T) {
	node := requireTool(t, "Node.js", "node")
	dir := nodeModules(t)
	const (
		topic  = "interop.all.orders"
		prefix = "https://example.com/topics/"
		n      = 6
	)
	cfg := filepath.Join(t.TempDir(), "ssehub.yaml")
	yaml := "mercure:\n  issuer: " + mercureIssuer + "\n  resource_identifier: " + mercureAudience +
		"\n  native_topics: [interop.all.*]\n  native_iri_prefix: " + prefix +
		"\ndurable_streams:\n  native_topics: [interop.all.*]\n"
	if err := os.WriteFile(cfg, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("MERCURE_PUBLISHER_JWT_KEY", mercureDevKey)
	t.Setenv("MERCURE_SUBSCRIBER_JWT_KEY", mercureDevKey)
	h := startHub(t, "--config", cfg)

	// A stream token for the native topic (not the admin token), and a
	// Mercure subscriber JWT for its IRI.
	req, _ := http.NewRequest("POST", h.URL()+"/api/tokens", strings.NewReader(`{"purpose":"stream","topics":["interop.all.*"]}`))
	req.Header.Set("Authorization", "Bearer "+h.token)
	req.Header.Set("Content-Type", "application/json")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var tok struct{ Token string }
	_ = json.NewDecoder(res.Body).Decode(&tok)
	res.Body.Close()
	if tok.Token == "" {
		t.Fatalf("creating a stream token: %s", res.Status)
	}
	jwtTok, err := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{
		"iss": mercureIssuer, "aud": mercureAudience, "exp": time.Now().Add(time.Hour).Unix(),
		"mercure": map[string]any{"subscribe": []string{prefix + topic}},
	}).SignedString([]byte(mercureDevKey))
	if err != nil {
		t.Fatal(err)
	}

	var want []string // data, in publish order
	var ids []string  // log ids, in publish order
	publish := func(from, to int) {
		for i := from; i < to; i++ {
			data := fmt.Sprintf(`{"n":%d,"text":"é ✓ %d"}`, i, i)
			ids = append(ids, h.Publish(topic, "", data))
			want = append(want, data)
		}
		h.Publish("interop.other", "", `{"not":"subscribed"}`) // on no surface of the readers
	}
	publish(0, n/2)

	cmd := exec.Command(node, filepath.Join(dir, "allthree.mjs"))
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "BASE="+h.URL(), "TOPIC="+topic, "IRI="+prefix+topic,
		"TOKEN="+tok.Token, "JWT="+jwtTok, fmt.Sprintf("N=%d", n))
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	type line struct{ Surface, Data, ID string }
	var mu sync.Mutex
	got := map[string][]line{}
	done := make(chan error, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			var l line
			if err := json.Unmarshal(sc.Bytes(), &l); err != nil {
				continue
			}
			mu.Lock()
			got[l.Surface] = append(got[l.Surface], l)
			mu.Unlock()
		}
		_, _ = io.Copy(io.Discard, stdout)
		done <- cmd.Wait()
	}()
	count := func(s string) int { mu.Lock(); defer mu.Unlock(); return len(got[s]) }
	// The history first, on every surface; then the live half.
	if err := waitFor(30*time.Second, func() bool {
		return count("events") >= n/2 && count("mercure") >= n/2 && count("durable") >= n/2
	}); err != nil {
		t.Fatalf("the history did not reach every client (%d, %d, %d): %v\nstderr: %s", count("events"), count("mercure"), count("durable"), err, stderr.String())
	}
	publish(n/2, n)
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("node allthree.mjs: %v\nstderr: %s", err, stderr.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("not every client got the live half within 30 s (%d, %d, %d)\nstderr: %s", count("events"), count("mercure"), count("durable"), stderr.String())
	}
	mu.Lock()
	defer mu.Unlock()
	for _, s := range []string{"events", "mercure", "durable"} {
		ls := got[s]
		if len(ls) != n {
			t.Errorf("%s: %d events, want %d", s, len(ls), n)
			continue
		}
		for i, l := range ls {
			if l.Data != want[i] {
				t.Errorf("%s event %d: data %q, want %q", s, i, l.Data, want[i])
			}
			switch s {
			case "events":
				if l.ID != ids[i] {
					t.Errorf("events event %d: id %q, want the log id %s", i, l.ID, ids[i])
				}
			case "mercure":
				if !strings.HasPrefix(l.ID, "#"+ids[i]+"@") {
					t.Errorf("mercure event %d: id %q, want #%s@epoch", i, l.ID, ids[i])
				}
			}
		}
	}
}
