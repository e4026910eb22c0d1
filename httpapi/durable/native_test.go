package durable_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ssehub/ssehub"
	"github.com/ssehub/ssehub/auth"
	"github.com/ssehub/ssehub/bolt"
	"github.com/ssehub/ssehub/httpapi/durable"
	"github.com/ssehub/ssehub/internal/hubtest"
	"github.com/ssehub/ssehub/internal/natstest"
	"github.com/ssehub/ssehub/memory"
	ssenats "github.com/ssehub/ssehub/nats"
)

// nativeOpts exposes orders.* as views, with tokens required.
func nativeOpts() durable.Options {
	return durable.Options{NativeTopics: []string{"orders.*"}}
}

const view = "/v1/stream/_topics/orders.created"

// publishNative publishes data on topic the native way (POST /publish/...)
// with the admin token and returns its offset.
func (e *env) publishNative(topic, data string, query ...string) string {
	e.t.Helper()
	u := e.url + "/publish/" + topic
	if len(query) > 0 {
		u += "?" + strings.Join(query, "&")
	}
	req, _ := http.NewRequest("POST", u, strings.NewReader(data))
	req.Header.Set("Authorization", "Bearer "+hubtest.AdminToken)
	req.Header.Set("Content-Type", "application/octet-stream")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	if res.StatusCode != http.StatusOK {
		e.t.Fatalf("native publish on %s: %d %s", topic, res.StatusCode, b)
	}
	m := regexp.MustCompile(`"id":"?([0-9]+)`).FindSubmatch(b)
	if m == nil {
		e.t.Fatalf("native publish answer %s: no id", b)
	}
	id, _ := strconv.ParseUint(string(m[1]), 10, 64)
	return fmt.Sprintf("%016d_%016d", id, 0)
}

// logState counts the log's events and the Durable Streams KV keys.
func (e *env) logState() (events, keys int) {
	e.t.Helper()
	ctx := context.Background()
	if err := e.th.Hub.History(ctx, 0, ssehub.All(), func(*ssehub.Event) error { events++; return nil }); err != nil {
		e.t.Fatal(err)
	}
	if err := e.th.Store.List(ctx, "durable_streams", func(string, []byte) error { keys++; return nil }); err != nil {
		e.t.Fatal(err)
	}
	return events, keys
}

