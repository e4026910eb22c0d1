package envelope

import (
	"strings"
	"testing"
)

// TestParseEnvelope pins what a publish envelope may hold.
func TestParseEnvelope(t *testing.T) {
	ok := []struct{ in, topic, typ, data, meta, key string }{
		{`{"topic":"a.b","type":"t","data":{"x":[1,2]},"key":"k1","entity":"e","source":"s","meta":{"m":1}}`, "a.b", "t", `{"x":[1,2]}`, `{"m":1}`, "k1"},
		{`{"topic":"a","data":"line\nbreak \u00e9"}`, "a", "", "line\nbreak é", "", ""},
		{`{"topic":"a","data":null,"meta":null}`, "a", "", "", "", ""},
		{` {"topic":"a","data":42} `, "a", "", "42", "", ""},
		{`{"Topic":"a","DATA":true}`, "a", "", "true", "", ""}, // names match case-insensitively, as encoding/json did
		{`{"topic":"a"}`, "a", "", "", "", ""},
	}
	for _, c := range ok {
		ev, err := Parse([]byte(c.in))
		if err != nil {
			t.Errorf("%s: %v", c.in, err)
			continue
		}
		if ev.Topic != c.topic || ev.Type != c.typ || string(ev.Data) != c.data || string(ev.Meta) != c.meta || ev.Key != c.key {
			t.Errorf("%s: got %+v", c.in, ev)
		}
	}
	bad := []struct{ in, want string }{
		{`{"topic":"a","bogus":1}`, "bogus"},
		{`{"topic":"a"} {"topic":"b"}`, "invalid envelope"},
		{`{"topic":"a","meta":[1]}`, "meta must be a JSON object"},
		{`{"topic":1}`, "invalid envelope"},
		{`{"topic":"a","data":{"x":}`, "invalid envelope"},
		{``, "invalid envelope"},
		{`[]`, "invalid envelope"},
	}
	for _, c := range bad {
		if _, err := Parse([]byte(c.in)); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v, want one mentioning %q", c.in, err, c.want)
		}
	}
}

func BenchmarkParseEnvelope(b *testing.B) {
	line := []byte(`{"topic":"orders.eu","type":"created","key":"ord-1234","data":{"t":1763870000000000000,"p":"abcdefghijklmnopqrstuvwxyzabcdefghijklmnopqrstuvwxyzabcdefghijkl"}}`)
	b.SetBytes(int64(len(line)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Parse(line); err != nil {
			b.Fatal(err)
		}
	}
}

// FuzzParse: any body either parses to an event or is rejected with an
// error; it never panics, and meta is always an object.
func FuzzParse(f *testing.F) {
	for _, s := range []string{`{"topic":"a","data":{"x":1}}`, `{"topic":"a","data":"str","meta":{"k":1}}`, `{"topic":1}`, `{`, `{"meta":[]}`, `null`, `{"topic":"a"} {"topic":"b"}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		ev, err := Parse(b)
		if err == nil && ev == nil {
			t.Fatal("nil event without error")
		}
		if err == nil && len(ev.Meta) > 0 && ev.Meta[0] != '{' {
			t.Fatalf("meta %q accepted", ev.Meta)
		}
	})
}

func TestParseInboxclawNames(t *testing.T) {
	ev, err := Parse([]byte(`{"event_type":"user.login","event_id":"evt_abc","entity_id":"user_1","data":{"ip": "1.2.3.4"},"source":{"id": 1, "name": "web_frontend"}}`))
	if err != nil {
		t.Fatal(err)
	}
	if ev.Topic != "user.login" || ev.Key != "evt_abc" || ev.Entity != "user_1" || ev.Source != `{"id":1,"name":"web_frontend"}` || string(ev.Data) != `{"ip": "1.2.3.4"}` {
		t.Fatalf("parsed %+v", ev)
	}
	for _, bad := range []string{
		`{"topic":"a","event_type":"b"}`,
		`{"topic":"a","key":"x","event_id":"y"}`,
		`{"topic":"a","source":["x"]}`,
		`{"topic":"a","source":"{not an object"}`,
		`{"topic":"a","source":{"id":1}x}`,
	} {
		if _, err := Parse([]byte(bad)); err == nil {
			t.Errorf("Parse(%s) succeeded", bad)
		}
	}
	ev, err = Parse([]byte(`{"topic":"a","event_type":"a","source":"web"}`))
	if err != nil || ev.Topic != "a" || ev.Source != "web" {
		t.Fatalf("same topic under both names: %+v %v", ev, err)
	}
}
