package envelope_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/ssehub/ssehub"
	"github.com/ssehub/ssehub/envelope"
)

// decoded is the envelope as encoding/json reads it.
type decoded struct {
	ID        uint64          `json:"id"`
	EventID   *string         `json:"event_id"`
	EventType string          `json:"event_type"`
	Type      *string         `json:"type"`
	EntityID  *string         `json:"entity_id"`
	CreatedAt time.Time       `json:"created_at"`
	Data      json.RawMessage `json:"data"`
	Source    json.RawMessage `json:"source"`
	Meta      json.RawMessage `json:"meta"`
}

// sameSource reports whether the envelope's source is ev's: null for none,
// the object for an object source, else the string.
func sameSource(got json.RawMessage, source string) bool {
	switch {
	case source == "":
		return string(got) == "null"
	case envelope.SourceObject(source):
		return string(got) == source
	}
	var s string
	return json.Unmarshal(got, &s) == nil && s == string([]rune(source))
}

// checkAgainstEncodingJSON decodes Append's output with encoding/json and
// compares every field with the event, and the string encoding with
// encoding/json's own (HTML escaping aside).
func checkAgainstEncodingJSON(t *testing.T, ev *ssehub.Event) {
	t.Helper()
	out := envelope.Append(nil, ev)
	if !json.Valid(out) {
		t.Fatalf("invalid JSON: %s", out)
	}
	var d decoded
	if err := json.Unmarshal(out, &d); err != nil {
		t.Fatalf("%s: %v", out, err)
	}
	str := func(p *string) string {
		if p == nil {
			return ""
		}
		return *p
	}
	valid := func(s string) string { return string([]rune(s)) } // one U+FFFD per invalid byte, as encoding/json
	if d.ID != ev.ID || str(d.EventID) != valid(envelope.EventID(ev.Key)) || d.EventType != valid(ev.Topic) || str(d.Type) != valid(ev.Type) ||
		str(d.EntityID) != valid(ev.Entity) || !sameSource(d.Source, ev.Source) || !d.CreatedAt.Equal(ev.Time) {
		t.Fatalf("fields differ: %+v from %s for %+v", d, out, ev)
	}
	if ev.Type == "" && d.Type != nil {
		t.Fatalf("type present for an event without one: %s", out)
	}
	wantMeta := "{}"
	if len(ev.Meta) > 0 {
		wantMeta = string(ev.Meta)
	}
	if string(d.Meta) != wantMeta {
		t.Fatalf("meta %s, want %s", d.Meta, wantMeta)
	}
	if len(ev.Data) > 0 && json.Valid(ev.Data) {
		if !bytes.Equal(d.Data, bytes.TrimSpace(ev.Data)) {
			t.Fatalf("JSON data %s, want it embedded as is: %s", d.Data, ev.Data)
		}
	} else {
		var s string
		if err := json.Unmarshal(d.Data, &s); err != nil {
			t.Fatalf("data %s is not a JSON string: %v", d.Data, err)
		}
		if s != valid(string(ev.Data)) {
			t.Fatalf("data string %q, want %q", s, valid(string(ev.Data)))
		}
		// The bytes match encoding/json's, but for its HTML escaping.
		var want bytes.Buffer
		enc := json.NewEncoder(&want)
		enc.SetEscapeHTML(false)
		_ = enc.Encode(string(ev.Data))
		if got := string(envelope.AppendString(nil, string(ev.Data))); got != strings.TrimSuffix(want.String(), "\n") {
			t.Fatalf("string %q encodes as %s, encoding/json as %s", ev.Data, got, want.String())
		}
	}
}

func TestAppendMatchesEncodingJSON(t *testing.T) {
	at := time.Date(2024, 3, 15, 10, 0, 0, 123456789, time.UTC)
	for _, ev := range []*ssehub.Event{
		{ID: 42, Topic: "user.login", Key: "evt_abc", Entity: "user_1", Source: "web", Meta: []byte(`{"k":1}`), Data: []byte(`{"ip":"1.2.3.4"}`), Time: at},
		{ID: 1, Topic: "a", Data: []byte("plain text\nwith \"quotes\" <b>&</b> \u2028 \x00 \x1f"), Time: at},
		{ID: 2, Topic: "a", Type: "t\ttab", Data: []byte("\xff\xfe invalid"), Time: at},
		{ID: 3, Topic: "a", Data: nil, Time: at},
		{ID: 4, Topic: "a", Data: []byte(`{"unterminated":`), Time: at},
		{ID: 5, Topic: "a", Data: []byte(` 42 `), Time: at},
		{ID: 6, Topic: "a", Data: []byte("\b\f backspace and form feed, as encoding/json writes them"), Time: at},
	} {
		checkAgainstEncodingJSON(t, ev)
	}
}

// FuzzAppend: for any fields, Append gives valid JSON that encoding/json
// decodes back to the event's fields.
func FuzzAppend(f *testing.F) {
	f.Add(uint64(1), "a.b", "t", "k", "e", "s", []byte(`{"x":1}`), []byte(`{"m":true}`), int64(0))
	f.Add(uint64(9), "x", "", "", "", "", []byte("\xff\n\"\u2029"), []byte(nil), int64(1700000000123456789))
	f.Fuzz(func(t *testing.T, id uint64, topic, typ, key, entity, source string, data, meta []byte, ns int64) {
		if len(meta) > 0 && (!json.Valid(meta) || meta[0] != '{') {
			meta = nil // the publish path accepts only objects
		}
		if len(meta) > 0 {
			var c bytes.Buffer
			if json.Compact(&c, meta) != nil || !utf8.Valid(meta) {
				meta = nil
			}
		}
		if ns < 0 || ns > 1<<62 {
			ns = 0
		}
		ev := &ssehub.Event{ID: id, Topic: topic, Type: typ, Key: key, Entity: entity, Source: source, Data: data, Meta: meta, Time: time.Unix(0, ns).UTC()}
		if len(data) > 0 && json.Valid(data) && !utf8.Valid(data) {
			return // embedded as is; encoding/json would rewrite invalid UTF-8
		}
		checkAgainstEncodingJSON(t, ev)
	})
}