// TestNativeViewCatchUp: native events read as a JSON stream, one message
// each (JSON as is, anything else as a string, whatever the event's type),
// with the offsets, ETags, HEAD and offset=now of a real stream, and
// nothing is written for it.
func TestNativeViewCatchUp(t *testing.T) {
	e := newEnv(t, nativeOpts())
	e.token = hubtest.AdminToken
	// A topic with no events yet is an empty stream.
	r := e.do("GET", view+"?offset=-1", "")
	want(t, r, http.StatusOK)
	if r.body != "[]" || r.h("Content-Type") != "application/json" || r.h("Stream-Next-Offset") != "0000000000000000_0000000000000000" || r.h("Stream-Up-To-Date") != "true" {
		t.Fatalf("empty view: %q %v", r.body, r.Header)
	}
	ev0, keys0 := e.logState()

	o1 := e.publishNative("orders.created", "{ \"total\" : 42,\n \"items\": [1, 2] }")
	e.publishNative("orders.other", `"elsewhere"`)
	e.mustCreate("/v1/stream/orders.created", "application/json", `{"a":"real stream"}`) // topic ds.orders_2Ecreated
	o2 := e.publishNative("orders.created", "plain <text> & \"quotes\"\n")
	o3 := e.publishNative("orders.created", "\xff\xfebinary")
	o4 := e.publishNative("orders.created", `{"x":1}`, "type=ds.create") // not a marker here
	o5 := e.publishNative("orders.created", "")

	r = e.do("GET", view+"?offset=-1", "")
	want(t, r, http.StatusOK)
	const all = `[{"total":42,"items":[1,2]},"plain <text> & \"quotes\"\n","\ufffd\ufffdbinary",{"x":1},""]`
	if r.body != all {
		t.Fatalf("catch-up\n got %s\nwant %s", r.body, all)
	}
	wantHeader(t, r, "Content-Type", "application/json")
	wantHeader(t, r, "Stream-Next-Offset", o5)
	wantHeader(t, r, "Stream-Up-To-Date", "true")
	if r.h("Stream-Closed") != "" || !strings.HasPrefix(r.h("Cache-Control"), "private") {
		t.Fatalf("headers %v", r.Header)
	}
	// ETag and 304.
	etag := r.h("ETag")
	if etag == "" {
		t.Fatal("no ETag")
	}
	want(t, e.do("GET", view+"?offset=-1", "", "If-None-Match", etag), http.StatusNotModified)
	// Resume from a given offset.
	r = e.do("GET", view+"?offset="+o2, "")
	want(t, r, http.StatusOK)
	if r.body != `["\ufffd\ufffdbinary",{"x":1},""]` || r.h("Stream-Next-Offset") != o5 {
		t.Fatalf("from %s: %s next %s", o2, r.body, r.h("Stream-Next-Offset"))
	}
	if r.h("ETag") == etag {
		t.Fatal("another range with the same ETag")
	}
	r = e.do("GET", view+"?offset="+o5, "")
	if r.body != "[]" || r.h("Stream-Next-Offset") != o5 || r.h("Stream-Up-To-Date") != "true" {
		t.Fatalf("at the tail: %q next %s", r.body, r.h("Stream-Next-Offset"))
	}
	// offset=now: empty, at the tail.
	r = e.do("GET", view+"?offset=now", "")
	want(t, r, http.StatusOK)
	if r.body != "[]" || r.h("Stream-Next-Offset") != o5 || r.h("Cache-Control") != "no-store" {
		t.Fatalf("offset=now: %q %v", r.body, r.Header)
	}
	// HEAD.
	r = e.do("HEAD", view, "")
	want(t, r, http.StatusOK)
	if r.h("Content-Type") != "application/json" || r.h("Stream-Next-Offset") != o5 || r.h("ETag") == "" || r.h("Stream-Closed") != "" || r.h("Stream-TTL") != "" {
		t.Fatalf("HEAD: %v", r.Header)
	}
	// Paging at max_read_bytes: one event at a time, never split.
	small := nativeOpts()
	small.MaxReadBytes = 10
	p := newEnv(t, small)
	p.token = hubtest.AdminToken
	var offs []string
	for i := range 3 {
		offs = append(offs, p.publishNative("orders.created", fmt.Sprintf(`{"n":%d,"pad":"0123456789"}`, i)))
	}
	from := "-1"
	for i := range 3 {
		r := p.do("GET", view+"?offset="+from, "")
		want(t, r, http.StatusOK)
		if r.body != fmt.Sprintf(`[{"n":%d,"pad":"0123456789"}]`, i) || r.h("Stream-Next-Offset") != offs[i] || (r.h("Stream-Up-To-Date") == "true") != (i == 2) {
			t.Fatalf("page %d: %s next %s up-to-date %q", i, r.body, r.h("Stream-Next-Offset"), r.h("Stream-Up-To-Date"))
		}
		from = offs[i]
	}
	// The real stream of the same name, and orders.other, are apart.
	if got := e.read("/v1/stream/orders.created"); got != `[{"a":"real stream"}]` {
		t.Fatalf("the real stream orders.created reads %s", got)
	}
	if got := e.read("/v1/stream/_topics/orders.other"); got != `["elsewhere"]` {
		t.Fatalf("orders.other reads %s", got)
	}
	// Reading wrote nothing: the events are the 6 published and the real
	// stream's 2, no KV key but the real stream's checkpoint.
	ev1, keys1 := e.logState()
	if ev1-ev0 != 8 || keys1-keys0 != 1 {
		t.Fatalf("the log grew by %d events and %d KV keys over 6 publishes and one create: views wrote something", ev1-ev0, keys1-keys0)
	}
	_ = o1
	_ = o3
	_ = o4
}

