package ingest_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	aa "github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/ssehub/ssehub"
	"github.com/ssehub/ssehub/arrow"
	"github.com/ssehub/ssehub/httpapi/ingest"
	"github.com/ssehub/ssehub/internal/hubtest"
)

// documentedCodes returns the codes of docs/api.md's table of error codes.
func documentedCodes(t *testing.T) map[string]bool {
	t.Helper()
	b, err := os.ReadFile("../../docs/api.md")
	if err != nil {
		t.Fatal(err)
	}
	_, table, ok := strings.Cut(string(b), "## Error codes")
	if !ok {
		t.Fatal("docs/api.md has no Error codes section")
	}
	codes := map[string]bool{}
	for _, m := range regexp.MustCompile("(?m)^\\| `([A-Z_]+)` \\|").FindAllStringSubmatch(table, -1) {
		codes[m[1]] = true
	}
	return codes
}

var upperSnake = regexp.MustCompile(`^[A-Z][A-Z0-9]*(_[A-Z0-9]+)*$`)

// TestIngestHostileErrorCodes: an ingest error's code is UPPER_SNAKE and in
// docs/api.md's one table, as every code of the API (bad_arrow was not).
func TestIngestHostileErrorCodes(t *testing.T) {
	e := newEnv(t, ingest.Options{})
	codes := documentedCodes(t)
	for name, r := range map[string]reply{
		"garbage IPC":  e.post("/ingest/"+adminToken+"?topic=h.codes", arrow.MediaType, []byte("nope")),
		"bad JSON row": e.post("/ingest/"+adminToken+"?topic=h.codes", "application/json", []byte(`[{"a":1},{"a":"x"}]`)),
		"media type":   e.post("/ingest/"+adminToken+"?topic=h.codes", "text/plain", []byte("x")),
		"long key":     e.post("/ingest/"+adminToken+"?topic=h.codes&key="+strings.Repeat("k", 257), arrow.MediaType, batchOf(t, schemaV1, 0, 1)),
		"gzip body":    e.post("/ingest/"+adminToken+"?topic=h.codes", arrow.MediaType, batchOf(t, schemaV1, 0, 1), "Content-Encoding", "gzip"),
	} {
		if r.Status < 400 || !upperSnake.MatchString(r.Error.Code) || !codes[r.Error.Code] {
			t.Errorf("%s: %d code %q: want an UPPER_SNAKE code listed in docs/api.md", name, r.Status, r.Error.Code)
		}
	}
	if r := e.post("/ingest/"+adminToken+"?topic=h.codes", "application/json", []byte(`[{"a":1}]`), "Content-Encoding", "br"); r.Status != 415 {
		t.Errorf("a br body: %d %s, want 415", r.Status, r.Body)
	}
}