func BenchmarkAppend(b *testing.B) {
	ev := &ssehub.Event{ID: 123456, Topic: "orders.created", Key: "ord-1234", Data: []byte(`{"total":42,"currency":"EUR","items":[1,2,3]}`), Time: time.Now()}
	buf := make([]byte, 0, 512)
	b.ReportAllocs()
	for b.Loop() {
		buf = envelope.Append(buf[:0], ev)
	}
}

func ExampleAppend() {
	ev := &ssehub.Event{ID: 42, Topic: "user.login", Key: "evt_abc", Data: []byte(`{"ip":"1.2.3.4"}`),
		Time: time.Date(2024, 3, 15, 10, 0, 0, 0, time.UTC)}
	fmt.Println(string(envelope.Append(nil, ev)))
	// Output: {"id":42,"event_id":"evt_abc","event_type":"user.login","entity_id":null,"created_at":"2024-03-15T10:00:00Z","data":{"ip":"1.2.3.4"},"source":null,"meta":{}}
}

func ExampleParse() {
	ev, err := envelope.Parse([]byte(`{"topic":"orders.created","key":"ord-1","data":{"total":42}}`))
	fmt.Println(ev.Topic, ev.Key, string(ev.Data), err)
	// Output: orders.created ord-1 {"total":42} <nil>
}

// TestInboxclawStyle checks the Inboxclaw envelope byte for byte against
// the seed document's example, published as an Inboxclaw publisher would.
func TestInboxclawStyle(t *testing.T) {
	ev := &ssehub.Event{ID: 42, Topic: "user.login", Key: envelope.ScopedKey(`{"id":1,"name":"web_frontend"}`, "evt_abc"),
		Entity: "user_1", Source: `{"id":1,"name":"web_frontend"}`, Data: []byte(`{"ip": "1.2.3.4"}`),
		Time: time.Date(2024, 3, 15, 10, 0, 0, 123456789, time.UTC)}
	const seed = `{"id": 42, "event_id": "evt_abc", "event_type": "user.login", "entity_id": "user_1", "created_at": "2024-03-15T10:00:00+00:00", "data": {"ip": "1.2.3.4"}, "source": {"id": 1, "name": "web_frontend"}, "meta": {}}`
	if got := string(envelope.AppendStyle(nil, ev, envelope.Inboxclaw)); got != seed {
		t.Errorf("inboxclaw style:\n got %s\nwant %s", got, seed)
	}
	const compact = `{"id":42,"event_id":"evt_abc","event_type":"user.login","entity_id":"user_1","created_at":"2024-03-15T10:00:00+00:00","data":{"ip": "1.2.3.4"},"source":{"id":1,"name":"web_frontend"},"meta":{}}`
	if got := string(envelope.AppendStyle(nil, ev, envelope.InboxclawCompact)); got != compact {
		t.Errorf("compact inboxclaw style:\n got %s\nwant %s", got, compact)
	}
	const plain = `{"id":42,"event_id":"evt_abc","event_type":"user.login","entity_id":"user_1","created_at":"2024-03-15T10:00:00.123456789Z","data":{"ip": "1.2.3.4"},"source":{"id":1,"name":"web_frontend"},"meta":{}}`
	if got := string(envelope.Append(nil, ev)); got != plain {
		t.Errorf("default style:\n got %s\nwant %s", got, plain)
	}
	// A string source is an object in Inboxclaw's style, a string in ssehub's.
	ev.Source, ev.Key, ev.Meta = "web_frontend", "k", []byte(`{"a":[1,"x, y: z"],"b":{}}`)
	out := string(envelope.AppendStyle(nil, ev, envelope.Inboxclaw))
	if !strings.Contains(out, `"source": {"id": null, "name": "web_frontend"}, "meta": {"a": [1, "x, y: z"], "b": {}}}`) {
		t.Errorf("string source in inboxclaw style: %s", out)
	}
	if out := string(envelope.Append(nil, ev)); !strings.Contains(out, `"source":"web_frontend","meta":{"a":[1,"x, y: z"],"b":{}}}`) {
		t.Errorf("string source in default style: %s", out)
	}
}

func TestSourceIDAndScopedKey(t *testing.T) {
	for _, c := range []struct{ source, id string }{
		{`{"id":1,"name":"web_frontend"}`, "1"},
		{`{"name":"web_frontend"}`, `"web_frontend"`},
		{`{"id":"a-b"}`, `"a-b"`},
		{"web_frontend", "web_frontend"},
		{"", ""},
	} {
		if got := envelope.SourceID(c.source); got != c.id {
			t.Errorf("SourceID(%q) = %q, want %q", c.source, got, c.id)
		}
	}
	a, b := envelope.ScopedKey(`{"id":1,"name":"x"}`, "evt"), envelope.ScopedKey(`{"id":2,"name":"x"}`, "evt")
	if a == b || envelope.EventID(a) != "evt" || envelope.EventID(b) != "evt" {
		t.Errorf("scoped keys %q %q", a, b)
	}
	if envelope.ScopedKey("s", "") != "" {
		t.Error("an empty key must stay empty")
	}
}