// TestNativeViewLongPoll: a long-poll on a view waits at the tail and is
// woken by a native publish; it answers 204 at the timeout; a view with
// no events yet waits too; the watch behind the wait goes when the waits
// do, and many waits on one topic share one.
func TestNativeViewLongPoll(t *testing.T) {
	o := nativeOpts()
	o.LongPollTimeout = 10 * time.Second
	e := newEnv(t, o)
	e.token = hubtest.AdminToken
	subs0 := e.th.Hub.Stats().Subscribers.Load()
	const waiters = 5
	got := make(chan resp, waiters)
	for range waiters {
		go func() { got <- e.do("GET", view+"?offset=-1&live=long-poll", "") }()
	}
	deadline := time.Now().Add(5 * time.Second)
	for e.th.Hub.Stats().Subscribers.Load() != subs0+1 {
		if time.Now().After(deadline) {
			t.Fatalf("%d hub subscribers for %d long-polls on one view, want one more than %d", e.th.Hub.Stats().Subscribers.Load(), waiters, subs0)
		}
		time.Sleep(10 * time.Millisecond)
	}
	time.Sleep(50 * time.Millisecond)
	off := e.publishNative("orders.created", `{"n":1}`)
	for range waiters {
		select {
		case r := <-got:
			want(t, r, http.StatusOK)
			if r.body != `[{"n":1}]` || r.h("Stream-Next-Offset") != off || r.h("Stream-Cursor") == "" || r.h("Stream-Up-To-Date") != "true" {
				t.Fatalf("woken long-poll: %q %v", r.body, r.Header)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("a native publish did not wake the long-poll")
		}
	}
	// Another topic's event does not wake it; its own does.
	go func() { got <- e.do("GET", view+"?offset="+off+"&live=long-poll", "") }()
	time.Sleep(150 * time.Millisecond)
	e.publishNative("orders.other", `1`)
	e.mustCreate("/v1/stream/x", textPlain, "y")
	select {
	case r := <-got:
		t.Fatalf("woken by another topic: %d %q", r.StatusCode, r.body)
	case <-time.After(300 * time.Millisecond):
	}
	off2 := e.publishNative("orders.created", `2`)
	select {
	case r := <-got:
		if r.body != `[2]` || r.h("Stream-Next-Offset") != off2 {
			t.Fatalf("second wake: %q next %s", r.body, r.h("Stream-Next-Offset"))
		}
	case <-time.After(5 * time.Second):
		t.Fatal("not woken")
	}
	deadline = time.Now().Add(5 * time.Second)
	for e.th.Hub.Stats().Subscribers.Load() != subs0 {
		if time.Now().After(deadline) {
			t.Fatalf("%d hub subscribers after the long-polls ended, want %d: a watch outlived its reads", e.th.Hub.Stats().Subscribers.Load(), subs0)
		}
		time.Sleep(10 * time.Millisecond)
	}
	// The timeout: 204 with the offset asked, Up-To-Date and a cursor.
	q := newEnv(t, nativeOpts())
	q.token = hubtest.AdminToken
	tail := q.publishNative("orders.created", `1`)
	q.publishNative("orders.other", `2`) // a later id on another topic
	start := time.Now()
	r := q.do("GET", view+"?offset="+tail+"&live=long-poll", "")
	want(t, r, http.StatusNoContent)
	if time.Since(start) < 250*time.Millisecond || r.h("Stream-Next-Offset") != tail || r.h("Stream-Up-To-Date") != "true" || r.h("Stream-Cursor") == "" {
		t.Fatalf("timeout after %v: %v", time.Since(start), r.Header)
	}
}

// rawSSE reads a live=sse response's frames (up to and without the blank
// line that ends each) as they come.
func rawSSE(t *testing.T, res *http.Response) <-chan string {
	t.Helper()
	out := make(chan string, 100)
	go func() {
		defer close(out)
		rd := bufio.NewReader(res.Body)
		var frame strings.Builder
		for {
			line, err := rd.ReadString('\n')
			if err != nil {
				return
			}
			if line == "\n" {
				out <- frame.String()
				frame.Reset()
				continue
			}
			frame.WriteString(line)
		}
	}()
	return out
}

func nextFrame(t *testing.T, ch <-chan string) string {
	t.Helper()
	select {
	case f, ok := <-ch:
		if !ok {
			t.Fatal("the SSE response ended")
		}
		return f
	case <-time.After(5 * time.Second):
		t.Fatal("no SSE frame within 5 s")
	}
	return ""
}

var cursorRE = regexp.MustCompile(`"streamCursor":"[0-9]+"`)

// wantControl checks a control frame byte for byte, but for the cursor's
// value.
func wantControl(t *testing.T, frame, offset string) {
	t.Helper()
	w := "event: control\ndata:{\"streamNextOffset\":\"" + offset + "\",\"streamCursor\":\"C\",\"upToDate\":true}\nid: " + offset + "\n"
	if got := cursorRE.ReplaceAllString(frame, `"streamCursor":"C"`); got != w {
		t.Fatalf("control frame\n got %q\nwant %q", frame, w)
	}
}

// TestNativeViewSSE: live=sse on a view, byte for byte: the catch-up as one
// data event, a control event whose id is the offset, live events as they
// are published, and a resume by Last-Event-ID.
func TestNativeViewSSE(t *testing.T) {
	o := nativeOpts()
	o.SSEMaxDuration = 20 * time.Second
	o.LongPollTimeout = 10 * time.Second
	e := newEnv(t, o)
	o1 := e.publishNative("orders.created", "{\"a\": 1}")
	o2 := e.publishNative("orders.created", "two\nlines")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", e.url+view+"?offset=-1&live=sse", nil)
	req.Header.Set("Authorization", "Bearer "+hubtest.AdminToken)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK || res.Header.Get("Content-Type") != "text/event-stream" || res.Header.Get("Stream-SSE-Data-Encoding") != "" {
		t.Fatalf("SSE: %d %v", res.StatusCode, res.Header)
	}
	frames := rawSSE(t, res)
	if f := nextFrame(t, frames); f != "event: data\ndata:[{\"a\":1},\"two\\nlines\"]\n" {
		t.Fatalf("data frame %q", f)
	}
	wantControl(t, nextFrame(t, frames), o2)
	o3 := e.publishNative("orders.created", "[1,2]")
	if f := nextFrame(t, frames); f != "event: data\ndata:[[1,2]]\n" {
		t.Fatalf("live data frame %q", f)
	}
	wantControl(t, nextFrame(t, frames), o3)
	e.publishNative("orders.other", "x") // not this view's
	o4 := e.publishNative("orders.created", " spaced")
	if f := nextFrame(t, frames); f != "event: data\ndata:[\" spaced\"]\n" {
		t.Fatalf("live data frame %q", f)
	}
	wantControl(t, nextFrame(t, frames), o4)
	cancel()

	// A plain EventSource reconnecting sends the last control id.
	req, _ = http.NewRequest("GET", e.url+view+"?offset=-1&live=sse", nil)
	req.Header.Set("Authorization", "Bearer "+hubtest.AdminToken)
	req.Header.Set("Last-Event-ID", o1)
	ctx2, cancel2 := context.WithCancel(context.Background())
	defer cancel2()
	res2, err := http.DefaultClient.Do(req.WithContext(ctx2))
	if err != nil {
		t.Fatal(err)
	}
	defer res2.Body.Close()
	frames = rawSSE(t, res2)
	if f := nextFrame(t, frames); f != "event: data\ndata:[\"two\\nlines\",[1,2],\" spaced\"]\n" {
		t.Fatalf("resumed data frame %q", f)
	}
	wantControl(t, nextFrame(t, frames), o4)
}

// TestNativeViewTokens: a view needs a stream token whose scope has the
// native topic (the ds.* topic its name would map to is no use);
// public_read does not open views, native_public_read does; live reads
// count against streams_per_token and end at the token's revocation.
func TestNativeViewTokens(t *testing.T) {
	o := nativeOpts()
	o.PublicRead, o.PublicWrite = true, true
	o.SSEMaxDuration = 20 * time.Second
	o.LongPollTimeout = 5 * time.Second
	e := newEnvWith(t, o, func(c *hubtestConfig) { c.API.Limits.StreamsPerToken = 1; c.API.Limits.StreamsPerAddr = 0 })
	e.publishNative("orders.created", "1")
	ctx := context.Background()
	tokens := auth.NewStore(e.th.Store)
	mk := func(p auth.Purpose, topics ...string) (string, auth.Token) {
		s, tok, err := tokens.Create(ctx, auth.CreateOptions{Purpose: p, Topics: topics})
		if err != nil {
			t.Fatal(err)
		}
		return s, tok
	}
	// No token: 401 although public_read is on (and 401 for a view
	// nobody exposes, as for a missing stream).
	want(t, e.do("GET", view+"?offset=-1", ""), http.StatusUnauthorized)
	want(t, e.do("HEAD", view, ""), http.StatusUnauthorized)
	want(t, e.do("GET", "/v1/stream/_topics/audit.x?offset=-1", ""), http.StatusUnauthorized)
	dsScoped, _ := mk(auth.PurposeStream, "ds.*")
	e.token = dsScoped
	want(t, e.do("GET", view+"?offset=-1", ""), http.StatusForbidden)
	other, _ := mk(auth.PurposeStream, "orders.other")
	e.token = other
	want(t, e.do("GET", view+"?offset=-1", ""), http.StatusForbidden)
	want(t, e.do("GET", view+"?offset=-1&live=sse", ""), http.StatusForbidden)
	pub, _ := mk(auth.PurposePublish, "orders.*")
	e.token = pub
	want(t, e.do("GET", view+"?offset=-1", ""), http.StatusForbidden)
	reader, tok := mk(auth.PurposeStream, "orders.*")
	e.token = reader
	if got := e.read(view); got != "[1]" {
		t.Fatalf("read %s", got)
	}
	want(t, e.do("HEAD", view, ""), http.StatusOK)
	// Live reads are streams of the token.
	tail := e.do("GET", view+"?offset=now", "").h("Stream-Next-Offset")
	res := openLive(t, e, view+"?offset="+tail+"&live=sse", reader)
	if res.StatusCode != http.StatusOK {
		t.Fatalf("SSE: %d", res.StatusCode)
	}
	for _, live := range []string{"sse", "long-poll"} {
		if r := openLive(t, e, view+"?offset="+tail+"&live="+live, reader); r.StatusCode != http.StatusTooManyRequests {
			t.Errorf("a second live=%s read of the token: %d, want 429", live, r.StatusCode)
		}
	}
	// Revocation ends the SSE read at once.
	done := make(chan struct{})
	go func() { _, _ = io.Copy(io.Discard, res.Body); close(done) }()
	time.Sleep(100 * time.Millisecond)
	if _, err := tokens.Revoke(ctx, tok.ID); err != nil {
		t.Fatal(err)
	}
	if err := e.th.Hub.RevokeToken(ctx, tok.ID); err != nil {
		t.Fatal(err)
	}
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("the SSE read of a view outlived its token's revocation")
	}
	want(t, e.do("GET", view+"?offset=-1", ""), http.StatusUnauthorized)

	// native_public_read opens the views (only them: real streams keep
	// public_read's setting), with Cache-Control public.
	np := nativeOpts()
	np.NativePublicRead = true
	n := newEnv(t, np)
	n.publishNative("orders.created", "1")
	r := n.do("GET", view+"?offset=-1", "")
	want(t, r, http.StatusOK)
	if !strings.HasPrefix(r.h("Cache-Control"), "public") {
		t.Fatalf("Cache-Control %q", r.h("Cache-Control"))
	}
	want(t, n.do("GET", "/v1/stream/real?offset=-1", ""), http.StatusUnauthorized)
	want(t, n.do("GET", "/v1/stream/_topics/audit.x?offset=-1", ""), http.StatusNotFound)
}

