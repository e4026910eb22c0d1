package arrow_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
	"testing"

	aa "github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/ipc"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/ssehub/ssehub/arrow"
)

// streamOf writes recs as one IPC stream of schema s.
func streamOf(t testing.TB, s *aa.Schema, recs ...aa.RecordBatch) []byte {
	t.Helper()
	var buf bytes.Buffer
	w := ipc.NewWriter(&buf, ipc.WithSchema(s))
	for _, r := range recs {
		if err := w.Write(r); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// dictStream is a stream of one dictionary-encoded string column holding
// "pq","rs","pq" (indices 0,1,0).
func dictStream(t *testing.T) []byte {
	dt := &aa.DictionaryType{IndexType: aa.PrimitiveTypes.Int32, ValueType: aa.BinaryTypes.String}
	s := aa.NewSchema([]aa.Field{{Name: "d", Type: dt}}, nil)
	b := array.NewRecordBuilder(memory.DefaultAllocator, s)
	defer b.Release()
	for _, v := range []string{"pq", "rs", "pq"} {
		if err := b.Field(0).(*array.BinaryDictionaryBuilder).AppendString(v); err != nil {
			t.Fatal(err)
		}
	}
	rec := b.NewRecordBatch()
	defer rec.Release()
	return streamOf(t, s, rec)
}

// mustDecodeAll reads every value of every batch of p with arrow-go, as a
// consumer would: a batch the hub accepted must not panic a consumer.
func mustDecodeAll(t *testing.T, p *arrow.Payload) {
	t.Helper()
	for i, b := range p.Batches {
		r, err := ipc.NewReader(bytes.NewReader(b.Data))
		if err != nil {
			t.Fatalf("batch %d: %v", i, err)
		}
		for r.Next() {
			rec := r.RecordBatch()
			func() {
				defer func() {
					if v := recover(); v != nil {
						t.Fatalf("batch %d: reading a value the hub accepted panics: %v", i, v)
					}
				}()
				for c := range int(rec.NumCols()) {
					for row := range int(rec.NumRows()) {
						_ = rec.Column(c).ValueStr(row)
					}
				}
			}()
		}
		if err := r.Err(); err != nil {
			t.Fatalf("batch %d: %v", i, err)
		}
		r.Release()
	}
}

// TestArrowHostileDictionaryIndex: a batch whose dictionary indices point
// past the dictionary parses (arrow-go checks the layout, not the values),
// and every consumer that reads it panics: the hub must refuse it, not
// store it.
func TestArrowHostileDictionaryIndex(t *testing.T) {
	body := dictStream(t)
	pat := []byte{0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0} // the indices 0,1,0
	i := bytes.LastIndex(body, pat)
	if i < 0 {
		t.Fatal("indices not found in the stream")
	}
	binary.LittleEndian.PutUint32(body[i+4:], 99999)
	p, err := arrow.ReadIPC(body, 0)
	if !errors.Is(err, arrow.ErrInvalid) {
		if err == nil {
			mustDecodeAll(t, p)
		}
		t.Fatalf("an out of range dictionary index: err %v, want ErrInvalid", err)
	}
	// The same batch in an IPC file.
	r, err := ipc.NewReader(bytes.NewReader(dictStream(t)))
	if err != nil {
		t.Fatal(err)
	}
	defer r.Release()
	var fb bytes.Buffer
	fw, err := ipc.NewFileWriter(&fb, ipc.WithSchema(r.Schema()))
	if err != nil {
		t.Fatal(err)
	}
	for r.Next() {
		if err := fw.Write(r.RecordBatch()); err != nil {
			t.Fatal(err)
		}
	}
	if err := fw.Close(); err != nil {
		t.Fatal(err)
	}
	file := fb.Bytes()
	if i = bytes.LastIndex(file, pat); i < 0 {
		t.Fatal("indices not found in the file")
	}
	binary.LittleEndian.PutUint32(file[i+4:], 99999)
	if _, err := arrow.ReadIPCFile(file, 0); !errors.Is(err, arrow.ErrInvalid) {
		t.Fatalf("an out of range dictionary index in a file: err %v, want ErrInvalid", err)
	}
}

// TestArrowHostileStringOffsets: offsets past the data buffer are refused.
func TestArrowHostileStringOffsets(t *testing.T) {
	s := aa.NewSchema([]aa.Field{{Name: "s", Type: aa.BinaryTypes.String}}, nil)
	b := array.NewRecordBuilder(memory.DefaultAllocator, s)
	defer b.Release()
	b.Field(0).(*array.StringBuilder).AppendValues([]string{"x", "y", "z"}, nil)
	rec := b.NewRecordBatch()
	defer rec.Release()
	for name, off := range map[string]uint32{"past the data": 100000, "decreasing": 3} {
		body := streamOf(t, s, rec)
		i := bytes.Index(body, []byte("xyz"))
		binary.LittleEndian.PutUint32(body[i-12:], off) // offsets 0,1,2,3: the second (0,3,2,3 decreases)
		if name == "past the data" {
			binary.LittleEndian.PutUint32(body[i-4:], off) // the last
		}
		if p, err := arrow.ReadIPC(body, 0); !errors.Is(err, arrow.ErrInvalid) {
			if err == nil {
				mustDecodeAll(t, p)
			}
			t.Errorf("offsets %s: err %v, want ErrInvalid", name, err)
		}
	}
}

// TestArrowHostileRowCount: a batch claiming a billion rows over buffers of
// three is refused without allocating what it claims.
func TestArrowHostileRowCount(t *testing.T) {
	s := aa.NewSchema([]aa.Field{{Name: "v", Type: aa.PrimitiveTypes.Int64}}, nil)
	b := array.NewRecordBuilder(memory.DefaultAllocator, s)
	defer b.Release()
	b.Field(0).(*array.Int64Builder).AppendValues([]int64{7, 8, 9}, nil)
	rec := b.NewRecordBatch()
	defer rec.Release()
	body := streamOf(t, s, rec)
	three, big := binary.LittleEndian.AppendUint64(nil, 3), binary.LittleEndian.AppendUint64(nil, 1<<30)
	if bytes.Count(body, three) != 2 { // the batch's length and the field node's
		t.Fatalf("expected two length fields, found %d", bytes.Count(body, three))
	}
	if _, err := arrow.ReadIPC(bytes.ReplaceAll(body, three, big), 1<<20); !errors.Is(err, arrow.ErrInvalid) {
		t.Fatalf("err %v, want ErrInvalid", err)
	}
}

// TestArrowHostileTruncated: every proper prefix of a valid stream of two
// batches (dictionaries included) is refused or, when it ends on a message
// boundary, holds only whole batches that decode.
func TestArrowHostileTruncated(t *testing.T) {
	one := dictStream(t)
	s := aa.NewSchema([]aa.Field{{Name: "v", Type: aa.PrimitiveTypes.Int64}, {Name: "s", Type: aa.BinaryTypes.String, Nullable: true}}, nil)
	b := array.NewRecordBuilder(memory.DefaultAllocator, s)
	defer b.Release()
	for i := range 5 {
		b.Field(0).(*array.Int64Builder).Append(int64(i))
		b.Field(1).(*array.StringBuilder).AppendNull()
	}
	r1 := b.NewRecordBatch()
	defer r1.Release()
	two := streamOf(t, s, r1, r1)
	for _, body := range [][]byte{one, two} {
		for n := range len(body) - 1 {
			p, err := arrow.ReadIPC(bytes.Clone(body[:n]), 0)
			if err == nil {
				mustDecodeAll(t, p)
			} else if !errors.Is(err, arrow.ErrInvalid) {
				t.Fatalf("prefix %d: %v", n, err)
			}
		}
	}
}

// TestArrowHostileSecondSchema: two streams back to back (a schema change
// mid-body) are refused: one stream, one schema, a request.
func TestArrowHostileSecondSchema(t *testing.T) {
	a := int64Stream(t, 2)
	s := aa.NewSchema([]aa.Field{{Name: "w", Type: aa.BinaryTypes.String}}, nil)
	b := array.NewRecordBuilder(memory.DefaultAllocator, s)
	defer b.Release()
	b.Field(0).(*array.StringBuilder).Append("x")
	rec := b.NewRecordBatch()
	defer rec.Release()
	body := append(bytes.Clone(a), streamOf(t, s, rec)...)
	if _, err := arrow.ReadIPC(body, 0); !errors.Is(err, arrow.ErrInvalid) {
		t.Fatalf("err %v, want ErrInvalid", err)
	}
	// Without the first end-of-stream marker the second schema message is
	// read as a message of the first stream.
	body = append(bytes.Clone(a[:len(a)-8]), streamOf(t, s, rec)...)
	if _, err := arrow.ReadIPC(body, 0); !errors.Is(err, arrow.ErrInvalid) {
		t.Fatalf("a schema message mid-stream: err %v, want ErrInvalid", err)
	}
}

// TestArrowHostileZeroRows: a batch of no rows is a batch (BoilStream
// takes it); it is kept and decodes.
func TestArrowHostileZeroRows(t *testing.T) {
	p, err := arrow.ReadIPC(int64Stream(t, 0), 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Batches) != 1 || p.Rows() != 0 {
		t.Fatalf("%d batches, %d rows", len(p.Batches), p.Rows())
	}
	mustDecodeAll(t, p)
}

// TestArrowHostileNullColumn: a valid batch with a null-typed column (no
// buffers at all) passes the validation, at any depth.
func TestArrowHostileNullColumn(t *testing.T) {
	s := aa.NewSchema([]aa.Field{{Name: "n", Type: aa.Null, Nullable: true}, {Name: "v", Type: aa.PrimitiveTypes.Int64},
		{Name: "st", Type: aa.ListOf(aa.StructOf(aa.Field{Name: "z", Type: aa.Null, Nullable: true}))}}, nil)
	b := array.NewRecordBuilder(memory.DefaultAllocator, s)
	defer b.Release()
	b.Field(0).AppendNulls(3)
	b.Field(1).(*array.Int64Builder).AppendValues([]int64{1, 2, 3}, nil)
	for range 3 {
		lb := b.Field(2).(*array.ListBuilder)
		lb.Append(true)
		lb.ValueBuilder().(*array.StructBuilder).Append(true)
		lb.ValueBuilder().(*array.StructBuilder).FieldBuilder(0).AppendNull()
	}
	rec := b.NewRecordBatch()
	defer rec.Release()
	p, err := arrow.ReadIPC(streamOf(t, s, rec), 0)
	if err != nil {
		t.Fatal(err)
	}
	mustDecodeAll(t, p)
}

// TestArrowHostileDictionaryChanges: a stream whose dictionary changes
// between batches (a delta, or a replacement) becomes one self-contained
// stream a batch, each decoding to the values that were sent.
func TestArrowHostileDictionaryChanges(t *testing.T) {
	dt := &aa.DictionaryType{IndexType: aa.PrimitiveTypes.Int16, ValueType: aa.BinaryTypes.String}
	s := aa.NewSchema([]aa.Field{{Name: "d", Type: dt}}, nil)
	batches := [][]string{{"a", "b", "a"}, {"c", "a", "d"}, {"e"}}
	for _, delta := range []bool{false, true} {
		var buf bytes.Buffer
		opts := []ipc.Option{ipc.WithSchema(s)}
		if delta {
			opts = append(opts, ipc.WithDictionaryDeltas(true))
		}
		w := ipc.NewWriter(&buf, opts...)
		b := array.NewRecordBuilder(memory.DefaultAllocator, s)
		for _, vals := range batches {
			for _, v := range vals {
				if err := b.Field(0).(*array.BinaryDictionaryBuilder).AppendString(v); err != nil {
					t.Fatal(err)
				}
			}
			rec := b.NewRecordBatch()
			if err := w.Write(rec); err != nil {
				t.Fatal(err)
			}
			rec.Release()
		}
		b.Release()
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		p, err := arrow.ReadIPC(buf.Bytes(), 0)
		if err != nil {
			t.Fatalf("delta %v: %v", delta, err)
		}
		if len(p.Batches) != len(batches) {
			t.Fatalf("delta %v: %d batches", delta, len(p.Batches))
		}
		for i, pb := range p.Batches {
			r, err := ipc.NewReader(bytes.NewReader(pb.Data))
			if err != nil {
				t.Fatal(err)
			}
			if !r.Next() {
				t.Fatalf("delta %v, batch %d: %v", delta, i, r.Err())
			}
			col := r.RecordBatch().Column(0)
			for j, want := range batches[i] {
				if got := col.ValueStr(j); got != want {
					t.Errorf("delta %v, batch %d row %d: %q, want %q", delta, i, j, got, want)
				}
			}
			r.Release()
		}
	}
}

// TestArrowHostileHugeDictionary: a dictionary far larger than the rows
// that use it is bounded by the decoded bound like any buffer.
func TestArrowHostileHugeDictionary(t *testing.T) {
	dt := &aa.DictionaryType{IndexType: aa.PrimitiveTypes.Int32, ValueType: aa.BinaryTypes.String}
	s := aa.NewSchema([]aa.Field{{Name: "d", Type: dt}}, nil)
	b := array.NewRecordBuilder(memory.DefaultAllocator, s)
	defer b.Release()
	db := b.Field(0).(*array.BinaryDictionaryBuilder)
	big := bytes.Repeat([]byte("x"), 1000)
	for i := range 2000 { // 2 MB of dictionary
		copy(big, fmt.Sprintf("%06d", i))
		if err := db.Append(big); err != nil {
			t.Fatal(err)
		}
	}
	rec := b.NewRecordBatch()
	defer rec.Release()
	body := streamOf(t, s, rec)
	if _, err := arrow.ReadIPC(body, 1<<20); !errors.Is(err, arrow.ErrInvalid) {
		t.Fatalf("a 2 MB dictionary under a 1 MiB bound: err %v", err)
	}
	if _, err := arrow.ReadIPC(body, 0); err != nil {
		t.Fatalf("within the default bound: %v", err)
	}
}

// TestArrowHostileInvalidUTF8: a string column must hold UTF-8 (Arrow's
// utf8 type); invalid bytes are refused, and the error does not echo a
// long value whole.
func TestArrowHostileInvalidUTF8(t *testing.T) {
	s := aa.NewSchema([]aa.Field{{Name: "s", Type: aa.BinaryTypes.String}}, nil)
	b := array.NewRecordBuilder(memory.DefaultAllocator, s)
	defer b.Release()
	b.Field(0).(*array.StringBuilder).Append("\xff" + strings.Repeat("y", 10000))
	rec := b.NewRecordBatch()
	defer rec.Release()
	_, err := arrow.ReadIPC(streamOf(t, s, rec), 0)
	if !errors.Is(err, arrow.ErrInvalid) {
		t.Fatalf("err %v", err)
	}
	if len(err.Error()) > 1000 {
		t.Fatalf("the error is %d bytes: it echoes the value", len(err.Error()))
	}
}
