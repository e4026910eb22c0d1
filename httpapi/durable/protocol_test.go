package durable_test

import (
	"encoding/json"
	"net/http"
	"reflect"
	"strings"
	"testing"
)

func TestCreateAppendReadDelete(t *testing.T) {
	e := newEnv(t, publicOpts())
	const p = "/v1/stream/chat/room-1"
	r := e.do("PUT", p, "hello", "Content-Type", "text/plain; charset=utf-8")
	want(t, r, http.StatusCreated)
	wantHeader(t, r, "Location", e.url+p)
	wantHeader(t, r, "Content-Type", "text/plain; charset=utf-8")
	first := r.h("Stream-Next-Offset")
	if len(first) != 33 || first <= "0000000000000000_0000000000000000" {
		t.Fatalf("offset %q: want a 33-character offset past the start", first)
	}
	// The same configuration again: 200; another content type: 409.
	want(t, e.do("PUT", p, "", "Content-Type", "text/plain"), http.StatusOK)
	want(t, e.do("PUT", p, "", "Content-Type", "application/json"), http.StatusConflict)
	want(t, e.do("PUT", p, "", "Content-Type", "text/plain", "Stream-TTL", "60"), http.StatusConflict)

	second := e.mustAppend(p, textPlain, " world")
	if second <= first {
		t.Fatalf("offsets must grow: %q then %q", first, second)
	}
	third := e.mustAppend(p, "TEXT/PLAIN; charset=utf-8", "!") // media types compare without case and parameters
	if got := e.read(p); got != "hello world!" {
		t.Fatalf("read %q", got)
	}
	// From an offset: what came after it.
	r = e.do("GET", p+"?offset="+first, "")
	want(t, r, http.StatusOK)
	if r.body != " world!" {
		t.Fatalf("from %s: %q", first, r.body)
	}
	wantHeader(t, r, "Stream-Next-Offset", third)
	wantHeader(t, r, "Stream-Up-To-Date", "true")
	wantHeader(t, r, "X-Content-Type-Options", "nosniff")
	wantHeader(t, r, "Cross-Origin-Resource-Policy", "cross-origin")
	// No offset is -1.
	if r := e.do("GET", p, ""); r.body != "hello world!" {
		t.Fatalf("no offset: %q", r.body)
	}
	// ETag and 304.
	etag := r.h("ETag")
	if etag == "" {
		t.Fatal("no ETag")
	}
	want(t, e.do("GET", p+"?offset="+first, "", "If-None-Match", etag), http.StatusNotModified)
	e.mustAppend(p, textPlain, "?")
	r = e.do("GET", p+"?offset="+first, "", "If-None-Match", etag)
	want(t, r, http.StatusOK) // the range grew: another ETag
	if r.body != " world!?" {
		t.Fatalf("after another append: %q", r.body)
	}
	// offset=now: nothing, the tail, not cached.
	r = e.do("GET", p+"?offset=now", "")
	want(t, r, http.StatusOK)
	if r.body != "" || r.h("Stream-Up-To-Date") != "true" || r.h("Cache-Control") != "no-store" || r.h("ETag") != "" {
		t.Fatalf("offset=now: body %q, headers %v", r.body, r.Header)
	}
	tail := r.h("Stream-Next-Offset")
	// At the tail: empty, up to date, the same offset.
	r = e.do("GET", p+"?offset="+tail, "")
	if r.body != "" || r.h("Stream-Next-Offset") != tail || r.h("Stream-Up-To-Date") != "true" || r.h("Stream-Closed") != "" {
		t.Fatalf("at the tail: body %q, headers %v", r.body, r.Header)
	}
	// HEAD.
	r = e.do("HEAD", p, "")
	want(t, r, http.StatusOK)
	wantHeader(t, r, "Stream-Next-Offset", tail)
	wantHeader(t, r, "Cache-Control", "no-store")
	wantHeader(t, r, "Content-Type", "text/plain; charset=utf-8")
	// DELETE, then it is gone; a new stream of that name starts empty.
	want(t, e.do("DELETE", p, ""), http.StatusNoContent)
	want(t, e.do("GET", p, ""), http.StatusNotFound)
	want(t, e.do("HEAD", p, ""), http.StatusNotFound)
	want(t, e.do("POST", p, "x", "Content-Type", textPlain), http.StatusNotFound)
	want(t, e.do("DELETE", p, ""), http.StatusNotFound)
	fresh := e.mustCreate(p, "application/octet-stream", "")
	if fresh <= tail {
		t.Fatalf("a re-created stream's offset %q is not past the old tail %q", fresh, tail)
	}
	if got := e.read(p); got != "" {
		t.Fatalf("the re-created stream holds %q", got)
	}
	// An old offset is still a position: before the new stream's start.
	if r := e.do("GET", p+"?offset="+first, ""); r.StatusCode != http.StatusOK || r.body != "" {
		t.Fatalf("old offset on the new stream: %d %q", r.StatusCode, r.body)
	}
}

