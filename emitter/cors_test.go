package emitter

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"testing"
)

func TestCORS(t *testing.T) {
	checkGoroutines(t)
	for _, tc := range []struct {
		name        string
		opts        Options
		origin      string
		allow       string // Access-Control-Allow-Origin, "" for none
		credentials bool
		vary        bool
	}{
		{"off", Options{}, "https://a.example", "", false, false},
		{"any", Options{CORSOrigin: "*"}, "https://a.example", "*", false, false},
		{"any without Origin", Options{CORSOrigin: "*"}, "", "*", false, false},
		{"listed", Options{CORSOrigin: "https://a.example"}, "https://a.example", "https://a.example", false, true},
		{"listed with credentials", Options{CORSOrigin: "https://b.example, https://a.example", CORSCredentials: true},
			"https://a.example", "https://a.example", true, true},
		{"not listed", Options{CORSOrigin: "https://a.example", CORSCredentials: true}, "https://evil.example", "", false, true},
		{"no Origin", Options{CORSOrigin: "https://a.example"}, "", "", false, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := newServer(t, Handler(func(context.Context, *Emitter) error { return nil }, tc.opts))
			var hdr []string
			if tc.origin != "" {
				hdr = []string{"Origin", tc.origin}
			}
			resp := open(t, srv.Client(), srv.URL, hdr...)
			io.Copy(io.Discard, resp.Body)
			if resp.StatusCode != 200 {
				t.Fatalf("status %d", resp.StatusCode)
			}
			if got := resp.Header.Get("Access-Control-Allow-Origin"); got != tc.allow {
				t.Errorf("Access-Control-Allow-Origin %q, want %q", got, tc.allow)
			}
			if got := resp.Header.Get("Access-Control-Allow-Credentials"); (got == "true") != tc.credentials || (got != "" && got != "true") {
				t.Errorf("Access-Control-Allow-Credentials %q, want credentials=%v", got, tc.credentials)
			}
			if got := slices.Contains(resp.Header.Values("Vary"), "Origin"); got != tc.vary {
				t.Errorf("Vary %q, want Origin=%v", resp.Header.Values("Vary"), tc.vary)
			}
		})
	}
}

// TestCORSWildcardWithCredentials checks that "*" with credentials is
// refused: by Validate and Start without writing, and by Handler with a
// JSON 500.
func TestCORSWildcardWithCredentials(t *testing.T) {
	checkGoroutines(t)
	opts := Options{CORSOrigin: "*", CORSCredentials: true, Logger: slog.New(slog.DiscardHandler)}
	if err := opts.Validate(); !errors.Is(err, ErrCORSCredentials) {
		t.Errorf("Validate: %v, want ErrCORSCredentials", err)
	}
	rec := httptest.NewRecorder()
	if _, err := Start(rec, httptest.NewRequest("GET", "/", nil), opts); !errors.Is(err, ErrCORSCredentials) {
		t.Errorf("Start: %v, want ErrCORSCredentials", err)
	}
	if rec.Flushed || rec.Body.Len() != 0 || len(rec.Header()) != 0 {
		t.Errorf("Start wrote a response although the options are invalid: %v %q", rec.Header(), rec.Body)
	}

	srv := newServer(t, Handler(func(context.Context, *Emitter) error {
		t.Error("callback ran with invalid options")
		return nil
	}, opts))
	resp := open(t, srv.Client(), srv.URL, "Origin", "https://a.example")
	var body struct{ Error Error }
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusInternalServerError || body.Error.Code != "INTERNAL" {
		t.Errorf("status %d, body %+v; want 500 internal", resp.StatusCode, body)
	}
	if got := resp.Header.Get("Access-Control-Allow-Origin"); got != "" {
		t.Errorf("Access-Control-Allow-Origin %q on a refused stream", got)
	}
}

func TestValidate(t *testing.T) {
	for _, tc := range []struct {
		opts Options
		ok   bool
	}{
		{Options{}, true},
		{Options{Retry: 1, KeepAlive: 1, Timeout: 1, WriteTimeout: 1, CORSOrigin: "https://a.example", CORSCredentials: true}, true},
		{Options{Retry: -1}, false},
		{Options{KeepAlive: -1}, false},
		{Options{Timeout: -1}, false},
		{Options{WriteTimeout: -1}, false},
		{Options{CORSOrigin: "*, https://a.example"}, false},
		{Options{CORSOrigin: "https://a.example,,https://b.example"}, false},
		{Options{CORSCredentials: true}, false},
	} {
		if err := tc.opts.Validate(); (err == nil) != tc.ok {
			t.Errorf("%+v: Validate %v, want ok=%v", tc.opts, err, tc.ok)
		}
	}
}
