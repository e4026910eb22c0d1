package arrow_test

import (
	"fmt"
	"testing"

	aa "github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/ssehub/ssehub/arrow"
)

// BenchmarkReadIPC: reading (and validating) one batch of 1000 rows of an
// int64, a string and a float64 column, the ingest benchmarks' shape.
func BenchmarkReadIPC(b *testing.B) {
	s := aa.NewSchema([]aa.Field{{Name: "ts", Type: aa.PrimitiveTypes.Int64}, {Name: "sym", Type: aa.BinaryTypes.String, Nullable: true},
		{Name: "price", Type: aa.PrimitiveTypes.Float64, Nullable: true}}, nil)
	rb := array.NewRecordBuilder(memory.DefaultAllocator, s)
	defer rb.Release()
	for i := range 1000 {
		rb.Field(0).(*array.Int64Builder).Append(int64(i))
		rb.Field(1).(*array.StringBuilder).Append(fmt.Sprintf("S%d", i%7))
		rb.Field(2).(*array.Float64Builder).Append(float64(i) / 4)
	}
	rec := rb.NewRecordBatch()
	defer rec.Release()
	body := streamOf(b, s, rec)
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := arrow.ReadIPC(body, 0); err != nil {
			b.Fatal(err)
		}
	}
}
