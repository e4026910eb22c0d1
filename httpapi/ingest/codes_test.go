package ingest_test

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"testing"

	aa "github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/ipc"
	"github.com/ssehub/ssehub"
	"github.com/ssehub/ssehub/arrow"
	"github.com/ssehub/ssehub/auth"
	"github.com/ssehub/ssehub/httpapi/ingest"
	"github.com/ssehub/ssehub/internal/hubtest"
)

// TestArrowJSONRows: JSON and NDJSON rows are converted with the topic's
// schema, or one inferred from the first rows, into batches a client
// decodes; a row that does not fit is a 400 naming the row and the column,
// and nothing is stored.
func TestArrowJSONRows(t *testing.T) {
	e := newEnv(t, ingest.Options{})
	ing := func(topic, ct, body string) reply {
		return e.post("/ingest/"+adminToken+"?topic="+topic, ct, []byte(body))
	}
	// The topic has a schema (from IPC): JSON rows fill it.
	e.ingestOK("json.typed", batchOf(t, schemaV1, 0, 1))
	r := ing("json.typed", "application/json", `[{"ts":1,"sym":"A","price":1.5},{"ts":2,"price":null},{"sym":"C","ts":3}]`)
	wantStatus(t, r, 200, "")
	if r.Rows != 3 {
		t.Fatalf("rows %d", r.Rows)
	}
	r = ing("json.typed", "application/x-ndjson", "{\"ts\":4,\"sym\":\"D\",\"price\":2}\n\n{\"ts\":5}\n")
	wantStatus(t, r, 200, "")
	c := e.open("/arrowlive/", "Last-Event-ID", "0")
	d := decode(t, c.next(wait)) // the schema
	if !stripTopic(d.Schema).Equal(schemaV1) {
		t.Fatalf("schema %v", d.Schema)
	}
	for _, want := range []struct{ rows, first, last int64 }{{1, 0, 0}, {3, 1, 3}, {2, 4, 5}} {
		d := decode(t, c.next(wait))
		if d.Type != "batch" || d.Rows != want.rows || d.First != want.first || d.Last != want.last || !d.Schema.Equal(schemaV1) {
			t.Fatalf("got %+v, want %+v under the topic's schema", d, want)
		}
	}

	// Rows that do not fit: 400 naming row and column; nothing stored.
	before, _ := e.th.Store.Topic(context.Background(), "json.typed")
	for body, want := range map[string]string{
		`[{"ts":1},{"ts":"x"}]`:            `row 2: column "ts": want an integer`,
		`[{"ts":1},{"ts":2,"nope":1}]`:     `row 2: column "nope": is not in the topic's schema`,
		`[{"ts":1.5}]`:                     `row 1: column "ts": want an integer that fits int64`,
		`[{"sym":"x"}]`:                    `row 1: column "ts": missing, and the column is not nullable`,
		`[{"ts":null}]`:                    `row 1: column "ts": null in a non-nullable column`,
		`[{"ts":1},[1]]`:                   `row 2: want a JSON object`,
		`[{"ts":1,"price":"cheap"}]`:       `row 1: column "price": want a number, got a string`,
		`{"ts":1}`:                         `array of row objects`,
		`[{"ts":1}`:                        `row 2: invalid JSON`,
		`[]`:                               `no rows`,
		`[{"ts":1,"ts":2}]`:                `row 1: invalid JSON`,
		`[{"ts":9223372036854775808}]`:     `row 1: column "ts": want an integer that fits int64`,
		`[{"ts":1,"sym":{"nested":true}}]`: `row 1: column "sym": want a string, got an object`,
	} {
		r := ing("json.typed", "application/json", body)
		wantStatus(t, r, 400, ingest.CodeBadArrow)
		if !strings.Contains(r.Error.Message, want) {
			t.Errorf("%s: message %q, want %q", body, r.Error.Message, want)
		}
	}
	r = ing("json.typed", "application/x-ndjson", "{\"ts\":1}\n{\"ts\":2}\n\n{\"ts\":true}\n")
	wantStatus(t, r, 400, ingest.CodeBadArrow)
	if !strings.Contains(r.Error.Message, `row 4: column "ts"`) {
		t.Errorf("NDJSON rows are numbered by line: %q", r.Error.Message)
	}
	r = ing("json.typed", "application/x-ndjson", "{\"ts\":1} {\"ts\":2}\n")
	wantStatus(t, r, 400, ingest.CodeBadArrow)
	after, _ := e.th.Store.Topic(context.Background(), "json.typed")
	if after.Events != before.Events {
		t.Fatalf("a refused body stored events: %d -> %d", before.Events, after.Events)
	}

	// A topic without a schema: inferred from the first rows.
	r = ing("json.inferred", "application/json", `[{"id":1,"name":"a","ok":true},{"id":2,"score":0.5},{"id":3,"score":2,"name":null}]`)
	wantStatus(t, r, 200, "")
	cur, _, err := e.ing.Registry().Current(context.Background(), "json.inferred")
	if err != nil {
		t.Fatal(err)
	}
	want := aa.NewSchema([]aa.Field{
		{Name: "id", Type: aa.PrimitiveTypes.Int64, Nullable: true},
		{Name: "name", Type: aa.BinaryTypes.String, Nullable: true},
		{Name: "ok", Type: aa.FixedWidthTypes.Boolean, Nullable: true},
		{Name: "score", Type: aa.PrimitiveTypes.Float64, Nullable: true},
	}, nil)
	if !cur.Schema.Arrow.Equal(want) {
		t.Fatalf("inferred %v, want %v", cur.Schema.Arrow, want)
	}
	// Later rows use that schema.
	wantStatus(t, ing("json.inferred", "application/json", `[{"id":4,"score":1}]`), 200, "")
	wantStatus(t, ing("json.inferred", "application/json", `[{"id":"five"}]`), 400, ingest.CodeBadArrow)
	for body, want := range map[string]string{
		`[{"a":1},{"a":"x"}]`: `row 2: column "a": a string after numbers`,
		`[{"a":[1]}]`:         `row 1: column "a": nested values are not inferred`,
		`[{}]`:                `no columns`,
	} {
		r := ing("json.fresh", "application/json", body)
		wantStatus(t, r, 400, ingest.CodeBadArrow)
		if !strings.Contains(r.Error.Message, want) {
			t.Errorf("%s: message %q, want %q", body, r.Error.Message, want)
		}
	}
	if _, ok, _ := e.ing.Registry().Current(context.Background(), "json.fresh"); ok {
		t.Fatal("a refused body set a schema")
	}
}

