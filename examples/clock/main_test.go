package main

import (
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ssehub/ssehub/sse"
)

func get(t *testing.T, url string, header ...string) *http.Response {
	t.Helper()
	req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, url, nil)
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	return resp
}

func TestTicksResumeAfterLastEventID(t *testing.T) {
	srv := httptest.NewServer(newMux(10 * time.Millisecond))
	defer srv.Close()
	for _, tc := range []struct {
		header []string
		query  string
		first  uint64
	}{
		{nil, "", 1},
		{[]string{"Last-Event-ID", "41"}, "", 42},
		{nil, "?last_event_id=7", 8},
	} {
		resp := get(t, srv.URL+"/events"+tc.query, tc.header...)
		if ct := resp.Header.Get("Content-Type"); ct != "text/event-stream; charset=utf-8" {
			t.Fatalf("Content-Type %q", ct)
		}
		d := sse.NewDecoder(resp.Body)
		for want := tc.first; want < tc.first+3; want++ {
			ev, err := d.Next()
			if err != nil {
				t.Fatal(err)
			}
			var tk tick
			if err := json.Unmarshal(ev.Data, &tk); err != nil {
				t.Fatal(err)
			}
			if ev.Type != "tick" || ev.ID != strconv.FormatUint(tk.N, 10) || tk.N != want || time.Since(tk.Time) > time.Minute {
				t.Errorf("event %s %q %s, want tick number %d", ev.Type, ev.ID, ev.Data, want)
			}
		}
		if r, ok := d.Retry(); !ok || r != 2*time.Second {
			t.Errorf("retry %v %v, want 2s", r, ok)
		}
		resp.Body.Close()
	}
}

func TestBadLastEventID(t *testing.T) {
	srv := httptest.NewServer(newMux(time.Hour))
	defer srv.Close()
	resp := get(t, srv.URL+"/events", "Last-Event-ID", "yesterday")
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 400 || !strings.Contains(string(body), `"code":"bad_id"`) {
		t.Errorf("%d %s, want 400 bad_id", resp.StatusCode, body)
	}
}

func TestJSONAndPage(t *testing.T) {
	srv := httptest.NewServer(newMux(time.Hour))
	defer srv.Close()
	resp := get(t, srv.URL+"/events", "Accept", "application/json")
	var tk tick
	if err := json.NewDecoder(resp.Body).Decode(&tk); err != nil || time.Since(tk.Time) > time.Minute {
		t.Errorf("JSON answer %+v (%v)", tk, err)
	}
	resp = get(t, srv.URL+"/")
	body, _ := io.ReadAll(resp.Body)
	if !strings.Contains(string(body), `new EventSource("/events")`) {
		t.Errorf("page does not open /events: %s", body)
	}
	if resp = get(t, srv.URL+"/nothing"); resp.StatusCode != 404 {
		t.Errorf("/nothing: %d, want 404", resp.StatusCode)
	}
}

// lockedBuffer collects the clock's log while it runs.
type lockedBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// TestDefaultAddrIsNotTheHubs: the clock and an ssehub hub (:8080) run
// side by side with their defaults.
func TestDefaultAddrIsNotTheHubs(t *testing.T) {
	if _, port, _ := net.SplitHostPort(defaultAddr); port == "8080" {
		t.Fatalf("default address %s is the hub's port", defaultAddr)
	}
}

// TestPortTakenFailsBeforeListening: when the address is taken, the clock
// exits 1 with a message naming it, and never logs "listening".
func TestPortTakenFailsBeforeListening(t *testing.T) {
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	var log lockedBuffer
	done := make(chan int, 1)
	go func() { done <- run(t.Context(), []string{"-addr", taken.Addr().String()}, &log) }()
	select {
	case code := <-done:
		out := log.String()
		if code != 1 || strings.Contains(out, "listening") ||
			!strings.Contains(out, "cannot listen on "+taken.Addr().String()) || !strings.Contains(out, "address already in use") ||
			!strings.Contains(out, "-addr") {
			t.Fatalf("exit %d, log:\n%s", code, out)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the clock serves on a taken port")
	}
}

// TestListeningMeansBound: "listening" is logged with the bound address,
// which answers at once, and a canceled context stops the clock cleanly.
func TestListeningMeansBound(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var log lockedBuffer
	done := make(chan int, 1)
	go func() { done <- run(ctx, []string{"-addr", "127.0.0.1:0"}, &log) }()
	re := regexp.MustCompile(`listening" url=(http://127\.0\.0\.1:\d+/)`)
	var url string
	for deadline := time.Now().Add(5 * time.Second); url == "" && time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		if m := re.FindStringSubmatch(log.String()); m != nil {
			url = m[1]
		}
	}
	if url == "" {
		t.Fatalf("no listening line with a port:\n%s", log.String())
	}
	resp := get(t, url+"events", "Accept", "application/json")
	if resp.StatusCode != 200 {
		t.Fatalf("GET %sevents: %d", url, resp.StatusCode)
	}
	resp.Body.Close()
	cancel()
	select {
	case code := <-done:
		if code != 0 {
			t.Fatalf("exit %d after cancel:\n%s", code, log.String())
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the clock did not stop")
	}
}

// TestBadFlags: a bad flag or argument exits 2, -h exits 0.
func TestBadFlags(t *testing.T) {
	for args, want := range map[string]int{"-nope": 2, "extra": 2, "-h": 0} {
		var log lockedBuffer
		if code := run(t.Context(), []string{args}, &log); code != want {
			t.Errorf("%s: exit %d, want %d; %s", args, code, want, log.String())
		}
	}
}
