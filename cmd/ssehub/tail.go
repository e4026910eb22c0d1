package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/ssehub/ssehub/client"
	"github.com/ssehub/ssehub/sse"
)

func init() {
	register(command{name: "tail", summary: "follow an event stream like a browser's EventSource", run: runTail})
}

// Exit codes of ssehub tail.
const (
	tailOK     = 0 // --once and the stream ended, --max-events reached, or interrupted
	tailFailed = 1 // the connection failed (non-200, wrong Content-Type), or a network error with --once
	tailUsage  = 2 // bad flags or arguments
)

const tailUsageText = `usage: ssehub tail URL [flags]

Follows the event stream at URL exactly like a browser's EventSource: it
reconnects after the retry delay with Last-Event-ID, and stops for good when
the server answers anything but a 200 text/event-stream. Events go to stdout,
one per line (flushed at once); messages go to stderr.

Exit status: 0 when the stream ends with --once, after --max-events events,
or on interrupt; 1 when the connection failed (or, with --once, the network
failed); 2 on bad usage.

Flags:`

// headerFlags collects repeated -H 'Key: Value' flags.
type headerFlags [][2]string

func (h *headerFlags) String() string { return "" }

func (h *headerFlags) Set(s string) error {
	k, v, ok := strings.Cut(s, ":")
	k = strings.TrimSpace(k)
	if !ok || k == "" || strings.ContainsAny(k, " \t\r\n") {
		return fmt.Errorf("want 'Key: Value', got %q", s)
	}
	*h = append(*h, [2]string{k, strings.TrimSpace(v)})
	return nil
}

// tailOptions are the parsed flags of ssehub tail.
type tailOptions struct {
	url         string
	jsonl       bool
	lastEventID string
	maxEvents   int
	once        bool
	headers     headerFlags
	token       string
	retry       time.Duration
	verbose     bool
}

func parseTail(args []string, stderr io.Writer) (*tailOptions, error) {
	o := &tailOptions{}
	fs := flag.NewFlagSet("ssehub tail", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintln(stderr, tailUsageText)
		fs.PrintDefaults()
	}
	fs.BoolVar(&o.jsonl, "jsonl", false, `print one JSON object per event: {"type":…,"data":…,"id":…}`)
	fs.StringVar(&o.lastEventID, "last-event-id", "", "initial Last-Event-ID")
	fs.IntVar(&o.maxEvents, "max-events", 0, "exit after `N` events (0: no limit)")
	fs.BoolVar(&o.once, "once", false, "exit when the stream ends instead of reconnecting")
	fs.Var(&o.headers, "H", "extra request header `'Key: Value'` (repeatable)")
	fs.StringVar(&o.token, "token", os.Getenv("SSEHUB_TOKEN"), "send Authorization: Bearer `TOKEN` (default $SSEHUB_TOKEN)")
	fs.DurationVar(&o.retry, "retry", client.DefaultRetry, "initial reconnection time, until the server sends retry")
	fs.BoolVar(&o.verbose, "v", false, "report connections and reconnections on stderr also with --jsonl")

	pos, err := parseInterspersed(fs, args)
	if err != nil {
		return nil, err
	}
	if len(pos) != 1 {
		fs.Usage()
		return nil, fmt.Errorf("want exactly one URL, got %d arguments", len(pos))
	}
	o.url = pos[0]
	if o.maxEvents < 0 {
		return nil, fmt.Errorf("--max-events must not be negative")
	}
	if o.retry < 0 {
		return nil, fmt.Errorf("--retry must not be negative")
	}
	if strings.ContainsAny(o.lastEventID, "\r\n\x00") {
		return nil, fmt.Errorf("--last-event-id must not contain CR, LF or NUL")
	}
	return o, nil
}

func runTail(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	o, err := parseTail(args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return tailOK
	}
	if err != nil {
		fmt.Fprintf(stderr, "ssehub tail: %v\n", err)
		return tailUsage
	}

	info := !o.jsonl || o.verbose
	opts := []client.Option{client.WithRetry(o.retry), client.WithReconnect(!o.once)}
	lastID, auth := o.lastEventID, false
	for _, h := range o.headers {
		switch http.CanonicalHeaderKey(h[0]) {
		case "Last-Event-Id":
			if lastID == "" {
				lastID = h[1]
			}
			continue
		case "Authorization":
			auth = true
		}
		opts = append(opts, client.WithHeader(h[0], h[1]))
	}
	if o.token != "" && !auth {
		opts = append(opts, client.WithHeader("Authorization", "Bearer "+o.token))
	}
	opts = append(opts, client.WithLastEventID(lastID))
	if info {
		opts = append(opts,
			client.OnOpen(func(r *http.Response) {
				fmt.Fprintf(stderr, "ssehub tail: connected to %s (%s)\n", r.Request.URL, r.Status)
			}),
			client.OnError(func(err error) {
				if errors.Is(err, io.EOF) {
					err = errors.New("stream ended")
				}
				fmt.Fprintf(stderr, "ssehub tail: connection lost: %v\n", err)
			}),
			client.OnRetry(func(d time.Duration, id string) {
				if id == "" {
					fmt.Fprintf(stderr, "ssehub tail: reconnecting in %v\n", d)
				} else {
					fmt.Fprintf(stderr, "ssehub tail: reconnecting in %v with Last-Event-ID %q\n", d, id)
				}
			}))
	}
	c := client.New(o.url, opts...)
	defer c.Close()

	out := bufio.NewWriter(stdout)
	print := printText
	if o.jsonl {
		enc := json.NewEncoder(out)
		enc.SetEscapeHTML(false)
		print = func(_ io.Writer, ev *sse.Event) error {
			return enc.Encode(jsonlEvent{Type: ev.Type, Data: string(ev.Data), ID: ev.ID})
		}
	}
	for n := 0; o.maxEvents == 0 || n < o.maxEvents; n++ {
		ev, err := c.Next(ctx)
		if err != nil {
			switch {
			case ctx.Err() != nil:
				return tailOK
			case errors.Is(err, io.EOF): // --once
				return tailOK
			}
			fmt.Fprintf(stderr, "ssehub tail: %v\n", err)
			return tailFailed
		}
		if err := print(out, &ev); err == nil {
			err = out.Flush()
		}
		if err != nil {
			fmt.Fprintf(stderr, "ssehub tail: writing output: %v\n", err)
			return tailFailed
		}
	}
	return tailOK
}

// jsonlEvent is the --jsonl line of one event; fields in this order.
type jsonlEvent struct {
	Type string `json:"type"`
	Data string `json:"data"`
	ID   string `json:"id"`
}

// printText writes an event readably: "[id 42] type: data", continuation
// lines of multi-line data indented by two spaces.
func printText(w io.Writer, ev *sse.Event) error {
	var b strings.Builder
	if ev.ID != "" {
		fmt.Fprintf(&b, "[id %s] ", ev.ID)
	}
	b.WriteString(ev.Type)
	b.WriteString(": ")
	b.WriteString(strings.ReplaceAll(string(ev.Data), "\n", "\n  "))
	b.WriteByte('\n')
	_, err := io.WriteString(w, b.String())
	return err
}