func TestJSONMode(t *testing.T) {
	e := newEnv(t, publicOpts())
	const p = "/v1/stream/j"
	e.mustCreate(p, "application/json", "[]") // an empty array creates an empty stream
	if got := e.read(p); got != "[]" {
		t.Fatalf("empty JSON stream reads %q", got)
	}
	e.mustAppend(p, "application/json", `{"a": 1}`)
	e.mustAppend(p, "application/json", `[{"b":2}, [3, 4], "five"]`) // flattened one level
	want(t, e.do("POST", p, `[]`, "Content-Type", "application/json"), http.StatusBadRequest)
	want(t, e.do("POST", p, `{"a":`, "Content-Type", "application/json"), http.StatusBadRequest)
	want(t, e.do("POST", p, `1 2`, "Content-Type", "application/json"), http.StatusBadRequest)
	var got []any
	if err := json.Unmarshal([]byte(e.read(p)), &got); err != nil {
		t.Fatal(err)
	}
	wantMsgs := []any{map[string]any{"a": 1.0}, map[string]any{"b": 2.0}, []any{3.0, 4.0}, "five"}
	if !reflect.DeepEqual(got, wantMsgs) {
		t.Fatalf("messages %v, want %v", got, wantMsgs)
	}
	r := e.do("GET", p+"?offset=now", "")
	if r.body != "[]" {
		t.Fatalf("offset=now on a JSON stream: %q", r.body)
	}
}

func TestBadRequests(t *testing.T) {
	e := newEnv(t, publicOpts())
	const p = "/v1/stream/bad"
	e.mustCreate(p, textPlain, "x")
	for _, c := range []struct {
		name, method, path, body string
		hdr                      []string
		status                   int
	}{
		{"malformed offset", "GET", p + "?offset=abc", "", nil, 400},
		{"offset with a comma", "GET", p + "?offset=0,1", "", nil, 400},
		{"two offsets", "GET", p + "?offset=-1&offset=now", "", nil, 400},
		{"empty offset", "GET", p + "?offset=", "", nil, 400},
		{"long-poll without offset", "GET", p + "?live=long-poll", "", nil, 400},
		{"sse without offset", "GET", p + "?live=sse", "", nil, 400},
		{"unknown live mode", "GET", p + "?offset=-1&live=websocket", "", nil, 400},
		{"empty append", "POST", p, "", []string{"Content-Type", textPlain}, 400},
		{"append without content type", "POST", p, "x", nil, 400},
		{"content type mismatch", "POST", p, "x", []string{"Content-Type", "application/json"}, 409},
		{"partial producer headers", "POST", p, "x", []string{"Content-Type", textPlain, "Producer-Id", "a"}, 400},
		{"empty producer id", "POST", p, "x", []string{"Content-Type", textPlain, "Producer-Id", "", "Producer-Epoch", "0", "Producer-Seq", "0"}, 400},
		{"producer epoch not an integer", "POST", p, "x", []string{"Content-Type", textPlain, "Producer-Id", "a", "Producer-Epoch", "1e3", "Producer-Seq", "0"}, 400},
		{"producer seq past 2^53-1", "POST", p, "x", []string{"Content-Type", textPlain, "Producer-Id", "a", "Producer-Epoch", "0", "Producer-Seq", "9007199254740992"}, 400},
		{"negative producer seq", "POST", p, "x", []string{"Content-Type", textPlain, "Producer-Id", "a", "Producer-Epoch", "0", "Producer-Seq", "-1"}, 400},
		{"ttl with a plus", "PUT", "/v1/stream/t1", "", []string{"Stream-TTL", "+60"}, 400},
		{"ttl with a leading zero", "PUT", "/v1/stream/t2", "", []string{"Stream-TTL", "060"}, 400},
		{"ttl and expiry", "PUT", "/v1/stream/t3", "", []string{"Stream-TTL", "60", "Stream-Expires-At", "2030-01-01T00:00:00Z"}, 400},
		{"expiry not RFC 3339", "PUT", "/v1/stream/t4", "", []string{"Stream-Expires-At", "tomorrow"}, 400},
		{"fork offset without source", "PUT", "/v1/stream/t5", "", []string{"Stream-Fork-Offset", "0000000000000000_0000000000000000"}, 400},
		{"fork of a missing stream", "PUT", "/v1/stream/t6", "", []string{"Stream-Forked-From", "/v1/stream/missing"}, 404},
		{"malformed fork offset", "PUT", "/v1/stream/t7", "", []string{"Stream-Forked-From", p, "Stream-Fork-Offset", "-1"}, 400},
		{"fork offset past the tail", "PUT", "/v1/stream/t8", "", []string{"Stream-Forked-From", p, "Stream-Fork-Offset", "9999999999999999_0000000000000000"}, 400},
		{"name too long", "PUT", "/v1/stream/" + strings.Repeat("é", 60), "", nil, 400},
		{"read of a missing stream", "GET", "/v1/stream/missing", "", nil, 404},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := e.do(c.method, c.path, c.body, c.hdr...)
			want(t, r, c.status)
			var body struct {
				Error struct{ Code, Message string }
			}
			if err := json.Unmarshal([]byte(r.body), &body); err != nil || body.Error.Code == "" || body.Error.Message == "" {
				t.Fatalf("error body %q: want ssehub's JSON error with a code and a message", r.body)
			}
		})
	}
	// Too large a body: 413.
	o := publicOpts()
	o.MaxBodyBytes = 1024
	small := newEnv(t, o)
	small.mustCreate(p, textPlain, "")
	want(t, small.do("POST", p, strings.Repeat("x", 2048), "Content-Type", textPlain), http.StatusRequestEntityTooLarge)
	want(t, small.do("PUT", "/v1/stream/big", strings.Repeat("x", 2048), "Content-Type", textPlain), http.StatusRequestEntityTooLarge)
	want(t, small.do("HEAD", "/v1/stream/big", ""), http.StatusNotFound)
}
