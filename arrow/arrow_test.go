package arrow_test

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	aa "github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/ipc"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/ssehub/ssehub"
	"github.com/ssehub/ssehub/arrow"
	"github.com/ssehub/ssehub/format"
)

func int64Stream(t *testing.T, n int, opts ...ipc.Option) []byte {
	t.Helper()
	schema := aa.NewSchema([]aa.Field{{Name: "v", Type: aa.PrimitiveTypes.Int64}}, nil)
	b := array.NewRecordBuilder(memory.DefaultAllocator, schema)
	defer b.Release()
	for range n {
		b.Field(0).(*array.Int64Builder).Append(0)
	}
	rec := b.NewRecordBatch()
	defer rec.Release()
	var buf bytes.Buffer
	w := ipc.NewWriter(&buf, append([]ipc.Option{ipc.WithSchema(schema)}, opts...)...)
	if err := w.Write(rec); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// TestReadIPCDecodedBound: a small compressed body that decodes to more
// than the bound is refused, not allocated.
func TestArrowReadIPCDecodedBound(t *testing.T) {
	body := int64Stream(t, 1<<20, ipc.WithZstd()) // 8 MiB of zeros
	if len(body) > 64<<10 {
		t.Fatalf("compressed body is %d bytes", len(body))
	}
	_, err := arrow.ReadIPC(body, 1<<20)
	if !errors.Is(err, arrow.ErrInvalid) || !strings.Contains(err.Error(), "memory") {
		t.Fatalf("err %v", err)
	}
	if p, err := arrow.ReadIPC(body, 0); err != nil || p.Rows() != 1<<20 {
		t.Fatalf("within the default bound: %v", err)
	}
}

// TestSchemaIdentity: metadata order does not change a fingerprint; a
// field's nullability does.
func TestArrowSchemaIdentity(t *testing.T) {
	f := []aa.Field{{Name: "v", Type: aa.PrimitiveTypes.Int64}}
	m1, m2 := aa.NewMetadata([]string{"a", "b"}, []string{"1", "2"}), aa.NewMetadata([]string{"b", "a"}, []string{"2", "1"})
	s1, _ := arrow.NewSchema(aa.NewSchema(f, &m1))
	s2, _ := arrow.NewSchema(aa.NewSchema(f, &m2))
	s3, _ := arrow.NewSchema(aa.NewSchema([]aa.Field{{Name: "v", Type: aa.PrimitiveTypes.Int64, Nullable: true}}, &m1))
	if s1.Fingerprint != s2.Fingerprint || s1.Fingerprint == s3.Fingerprint {
		t.Fatalf("%s %s %s", s1.Fingerprint, s2.Fingerprint, s3.Fingerprint)
	}
	data, err := s1.WithTopic("t.x")
	if err != nil {
		t.Fatal(err)
	}
	back, err := arrow.DecodeSchema(data)
	if err != nil {
		t.Fatal(err)
	}
	if v, _ := back.Arrow.Metadata().GetValue(arrow.TopicKey); v != "t.x" {
		t.Fatalf("topic metadata %q", v)
	}
}

// TestFormatEncode: the arrow format is registered; a batch event is
// encoded as one base64 data line; other events as raw.
func TestArrowFormatEncode(t *testing.T) {
	f, err := format.Parse("arrow")
	if err != nil || f != format.Format(arrow.Format) {
		t.Fatalf("%v %v", f, err)
	}
	p, err := arrow.ReadIPC(int64Stream(t, 3), 0)
	if err != nil {
		t.Fatal(err)
	}
	ev := arrow.NewEvent("t.a", p.Schema, p.Batches[0])
	out := string(f.Encode(nil, ev, "7"))
	if !strings.HasPrefix(out, "event: batch\nid: 7\ndata: ") || strings.Count(out, "\n") != 4 {
		t.Fatalf("%q", out)
	}
	raw := &ssehub.Event{Topic: "t.a", Type: "note", Data: []byte("a\nb")}
	if got, want := string(f.Encode(nil, raw, "8")), string(format.Raw.Encode(nil, raw, "8")); got != want {
		t.Fatalf("non-Arrow event %q, want raw %q", got, want)
	}
	if _, ok := arrow.FingerprintOf(raw); ok {
		t.Fatal("a raw event has a fingerprint")
	}
	// A session with no registry attached sends the schema before the
	// first batch, and not again for the same schema.
	s := f.(format.SessionFormat).NewSession(format.SessionInfo{Filter: ssehub.MustFilter("t.a")})
	if got := s.Start(nil); len(got) != 0 {
		t.Fatalf("start %q", got)
	}
	if got := string(s.Before(nil, ev)); !strings.HasPrefix(got, "event: schema\ndata: ") {
		t.Fatalf("before %q", got)
	}
	if got := s.Before(nil, ev); len(got) != 0 {
		t.Fatalf("before again %q", got)
	}
	if got := s.Before(nil, raw); len(got) != 0 {
		t.Fatalf("before a raw event %q", got)
	}
}

// BenchmarkEncode is the one base64 encoding a batch costs, shared by
// every subscriber.
func BenchmarkArrowEncode(b *testing.B) {
	schema := aa.NewSchema([]aa.Field{{Name: "ts", Type: aa.PrimitiveTypes.Int64}, {Name: "v", Type: aa.PrimitiveTypes.Float64}}, nil)
	rb := array.NewRecordBuilder(memory.DefaultAllocator, schema)
	for i := range 1000 {
		rb.Field(0).(*array.Int64Builder).Append(int64(i))
		rb.Field(1).(*array.Float64Builder).Append(float64(i))
	}
	rec := rb.NewRecordBatch()
	data, _ := arrow.EncodeBatch(schema, rec)
	p, _ := arrow.ReadIPC(data, 0)
	ev := arrow.NewEvent("t", p.Schema, p.Batches[0])
	b.SetBytes(int64(len(data)))
	var buf []byte
	for b.Loop() {
		buf = arrow.Format.Encode(buf[:0], ev, "123456")
	}
}