// TestNativeViewWrites: nothing under the reserved path can be written,
// created, closed, forked from or deleted, with views on or off and
// whatever the token; nothing is stored.
func TestNativeViewWrites(t *testing.T) {
	for _, o := range []durable.Options{nativeOpts(), {}, {NativeTopics: []string{"orders.*"}, NativePath: "native/v1", PublicWrite: true}} {
		e := newEnv(t, o)
		e.token = hubtest.AdminToken
		base := "/v1/stream/" + durable.DefaultNativePath
		if o.NativePath != "" {
			base = "/v1/stream/" + o.NativePath
		}
		before, _ := e.logState()
		for _, path := range []string{base + "/orders.created", base + "/audit.x", base, base + "/", base + "/a/b", base + "/orders.created?offset=-1"} {
			for _, m := range []string{"PUT", "POST", "DELETE"} {
				for _, tok := range []string{hubtest.AdminToken, ""} {
					e.token = tok
					r := e.do(m, path, `{"x":1}`, "Content-Type", "application/json", "Stream-Closed", "true")
					want(t, r, http.StatusMethodNotAllowed)
					wantHeader(t, r, "Allow", "GET, HEAD")
					if !strings.Contains(r.body, `"code":"METHOD_NOT_ALLOWED"`) {
						t.Fatalf("%s %s: body %s", m, path, r.body)
					}
				}
			}
		}
		e.token = hubtest.AdminToken
		r := e.do("PUT", "/v1/stream/fork", "", "Stream-Forked-From", base+"/orders.created")
		want(t, r, http.StatusBadRequest)
		if after, _ := e.logState(); after != before {
			t.Fatalf("refused writes stored %d events", after-before)
		}
		// Beside the path, streams are as before.
		e.mustCreate("/v1/stream/"+strings.TrimPrefix(base, "/v1/stream/")+"x/y", textPlain, "z")
	}
}

