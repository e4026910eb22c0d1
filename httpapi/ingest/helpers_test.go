package ingest_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	aa "github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/ipc"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/ssehub/ssehub"
	"github.com/ssehub/ssehub/arrow"
	"github.com/ssehub/ssehub/auth"
	"github.com/ssehub/ssehub/bolt"
	"github.com/ssehub/ssehub/httpapi"
	"github.com/ssehub/ssehub/httpapi/ingest"
	"github.com/ssehub/ssehub/httpapi/stream"
	"github.com/ssehub/ssehub/internal/hubtest"
	"github.com/ssehub/ssehub/sse"
)

const adminToken = hubtest.AdminToken

// env is a whole hub with the ingest feature and its hooks, over a bolt
// store in a temporary directory, behind real HTTP on loopback.
type env struct {
	t   testing.TB
	th  *hubtest.Hub
	ing *ingest.Feature
	url string
}

// newEnv starts a hub with a configured arrow stream at /arrowlive/
// (match *, heartbeat hb, empty style unless style says otherwise).
func newEnv(t testing.TB, ingOpts ingest.Options, opts ...hubtest.Option) *env {
	t.Helper()
	store, err := bolt.Open(t.TempDir(), bolt.Options{})
	if err != nil {
		t.Fatal(err)
	}
	ing := ingest.New(ingOpts)
	all := append([]hubtest.Option{func(c *hubtest.Config) {
		c.Extra = append(c.Extra, ing)
		c.Stream.FormatFor = ing.FormatFor
		c.Admin.TopicDetails = ing.TopicDetails
		c.Stream.Streams = append(c.Stream.Streams, stream.Endpoint{Name: "arrowlive", Path: "/arrowlive/",
			Match: ssehub.All(), Format: arrow.Format, Replay: true, Heartbeat: 15 * time.Second,
			HeartbeatStyle: "empty", Hello: "comment", Public: true})
	}}, opts...)
	th := hubtest.New(t, store, all...)
	return &env{t: t, th: th, ing: ing, url: th.Srv.URL}
}

// token issues a token of purpose p for topics.
func (e *env) token(p auth.Purpose, topics ...string) string {
	e.t.Helper()
	secret, _, err := e.th.API.Tokens().Create(context.Background(), auth.CreateOptions{Purpose: p, Topics: topics})
	if err != nil {
		e.t.Fatal(err)
	}
	return secret
}

// reply is an ingest answer.
type reply struct {
	Status int
	Header http.Header
	ID     string   `json:"id"`
	IDs    []string `json:"ids"`
	Rows   int64    `json:"rows"`
	Error  struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
	Body string
}

