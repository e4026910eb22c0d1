package main

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
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
