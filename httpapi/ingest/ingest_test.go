package ingest_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ssehub/ssehub"
	"github.com/ssehub/ssehub/arrow"
	"github.com/ssehub/ssehub/auth"
	"github.com/ssehub/ssehub/httpapi/ingest"
	"github.com/ssehub/ssehub/internal/hubtest"
)

const wait = 10 * time.Second

// TestArrowIngestZeroCopy: an IPC body of one batch is answered with its id
// and row count once durable, and the stored event's data is the body,
// byte for byte.
func TestArrowIngestZeroCopy(t *testing.T) {
	e := newEnv(t, ingest.Options{})
	body := batchOf(t, schemaV1, 0, 1000)
	r := e.ingestOK("zc.trades", body)
	if r.Rows != 1000 || r.ID == "" {
		t.Fatalf("reply %s", r.Body)
	}
	ev, err := e.th.Store.Last(context.Background(), "zc.trades")
	if err != nil {
		t.Fatal(err)
	}
	if strconv.FormatUint(ev.ID, 10) != r.ID || !bytes.Equal(ev.Data, body) || ev.Type != arrow.EventType {
		t.Fatalf("stored event %d type %q, %d bytes; want id %s, the body's %d bytes", ev.ID, ev.Type, len(ev.Data), r.ID, len(body))
	}
	if !strings.HasPrefix(string(ev.Meta), `{"arrow_schema":"`) || !strings.HasSuffix(string(ev.Meta), `,"rows":1000}`) {
		t.Fatalf("meta %s", ev.Meta)
	}
}

