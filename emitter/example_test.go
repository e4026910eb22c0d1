package emitter_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"time"

	"github.com/ssehub/ssehub/emitter"
)

// get prints the status and body a client receives from url.
func get(url string, header ...string) {
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	fmt.Printf("%d %s\n%s", resp.StatusCode, resp.Header.Get("Content-Type"), body)
}

// A handler streams a few events, resuming after the client's last event ID.
func ExampleStart() {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		e, err := emitter.Start(w, r, emitter.Options{Retry: 2 * time.Second})
		if err != nil {
			return
		}
		defer e.Close() // do not return while the emitter is in use

		next, _ := strconv.Atoi(e.LastEventID())
		for n := next + 1; n <= next+2 && !e.Closed(); n++ {
			if err := e.Send(map[string]int{"n": n}, "count", strconv.Itoa(n)); err != nil {
				return
			}
		}
	}))
	defer srv.Close()

	get(srv.URL, "Last-Event-ID", "41")
	// Output:
	// 200 text/event-stream; charset=utf-8
	// : connected
	// retry: 2000
	//
	// event: count
	// id: 42
	// data: {"n":42}
	//
	// event: count
	// id: 43
	// data: {"n":43}
}

// Handler runs a callback per request and closes the stream after it; an
// *emitter.Error it returns reaches the client as an error event.
func ExampleHandler() {
	h := emitter.Handler(func(ctx context.Context, e *emitter.Emitter) error {
		if err := e.Send("Hello from server!", "", ""); err != nil {
			return err
		}
		if err := e.Send(map[string]any{"status": "processing", "progress": 50}, "update", ""); err != nil {
			return err
		}
		return &emitter.Error{Code: "STREAM_ERROR", Message: "source failed"}
	}, emitter.Options{})
	srv := httptest.NewServer(h)
	defer srv.Close()

	get(srv.URL)
	// Output:
	// 200 text/event-stream; charset=utf-8
	// : connected
	//
	// data: Hello from server!
	//
	// event: update
	// data: {"progress":50,"status":"processing"}
	//
	// event: error
	// data: {"code":"STREAM_ERROR","message":"source failed"}
}

// One URL serves JSON to clients that ask for it and a stream to the rest,
// and reports errors before the stream as JSON.
func ExampleWantsJSON() {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Get("sku") == "" {
			emitter.WriteError(w, http.StatusNotFound, "NOT_FOUND", "SKU not found")
			return
		}
		stock := map[string]int{"available": 7}
		if emitter.WantsJSON(r) {
			w.Header().Set("Content-Type", "application/json")
			fmt.Fprintln(w, `{"available":7}`)
			return
		}
		e, err := emitter.Start(w, r, emitter.Options{})
		if err != nil {
			return
		}
		defer e.Close()
		e.Send(stock, "init", "")
	}))
	defer srv.Close()

	get(srv.URL+"?sku=PROD-001", "Accept", "application/json")
	get(srv.URL+"?sku=PROD-001", "Accept", "text/event-stream")
	get(srv.URL+"?sku=PROD-001", "Accept", "application/json, */*") // a tie: stream
	get(srv.URL, "Accept", "text/event-stream")
	// Output:
	// 200 application/json
	// {"available":7}
	// 200 text/event-stream; charset=utf-8
	// : connected
	//
	// event: init
	// data: {"available":7}
	//
	// 200 text/event-stream; charset=utf-8
	// : connected
	//
	// event: init
	// data: {"available":7}
	//
	// 404 application/json
	// {"error":{"code":"NOT_FOUND","message":"SKU not found"}}
}

// A job streams its progress and ends with the end event, so the browser
// closes instead of reconnecting and starting the job again; a client that
// reconnects anyway gets 204 No Content.
func ExampleEmitter_End() {
	srv := httptest.NewServer(emitter.Handler(func(ctx context.Context, e *emitter.Emitter) error {
		for _, p := range []int{50, 100} {
			if err := e.Send(map[string]int{"progress": p}, "update", ""); err != nil {
				return err
			}
		}
		return e.End(map[string]bool{"complete": true})
	}, emitter.Options{}))
	defer srv.Close()
	get(srv.URL)
	get(srv.URL, "Last-Event-ID", "end")
	// Output:
	// 200 text/event-stream; charset=utf-8
	// : connected
	//
	// event: update
	// data: {"progress":50}
	//
	// event: update
	// data: {"progress":100}
	//
	// event: end
	// id: end
	// data: {"complete":true}
	//
	// 204
}
