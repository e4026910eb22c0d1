// Command arrow is the Arrow example: it ingests a batch of ticks into an
// ssehub every second (POST /ingest/{token}, Arrow IPC built with arrow-go)
// and serves a page that streams them back (GET /stream/{token}) and shows
// the rows, decoded in the browser by the npm apache-arrow package.
//
//	ssehub serve &                      # prints the admin token
//	(cd interop/node && npm ci)         # installs apache-arrow
//	go run ./examples/arrow -token <token>
//
// then open the printed URL. The page needs no network: apache-arrow's
// browser bundle is served from interop/node/node_modules (see -arrow-js).
package main

import (
	"context"
	_ "embed"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/ssehub/ssehub/arrow/arrowclient"
)

//go:embed index.html
var page []byte

func main() {
	hubURL := flag.String("hub", "http://localhost:8080", "the hub's base URL")
	token := flag.String("token", os.Getenv("SSEHUB_TOKEN"), "a token that may ingest to -topic (the admin token works)")
	streamToken := flag.String("stream-token", "", "the token in the page's /stream/{token} URL (default -token)")
	topic := flag.String("topic", "demo.ticks", "the Arrow topic")
	addr := flag.String("addr", "localhost:8082", "where the page is served")
	arrowJS := flag.String("arrow-js", "interop/node/node_modules/apache-arrow/Arrow.es2015.min.js", "apache-arrow's browser bundle")
	every := flag.Duration("every", time.Second, "how often a batch is ingested")
	rows := flag.Int("rows", 5, "rows per batch")
	flag.Parse()
	if *token == "" {
		fmt.Fprintln(os.Stderr, "arrow: -token (or SSEHUB_TOKEN) is required")
		os.Exit(2)
	}
	if *streamToken == "" {
		*streamToken = *token
	}
	if _, err := os.Stat(*arrowJS); err != nil {
		fmt.Fprintf(os.Stderr, "arrow: %v: run `npm ci` in interop/node, or pass -arrow-js\n", err)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()

	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		_, _ = w.Write(page)
	})
	mux.HandleFunc("GET /apache-arrow.js", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/javascript; charset=utf-8")
		http.ServeFile(w, r, *arrowJS)
	})
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		slog.Error("listen", "err", err)
		os.Exit(1)
	}
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	defer srv.Close()
	fmt.Printf("open http://%s/?stream=%s\n", ln.Addr(), url.QueryEscape(*hubURL+"/stream/"+*streamToken))

	ingest := *hubURL + "/ingest/" + *token + "?topic=" + url.QueryEscape(*topic)
	schema := arrow.NewSchema([]arrow.Field{
		{Name: "time", Type: &arrow.TimestampType{Unit: arrow.Millisecond, TimeZone: "UTC"}},
		{Name: "symbol", Type: arrow.BinaryTypes.String},
		{Name: "price", Type: arrow.PrimitiveTypes.Float64},
		{Name: "size", Type: arrow.PrimitiveTypes.Int64},
	}, nil)
	tick := time.NewTicker(*every)
	defer tick.Stop()
	for {
		rec := ticks(schema, *rows)
		res, err := arrowclient.Ingest(ctx, nil, ingest, rec)
		rec.Release()
		switch {
		case errors.Is(err, context.Canceled):
			return
		case err != nil:
			slog.Error("ingest", "err", err)
		default:
			slog.Info("ingested", "id", res.ID, "rows", res.Rows)
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// ticks returns n made-up trades.
func ticks(schema *arrow.Schema, n int) arrow.RecordBatch {
	b := array.NewRecordBuilder(memory.DefaultAllocator, schema)
	defer b.Release()
	syms := []string{"ABC", "XYZ", "QRS"}
	now := time.Now()
	for range n {
		b.Field(0).(*array.TimestampBuilder).Append(arrow.Timestamp(now.UnixMilli()))
		b.Field(1).(*array.StringBuilder).Append(syms[rand.IntN(len(syms))])
		b.Field(2).(*array.Float64Builder).Append(100 + rand.Float64()*10)
		b.Field(3).(*array.Int64Builder).Append(int64(1 + rand.IntN(500)))
	}
	return b.NewRecordBatch()
}