// TestIngestHostileSlowBody: a client that sends its body a byte at a time
// gets 408 TIMEOUT after the server's body timeout (server.read_body_timeout),
// not after the 30 s default.
func TestIngestHostileSlowBody(t *testing.T) {
	e := newEnv(t, ingest.Options{}, func(c *hubtest.Config) { c.API.BodyTimeout = 300 * time.Millisecond })
	conn, err := net.Dial("tcp", strings.TrimPrefix(e.url, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	body := batchOf(t, schemaV1, 0, 4)
	fmt.Fprintf(conn, "POST /ingest/%s?topic=h.slow HTTP/1.1\r\nHost: x\r\nContent-Type: %s\r\nContent-Length: %d\r\n\r\n", adminToken, arrow.MediaType, len(body))
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { // a byte every 50 ms, until answered
		defer wg.Done()
		for i := 0; i < len(body)-1 && ctx.Err() == nil; i++ {
			if _, err := conn.Write(body[i : i+1]); err != nil {
				return
			}
			time.Sleep(50 * time.Millisecond)
		}
	}()
	defer func() { cancel(); wg.Wait() }()
	_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	start := time.Now()
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("no answer within 10 s (the body timeout is 300 ms): %v", err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 408 || !strings.Contains(string(b), `"code":"TIMEOUT"`) {
		t.Fatalf("after %v: %d %s, want 408 TIMEOUT", time.Since(start), resp.StatusCode, b)
	}
}

// lockedBuffer is a log sink tests read while the server writes.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// TestIngestHostileTokenNotEchoed: the token of /ingest/{token} appears in
// no error body and no log line, whatever goes wrong with the request.
func TestIngestHostileTokenNotEchoed(t *testing.T) {
	var logs lockedBuffer
	e := newEnv(t, ingest.Options{MaxBodyBytes: 1 << 10}, func(c *hubtest.Config) {
		c.API.Logger = slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
		c.API.AccessLog = true
	})
	tok := e.token("publish", "h.tok")
	other := strings.Repeat("f", 64) // well formed, unknown
	for _, c := range []struct {
		path, ct string
		body     []byte
	}{
		{"/ingest/" + tok + "?topic=h.tok", arrow.MediaType, []byte("garbage")},
		{"/ingest/" + tok + "?topic=h.other", arrow.MediaType, batchOf(t, schemaV1, 0, 1)},
		{"/ingest/" + tok + "?topic=h..tok", arrow.MediaType, batchOf(t, schemaV1, 0, 1)},
		{"/ingest/" + tok + "?topic=h.tok", arrow.MediaType, bytes.Repeat([]byte("x"), 2<<10)},
		{"/ingest/" + tok + "?topic=h.tok", "text/html", []byte("x")},
		{"/ingest/" + other + "?topic=h.tok", arrow.MediaType, batchOf(t, schemaV1, 0, 1)},
		{"/ingest/" + tok + "x?topic=h.tok", arrow.MediaType, batchOf(t, schemaV1, 0, 1)},
	} {
		r := e.post(c.path, c.ct, c.body)
		if r.Status < 400 {
			t.Fatalf("%s: %d, want an error", c.path, r.Status)
		}
		if strings.Contains(r.Body, tok) || strings.Contains(r.Body, other) {
			t.Errorf("%s: the error body echoes the token: %s", c.path, r.Body)
		}
	}
	s := logs.String()
	if strings.Contains(s, tok) || strings.Contains(s, other) {
		t.Errorf("a log line holds the token:\n%s", s)
	}
	if strings.Count(s, "/ingest/") < 7 {
		t.Errorf("the access log does not show the requests:\n%s", s)
	}
}

// TestIngestHostileExoticTypes: deeply nested and exotic Arrow types (a
// union, run-end encoded, list views, maps, nested structs, a null column)
// are stored and stream out byte for byte; the schema shows in the topic's
// details.
func TestIngestHostileExoticTypes(t *testing.T) {
	e := newEnv(t, ingest.Options{})
	nested := aa.DataType(aa.PrimitiveTypes.Int32)
	for range 20 { // arrow-go writes at most 64 levels
		nested = aa.ListOf(aa.StructOf(aa.Field{Name: "x", Type: nested, Nullable: true}))
	}
	s := aa.NewSchema([]aa.Field{
		{Name: "u", Type: aa.SparseUnionOf([]aa.Field{{Name: "i", Type: aa.PrimitiveTypes.Int64}, {Name: "s", Type: aa.BinaryTypes.String}}, []aa.UnionTypeCode{0, 1})},
		{Name: "ree", Type: aa.RunEndEncodedOf(aa.PrimitiveTypes.Int32, aa.BinaryTypes.String)},
		{Name: "lv", Type: aa.ListViewOf(aa.PrimitiveTypes.Int16)},
		{Name: "m", Type: aa.MapOf(aa.BinaryTypes.String, aa.PrimitiveTypes.Float64)},
		{Name: "n", Type: aa.Null, Nullable: true},
		{Name: "deep", Type: nested, Nullable: true},
		{Name: "f16", Type: aa.FixedWidthTypes.Float16, Nullable: true},
		{Name: "d256", Type: &aa.Decimal256Type{Precision: 40, Scale: 2}, Nullable: true},
	}, nil)
	b := array.NewRecordBuilder(memory.DefaultAllocator, s)
	defer b.Release()
	for i := range 3 {
		for _, fb := range b.Fields() {
			if i == 1 {
				fb.AppendNull()
			} else {
				fb.AppendEmptyValue()
			}
		}
	}
	rec := b.NewRecordBatch()
	body := ipcStream(t, s, rec)
	r := e.ingestOK("h.exotic", body)
	if r.Rows != 3 {
		t.Fatalf("rows %d", r.Rows)
	}
	c := e.open("/arrowlive/", "Last-Event-ID", "0")
	sch := decode(t, c.next(5*time.Second))
	if sch.Type != "schema" {
		t.Fatalf("first event %q", sch.Type)
	}
	bt := c.next(5 * time.Second)
	if bt.Type != "batch" || bt.ID != r.ID {
		t.Fatalf("batch event %q id %q, want batch %s", bt.Type, bt.ID, r.ID)
	}
	if got, err := base64.StdEncoding.DecodeString(string(bt.Data)); err != nil || !bytes.Equal(got, body) {
		t.Fatalf("the batch is not stored as it came (%d bytes, sent %d)", len(got), len(body))
	}
}

// TestIngestHostileNullRows: a batch of a null column claiming four billion
// rows needs no buffer, so nothing bounds it and reading it costs nothing;
// it may be stored, but then the answer reports its rows without
// overflowing (past 32 bits); refusing it is BAD_ARROW.
func TestIngestHostileNullRows(t *testing.T) {
	e := newEnv(t, ingest.Options{})
	s := aa.NewSchema([]aa.Field{{Name: "n", Type: aa.Null, Nullable: true}}, nil)
	b := array.NewRecordBuilder(memory.DefaultAllocator, s)
	defer b.Release()
	b.Field(0).AppendNulls(3)
	body := ipcStream(t, s, b.NewRecordBatch())
	three, big := binary.LittleEndian.AppendUint64(nil, 3), binary.LittleEndian.AppendUint64(nil, 4<<30)
	body = bytes.ReplaceAll(body, three, big)
	r := e.post("/ingest/"+adminToken+"?topic=h.nulls", arrow.MediaType, body)
	switch {
	case r.Status == 200 && r.Rows != 4<<30:
		t.Fatalf("stored, but rows %d, want %d", r.Rows, int64(4<<30))
	case r.Status != 200 && r.Error.Code != "BAD_ARROW":
		t.Fatalf("%d %s", r.Status, r.Body)
	}
}

// TestIngestHostileJSONRows: JSON rows that a lax parser would take one
// way or another (a column twice, invalid UTF-8, numbers past their type,
// deep nesting, not objects) are 400 BAD_ARROW naming the row, and nothing
// of the body is stored; the same rows fixed are taken.
func TestIngestHostileJSONRows(t *testing.T) {
	e := newEnv(t, ingest.Options{})
	e.ingestOK("h.rows", batchOf(t, schemaV1, 0, 1)) // ts int64, sym utf8, price float64
	deep := strings.Repeat("[", 5000) + strings.Repeat("]", 5000)
	for name, row := range map[string]string{
		"a column twice":    `{"ts":1,"ts":2}`,
		"invalid UTF-8":     "{\"ts\":1,\"sym\":\"\xff\"}",
		"int64 overflow":    `{"ts":9223372036854775808}`,
		"a fraction":        `{"ts":1.5}`,
		"float overflow":    `{"ts":1,"price":1e400}`,
		"NaN":               `{"ts":1,"price":"NaN"}`,
		"deep nesting":      `{"ts":1,"sym":` + deep + `}`,
		"not an object":     `[1,2]`,
		"an unknown column": `{"ts":1,"qty":3}`,
		"trailing garbage":  `{"ts":1} x`,
	} {
		for _, ndjson := range []bool{false, true} {
			body, ct := "[{\"ts\":0},"+row+"]", "application/json"
			if ndjson {
				body, ct = "{\"ts\":0}\n"+row+"\n", "application/x-ndjson"
			}
			r := e.post("/ingest/"+adminToken+"?topic=h.rows", ct, []byte(body))
			// Garbage after the second row of an array is where a third
			// would start.
			named := strings.Contains(r.Error.Message, "row 2") || (name == "trailing garbage" && strings.Contains(r.Error.Message, "row 3"))
			if r.Status != 400 || r.Error.Code != "BAD_ARROW" || !named {
				t.Errorf("%s (%s): %d %.300s, want 400 BAD_ARROW naming row 2", name, ct, r.Status, r.Body)
			}
		}
	}
	n := 0
	_ = e.th.Hub.History(context.Background(), 0, ssehub.MustFilter("h.rows"), func(*ssehub.Event) error { n++; return nil })
	if n != 1 {
		t.Fatalf("%d events stored, want the first batch only", n)
	}
	if r := e.post("/ingest/"+adminToken+"?topic=h.rows", "application/json", []byte(`[{"ts":0},{"ts":2,"sym":"ok","price":1e300}]`)); r.Status != 200 || r.Rows != 2 {
		t.Fatalf("fixed rows: %d %s", r.Status, r.Body)
	}
}

// TestIngestHostileKeys: the keys a stream of several batches gives its
// events cannot be forged by another ingest's key, and an ingest key holds
// no control characters (as a publish key).
func TestIngestHostileKeys(t *testing.T) {
	e := newEnv(t, ingest.Options{})
	two := ipcStream(t, schemaV1, record(schemaV1, 0, 1), record(schemaV1, 1, 1))
	first := e.post("/ingest/"+adminToken+"?topic=h.keys&key=k", arrow.MediaType, two)
	if first.Status != 200 || len(first.IDs) != 2 {
		t.Fatalf("two batches: %d %s", first.Status, first.Body)
	}
	for _, key := range []string{"k%231", "k%230", "k-1", "k_1"} {
		r := e.post("/ingest/"+adminToken+"?topic=h.keys&key="+key, arrow.MediaType, batchOf(t, schemaV1, 9, 1))
		if r.Status != 200 || strings.Contains(r.Body, "duplicate") {
			t.Errorf("key %s after key k of two batches: %d %s, want a new event", key, r.Status, r.Body)
		}
	}
	if r := e.post("/ingest/"+adminToken+"?topic=h.keys&key=k", arrow.MediaType, two); !strings.Contains(r.Body, `"duplicate":true`) || r.ID != first.ID {
		t.Fatalf("a retry of the two batches: %s, want the first ids as duplicates", r.Body)
	}
	r := e.post("/ingest/"+adminToken+"?topic=h.keys&key=a", arrow.MediaType, batchOf(t, schemaV1, 0, 1), "Idempotency-Key", "b")
	wantStatus(t, r, 400, "BAD_FIELD")
	for _, key := range []string{"a%00b", "a%1fb", "a%1eb", "a%0d"} {
		r := e.post("/ingest/"+adminToken+"?topic=h.keys&key="+key, arrow.MediaType, batchOf(t, schemaV1, 0, 1))
		wantStatus(t, r, 400, "BAD_FIELD")
	}
}

// endless is a body that never ends.
type endless struct{}

func (endless) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = 'x'
	}
	return len(p), nil
}

// TestIngestHostileEndlessBody: a chunked body that never ends is cut at
// max_ingest_bytes (413), and a declared length past it is refused before
// a byte is read.
func TestIngestHostileEndlessBody(t *testing.T) {
	e := newEnv(t, ingest.Options{MaxBodyBytes: 64 << 10})
	req, _ := http.NewRequest("POST", e.url+"/ingest/"+adminToken+"?topic=h.endless", endless{})
	req.Header.Set("Content-Type", arrow.MediaType)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 413 || !strings.Contains(string(b), `"code":"TOO_LARGE"`) {
		t.Fatalf("an endless chunked body: %d %s", resp.StatusCode, b)
	}
	conn, err := net.Dial("tcp", strings.TrimPrefix(e.url, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprintf(conn, "POST /ingest/%s?topic=h.endless HTTP/1.1\r\nHost: x\r\nContent-Type: %s\r\nContent-Length: 10000000000\r\n\r\n", adminToken, arrow.MediaType)
	_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	r, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatal(err)
	}
	r.Body.Close()
	if r.StatusCode != 413 {
		t.Fatalf("a declared 10 GB body: %d", r.StatusCode)
	}
}

// TestIngestHostileForgedBatch: a publisher cannot forge an Arrow batch
// event through /publish (type "batch" and the meta the arrow format reads
// the schema fingerprint from): arrow streams would send its data, which
// no IPC reader can read, as a batch, past every check ingest makes.
func TestIngestHostileForgedBatch(t *testing.T) {
	e := newEnv(t, ingest.Options{})
	first := e.ingestOK("h.forge", batchOf(t, schemaV1, 0, 1))
	fp := fingerprintOf(t, e, "h.forge")
	forged := fmt.Sprintf(`{"topic":"h.forge","type":"batch","meta":{"arrow_schema":"%s","rows":1},"data":"not arrow"}`, fp)
	r := e.post("/publish", "application/json", []byte(forged), "Authorization", "Bearer "+adminToken)
	wantStatus(t, r, 400, "BAD_FIELD")
	// The type alone, or the meta alone, is no forgery.
	for _, body := range []string{
		`{"topic":"h.forge","type":"batch","meta":{"rows":1},"data":"x"}`,
		fmt.Sprintf(`{"topic":"h.forge","type":"row","meta":{"arrow_schema":"%s","rows":1},"data":"x"}`, fp),
	} {
		if r := e.post("/publish", "application/json", []byte(body), "Authorization", "Bearer "+adminToken); r.Status != 200 {
			t.Errorf("%s: %d %s", body, r.Status, r.Body)
		}
	}
	c := e.open("/arrowlive/", "Last-Event-ID", "0")
	for {
		ev := c.next(5 * time.Second)
		if ev.Type == "batch" && ev.ID != first.ID {
			t.Fatalf("a batch event %s that ingest did not store: %q", ev.ID, ev.Data)
		}
		if ev.ID != "" && ev.ID != first.ID { // the two plain events, sent as raw
			break
		}
	}
}

// fingerprintOf returns the fingerprint of topic's current schema, from
// GET /api/topics/{topic}.
func fingerprintOf(t *testing.T, e *env, topic string) string {
	t.Helper()
	req, _ := http.NewRequest("GET", e.url+"/api/topics/"+topic, nil)
	req.Header.Set("Authorization", "Bearer "+adminToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var d struct {
		Schema struct {
			Fingerprint string `json:"fingerprint"`
		} `json:"schema"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&d); err != nil || len(d.Schema.Fingerprint) != arrow.FingerprintLen {
		t.Fatalf("topic details: %v %+v", err, d)
	}
	return d.Schema.Fingerprint
}

// TestIngestHostileManyBatches: a body of 400 one-row batches (an
// event each) is stored whole or not at all, and answered in the JSON
// shape whichever limit it meets.
func TestIngestHostileManyBatches(t *testing.T) {
	e := newEnv(t, ingest.Options{})
	var recs []aa.RecordBatch
	for i := range 400 {
		recs = append(recs, record(schemaV1, i, 1))
	}
	body := ipcStream(t, schemaV1, recs...)
	if len(body) > ingest.DefaultMaxBodyBytes {
		t.Fatalf("the body is %d bytes", len(body))
	}
	tok := e.token("publish", "h.many")
	for _, path := range []string{"/ingest/" + adminToken + "?topic=h.many", "/ingest/" + tok} {
		r := e.post(path, arrow.MediaType, body)
		n := 0
		_ = e.th.Hub.History(context.Background(), 0, ssehub.MustFilter("h.many"), func(*ssehub.Event) error { n++; return nil })
		switch {
		case r.Status == 200 && len(r.IDs) == 400 && n%400 == 0:
		case r.Status >= 400 && r.Error.Code != "" && n%400 == 0:
		default:
			t.Fatalf("%d %.200s with %d events stored", r.Status, r.Body, n)
		}
		t.Logf("%d: %d events stored", r.Status, n)
	}
}

// TestIngestHostileJSONToExotic: JSON rows for a topic whose schema holds a
// type JSON rows cannot fill (a union, run-end encoded) are a 400 naming
// the column, not a 503 that blames the store.
func TestIngestHostileJSONToExotic(t *testing.T) {
	e := newEnv(t, ingest.Options{})
	for name, dt := range map[string]aa.DataType{
		"union": aa.SparseUnionOf([]aa.Field{{Name: "i", Type: aa.PrimitiveTypes.Int64}}, []aa.UnionTypeCode{0}),
		"ree":   aa.RunEndEncodedOf(aa.PrimitiveTypes.Int32, aa.BinaryTypes.String),
	} {
		s := aa.NewSchema([]aa.Field{{Name: "x", Type: dt}}, nil)
		b := array.NewRecordBuilder(memory.DefaultAllocator, s)
		b.Field(0).AppendEmptyValue()
		e.ingestOK("h.exo."+name, ipcStream(t, s, b.NewRecordBatch()))
		b.Release()
		r := e.post("/ingest/"+adminToken+"?topic=h.exo."+name, "application/json", []byte(`[{"x":1}]`))
		if r.Status != 400 || r.Error.Code != "BAD_ARROW" {
			t.Errorf("%s: %d %s, want 400 BAD_ARROW", name, r.Status, r.Body)
		}
	}
}
