package arrowclient_test

import (
	"context"
	"fmt"
	"log"
	"net/http/httptest"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/ssehub/ssehub/arrow/arrowclient"
	"github.com/ssehub/ssehub/client"
	"github.com/ssehub/ssehub/httpapi"
	"github.com/ssehub/ssehub/httpapi/admin"
	"github.com/ssehub/ssehub/httpapi/ingest"
	"github.com/ssehub/ssehub/httpapi/stream"
	"github.com/ssehub/ssehub/hub"
	memstore "github.com/ssehub/ssehub/memory"
)

// Ingest a record batch, then read the topic's stream as record batches.
func Example() {
	base, stop := startHub() // an ssehub with the ingest feature
	defer stop()
	ctx := context.Background()

	schema := arrow.NewSchema([]arrow.Field{
		{Name: "sym", Type: arrow.BinaryTypes.String},
		{Name: "price", Type: arrow.PrimitiveTypes.Float64},
	}, nil)
	b := array.NewRecordBuilder(memory.DefaultAllocator, schema)
	b.Field(0).(*array.StringBuilder).AppendValues([]string{"ABC", "XYZ"}, nil)
	b.Field(1).(*array.Float64Builder).AppendValues([]float64{12.5, 99}, nil)
	rec := b.NewRecordBatch()
	b.Release()
	defer rec.Release()

	res, err := arrowclient.Ingest(ctx, nil, base+"/ingest/"+adminToken+"?topic=trades", rec)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("stored batch", res.ID, "with", res.Rows, "rows")

	// Last-Event-ID 0: replay from the start (a reconnection sends the
	// last batch's id by itself).
	s := arrowclient.New(base+"/stream/"+adminToken, client.WithLastEventID("0"))
	defer s.Close()
	batch, err := s.Next(ctx)
	if err != nil {
		log.Fatal(err)
	}
	defer batch.Record.Release()
	prices := batch.Record.Column(1).(*array.Float64)
	fmt.Println("batch", batch.ID, "of", batch.Topic+":", batch.Record.NumRows(), "rows, first price", prices.Value(0))
	// Output:
	// stored batch 1 with 2 rows
	// batch 1 of trades: 2 rows, first price 12.5
}

const adminToken = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

// startHub runs a hub over a memory store on a loopback port.
func startHub() (string, func()) {
	ctx, cancel := context.WithCancel(context.Background())
	store := memstore.New(memstore.Options{})
	h, err := hub.New(ctx, store, hub.Options{})
	if err != nil {
		log.Fatal(err)
	}
	ing := ingest.New(ingest.Options{})
	api, err := httpapi.New(httpapi.Options{Hub: h, AdminHash: httpapi.HashToken(adminToken), Features: []httpapi.Feature{
		stream.New(stream.Options{FormatFor: ing.FormatFor}), admin.New(admin.Options{TopicDetails: ing.TopicDetails}), ing}})
	if err != nil {
		log.Fatal(err)
	}
	done := make(chan struct{})
	go func() { defer close(done); _ = h.Run(ctx) }()
	srv := httptest.NewServer(api)
	return srv.URL, func() {
		api.Shutdown()
		srv.CloseClientConnections()
		srv.Close()
		cancel()
		<-done
		store.Close()
	}
}
