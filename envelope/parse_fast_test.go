package envelope

import (
	"reflect"
	"testing"

	jsonv2 "github.com/go-json-experiment/json"
)

// BenchmarkDecode compares the token decoder with the struct unmarshal it
// stands in for, on the bench's NDJSON line, in one run.
func BenchmarkDecode(b *testing.B) {
	line := []byte(`{"topic":"bench.t1","data":{"t":1764607000123456789,"p":"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"}}`)
	b.Run("fast", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			var env publish
			if !decodeFast(line, &env) {
				b.Fatal("not decoded")
			}
		}
	})
	b.Run("unmarshal", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			var env publish
			if err := jsonv2.Unmarshal(line, &env, decodeOptions); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// FuzzDecodeFast: whatever decodeFast decodes, the struct unmarshal decodes
// to the same envelope.
func FuzzDecodeFast(f *testing.F) {
	for _, s := range []string{
		`{"topic":"a","data":{"x":1}}`, `{"topic":"a","data":"str","meta":{"k":1}}`, `{"topic":1}`, `{`,
		`{"meta":[]}`, `null`, `{"topic":"a"} {"topic":"b"}`, `{"topic":"a"}x`, ` {"topic":"a","data":42} `,
		`{"topic":"a","topic":"b"}`, `{"Topic":"a"}`, `{"top\u0069c":"a"}`, `{"topic":"a\u00e9\n","key":"\ud800"}`,
		`{"event_type":"a","event_id":"k","entity_id":"e","source":{"id":1},"type":"t","entity":"e","key":"k"}`,
		"{\"topic\":\"\xff\xfe\"}", `{"topic":null}`, `{"data":[1,2,{"a":null}],"source":"s"}`, `{"topic":"a",}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var fast publish
		if !decodeFast(b, &fast) {
			return
		}
		var slow publish
		if err := jsonv2.Unmarshal(b, &slow, decodeOptions); err != nil {
			t.Fatalf("%q: decoded fast as %+v, the unmarshal fails: %v", b, fast, err)
		}
		if !reflect.DeepEqual(fast, slow) {
			t.Fatalf("%q: fast %+v, unmarshal %+v", b, fast, slow)
		}
	})
}