// TestNativeViewOff: without native_topics (or for a topic they do not
// match) the path reads as a missing stream, 404, as before views.
func TestNativeViewOff(t *testing.T) {
	e := newEnv(t, durable.Options{})
	e.token = hubtest.AdminToken
	e.publishNative("orders.created", "1")
	want(t, e.do("GET", view+"?offset=-1", ""), http.StatusNotFound)
	want(t, e.do("GET", view+"?offset=-1&live=long-poll", ""), http.StatusNotFound)
	want(t, e.do("GET", view+"?offset=-1&live=sse", ""), http.StatusNotFound)
	want(t, e.do("HEAD", view, ""), http.StatusNotFound)
	on := newEnv(t, nativeOpts())
	on.token = hubtest.AdminToken
	on.publishNative("audit.login", "1")
	want(t, on.do("GET", "/v1/stream/_topics/audit.login?offset=-1", ""), http.StatusNotFound)
	want(t, on.do("GET", "/v1/stream/_topics/orders?offset=-1", ""), http.StatusNotFound) // "orders.*" is below orders, not orders
	want(t, on.do("GET", "/v1/stream/_topics?offset=-1", ""), http.StatusNotFound)
	want(t, on.do("GET", "/v1/stream/_topics/?offset=-1", ""), http.StatusNotFound)
}

