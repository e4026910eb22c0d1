// Command clock is a small Server-Sent Events server built on package
// emitter. /events streams a "tick" event every second with an increasing
// id and resumes the numbering after the client's Last-Event-ID; / is a page
// that shows the ticks with the browser's EventSource.
//
//	go run ./examples/clock                        # then open http://localhost:8080
//	ssehub tail http://localhost:8080/events       # or watch the raw events
//	curl -H 'Accept: application/json' localhost:8080/events   # one JSON answer
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"syscall"
	"time"

	"github.com/ssehub/ssehub/emitter"
)

func main() {
	addr := flag.String("addr", "localhost:8080", "address to listen on")
	flag.Parse()

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	srv := &http.Server{
		Addr:    *addr,
		Handler: newMux(time.Second),
		// Streams use the request context, so they end when ctx does and
		// Shutdown need not wait for them.
		BaseContext: func(net.Listener) context.Context { return ctx },
	}
	go func() {
		<-ctx.Done()
		shutdown, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(shutdown)
	}()
	slog.Info("clock: listening", "url", "http://"+*addr+"/")
	if err := srv.ListenAndServe(); !errors.Is(err, http.ErrServerClosed) {
		slog.Error("clock: serve", "err", err)
		os.Exit(1)
	}
}

// newMux returns the clock's routes, ticking every interval.
func newMux(interval time.Duration) *http.ServeMux {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Write([]byte(page))
	})
	mux.HandleFunc("GET /events", func(w http.ResponseWriter, r *http.Request) {
		events(w, r, interval)
	})
	return mux
}

// tick is the data of one tick event.
type tick struct {
	N    uint64    `json:"n"`
	Time time.Time `json:"time"`
}

// events streams ticks, numbered on from the client's last event ID.
func events(w http.ResponseWriter, r *http.Request, interval time.Duration) {
	if emitter.WantsJSON(r) { // a client that asked for JSON gets the time once
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(tick{Time: time.Now().UTC()})
		return
	}
	var n uint64
	if id := emitter.LastEventID(r); id != "" {
		var err error
		if n, err = strconv.ParseUint(id, 10, 64); err != nil {
			// Errors before the stream starts are plain JSON responses.
			emitter.WriteError(w, http.StatusBadRequest, "bad_id", "the last event ID must be a tick number")
			return
		}
	}
	e, err := emitter.Start(w, r, emitter.Options{Retry: 2 * time.Second, KeepAlive: 15 * time.Second})
	if err != nil {
		return
	}
	defer e.Close()

	ticker := time.NewTicker(interval)
	defer ticker.Stop()
	for {
		n++
		if err := e.Send(tick{N: n, Time: time.Now().UTC()}, "tick", strconv.FormatUint(n, 10)); err != nil {
			return
		}
		select {
		case <-e.Done(): // the client left
			return
		case <-ticker.C:
		}
	}
}

// page shows the ticks with EventSource, which reconnects by itself and
// sends Last-Event-ID so the numbering goes on.
const page = `<!doctype html>
<meta charset="utf-8">
<title>clock</title>
<h1>clock</h1>
<p id="status">connecting…</p>
<ol id="ticks" reversed></ol>
<script>
const status = document.getElementById("status");
const ticks = document.getElementById("ticks");
const source = new EventSource("/events");
source.onopen = () => { status.textContent = "connected"; };
source.addEventListener("tick", (e) => {
  const t = JSON.parse(e.data);
  const li = document.createElement("li");
  li.value = t.n;
  li.textContent = "id " + e.lastEventId + ": " + t.time;
  ticks.prepend(li);
  while (ticks.children.length > 20) ticks.lastChild.remove();
});
source.addEventListener("error", (e) => {
  // An application error event carries data; a connection error does not.
  status.textContent = e.data ? "error: " + e.data : "reconnecting…";
});
</script>
`