// TestArrowIngestCodes: the token codes of the seed (400/401/403/410),
// topic selection (400 when ambiguous), media types (415), the body limit
// (413), invalid IPC (400) and the rate limit (429 with Retry-After), each
// with a JSON error body.
func TestArrowIngestCodes(t *testing.T) {
	e := newEnv(t, ingest.Options{MaxBodyBytes: 64 << 10}, func(c *hubtest.Config) {
		c.API.Limits.PublishRate = 1
		c.API.Limits.PublishBurst = 2
	})
	body := batchOf(t, schemaV1, 0, 10)
	ingestTok := e.token(auth.PurposePublish, "codes.one")
	wide := e.token(auth.PurposePublish, "codes.*")
	streamTok := e.token(auth.PurposeStream, "codes.one")
	post := func(path string, b []byte, hdr ...string) reply { return e.post(path, arrow.MediaType, b, hdr...) }

	// Topic: the token's only topic; ?topic= otherwise; 400 when ambiguous.
	r := post("/ingest/"+ingestTok, body)
	wantStatus(t, r, 200, "")
	ev, _ := e.th.Store.Last(context.Background(), "codes.one")
	if strconv.FormatUint(ev.ID, 10) != r.ID {
		t.Fatalf("stored in another topic: %+v", r)
	}
	wantStatus(t, post("/ingest/"+wide, body), 400, "BAD_TOPIC")
	wantStatus(t, post("/ingest/"+adminToken, body), 400, "BAD_TOPIC")
	wantStatus(t, post("/ingest/"+wide+"?topic=codes.two", body), 200, "")
	wantStatus(t, post("/ingest/"+wide+"?topic=other", body), 403, "FORBIDDEN")
	wantStatus(t, post("/ingest/"+adminToken+"?topic=bad..topic", body), 400, "BAD_TOPIC")
	// The token in Authorization, for POST /ingest?topic=.
	wantStatus(t, post("/ingest?topic=codes.one", body, "Authorization", "Bearer "+adminToken), 200, "")
	wantStatus(t, post("/ingest?topic=codes.one", body), 401, "UNAUTHORIZED")

	// The seed's token codes.
	wantStatus(t, post("/ingest/xyz", body), 400, "BAD_TOKEN")
	wantStatus(t, post("/ingest/"+strings.Repeat("ab", 32), body), 401, "UNAUTHORIZED")
	wantStatus(t, post("/ingest/"+streamTok, body), 403, "FORBIDDEN")
	resp, err := http.DefaultClient.Do(authed(http.MethodDelete, e.url+"/api/topics/codes.gone"))
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("deregister: %v %v", resp, err)
	}
	resp.Body.Close()
	wantStatus(t, post("/ingest/"+adminToken+"?topic=codes.gone", body), 410, "GONE")

	// Media types and the body limit.
	wantStatus(t, e.post("/ingest/"+adminToken+"?topic=codes.one", "text/csv", body), 415, "UNSUPPORTED_MEDIA_TYPE")
	wantStatus(t, e.post("/ingest/"+adminToken+"?topic=codes.one", "", body), 415, "UNSUPPORTED_MEDIA_TYPE")
	big := batchOf(t, schemaV1, 0, 4000)
	if len(big) <= 64<<10 {
		t.Fatalf("test body of %d bytes is not over the limit", len(big))
	}
	r = post("/ingest/"+adminToken+"?topic=codes.one", big)
	wantStatus(t, r, 413, "TOO_LARGE")
	if !strings.Contains(r.Error.Message, "65536") {
		t.Errorf("413 message %q does not state the limit", r.Error.Message)
	}

	// Invalid IPC.
	schemaOnly := func() []byte {
		var buf bytes.Buffer
		w := ipc.NewWriter(&buf, ipc.WithSchema(schemaV1))
		_ = w.Close()
		return buf.Bytes()
	}()
	for name, b := range map[string][]byte{
		"garbage":     []byte("not arrow at all, just text"),
		"empty":       {},
		"schema only": schemaOnly,
		"truncated":   body[:len(body)-30],
		"two streams": append(append([]byte(nil), body...), body...),
	} {
		r := post("/ingest/"+adminToken+"?topic=codes.one", b)
		if r.Status != 400 || r.Error.Code != ingest.CodeBadArrow {
			t.Errorf("%s: %d %s, want 400 %s", name, r.Status, r.Body, ingest.CodeBadArrow)
		}
	}

	// The rate limit: the publish budget, one event per batch; the admin
	// token is exempt.
	var limited reply
	for range 5 {
		if limited = post("/ingest/"+ingestTok, body); limited.Status == 429 {
			break
		}
	}
	wantStatus(t, limited, 429, "RATE_LIMITED")
	if limited.Header.Get("Retry-After") == "" {
		t.Fatal("429 without Retry-After")
	}
}