// TestNativeViewAttacks: names under the prefix spelled to reach another
// topic, protocols' topics, and offsets past every id.
func TestNativeViewAttacks(t *testing.T) {
	o := nativeOpts()
	o.PublicRead, o.PublicWrite = true, true
	o.NativeTopics = append(o.NativeTopics, "mercurex.*", "dsx.*")
	e := newEnv(t, o)
	e.token = hubtest.AdminToken
	e.mustCreate("/v1/stream/secret", textPlain, "DS-DATA") // ds.secret
	e.publishNative("mercure_private.x", "PRIVATE-DATA")
	e.publishNative("mercure.x", "PUBLIC-MERCURE")
	e.publishNative("orders.created", `"ok"`)
	e.publishNative("dsx.a", `"dsx"`)
	noRedirect := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }, Timeout: 10 * time.Second}
	get := func(rawPath string) (int, string) {
		req, _ := http.NewRequest("GET", e.url+rawPath, nil)
		req.Header.Set("Authorization", "Bearer "+hubtest.AdminToken)
		res, err := noRedirect.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return res.StatusCode, string(b)
	}
	// 404: a valid topic no view exposes (the protocols' own among them);
	// 400: a name after the prefix that is no topic. The mux answers
	// paths with dot segments or "//" itself (404, not a redirect to the
	// stream they would clean to).
	for p, code := range map[string]int{
		"/v1/stream/_topics/ds.secret": 404, "/v1/stream/_topics/mercure_private.x": 404, "/v1/stream/_topics/mercure.x": 404,
		"/v1/stream/_topics/..%2Fsecret": 400, "/v1/stream/_topics/%2E%2E/secret": 400, "/v1/stream/_topics/../secret": 404,
		"/v1/stream/_topics/orders.created%2F..%2F..%2Fsecret": 400, "/v1/stream/_topics/orders..created": 400,
		"/v1/stream/_topics/orders.created%00": 400, "/v1/stream/_topics//orders.created": 404, "/v1/stream/_topics/orders.created/": 400,
		"/v1/stream/_topics/ORDERS.created": 404, "/v1/stream/_topics/orders.*": 400, "/v1/stream/_topics/%2A": 400,
		"/v1/stream/_topics/$sys.revoke": 400, "/v1/stream/_topics/" + strings.Repeat("orders.", 40) + "x": 400,
	} {
		got, body := get(p + "?offset=-1")
		if got != code || strings.Contains(body, "-DATA") || strings.Contains(body, "MERCURE") {
			t.Errorf("GET %s: %d %q, want %d", p, got, body, code)
		}
	}
	// The same resource however the slash after the prefix is spelled.
	for _, p := range []string{"/v1/stream/_topics%2Forders.created", "/v1/stream/_topics/orders%2Ecreated"} {
		if code, body := get(p + "?offset=-1"); code != http.StatusOK || body != `["ok"]` {
			t.Errorf("GET %s: %d %q", p, code, body)
		}
		want(t, e.do("PUT", p, "", "Content-Type", "application/json"), http.StatusMethodNotAllowed)
	}
	if code, body := get("/v1/stream/_topics/dsx.a?offset=-1"); code != http.StatusOK || body != `["dsx"]` {
		t.Errorf("dsx.a: %d %q", code, body)
	}
	// Offsets past every id: nothing, and the offset back; a long-poll
	// there times out; past 16 digits: 400.
	huge := "9999999999999999_0000000000000000"
	r := e.do("GET", view+"?offset="+huge, "")
	want(t, r, http.StatusOK)
	if r.body != "[]" || r.h("Stream-Next-Offset") != huge {
		t.Fatalf("huge offset: %q next %s", r.body, r.h("Stream-Next-Offset"))
	}
	want(t, e.do("GET", view+"?offset="+huge+"&live=long-poll", ""), http.StatusNoContent)
	for _, bad := range []string{"99999999999999999_0000000000000000", "18446744073709551616_0", "-2", "0000000000000001_0000000000000001x", ""} {
		want(t, e.do("GET", view+"?offset="+bad, ""), http.StatusBadRequest)
	}
}