// TestArrowStreamRules: schema first on connect; batches self-contained,
// with their ids; a schema change mid-stream sends a schema event before
// the first batch of the new schema and again when it changes back; GET
// /api/topics/{topic} shows the current schema and the changes with the
// ids they start at.
func TestArrowStreamRules(t *testing.T) {
	e := newEnv(t, ingest.Options{})
	topic := "rules.trades"
	first := e.ingestOK(topic, batchOf(t, schemaV1, 0, 10))

	for _, path := range []string{"/arrowlive/", "/stream/" + e.token(auth.PurposeStream, topic)} {
		c := e.open(path)
		s := decode(t, c.next(wait))
		if s.Type != "schema" || s.Topic != topic || !stripTopic(s.Schema).Equal(schemaV1) {
			t.Fatalf("%s: first event: %+v, want the schema of %s", path, s, topic)
		}
	}

	c := e.open("/arrowlive/")
	if d := decode(t, c.next(wait)); d.Type != "schema" || !stripTopic(d.Schema).Equal(schemaV1) {
		t.Fatalf("first event %+v", d)
	}
	ids := []string{
		e.ingestOK(topic, batchOf(t, schemaV1, 10, 5)).ID,
		e.ingestOK(topic, batchOf(t, schemaV2, 15, 5)).ID,
		e.ingestOK(topic, batchOf(t, schemaV2, 20, 5)).ID,
		e.ingestOK(topic, batchOf(t, schemaV1, 25, 5)).ID,
	}
	want := []struct {
		typ string
		id  string
		v2  bool
	}{{"batch", ids[0], false}, {"schema", "", true}, {"batch", ids[1], true}, {"batch", ids[2], true}, {"schema", "", false}, {"batch", ids[3], false}}
	for i, w := range want {
		d := decode(t, c.next(wait))
		if d.Type != w.typ || (w.typ == "batch" && d.ID != w.id) {
			t.Fatalf("event %d: %s id %q, want %s id %q", i, d.Type, d.ID, w.typ, w.id)
		}
		wantSchema := schemaV1
		if w.v2 {
			wantSchema = schemaV2
		}
		if !stripTopic(d.Schema).Equal(wantSchema) {
			t.Fatalf("event %d (%s): schema %v, want %v", i, d.Type, d.Schema, wantSchema)
		}
		if d.Type == "batch" && d.Rows != 5 {
			t.Fatalf("batch %s: %d rows", d.ID, d.Rows)
		}
	}
	// Schema events carry no id field (they do not move Last-Event-ID).
	for _, frame := range strings.Split(c.raw.buf.String(), "\n\n") {
		if strings.HasPrefix(frame, "event: schema\n") && !strings.HasPrefix(frame, "event: schema\ndata: ") {
			t.Fatalf("schema frame %q", frame)
		}
	}

	// The registry: current schema V1 since ids[3]; changes at the first
	// ingest, ids[1] and ids[3].
	resp, err := http.DefaultClient.Do(authed(http.MethodGet, e.url+"/api/topics/"+topic))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var info struct {
		Topic  string `json:"topic"`
		Events int    `json:"events"`
		Schema struct {
			Fingerprint string `json:"fingerprint"`
			Since       string `json:"since"`
			Fields      []struct {
				Name     string `json:"name"`
				Type     string `json:"type"`
				Nullable bool   `json:"nullable"`
			} `json:"fields"`
		} `json:"schema"`
		Changes []struct {
			ID          string `json:"id"`
			Fingerprint string `json:"fingerprint"`
		} `json:"schema_changes"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&info); err != nil {
		t.Fatal(err)
	}
	if info.Topic != topic || info.Events != 5 || info.Schema.Since != ids[3] || len(info.Schema.Fields) != 3 ||
		info.Schema.Fields[0].Name != "ts" || info.Schema.Fields[0].Type != "int64" || info.Schema.Fields[0].Nullable ||
		info.Schema.Fields[1].Type != "utf8" || !info.Schema.Fields[1].Nullable {
		t.Fatalf("GET /api/topics/%s: %+v", topic, info)
	}
	if len(info.Changes) != 3 || info.Changes[0].ID != first.ID || info.Changes[1].ID != ids[1] || info.Changes[2].ID != ids[3] ||
		info.Changes[0].Fingerprint != info.Changes[2].Fingerprint || info.Changes[2].Fingerprint != info.Schema.Fingerprint {
		t.Fatalf("schema changes %+v, want at %s, %s, %s", info.Changes, first.ID, ids[1], ids[3])
	}
}

func authed(method, url string) *http.Request {
	req, _ := http.NewRequest(method, url, nil)
	req.Header.Set("Authorization", "Bearer "+adminToken)
	return req
}

// TestArrowReplayFreshSchema: a reconnection with Last-Event-ID gets a
// schema event first, then exactly the batches after that id (no cap, none
// missing, none twice), each decodable alone; a schema change inside the
// replayed range gets its schema event.
func TestArrowReplayFreshSchema(t *testing.T) {
	e := newEnv(t, ingest.Options{})
	topic := "replay.trades"
	var ids []string
	for i := range 30 {
		s := schemaV1
		if i >= 20 {
			s = schemaV2
		}
		ids = append(ids, e.ingestOK(topic, batchOf(t, s, i*10, 10)).ID)
	}
	for _, from := range []int{0, 7, 19, 28} {
		c := e.open("/arrowlive/", "Last-Event-ID", ids[from])
		d := decode(t, c.next(wait))
		if d.Type != "schema" || d.Topic != topic || !stripTopic(d.Schema).Equal(schemaV2) {
			t.Fatalf("from %s: first event %+v, want the current schema", ids[from], d)
		}
		cur := schemaV2
		for i := from + 1; i < len(ids); i++ {
			d := decode(t, c.next(wait))
			if d.Type == "schema" {
				cur = stripTopic(d.Schema)
				d = decode(t, c.next(wait))
			}
			if d.Type != "batch" || d.ID != ids[i] || d.First != int64(i*10) || d.Rows != 10 {
				t.Fatalf("from %s: got %s %s (first ts %d), want batch %s", ids[from], d.Type, d.ID, d.First, ids[i])
			}
			want := schemaV1
			if i >= 20 {
				want = schemaV2
			}
			if !cur.Equal(want) || !d.Schema.Equal(want) {
				t.Fatalf("from %s: batch %s under schema %v, batch's own %v, want %v", ids[from], d.ID, cur, d.Schema, want)
			}
		}
	}
}

// TestArrowHeartbeat: an idle arrow stream sends the seed's heartbeat bytes
// exactly; /stream/{token} of an Arrow topic too.
func TestArrowHeartbeat(t *testing.T) {
	e := newEnv(t, ingest.Options{}, func(c *hubtest.Config) {
		c.Stream.Streams[0].Heartbeat = 200 * time.Millisecond
		c.Stream.TokenStream = hubtestTokenStream(200 * time.Millisecond)
	})
	topic := "hb.trades"
	e.ingestOK(topic, batchOf(t, schemaV1, 0, 1))
	for _, path := range []string{"/arrowlive/", "/stream/" + e.token(auth.PurposeStream, topic)} {
		c := e.open(path)
		decode(t, c.next(wait)) // the schema
		deadline := time.Now().Add(wait)
		for !strings.Contains(c.raw.buf.String(), "\n\nevent: heartbeat\ndata:\n\n") {
			if time.Now().After(deadline) {
				t.Fatalf("%s: no heartbeat; read %q", path, c.raw.buf.String())
			}
			buf := make([]byte, 512)
			n, err := c.raw.Read(buf)
			_ = n
			if err != nil {
				t.Fatal(err)
			}
		}
		if strings.Contains(c.raw.buf.String(), "ping") {
			t.Fatalf("%s: heartbeat with data: %q", path, c.raw.buf.String())
		}
	}
}

// TestArrowTokenStreamFormat: /stream/{token} streams Arrow topics in the
// arrow format and other topics raw, as before.
func TestArrowTokenStreamFormat(t *testing.T) {
	e := newEnv(t, ingest.Options{})
	e.ingestOK("fmt.arrow", batchOf(t, schemaV1, 0, 3))
	resp, err := http.DefaultClient.Do(func() *http.Request {
		r := authed(http.MethodPost, e.url+"/publish/fmt.json")
		r.Body = io.NopCloser(strings.NewReader(`{"a":1}`))
		return r
	}())
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()

	c := e.open("/stream/" + e.token(auth.PurposeStream, "fmt.json") + "?last_event_id=0")
	if ev := c.next(wait); ev.Type != "message" || string(ev.Data) != `{"a":1}` {
		t.Fatalf("JSON topic: got %q %q, want the raw event", ev.Type, ev.Data)
	}
	c = e.open("/stream/"+e.token(auth.PurposeStream, "fmt.arrow"), "Last-Event-ID", "0")
	if d := decode(t, c.next(wait)); d.Type != "schema" {
		t.Fatalf("Arrow topic: %+v", d)
	}
	if d := decode(t, c.next(wait)); d.Type != "batch" || d.Rows != 3 {
		t.Fatalf("Arrow topic: %+v", d)
	}
	// A topic with no event yet streams as arrow, and its first ingest
	// arrives as a schema and a batch.
	c = e.open("/stream/" + e.token(auth.PurposeStream, "fmt.later"))
	time.Sleep(100 * time.Millisecond)
	e.ingestOK("fmt.later", batchOf(t, schemaV2, 0, 2))
	if d := decode(t, c.next(wait)); d.Type != "schema" || !stripTopic(d.Schema).Equal(schemaV2) {
		t.Fatalf("new topic: %+v", d)
	}
	if d := decode(t, c.next(wait)); d.Type != "batch" || d.Rows != 2 {
		t.Fatalf("new topic: %+v", d)
	}
}

// TestArrowSeveralTopics: one stream of two Arrow topics sends a schema
// event per topic first, each naming its topic, and before each batch the
// schema event of its own topic when the previous one was another's.
func TestArrowSeveralTopics(t *testing.T) {
	e := newEnv(t, ingest.Options{})
	e.ingestOK("multi.a", batchOf(t, schemaV1, 0, 1))
	e.ingestOK("multi.b", batchOf(t, schemaV2, 0, 1))
	c := e.open("/stream/" + e.token(auth.PurposeStream, "multi.*"))
	for _, topic := range []string{"multi.a", "multi.b"} {
		if d := decode(t, c.next(wait)); d.Type != "schema" || d.Topic != topic {
			t.Fatalf("got %+v, want the schema of %s", d, topic)
		}
	}
	a := e.ingestOK("multi.a", batchOf(t, schemaV1, 1, 1)).ID
	b := e.ingestOK("multi.b", batchOf(t, schemaV2, 1, 1)).ID
	b2 := e.ingestOK("multi.b", batchOf(t, schemaV2, 2, 1)).ID
	for _, w := range []struct{ typ, topic, id string }{
		{"schema", "multi.a", ""}, {"batch", "", a}, {"schema", "multi.b", ""}, {"batch", "", b}, {"batch", "", b2},
	} {
		d := decode(t, c.next(wait))
		if d.Type != w.typ || d.Topic != w.topic || (w.typ == "batch" && d.ID != w.id) {
			t.Fatalf("got %s topic %q id %q, want %+v", d.Type, d.Topic, d.ID, w)
		}
	}
}

// TestArrowNonArrowEvent: an event published with /publish to a topic of
// an arrow stream is sent as raw sends it.
func TestArrowNonArrowEvent(t *testing.T) {
	e := newEnv(t, ingest.Options{})
	e.ingestOK("mixed.t", batchOf(t, schemaV1, 0, 1))
	c := e.open("/arrowlive/")
	decode(t, c.next(wait))
	r := authed(http.MethodPost, e.url+"/publish/mixed.t?type=note")
	r.Body = io.NopCloser(strings.NewReader("hello"))
	resp, err := http.DefaultClient.Do(r)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if ev := c.next(wait); ev.Type != "note" || string(ev.Data) != "hello" || ev.ID == "" {
		t.Fatalf("got %+v", ev)
	}
}

var _ = fmt.Sprint
var _ = ssehub.All

// TestArrowSlowSubscriber: a subscriber that does not read while batches
// pour in overflows its queue and catches up from the log (a small hot
// tier): it still gets every batch once, in order, and the schema event
// before the first batch of a changed schema.
func TestArrowSlowSubscriber(t *testing.T) {
	e := newEnv(t, ingest.Options{}, func(c *hubtest.Config) {
		c.Hub.QueueSize, c.Hub.HotEvents = 4, 8
	})
	topic := "slow.t"
	e.ingestOK(topic, batchOf(t, schemaV1, 0, 1))
	c := e.open("/arrowlive/")
	if d := decode(t, c.next(wait)); d.Type != "schema" {
		t.Fatalf("%+v", d)
	}
	var ids []string
	for i := range 160 {
		s := schemaV1
		if i >= 80 {
			s = schemaV2
		}
		ids = append(ids, e.ingestOK(topic, batchOf(t, s, i*4000, 4000)).ID)
	}
	cur := schemaV1
	for i, id := range ids {
		d := decode(t, c.next(wait))
		if d.Type == "schema" {
			if i != 80 {
				t.Fatalf("a schema event before batch %d", i)
			}
			cur = stripTopic(d.Schema)
			d = decode(t, c.next(wait))
		}
		if d.Type != "batch" || d.ID != id || d.First != int64(i*4000) || !cur.Equal(d.Schema) {
			t.Fatalf("batch %d: got %s %s first %d", i, d.Type, d.ID, d.First)
		}
	}
	if st := e.th.Hub.Stats(); st.CatchUps.Load() == 0 || st.LogReads.Load() == 0 {
		t.Fatalf("the subscriber did not catch up from the log (catch-ups %d, log reads %d): the test tests nothing",
			st.CatchUps.Load(), st.LogReads.Load())
	}
}
