package arrow_test

import (
	"bytes"
	"fmt"
	"log"

	aa "github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/ipc"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/ssehub/ssehub/arrow"
)

// ReadIPC validates an ingest body; a stream of one batch is kept as is.
func ExampleReadIPC() {
	schema := aa.NewSchema([]aa.Field{{Name: "v", Type: aa.PrimitiveTypes.Int64}}, nil)
	b := array.NewRecordBuilder(memory.DefaultAllocator, schema)
	b.Field(0).(*array.Int64Builder).AppendValues([]int64{1, 2, 3}, nil)
	rec := b.NewRecordBatch()
	var body bytes.Buffer
	w := ipc.NewWriter(&body, ipc.WithSchema(schema))
	if err := w.Write(rec); err != nil {
		log.Fatal(err)
	}
	w.Close()

	p, err := arrow.ReadIPC(body.Bytes(), 0)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(len(p.Batches), "batch of", p.Rows(), "rows; zero copy:", &p.Batches[0].Data[0] == &body.Bytes()[0])
	fmt.Println(len(p.Schema.Fingerprint), "hex digits of fingerprint")
	// Output:
	// 1 batch of 3 rows; zero copy: true
	// 32 hex digits of fingerprint
}

// FromJSON converts rows; without a schema it infers one.
func ExampleFromJSON() {
	p, err := arrow.FromJSON([]byte(`[{"sym":"ABC","price":12.5,"qty":3},{"sym":"XYZ","qty":7}]`), false, nil)
	if err != nil {
		log.Fatal(err)
	}
	for _, f := range p.Schema.Arrow.Fields() {
		fmt.Println(f.Name, f.Type, f.Nullable)
	}
	fmt.Println(p.Rows(), "rows")

	_, err = arrow.FromJSON([]byte(`{"sym":"ABC","price":"n/a"}`), true, p.Schema)
	fmt.Println(err)
	// Output:
	// sym utf8 true
	// price float64 true
	// qty int64 true
	// 2 rows
	// row 1: column "price": want a number, got a string
}

// The arrow format renders a batch event; its data is the base64 of the
// IPC stream.
func ExampleAppendBatchEvent() {
	fmt.Printf("%q\n", arrow.AppendBatchEvent(nil, "42", []byte{0xff, 0xff, 0xff, 0xff}))
	fmt.Printf("%q\n", arrow.HeartbeatBytes)
	// Output:
	// "event: batch\nid: 42\ndata: /////w==\n\n"
	// "event: heartbeat\ndata:\n\n"
}