// TestNativeFilter: the patterns that could reach a protocol's topics are
// refused, the rest accepted; the path must be plain.
func TestNativeFilter(t *testing.T) {
	for _, p := range []string{"*", "ds.*", "ds", "ds.x", "mercure.*", "mercure", "mercure_private.*", "mercure_private.a.b", "", "a..b", "a.*.b", "orders.**"} {
		if _, err := durable.NativeFilter([]string{"orders.*", p}); err == nil {
			t.Errorf("pattern %q accepted", p)
		}
	}
	f, err := durable.NativeFilter([]string{"orders.*", "dsx.*", "mercure-x", "audit.login", "ds_x.*"})
	if err != nil {
		t.Fatal(err)
	}
	for topic, ok := range map[string]bool{"orders.a": true, "orders": false, "dsx.y": true, "mercure-x": true, "audit.login": true, "audit.logout": false, "ds.a": false, "ds_x.q": true} {
		if f.Match(topic) != ok {
			t.Errorf("match %q: %v", topic, !ok)
		}
	}
	if f, err := durable.NativeFilter(nil); err != nil || !f.IsEmpty() {
		t.Fatalf("no patterns: %v %v", f, err)
	}
	for _, p := range []string{"", "/x", "x/", "a//b", ".", "a/../b", "a/./b", "a b", "a%2Fb", "a?b", strings.Repeat("x", 129)} {
		if durable.ValidateNativePath(p) == nil {
			t.Errorf("native path %q accepted", p)
		}
	}
	for _, p := range []string{"_topics", "native/v1", "a.b-c_d"} {
		if err := durable.ValidateNativePath(p); err != nil {
			t.Errorf("native path %q: %v", p, err)
		}
	}
}

// TestNativeViewTwoNodes: two hub nodes on one NATS log, Refresh off: a
// native publish through one node is read, long-polled and followed by SSE
// through the other, woken by the hub's live feed (no polling).
func TestNativeViewTwoNodes(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a NATS server")
	}
	srv := natstest.Start(t, 1)
	node := func() *env {
		s, err := ssenats.Open(context.Background(), ssenats.Options{URL: srv.URL(), Stream: "DSN", SubjectPrefix: "dsn",
			ReadyTimeout: 20 * time.Second, Logger: natstest.Quiet})
		if err != nil {
			t.Fatal(err)
		}
		e := &env{t: t, clock: &clock{now: time.Now()}, opts: nativeOpts()}
		e.opts.Now = e.clock.Now
		e.opts.LongPollTimeout = 10 * time.Second
		e.opts.SSEMaxDuration = 20 * time.Second
		e.startOn(s)
		e.token = hubtest.AdminToken
		return e
	}
	a, b := node(), node()
	o1 := a.publishNative("orders.created", `{"n":1}`)
	deadline := time.Now().Add(5 * time.Second)
	for b.do("GET", view+"?offset=-1", "").body != `[{"n":1}]` {
		if time.Now().After(deadline) {
			t.Fatal("b does not read a's native publish")
		}
		time.Sleep(20 * time.Millisecond)
	}
	got := make(chan resp, 1)
	go func() { got <- b.do("GET", view+"?offset="+o1+"&live=long-poll", "") }()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", b.url+view+"?offset="+o1+"&live=sse", nil)
	req.Header.Set("Authorization", "Bearer "+hubtest.AdminToken)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	frames := rawSSE(t, res)
	wantControl(t, nextFrame(t, frames), o1)
	time.Sleep(200 * time.Millisecond)
	o2 := a.publishNative("orders.created", `{"n":2}`)
	select {
	case r := <-got:
		if r.StatusCode != http.StatusOK || r.body != `[{"n":2}]` || r.h("Stream-Next-Offset") != o2 {
			t.Fatalf("long-poll on b: %d %q %s", r.StatusCode, r.body, r.h("Stream-Next-Offset"))
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the long-poll on b was not woken by a's publish")
	}
	if f := nextFrame(t, frames); f != "event: data\ndata:[{\"n\":2}]\n" {
		t.Fatalf("SSE on b: %q", f)
	}
	wantControl(t, nextFrame(t, frames), o2)
}

// TestNativeViewMemoryStore: a view's tail comes from the store's
// per-topic record; the memory store's agrees with its reads (catch-up,
// a woken long-poll, offset=now).
func TestNativeViewMemoryStore(t *testing.T) {
	e := &env{t: t, clock: &clock{now: time.Now()}, opts: nativeOpts()}
	e.opts.Now = e.clock.Now
	e.opts.LongPollTimeout = 5 * time.Second
	e.startOn(memory.New(memory.Options{}))
	e.token = hubtest.AdminToken
	o1 := e.publishNative("orders.created", `{"n":1}`)
	e.publishNative("orders.other", `0`)
	if r := e.do("GET", view+"?offset=-1", ""); r.body != `[{"n":1}]` || r.h("Stream-Next-Offset") != o1 {
		t.Fatalf("catch-up: %s next %s", r.body, r.h("Stream-Next-Offset"))
	}
	wantHeader(t, e.do("GET", view+"?offset=now", ""), "Stream-Next-Offset", o1)
	got := make(chan resp, 1)
	go func() { got <- e.do("GET", view+"?offset=now&live=long-poll", "") }()
	time.Sleep(150 * time.Millisecond)
	o2 := e.publishNative("orders.created", `2`)
	select {
	case r := <-got:
		if r.body != `[2]` || r.h("Stream-Next-Offset") != o2 {
			t.Fatalf("long-poll: %d %s next %s", r.StatusCode, r.body, r.h("Stream-Next-Offset"))
		}
	case <-time.After(5 * time.Second):
		t.Fatal("not woken")
	}
}

