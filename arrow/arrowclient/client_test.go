package arrowclient_test

import (
	"context"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/ssehub/ssehub/arrow/arrowclient"
	"github.com/ssehub/ssehub/client"
)

// TestArrowClientStream: batches of two topics come back as records with
// their ids and topics; a refused ingest is an *Error with the hub's code.
func TestArrowClientStream(t *testing.T) {
	base, stop := startHub()
	defer stop()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	schema := arrow.NewSchema([]arrow.Field{{Name: "v", Type: arrow.PrimitiveTypes.Int64}}, nil)
	var ids []string
	for i, topic := range []string{"c.a", "c.b", "c.a"} {
		b := array.NewRecordBuilder(memory.DefaultAllocator, schema)
		b.Field(0).(*array.Int64Builder).AppendValues([]int64{int64(i), int64(i)}, nil)
		rec := b.NewRecordBatch()
		res, err := arrowclient.Ingest(ctx, nil, base+"/ingest/"+adminToken+"?topic="+topic, rec)
		rec.Release()
		b.Release()
		if err != nil || res.Rows != 2 {
			t.Fatalf("ingest: %+v %v", res, err)
		}
		ids = append(ids, res.ID)
	}
	s := arrowclient.New(base+"/stream/"+adminToken, client.WithLastEventID("0"))
	defer s.Close()
	for i, topic := range []string{"c.a", "c.b", "c.a"} {
		b, err := s.Next(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if b.ID != ids[i] || b.Topic != topic || b.Record.Column(0).(*array.Int64).Value(0) != int64(i) {
			t.Fatalf("batch %d: id %s topic %s", i, b.ID, b.Topic)
		}
		b.Record.Release()
	}
	if s.Schemas() < 3 {
		t.Fatalf("%d schema events, want one per topic switch", s.Schemas())
	}
	_, err := arrowclient.Post(ctx, nil, base+"/ingest/"+adminToken+"?topic=c.a", "text/plain", []byte("x"))
	if e, ok := err.(*arrowclient.Error); !ok || e.Status != 415 || e.Code != "UNSUPPORTED_MEDIA_TYPE" {
		t.Fatalf("err %v", err)
	}
}