// post sends body to path with content type ct and headers (pairs).
func (e *env) post(path, ct string, body []byte, hdr ...string) reply {
	e.t.Helper()
	req, err := http.NewRequest(http.MethodPost, e.url+path, bytes.NewReader(body))
	if err != nil {
		e.t.Fatal(err)
	}
	if ct != "" {
		req.Header.Set("Content-Type", ct)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	r := reply{Status: resp.StatusCode, Header: resp.Header, Body: string(b)}
	if err := json.Unmarshal(b, &r); err != nil {
		e.t.Fatalf("POST %s: %d, body not JSON: %q", path, resp.StatusCode, b)
	}
	if resp.Header.Get("Content-Type") != "application/json" {
		e.t.Errorf("POST %s: Content-Type %q", path, resp.Header.Get("Content-Type"))
	}
	return r
}

// ingestOK posts an IPC body to /ingest/{admin}?topic= and requires 200.
func (e *env) ingestOK(topic string, body []byte) reply {
	e.t.Helper()
	r := e.post("/ingest/"+adminToken+"?topic="+topic, arrow.MediaType, body)
	if r.Status != 200 {
		e.t.Fatalf("ingest to %s: %d %s", topic, r.Status, r.Body)
	}
	return r
}

// Schemas of the tests.
var (
	schemaV1 = aa.NewSchema([]aa.Field{
		{Name: "ts", Type: aa.PrimitiveTypes.Int64},
		{Name: "sym", Type: aa.BinaryTypes.String, Nullable: true},
		{Name: "price", Type: aa.PrimitiveTypes.Float64, Nullable: true},
	}, nil)
	schemaV2 = aa.NewSchema([]aa.Field{
		{Name: "ts", Type: aa.PrimitiveTypes.Int64},
		{Name: "sym", Type: aa.BinaryTypes.String, Nullable: true},
		{Name: "price", Type: aa.PrimitiveTypes.Float64, Nullable: true},
		{Name: "qty", Type: aa.PrimitiveTypes.Int32, Nullable: true},
	}, nil)
)

// record builds n rows of s starting at ts = first.
func record(s *aa.Schema, first, n int) aa.RecordBatch {
	b := array.NewRecordBuilder(memory.DefaultAllocator, s)
	defer b.Release()
	for i := range n {
		b.Field(0).(*array.Int64Builder).Append(int64(first + i))
		b.Field(1).(*array.StringBuilder).Append(fmt.Sprintf("S%d", (first+i)%7))
		b.Field(2).(*array.Float64Builder).Append(float64(first+i) / 4)
		if s.NumFields() > 3 {
			b.Field(3).(*array.Int32Builder).Append(int32(i))
		}
	}
	return b.NewRecordBatch()
}

// ipcStream writes recs as one IPC stream of schema s.
func ipcStream(t testing.TB, s *aa.Schema, recs ...aa.RecordBatch) []byte {
	t.Helper()
	var buf bytes.Buffer
	w := ipc.NewWriter(&buf, ipc.WithSchema(s))
	for _, r := range recs {
		if err := w.Write(r); err != nil {
			t.Fatal(err)
		}
		r.Release()
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// batchOf is ipcStream of one record of n rows.
func batchOf(t testing.TB, s *aa.Schema, first, n int) []byte {
	return ipcStream(t, s, record(s, first, n))
}

// sseConn is an open SSE response read event by event.
type sseConn struct {
	t    testing.TB
	resp *http.Response
	dec  *sse.Decoder
	raw  *recorder
}

// recorder keeps every byte read, for exact-bytes checks.
type recorder struct {
	r   io.Reader
	buf bytes.Buffer
}

func (r *recorder) Read(p []byte) (int, error) {
	n, err := r.r.Read(p)
	r.buf.Write(p[:n])
	return n, err
}

// open GETs path with headers (pairs) and requires a 200 event stream.
func (e *env) open(path string, hdr ...string) *sseConn {
	e.t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, e.url+path, nil)
	req.Header.Set("Accept", "text/event-stream")
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		cancel()
		e.t.Fatal(err)
	}
	if resp.StatusCode != 200 {
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		cancel()
		e.t.Fatalf("GET %s: %d %s", path, resp.StatusCode, b)
	}
	rec := &recorder{r: resp.Body}
	c := &sseConn{t: e.t, resp: resp, dec: sse.NewDecoder(rec), raw: rec}
	e.t.Cleanup(func() { cancel(); resp.Body.Close() })
	return c
}

// next returns the next event (heartbeats with empty data are not
// dispatched by an SSE decoder), failing after timeout.
func (c *sseConn) next(timeout time.Duration) sse.Event {
	c.t.Helper()
	type res struct {
		ev  sse.Event
		err error
	}
	ch := make(chan res, 1)
	go func() {
		ev, err := c.dec.Next()
		ch <- res{ev, err}
	}()
	select {
	case r := <-ch:
		if r.err != nil {
			c.t.Fatalf("reading the stream: %v", r.err)
		}
		return r.ev
	case <-time.After(timeout):
		c.resp.Body.Close()
		<-ch
		c.t.Fatalf("no event within %v; read so far: %q", timeout, c.raw.buf.String())
	}
	return sse.Event{}
}

// decoded is a schema or batch event decoded with arrow-go.
type decoded struct {
	Type   string
	ID     string
	Topic  string // a schema's TopicKey metadata
	Schema *aa.Schema
	Rows   int64
	First  int64 // ts of the first row of a batch
	Last   int64
}

// decode decodes a schema or batch event alone: base64, then a fresh IPC
// reader (a batch must carry its own schema).
func decode(t testing.TB, ev sse.Event) decoded {
	t.Helper()
	raw, err := base64.StdEncoding.DecodeString(string(ev.Data))
	if err != nil {
		t.Fatalf("%s event: data is not base64: %v", ev.Type, err)
	}
	r, err := ipc.NewReader(bytes.NewReader(raw))
	if err != nil {
		t.Fatalf("%s event %s: not an IPC stream: %v", ev.Type, ev.ID, err)
	}
	defer r.Release()
	d := decoded{Type: ev.Type, ID: ev.ID, Schema: r.Schema()}
	if v, ok := r.Schema().Metadata().GetValue(arrow.TopicKey); ok {
		d.Topic = v
	}
	n := 0
	for r.Next() {
		rec := r.RecordBatch()
		if n == 0 && rec.NumRows() > 0 {
			d.First = rec.Column(0).(*array.Int64).Value(0)
		}
		if rec.NumRows() > 0 {
			d.Last = rec.Column(0).(*array.Int64).Value(int(rec.NumRows()) - 1)
		}
		d.Rows += rec.NumRows()
		n++
	}
	if err := r.Err(); err != nil {
		t.Fatalf("%s event %s: %v", ev.Type, ev.ID, err)
	}
	switch ev.Type {
	case "schema":
		if n != 0 {
			t.Fatalf("schema event with %d batches", n)
		}
	case "batch":
		if n != 1 {
			t.Fatalf("batch event %s holds %d record batches, want 1", ev.ID, n)
		}
	}
	return d
}

func wantStatus(t testing.TB, r reply, status int, code string) {
	t.Helper()
	if r.Status != status || (code != "" && r.Error.Code != code) {
		t.Fatalf("got %d %s, want %d %s", r.Status, r.Body, status, code)
	}
	if status >= 400 && (r.Error.Code == "" || r.Error.Message == "") {
		t.Fatalf("error body %q is not {\"error\":{\"code\",\"message\"}}", r.Body)
	}
}

// stripTopic drops the TopicKey metadata a schema event adds.
func stripTopic(s *aa.Schema) *aa.Schema {
	md := s.Metadata()
	var keys, vals []string
	for i, k := range md.Keys() {
		if k != arrow.TopicKey {
			keys, vals = append(keys, k), append(vals, md.Values()[i])
		}
	}
	var meta *aa.Metadata
	if len(keys) > 0 {
		m := aa.NewMetadata(keys, vals)
		meta = &m
	}
	return aa.NewSchema(s.Fields(), meta)
}

// hubtestTokenStream is the default /stream/{token} with heartbeat hb.
func hubtestTokenStream(hb time.Duration) stream.Endpoint {
	e := stream.DefaultTokenStream
	e.Heartbeat = hb
	return e
}

var _ = strings.Contains
var _ = httpapi.CodeGone
