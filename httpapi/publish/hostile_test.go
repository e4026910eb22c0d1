package publish_test

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/ssehub/ssehub"
	"github.com/ssehub/ssehub/bolt"
	"github.com/ssehub/ssehub/internal/hubtest"
)

// boltHub is a hub over a bolt store in a temporary directory.
func boltHub(t *testing.T, opts ...hubtest.Option) *hubtest.Hub {
	t.Helper()
	store, err := bolt.Open(t.TempDir(), bolt.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return hubtest.New(t, store, opts...)
}

// send posts body with headers (pairs) and returns status, error code and
// the body.
func send(t *testing.T, th *hubtest.Hub, path string, body []byte, hdr ...string) (int, string, string) {
	t.Helper()
	req, _ := http.NewRequest("POST", th.Srv.URL+path, bytes.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+hubtest.AdminToken)
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var e struct {
		Error struct{ Code, Message string }
	}
	if resp.StatusCode >= 400 {
		if err := json.Unmarshal(b, &e); err != nil || e.Error.Code == "" || e.Error.Message == "" {
			t.Fatalf("POST %s: %d %q is not the JSON error shape", path, resp.StatusCode, b)
		}
	}
	return resp.StatusCode, e.Error.Code, string(b)
}

// events returns every stored event of topic.
func events(t *testing.T, th *hubtest.Hub, topic string) []*ssehub.Event {
	t.Helper()
	var out []*ssehub.Event
	err := th.Hub.History(context.Background(), 0, ssehub.MustFilter(topic), func(ev *ssehub.Event) error {
		out = append(out, ev)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func gzipped(t *testing.T, b []byte) []byte {
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	zw.Write(b)
	zw.Close()
	return buf.Bytes()
}

// TestPublishHostileContentEncoding: a compressed body is not decoded (the
// hub takes no content coding), so storing it would store the compressed
// bytes as the event's data and acknowledge them: it is refused with 415,
// and nothing is stored. (No decompression: no gzip bomb.)
func TestPublishHostileContentEncoding(t *testing.T) {
	th := boltHub(t)
	data := []byte(`{"total":42}`)
	for _, c := range []struct {
		path, ct string
		body     []byte
	}{
		{"/publish/h.enc", "application/octet-stream", gzipped(t, data)},
		{"/publish/h.enc", "application/json", gzipped(t, data)},
		{"/publish", "application/json", gzipped(t, []byte(`{"topic":"h.enc","data":1}`))},
		{"/publish", "application/x-ndjson", gzipped(t, []byte(`{"topic":"h.enc","data":1}`+"\n"))},
	} {
		for _, enc := range []string{"gzip", "br", "x-unknown", "identity, gzip"} {
			st, code, body := send(t, th, c.path, c.body, "Content-Type", c.ct, "Content-Encoding", enc)
			if st != http.StatusUnsupportedMediaType || code != "UNSUPPORTED_MEDIA_TYPE" {
				t.Errorf("%s %s, Content-Encoding %s: %d %s, want 415 UNSUPPORTED_MEDIA_TYPE", c.path, c.ct, enc, st, body)
			}
		}
	}
	if evs := events(t, th, "h.enc"); len(evs) != 0 {
		t.Fatalf("%d events stored from compressed bodies, first data %q", len(evs), evs[0].Data)
	}
	// identity is no coding.
	if st, _, body := send(t, th, "/publish/h.enc", data, "Content-Encoding", "identity"); st != 200 {
		t.Fatalf("identity: %d %s", st, body)
	}
}

// TestPublishHostileBatchOneBadLine: one bad line anywhere in an NDJSON
// batch (first, middle, last, past a size limit, a number as an id) stores
// nothing of the batch, and the error names the line.
func TestPublishHostileBatchOneBadLine(t *testing.T) {
	th := boltHub(t, func(c *hubtest.Config) { c.Publish.Limits.MaxKeyLen = 16 })
	good := `{"topic":"h.batch","data":1,"key":"` + strings.Repeat("k", 16) + `"}`
	for name, bad := range map[string]string{
		"not JSON":           `{"topic":"h.batch",`,
		"number as key":      `{"topic":"h.batch","key":42}`,
		"number as event_id": `{"topic":"h.batch","event_id":7}`,
		"key past the limit": `{"topic":"h.batch","key":"` + strings.Repeat("k", 17) + `"}`,
		"NUL in key":         `{"topic":"h.batch","key":"a\u0000b"}`,
		"CR in type":         `{"topic":"h.batch","type":"a\rb"}`,
		"unknown member":     `{"topic":"h.batch","Data2":1}`,
		"two values":         `{"topic":"h.batch"} {"topic":"h.batch"}`,
		"bad topic":          `{"topic":"h..batch"}`,
		"array":              `[{"topic":"h.batch"}]`,
	} {
		for pos := range 3 {
			lines := []string{good, good, good}
			lines[pos] = bad
			st, code, body := send(t, th, "/publish", []byte(strings.Join(lines, "\n")+"\n"), "Content-Type", "application/x-ndjson")
			if st != 400 || !strings.Contains(body, "line "+string(rune('1'+pos))+":") {
				t.Errorf("%s at line %d: %d %s %s, want 400 naming the line", name, pos+1, st, code, body)
			}
		}
	}
	if evs := events(t, th, "h.batch"); len(evs) != 0 {
		t.Fatalf("%d events of refused batches stored", len(evs))
	}
	// The good line at its limits is taken.
	if st, _, body := send(t, th, "/publish", []byte(good+"\r\n"+good+"\n"), "Content-Type", "application/x-ndjson"); st != 200 || !strings.Contains(body, `"duplicates":[`) {
		t.Fatalf("two lines with one key: %d %s, want 200 with the second a duplicate", st, body)
	}
	if evs := events(t, th, "h.batch"); len(evs) != 1 {
		t.Fatalf("a batch of one key twice stored %d events, want 1", len(evs))
	}
}

// TestPublishHostileDuplicateMembers: an envelope naming a member twice
// (or two spellings of it, names matching case-insensitively) is refused:
// the hub must not pick one of two topics a proxy or a log may read the
// other way.
func TestPublishHostileDuplicateMembers(t *testing.T) {
	th := boltHub(t)
	for _, body := range []string{
		`{"topic":"h.dup.a","topic":"h.dup.b","data":1}`,
		`{"topic":"h.dup.a","Topic":"h.dup.b","data":1}`,
		`{"topic":"h.dup.a","data":1,"data":2}`,
		`{"topic":"h.dup.a","key":"k1","KEY":"k2"}`,
		`{"topic":"h.dup.a","meta":{"a":1,"a":2}}`,
		`{"topic":"h.dup.a","meta":{"a":{"b":1,"b":2}}}`,
	} {
		st, code, resp := send(t, th, "/publish", []byte(body), "Content-Type", "application/json")
		if st != 400 || code != "BAD_JSON" {
			t.Errorf("%s: %d %s, want 400 BAD_JSON", body, st, resp)
		}
	}
	if n := len(events(t, th, "h.dup.*")); n != 0 {
		t.Fatalf("%d events stored from envelopes with duplicate members", n)
	}
}

// TestPublishHostileInvalidUTF8: invalid UTF-8 in a JSON envelope is kept
// as sent in the store, but what subscribers get is valid UTF-8 (a JSON
// envelope and an SSE stream must be).
func TestPublishHostileInvalidUTF8(t *testing.T) {
	th := boltHub(t)
	body := []byte("{\"topic\":\"h.utf\",\"type\":\"t\xff\",\"entity\":\"e\xfe\",\"key\":\"k\xc3\",\"data\":{\"s\":\"\xff\"}}")
	st, _, resp := send(t, th, "/publish", body, "Content-Type", "application/json")
	if st != 200 && st != 400 {
		t.Fatalf("%d %s", st, resp)
	}
	if st == 400 {
		return // refusing is fine too
	}
	env := lastEnvelope(t, th, "h.utf")
	for k, v := range env {
		if !utf8.ValidString(v) {
			t.Errorf("the envelope's %s is not valid UTF-8: %q", k, v)
		}
	}
}

// TestPublishHostileLimits: bodies, batches and keys at their limits are
// taken, one byte or event past them refused with nothing stored, with a
// declared length or chunked.
func TestPublishHostileLimits(t *testing.T) {
	const maxBody = 4 << 10
	th := boltHub(t, func(c *hubtest.Config) {
		c.Publish.MaxBodyBytes = maxBody
		c.Publish.MaxBatchEvents = 5
		c.Publish.Limits.MaxKeyLen = 32
	})
	at := bytes.Repeat([]byte("x"), maxBody)
	if st, _, body := send(t, th, "/publish/h.lim", at); st != 200 {
		t.Fatalf("a body at the limit: %d %s", st, body)
	}
	past := append(bytes.Clone(at), 'x')
	if st, code, _ := send(t, th, "/publish/h.lim", past); st != 413 || code != "TOO_LARGE" {
		t.Fatalf("a body past the limit: %d %s", st, code)
	}
	// Chunked: no Content-Length to refuse early.
	req, _ := http.NewRequest("POST", th.Srv.URL+"/publish/h.lim", io.MultiReader(bytes.NewReader(past)))
	req.Header.Set("Authorization", "Bearer "+hubtest.AdminToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 413 || !strings.Contains(string(b), `"TOO_LARGE"`) {
		t.Fatalf("chunked past the limit: %d %s", resp.StatusCode, b)
	}
	line := `{"topic":"h.lim","data":1}`
	five := strings.Repeat(line+"\n", 5)
	if st, _, body := send(t, th, "/publish", []byte(five), "Content-Type", "application/x-ndjson"); st != 200 {
		t.Fatalf("a batch at the limit: %d %s", st, body)
	}
	if st, code, _ := send(t, th, "/publish", []byte(five+line+"\n"), "Content-Type", "application/x-ndjson"); st != 413 || code != "TOO_LARGE" {
		t.Fatalf("a batch past the limit: %d %s", st, code)
	}
	// Blank lines are no events and cost no slot.
	if st, _, body := send(t, th, "/publish", []byte("\n\r\n  \n"+five+"\n\n"), "Content-Type", "application/x-ndjson"); st != 200 {
		t.Fatalf("a batch at the limit with blank lines: %d %s", st, body)
	}
	key := strings.Repeat("k", 32)
	if st, _, body := send(t, th, "/publish/h.lim?key="+key, []byte("a")); st != 200 {
		t.Fatalf("a key at the limit: %d %s", st, body)
	}
	if st, _, body := send(t, th, "/publish/h.lim", []byte("a"), "Idempotency-Key", key); st != 200 || !strings.Contains(body, `"duplicate":true`) {
		t.Fatalf("the same key in the header: %d %s, want a duplicate", st, body)
	}
	for _, c := range []struct{ path, hdr string }{{"/publish/h.lim?key=" + key + "k", ""}, {"/publish/h.lim", key + "k"}} {
		st, code, _ := send(t, th, c.path, []byte("a"), "Idempotency-Key", c.hdr)
		if st != 400 || code != "BAD_FIELD" {
			t.Fatalf("a key past the limit (%s): %d %s", c.path, st, code)
		}
	}
	if n := len(events(t, th, "h.lim")); n != 1+5+5+1 {
		t.Fatalf("%d events stored, want %d", n, 12)
	}
}

// TestPublishHostileControlCharacters: NUL and CR in the fields: a type
// with CR is refused (it would end the SSE field), NUL and CR in data,
// entity and source are stored as sent and delivered JSON-escaped.
func TestPublishHostileControlCharacters(t *testing.T) {
	th := boltHub(t)
	for _, body := range []string{`{"topic":"h.cc","type":"a\rb"}`, `{"topic":"h.cc","type":"a\nb"}`, `{"topic":"h.cc","key":"a\rb"}`} {
		if st, code, resp := send(t, th, "/publish", []byte(body), "Content-Type", "application/json"); st != 400 || code != "BAD_FIELD" {
			t.Errorf("%s: %d %s", body, st, resp)
		}
	}
	body := `{"topic":"h.cc","entity":"e\u0000\r","source":"s\u0000","data":"d\u0000\r\n"}`
	if st, _, resp := send(t, th, "/publish", []byte(body), "Content-Type", "application/json"); st != 200 {
		t.Fatalf("%d %s", st, resp)
	}
	ev := events(t, th, "h.cc")[0]
	if ev.Entity != "e\x00\r" || ev.Source != "s\x00" || string(ev.Data) != "d\x00\r\n" {
		t.Fatalf("stored %q %q %q", ev.Entity, ev.Source, ev.Data)
	}
	env := lastEnvelope(t, th, "h.cc")
	if env["entity_id"] != `"e\u0000\r"` || env["data"] != `"d\u0000\r\n"` {
		t.Fatalf("delivered entity_id %s data %s", env["entity_id"], env["data"])
	}
}

// TestPublishHostileCanceledBatches: clients that go away mid-publish
// (while the body is in flight, or while the store writes) never leave a
// batch half stored: each topic holds all of its batch or none of it, and
// every batch that was acknowledged is whole.
func TestPublishHostileCanceledBatches(t *testing.T) {
	th := boltHub(t)
	const batches, size = 24, 40
	acked := make([]bool, batches)
	var wg sync.WaitGroup
	for i := range batches {
		wg.Go(func() {
			var body bytes.Buffer
			for j := range size {
				fmt.Fprintf(&body, `{"topic":"h.cancel.b%d","data":%d}`+"\n", i, j)
			}
			// Cancel after 0 to 49 ms: some before the body is read,
			// some while the store writes, some after the answer.
			ctx, cancel := context.WithTimeout(context.Background(), time.Duration(i%8)*time.Duration(i%8)*time.Millisecond)
			defer cancel()
			req, _ := http.NewRequestWithContext(ctx, "POST", th.Srv.URL+"/publish", &body)
			req.Header.Set("Authorization", "Bearer "+hubtest.AdminToken)
			req.Header.Set("Content-Type", "application/x-ndjson")
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				return
			}
			defer resp.Body.Close()
			b, err := io.ReadAll(resp.Body)
			acked[i] = err == nil && resp.StatusCode == 200 && strings.Count(string(b), `"`) == 2*size+2
		})
	}
	wg.Wait()
	n, stored := 0, 0
	for i := range batches {
		got := len(events(t, th, fmt.Sprintf("h.cancel.b%d", i)))
		if got == size {
			stored++
		}
		if got != 0 && got != size {
			t.Errorf("batch %d: %d of %d events stored", i, got, size)
		}
		if acked[i] && got != size {
			t.Errorf("batch %d was acknowledged but %d events are stored", i, got)
		}
		if acked[i] {
			n++
		}
	}
	t.Logf("%d of %d batches acknowledged, %d stored", n, batches, stored)
}

// TestPublishHostileIdempotencyHeader: a client that retries POST
// /publish with an Idempotency-Key header (as /publish/{topic} takes it)
// stores its events once, a single envelope or a batch; a header that
// contradicts the envelope's key is refused, and the header obeys the
// key's limits.
func TestPublishHostileIdempotencyHeader(t *testing.T) {
	th := boltHub(t, func(c *hubtest.Config) { c.Publish.Limits.MaxKeyLen = 16 })
	one := []byte(`{"topic":"h.idem.one","data":1}`)
	batch := []byte("{\"topic\":\"h.idem.batch\",\"data\":1}\n{\"topic\":\"h.idem.batch\",\"data\":2,\"key\":\"own\"}\n{\"topic\":\"h.idem.batch\",\"data\":3}\n")
	for range 2 {
		if st, _, body := send(t, th, "/publish", one, "Content-Type", "application/json", "Idempotency-Key", "retry-1"); st != 200 {
			t.Fatalf("%d %s", st, body)
		}
		if st, _, body := send(t, th, "/publish", batch, "Content-Type", "application/x-ndjson", "Idempotency-Key", "retry-2"); st != 200 {
			t.Fatalf("%d %s", st, body)
		}
	}
	if n := len(events(t, th, "h.idem.one")); n != 1 {
		t.Errorf("a retried envelope with Idempotency-Key stored %d events", n)
	}
	if n := len(events(t, th, "h.idem.batch")); n != 3 {
		t.Errorf("a retried batch with Idempotency-Key stored %d events, want 3", n)
	}
	for _, c := range []struct {
		body []byte
		ct   string
		key  string
	}{
		{[]byte(`{"topic":"h.idem.x","key":"a"}`), "application/json", "b"},
		{one, "application/json", strings.Repeat("k", 17)},
		{batch, "application/x-ndjson", strings.Repeat("k", 17)},
	} {
		if st, code, body := send(t, th, "/publish", c.body, "Content-Type", c.ct, "Idempotency-Key", c.key); st != 400 || code != "BAD_FIELD" {
			t.Errorf("key %q: %d %s, want 400 BAD_FIELD", c.key, st, body)
		}
	}
	// /publish/{topic}: ?key= and the header must agree.
	if st, code, body := send(t, th, "/publish/h.idem.x?key=a", []byte("x"), "Idempotency-Key", "b"); st != 400 || code != "BAD_FIELD" {
		t.Errorf("?key=a with Idempotency-Key b: %d %s, want 400 BAD_FIELD", st, body)
	}
	if st, _, body := send(t, th, "/publish/h.idem.x?key=a", []byte("x"), "Idempotency-Key", "a"); st != 200 {
		t.Errorf("?key=a with Idempotency-Key a: %d %s", st, body)
	}
}

// TestPublishHostileEarlyRefusal: a request refused before its body is
// read (an unknown token, a declared length past the limit) is answered at
// once, without "100 Continue" to a client that asked whether to send, and
// without reading the body first.
func TestPublishHostileEarlyRefusal(t *testing.T) {
	th := boltHub(t)
	for _, c := range []struct{ name, auth, length, expect string }{
		{"unknown token, 100-continue", strings.Repeat("f", 64), "100", "Expect: 100-continue\r\n"},
		// Up to 256 KiB net/http reads the body before answering (a client
		// may send it all before reading), within read_body_timeout.
		{"unknown token, 300 KB declared", strings.Repeat("f", 64), "300000", ""},
		{"past the limit, 100-continue", hubtest.AdminToken, "5000000", "Expect: 100-continue\r\n"},
		{"past the limit", hubtest.AdminToken, "5000000", ""},
	} {
		conn, err := net.Dial("tcp", strings.TrimPrefix(th.Srv.URL, "http://"))
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(conn, "POST /publish/h.early HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\nContent-Length: %s\r\n%s\r\n", c.auth, c.length, c.expect)
		_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
		resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
		if err != nil {
			t.Errorf("%s: no answer before the body: %v", c.name, err)
			conn.Close()
			continue
		}
		resp.Body.Close()
		conn.Close()
		if resp.StatusCode < 400 {
			t.Errorf("%s: %d first, want the refusal", c.name, resp.StatusCode)
		}
	}
}
