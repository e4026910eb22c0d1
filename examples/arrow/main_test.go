package main

import (
	"bytes"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
)

// TestArrowExampleTicks: the example's batches have the rows asked for,
// and the embedded page loads the bundle it is served with and listens for
// the stream's events (Chromium runs it in interop's TestArrowChromiumExample).
func TestArrowExampleTicks(t *testing.T) {
	schema := arrow.NewSchema([]arrow.Field{
		{Name: "time", Type: &arrow.TimestampType{Unit: arrow.Millisecond, TimeZone: "UTC"}},
		{Name: "symbol", Type: arrow.BinaryTypes.String},
		{Name: "price", Type: arrow.PrimitiveTypes.Float64},
		{Name: "size", Type: arrow.PrimitiveTypes.Int64},
	}, nil)
	rec := ticks(schema, 7)
	defer rec.Release()
	if rec.NumRows() != 7 || rec.Column(3).(*array.Int64).Value(0) < 1 {
		t.Fatalf("%v", rec)
	}
	for _, s := range []string{`<script src="apache-arrow.js">`, `addEventListener("schema"`, `addEventListener("batch"`, "Arrow.tableFromIPC"} {
		if !bytes.Contains(page, []byte(s)) {
			t.Errorf("the page lacks %q", s)
		}
	}
}