// TestNativeViewRetention: a view's read from an offset whose data
// retention removed is 410, as a stream's; from -1 it gets what is
// retained.
func TestNativeViewRetention(t *testing.T) {
	e := &env{t: t, dir: t.TempDir(), clock: &clock{now: time.Now()}, opts: nativeOpts()}
	e.opts.Now = e.clock.Now
	store, err := bolt.Open(e.dir, bolt.Options{Retention: ssehub.Retention{MaxEvents: 5}})
	if err != nil {
		t.Fatal(err)
	}
	e.startOn(store)
	e.token = hubtest.AdminToken
	first := e.publishNative("orders.created", "0")
	for i := 1; i < 10; i++ {
		e.publishNative("orders.created", strconv.Itoa(i))
	}
	want(t, e.do("GET", view+"?offset="+first, ""), http.StatusGone)
	want(t, e.do("GET", view+"?offset="+first+"&live=long-poll", ""), http.StatusGone)
	if got := e.read(view); got != `[5,6,7,8,9]` { // digits are JSON numbers
		t.Fatalf("from -1: %s, want the 5 retained events", got)
	}
}

// syncBuffer is a log destination tests read while the hub writes.
type syncBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestNativePathShadowWarning: a hub whose log holds a stream under the
// reserved prefix (made when it was not reserved) says so at start.
func TestNativePathShadowWarning(t *testing.T) {
	for _, tc := range []struct {
		name string
		warn bool
	}{{"chat/room-1", true}, {"chat", true}, {"chatter/x", false}, {"chat-x", false}} {
		e := newEnv(t, durable.Options{})
		e.token = hubtest.AdminToken
		e.mustCreate("/v1/stream/"+tc.name, textPlain, "x")
		var logs syncBuffer
		e.mod = func(c *hubtestConfig) { c.API.Logger = slog.New(slog.NewTextHandler(&logs, nil)) }
		e.opts.NativePath = "chat"
		e.restart()
		deadline := time.Now().Add(2 * time.Second)
		for !strings.Contains(logs.String(), "native_path is reserved") && time.Now().Before(deadline) && tc.warn {
			time.Sleep(10 * time.Millisecond)
		}
		if got := strings.Contains(logs.String(), "native_path is reserved"); got != tc.warn {
			t.Errorf("stream %q under native_path chat: warned %v, want %v; logs %s", tc.name, got, tc.warn, logs.String())
		}
		if tc.warn {
			want(t, e.do("GET", "/v1/stream/"+tc.name+"?offset=-1", ""), http.StatusNotFound) // shadowed
		}
	}
}

// TestNativeViewWatchChurn: long-polls on a few views start and end at
// once, with short timeouts, while events are published: every one
// answers (data or 204), and no watch outlives them.
func TestNativeViewWatchChurn(t *testing.T) {
	o := nativeOpts()
	o.LongPollTimeout = 30 * time.Millisecond
	e := newEnvWith(t, o, func(c *hubtestConfig) { c.API.Limits.StreamsPerAddr = 0; c.API.Limits.StreamsPerToken = 0 })
	e.token = hubtest.AdminToken
	subs0 := e.th.Hub.Stats().Subscribers.Load()
	stop := make(chan struct{})
	var pubs sync.WaitGroup
	pubs.Add(1)
	go func() {
		defer pubs.Done()
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			e.publishNative(fmt.Sprintf("orders.t%d", i%3), strconv.Itoa(i))
		}
	}()
	var wg sync.WaitGroup
	errs := make(chan string, 100)
	for g := range 12 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 8 {
				p := fmt.Sprintf("/v1/stream/_topics/orders.t%d?offset=now&live=long-poll", (g+i)%3)
				req, _ := http.NewRequest("GET", e.url+p, nil)
				req.Header.Set("Authorization", "Bearer "+hubtest.AdminToken)
				res, err := http.DefaultClient.Do(req)
				if err != nil {
					errs <- err.Error()
					return
				}
				_, _ = io.Copy(io.Discard, res.Body)
				res.Body.Close()
				if res.StatusCode != http.StatusOK && res.StatusCode != http.StatusNoContent {
					errs <- fmt.Sprintf("%s: %d", p, res.StatusCode)
				}
			}
		}()
	}
	wg.Wait()
	close(stop)
	pubs.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for e.th.Hub.Stats().Subscribers.Load() != subs0 {
		if time.Now().After(deadline) {
			t.Fatalf("%d hub subscribers after the long-polls, want %d", e.th.Hub.Stats().Subscribers.Load(), subs0)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