// TestArrowIngestSeveralBatches: a stream of several record batches
// becomes one event per batch (each self-contained), all or nothing, and
// the answer lists their ids.
func TestArrowIngestSeveralBatches(t *testing.T) {
	e := newEnv(t, ingest.Options{})
	body := ipcStream(t, schemaV1, record(schemaV1, 0, 3), record(schemaV1, 3, 4), record(schemaV1, 7, 5))
	r := e.ingestOK("multi.rec", body)
	if r.Rows != 12 || len(r.IDs) != 3 || r.IDs[2] != r.ID {
		t.Fatalf("reply %s", r.Body)
	}
	c := e.open("/arrowlive/", "Last-Event-ID", "0")
	decode(t, c.next(wait))
	for i, want := range []struct{ rows, first int64 }{{3, 0}, {4, 3}, {5, 7}} {
		d := decode(t, c.next(wait))
		if d.Type != "batch" || d.ID != r.IDs[i] || d.Rows != want.rows || d.First != want.first {
			t.Fatalf("batch %d: %+v", i, d)
		}
	}
}

// TestArrowIngestIdempotent: the same key inside the dedupe window stores
// nothing new and answers the first id.
func TestArrowIngestIdempotent(t *testing.T) {
	e := newEnv(t, ingest.Options{})
	body := batchOf(t, schemaV1, 0, 10)
	a := e.post("/ingest/"+adminToken+"?topic=idem.t", arrow.MediaType, body, "Idempotency-Key", "k1")
	b := e.post("/ingest/"+adminToken+"?topic=idem.t&key=k1", arrow.MediaType, body)
	if a.Status != 200 || b.Status != 200 || a.ID != b.ID || !strings.Contains(b.Body, `"duplicate":true`) {
		t.Fatalf("%s / %s", a.Body, b.Body)
	}
	info, err := e.th.Store.Topic(context.Background(), "idem.t")
	if err != nil || info.Events != 1 {
		t.Fatalf("%+v %v", info, err)
	}
}

