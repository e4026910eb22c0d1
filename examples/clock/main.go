// Command clock is a small Server-Sent Events server built on package
// emitter. /events streams a "tick" event every second with an increasing
// id and resumes the numbering after the client's Last-Event-ID; / is a page
// that shows the ticks with the browser's EventSource.
//
// It listens on localhost:8081 by default, so that it runs beside an ssehub
// hub on its default :8080; -addr picks another address. It logs
// "listening" only once the port is bound, and exits 1 with a clear message
// when it cannot be (for example when another server has the port).
//
//	go run ./examples/clock                        # then open http://localhost:8081
//	ssehub tail http://localhost:8081/events       # or watch the raw events
//	curl -H 'Accept: application/json' localhost:8081/events   # one JSON answer
//	go run ./examples/clock -addr localhost:9000   # another port
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
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

// defaultAddr is the clock's address unless -addr says otherwise: not the
// hub's :8080, so both run at once.
const defaultAddr = "localhost:8081"

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stderr)
	stop()
	os.Exit(code)
}

// run serves the clock until ctx ends and returns the exit code: 0 after a
// clean shutdown, 1 when it cannot listen or serve, 2 on bad flags. Logs go
// to logw.
func run(ctx context.Context, args []string, logw io.Writer) int {
	fs := flag.NewFlagSet("clock", flag.ContinueOnError)
	fs.SetOutput(logw)
	addr := fs.String("addr", defaultAddr, "`address` to listen on, host:port (port 0 picks a free one)")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(logw, "clock: unexpected argument %q\n", fs.Arg(0))
		return 2
	}
	logger := slog.New(slog.NewTextHandler(logw, nil))

	// Bind first: "listening" is logged only once it is true.
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		logger.Error(fmt.Sprintf("clock: cannot listen on %s (is another server using it? choose another address with -addr)", *addr), "err", err)
		return 1
	}
	srv := &http.Server{
		Handler:           newMux(time.Second),
		ReadHeaderTimeout: 10 * time.Second,
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
	logger.Info("clock: listening", "url", "http://"+ln.Addr().String()+"/")
	if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
		logger.Error("clock: serve", "err", err)
		return 1
	}
	return 0
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
