package emitter

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
)

func TestWantsJSON(t *testing.T) {
	for _, tc := range []struct {
		accept []string // one Accept header line each; nil for none
		want   bool
	}{
		{nil, false},
		{[]string{""}, false},
		{[]string{"*/*"}, false},
		{[]string{"text/event-stream"}, false},
		{[]string{"application/json"}, true},
		{[]string{"Application/JSON"}, true},
		{[]string{"application/json; charset=utf-8"}, true},
		{[]string{"application/json, text/event-stream"}, false}, // a tie goes to the stream
		{[]string{"text/event-stream, application/json"}, false},
		{[]string{"application/json, */*"}, false},
		{[]string{"application/json, */*;q=0.8"}, true},
		{[]string{"application/json;q=0.9, text/event-stream"}, false},
		{[]string{"application/json, text/event-stream;q=0.9"}, true},
		{[]string{"text/event-stream;q=0.5, application/json;q=0.6"}, true},
		{[]string{"application/json;q=0.5, text/event-stream;q=0.1, */*"}, false}, // */* beats JSON
		{[]string{"application/json;q=0.5, text/*;q=0.4"}, true},
		{[]string{"application/json;q=0.5, text/*;q=0.6"}, false},
		{[]string{"application/json;q=0.5, text/*;q=0.6, text/event-stream;q=0.1, */*;q=0.2"}, true}, // most specific wins
		{[]string{"application/json;q=0"}, false},
		{[]string{"application/json;q=0, */*"}, false},
		{[]string{"application/json;q=0.001"}, true},
		{[]string{"application/json;q=1.0, text/event-stream;q=0.999"}, true},
		{[]string{"application/json;q=2"}, false},      // malformed q: element ignored
		{[]string{"application/json;q=abc"}, false},    // malformed q
		{[]string{"application/json;q=0.1234"}, false}, // more than 3 decimals
		{[]string{"application/json ; q = 0.5 , text/event-stream ; q=0.4"}, true},
		{[]string{`application/json;foo="a,b;q=0";q=0.9, text/event-stream;q=0.5`}, true}, // quoted separators
		{[]string{"application/*"}, false},                                                // JSON must be listed explicitly
		{[]string{"application/json;q=0.8;level=1, text/event-stream;q=0.5"}, true},
		{[]string{"text/html, application/xhtml+xml, application/xml;q=0.9, */*;q=0.8"}, false}, // a browser
		{[]string{"application/json", "text/event-stream"}, false},                              // two header lines
		{[]string{"application/json", "text/plain"}, true},
		{[]string{",,application/json,,"}, true},
		{[]string{"garbage, application/json;q=0.3"}, true},
	} {
		r := httptest.NewRequest(http.MethodGet, "/", nil)
		for _, v := range tc.accept {
			r.Header.Add("Accept", v)
		}
		if got := WantsJSON(r); got != tc.want {
			t.Errorf("Accept %q: WantsJSON %v, want %v", tc.accept, got, tc.want)
		}
	}
}

// TestNegotiationOverHTTP serves JSON and a stream from one handler.
func TestNegotiationOverHTTP(t *testing.T) {
	checkGoroutines(t)
	srv := newServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if WantsJSON(r) {
			w.Header().Set("Content-Type", "application/json")
			json.NewEncoder(w).Encode(map[string]int{"stock": 7})
			return
		}
		e, err := Start(w, r, Options{})
		if err != nil {
			return
		}
		defer e.Close()
		e.Send(map[string]int{"stock": 7}, "init", "")
	}))
	resp := open(t, srv.Client(), srv.URL, "Accept", "application/json")
	body, _ := io.ReadAll(resp.Body)
	if resp.Header.Get("Content-Type") != "application/json" || string(body) != "{\"stock\":7}\n" {
		t.Errorf("JSON client got %q %q", resp.Header.Get("Content-Type"), body)
	}
	resp = open(t, srv.Client(), srv.URL, "Accept", "text/event-stream")
	body, _ = io.ReadAll(resp.Body)
	if string(body) != ": connected\n\nevent: init\ndata: {\"stock\":7}\n\n" {
		t.Errorf("stream client got %q", body)
	}
}