// TestArrowRegistryRepair: batches whose schema change the registry did
// not record (a crash between the append and the record) are found when
// the topic is next loaded.
func TestArrowRegistryRepair(t *testing.T) {
	e := newEnv(t, ingest.Options{})
	ctx := context.Background()
	e.ingestOK("repair.t", batchOf(t, schemaV1, 0, 1))
	// Append a V2 batch behind the registry's back.
	p, err := arrow.ReadIPC(batchOf(t, schemaV2, 1, 1), 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := e.th.Store.Put(ctx, arrow.SchemasBucket, p.Schema.Fingerprint, p.Schema.IPC); err != nil {
		t.Fatal(err)
	}
	res, err := e.th.Hub.Publish(ctx, []*ssehub.Event{arrow.NewEvent("repair.t", p.Schema, p.Batches[0])})
	if err != nil {
		t.Fatal(err)
	}
	reg := arrow.NewRegistry(e.th.Store, nil) // a restarted node
	s, err := reg.Topic(ctx, "repair.t")
	if err != nil || s.Fingerprint != p.Schema.Fingerprint {
		t.Fatalf("current after repair: %v %v", s, err)
	}
	changes, err := reg.Changes(ctx, "repair.t")
	if err != nil || len(changes) != 2 || changes[1].ID != res[0].ID {
		t.Fatalf("changes %+v %v, want the second at %d", changes, err, res[0].ID)
	}
	if _, err := reg.Schema(ctx, "0123456789abcdef0123456789abcdef"); !errors.Is(err, ssehub.ErrNotFound) {
		t.Fatalf("unknown schema: %v", err)
	}
}

// TestArrowIngestFile: an Arrow IPC file (the random-access format) is
// accepted too, each of its batches becoming a self-contained stream.
func TestArrowIngestFile(t *testing.T) {
	e := newEnv(t, ingest.Options{})
	var buf bytes.Buffer
	w, err := ipc.NewFileWriter(&buf, ipc.WithSchema(schemaV1))
	if err != nil {
		t.Fatal(err)
	}
	for _, rec := range []aa.RecordBatch{record(schemaV1, 0, 4), record(schemaV1, 4, 6)} {
		if err := w.Write(rec); err != nil {
			t.Fatal(err)
		}
		rec.Release()
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	r := e.post("/ingest/"+adminToken+"?topic=file.t", arrow.FileMediaType, buf.Bytes())
	wantStatus(t, r, 200, "")
	if r.Rows != 10 || len(r.IDs) != 2 {
		t.Fatalf("reply %s", r.Body)
	}
	c := e.open("/arrowlive/", "Last-Event-ID", "0")
	decode(t, c.next(wait))
	for i, want := range []int64{4, 6} {
		if d := decode(t, c.next(wait)); d.Type != "batch" || d.ID != r.IDs[i] || d.Rows != want {
			t.Fatalf("batch %d: %+v", i, d)
		}
	}
	// A stream sent as a file, and a file sent as a stream, are refused.
	wantStatus(t, e.post("/ingest/"+adminToken+"?topic=file.t", arrow.FileMediaType, batchOf(t, schemaV1, 0, 1)), 400, ingest.CodeBadArrow)
	wantStatus(t, e.post("/ingest/"+adminToken+"?topic=file.t", arrow.MediaType, buf.Bytes()), 400, ingest.CodeBadArrow)
}
