// Command seeds serves the two seed systems that are server libraries
// rather than hubs, with package emitter: BoxLang's SSE() examples and the
// EventSource example of "High Performance Browser Networking" (HPBN). See
// docs/recipes/boxlang.md and docs/recipes/hpbn.md; interop's recipe tests
// run the seeds' client code against it.
//
//	go run ./examples/seeds --addr 127.0.0.1:8001
//
// It prints "listening on http://ADDR" once it serves.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/ssehub/ssehub/emitter"
)

// update is BoxLang's { status: "processing", progress: 25 }, in its order.
type update struct {
	Status   string `json:"status"`
	Progress int    `json:"progress"`
}

// routes returns the examples' handlers. timeout is the AI example's
// Timeout (BoxLang's 300000 ms by default; shorter to watch it end).
func routes(timeout time.Duration) *http.ServeMux {
	mux := http.NewServeMux()

	// BoxLang: Basic Synchronous Streaming, at the client example's URL.
	mux.Handle("/api/sse/stream", emitter.Handler(func(ctx context.Context, e *emitter.Emitter) error {
		_ = e.Send("Hello from server!", "", "")
		for _, p := range []int{25, 50, 75} {
			_ = e.Send(update{"processing", p}, "update", "")
		}
		_ = e.Send(map[string]bool{"complete": true}, "done", "")
		return e.End(nil) // emitter.close(), and a reconnection gets 204
	}, emitter.Options{}))

	// BoxLang: AI Streaming with async execution, keepAliveInterval 30000,
	// timeout 300000: tokens until the prompt's words run out, or the
	// timeout, which ends the stream with the end event.
	mux.Handle("/api/ai/stream", emitter.Handler(func(ctx context.Context, e *emitter.Emitter) error {
		words := strings.Fields(e.Context().Value(promptKey{}).(string))
		for i, w := range words {
			if e.Closed() {
				return nil
			}
			tok := w
			if i > 0 {
				tok = " " + w
			}
			if err := e.Send(tok, "token", ""); err != nil {
				return err
			}
			select {
			case <-ctx.Done():
				return nil
			case <-time.After(10 * time.Millisecond):
			}
		}
		if strings.Contains(e.Context().Value(promptKey{}).(string), "forever") {
			<-ctx.Done() // a job longer than its timeout
			return nil
		}
		return e.Send(map[string]int{"total": len(words)}, "done", "")
	}, emitter.Options{KeepAlive: 30 * time.Second, Timeout: timeout}))

	// BoxLang: Cross-Origin Streaming, cors: "*".
	mux.Handle("/api/cors", emitter.Handler(func(ctx context.Context, e *emitter.Emitter) error {
		_ = e.Send(map[string]string{"message": "Hello from API"}, "greeting", "1")
		_ = e.Send(map[string]string{"data": "Cross-origin data"}, "data", "2")
		return e.End(nil)
	}, emitter.Options{CORSOrigin: "*"}))

	// HPBN: a "foo" event, a message, and the message whose id is CLOSE.
	mux.Handle("/path/to/stream-url", emitter.Handler(func(ctx context.Context, e *emitter.Emitter) error {
		_ = e.Send("foo data", "foo", "")
		_ = e.Send("a message", "", "1")
		return e.End("bye")
	}, emitter.Options{EndEvent: "message", EndID: "CLOSE"}))
	return mux
}

type promptKey struct{}

func main() {
	addr := flag.String("addr", "127.0.0.1:8001", "listen address")
	aiTimeout := flag.Duration("ai-timeout", 300*time.Second, "the AI example's timeout (BoxLang's timeout: 300000)")
	page := flag.String("page", "", "an HTML file served at / (a page with a seed's client code, on the streams' origin)")
	flag.Parse()
	mux := routes(*aiTimeout)
	if *page != "" {
		mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) { http.ServeFile(w, r, *page) })
	}
	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx := context.WithValue(r.Context(), promptKey{}, r.URL.Query().Get("prompt"))
		mux.ServeHTTP(w, r.WithContext(ctx))
	})
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		slog.Error("listen", "err", err)
		os.Exit(1)
	}
	fmt.Printf("listening on http://%s\n", ln.Addr())
	srv := &http.Server{Handler: handler, ReadHeaderTimeout: 10 * time.Second}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
	}()
	if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		slog.Error("serve", "err", err)
		os.Exit(1)
	}
}
