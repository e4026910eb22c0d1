package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
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

Follows the event stream at URL like a browser's EventSource: once
connected, it reconnects after the retry delay with Last-Event-ID when the
stream ends or the network fails, and stops for good when the server
answers anything but a 200 text/event-stream. URL may be host:port/path or
:port/path for http://. When the first connection cannot be made at all
(connection refused, unknown host), tail says so and exits 1 instead of
retrying: it never connected. Events go to stdout, one per line, flushed
at once; connection messages go to stderr.

Output:
  default   [id ID] [TOPIC] TYPE: DATA
            TYPE is the SSE event name ("message" unless the stream names
            another); [id ID] is left out while the stream has set no id;
            further lines of multi-line DATA are indented by two spaces.
            [TOPIC] is shown for events that are ssehub envelopes (JSON
            objects with "event_type", "id" and "data"). For a hub's /events
            URL with ?topic= and no format=, tail asks for format=envelope
            and prints each event's own type and data with its topic, just
            as format=raw would send them plus the topic.
  --jsonl   {"type":TYPE,"data":DATA,"id":ID} one a line: each event exactly
            as the server sent it (ID is the last event ID); the URL is used
            as given. Connection messages only with -v.

Exit status: 0 when the stream ends with --once, after --max-events events,
or on interrupt; 1 when the connection failed or could not be made (or,
with --once, the network failed); 2 on bad usage.

Examples:
  export SSEHUB_TOKEN=…   # a token that may subscribe
  ssehub tail 'localhost:8080/events?topic=orders.*'
  ssehub tail 'http://localhost:8080/events?topic=*' --jsonl | jq .
  ssehub tail 'http://localhost:8080/events?topic=*' --last-event-id earliest --once
  ssehub tail http://localhost:8081/events -H 'X-Trace: 1' --max-events 3
`

// headerFlags collects repeated -H 'Key: Value' flags; they are checked
// after parsing, so that an error never echoes a value (it may be a
// credential).
type headerFlags []string

func (h *headerFlags) String() string { return "" }

func (h *headerFlags) Set(s string) error {
	*h = append(*h, s)
	return nil
}

// parse splits each 'Key: Value'.
func (h headerFlags) parse() ([][2]string, error) {
	out := make([][2]string, 0, len(h))
	for i, s := range h {
		k, v, ok := strings.Cut(s, ":")
		k = strings.TrimSpace(k)
		if !ok || k == "" || strings.ContainsAny(k, " \t\r\n") {
			return nil, fmt.Errorf("-H #%d: want 'Key: Value', a header name without spaces, a colon and the value", i+1)
		}
		if strings.ContainsAny(v, "\r\n\x00") {
			return nil, fmt.Errorf("-H %s: the value must not contain CR, LF or NUL", k)
		}
		out = append(out, [2]string{k, strings.TrimSpace(v)})
	}
	return out, nil
}

// tailOptions are the parsed flags of ssehub tail.
type tailOptions struct {
	url         string // as given, with http:// added to host:port
	jsonl       bool
	lastEventID string
	maxEvents   int
	once        bool
	headers     [][2]string
	token       string
	retry       time.Duration
	verbose     bool
}

// parseTail parses tail's arguments; code and ok are parseArgs's.
func parseTail(args []string, stderr io.Writer) (o *tailOptions, code int, ok bool) {
	o = &tailOptions{}
	fs := flag.NewFlagSet("tail", flag.ContinueOnError)
	var headers headerFlags
	fs.BoolVar(&o.jsonl, "jsonl", false, `print one JSON object per event, {"type":…,"data":…,"id":…}, exactly as sent`)
	fs.StringVar(&o.lastEventID, "last-event-id", "", "send `ID` as Last-Event-ID on the first connection: resume after it (\"earliest\" replays a hub's whole log; default none: new events only)")
	fs.IntVar(&o.maxEvents, "max-events", 0, "exit after `N` events (0: no limit)")
	fs.BoolVar(&o.once, "once", false, "exit when the stream ends instead of reconnecting")
	fs.Var(&headers, "H", "extra request header `'Key: Value'` (repeatable)")
	token := envStringVar(fs, "token", "SSEHUB_TOKEN", "", "send Authorization: Bearer `TOKEN` (default $SSEHUB_TOKEN; --token '' sends none; -H Authorization replaces it)")
	fs.DurationVar(&o.retry, "retry", client.DefaultRetry, "initial reconnection `DELAY`, until the server sends retry:")
	fs.BoolVar(&o.verbose, "v", false, "report connections and reconnections on stderr also with --jsonl")

	pos, code, ok := parseArgs(fs, args, "tail", true, tailUsageText, stderr)
	if !ok {
		return nil, code, false
	}
	o.token, _ = token.Get()
	fail := func(format string, args ...any) (*tailOptions, int, bool) {
		return nil, usageError(newRedactWriter(stderr, o.token), "tail", format, args...), false
	}
	if len(pos) != 1 {
		return fail("want exactly one URL, e.g. 'http://localhost:8080/events?topic=*', got %d arguments", len(pos))
	}
	if _, err := parseHTTPURL(pos[0]); err != nil {
		return fail("URL %v", err)
	}
	o.url = withScheme(strings.TrimSpace(pos[0])) // as given: --jsonl streams this very URL
	if o.maxEvents < 0 {
		return fail("--max-events must not be negative")
	}
	if o.retry < 0 {
		return fail("--retry must not be negative")
	}
	if strings.ContainsAny(o.lastEventID, "\r\n\x00") {
		return fail("--last-event-id must not contain CR, LF or NUL")
	}
	var err error
	if o.headers, err = headers.parse(); err != nil {
		return fail("%v", err)
	}
	return o, 0, true
}

// envelopeURL returns the URL to stream for human output: a hub's /events
// URL (?topic= given, no format=) with format=envelope added, so that each
// event arrives with its topic; ok is false for any other URL.
func envelopeURL(raw string) (string, bool) {
	u, err := url.Parse(raw)
	if err != nil || !strings.HasSuffix(u.Path, "/events") {
		return raw, false
	}
	q := u.Query()
	if !q.Has("topic") || q.Has("format") {
		return raw, false
	}
	u.RawQuery += "&format=envelope"
	return u.String(), true
}

func runTail(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	o, code, ok := parseTail(args, stderr)
	if !ok {
		return code
	}
	secrets := []string{o.token}
	target := o.url
	unwrap := false
	if !o.jsonl {
		target, unwrap = envelopeURL(o.url)
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
			secrets = append(secrets, h[1])
			if _, cred, ok := strings.Cut(h[1], " "); ok {
				secrets = append(secrets, strings.TrimSpace(cred))
			}
		}
		opts = append(opts, client.WithHeader(h[0], h[1]))
	}
	stderr = newRedactWriter(stderr, secrets...)
	if o.token != "" && !auth {
		opts = append(opts, client.WithHeader("Authorization", "Bearer "+o.token))
	}
	sentToken := o.token != "" || auth || strings.Contains(target, "token=") || strings.Contains(target, "/stream/")
	opts = append(opts, client.WithLastEventID(lastID))

	// The connection's story, for messages: a first connection that cannot
	// be made ends tail (it never connected); once connected, losses and
	// failed reconnections are reported and retried.
	var (
		c         *client.Client
		connected bool  // a connection was ever announced
		open      bool  // the current connection is open
		never     error // why the first connection could not be made
	)
	shown := redactText(target)
	opts = append(opts,
		client.OnOpen(func(r *http.Response) {
			connected, open = true, true
			if info {
				fmt.Fprintf(stderr, "ssehub tail: connected to %s (%s)\n", redactText(r.Request.URL.String()), r.Status)
			}
		}),
		client.OnError(func(err error) {
			switch {
			case !connected:
				never = connectError(target, err, "is the server running there?")
				c.Close() // ends the pending wait: Next returns ErrClosed
			case open:
				open = false
				if info {
					fmt.Fprintf(stderr, "ssehub tail: connection to %s lost: %s\n", shown, lossReason(err))
				}
			default:
				if info {
					fmt.Fprintf(stderr, "ssehub tail: %v\n", reconnectError(target, err))
				}
			}
		}),
		client.OnRetry(func(d time.Duration, id string) {
			if never != nil || !info {
				return
			}
			if id == "" {
				fmt.Fprintf(stderr, "ssehub tail: reconnecting in %v\n", d)
			} else {
				fmt.Fprintf(stderr, "ssehub tail: reconnecting in %v with Last-Event-ID %q\n", d, id)
			}
		}))
	c = client.New(target, opts...)
	defer c.Close()

	out := bufio.NewWriter(stdout)
	print := func(w io.Writer, ev *sse.Event) error { return printText(w, ev, unwrap) }
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
			var fe *client.FailedError
			switch {
			case never != nil:
				fmt.Fprintf(stderr, "ssehub tail: %v\n", never)
				return tailFailed
			case ctx.Err() != nil:
				return tailOK
			case errors.As(err, &fe):
				fmt.Fprintf(stderr, "ssehub tail: %v\n", failedError(shown, fe))
				if h := tokenHint(fe.StatusCode, fe.Body, sentToken, "a token that may subscribe to these topics"); h != "" {
					fmt.Fprintf(stderr, "ssehub tail: %s\n", h)
				}
				return tailFailed
			case !connected: // --once, or a bad URL: the first connection could not be made
				fmt.Fprintf(stderr, "ssehub tail: %v\n", connectError(target, err, "is the server running there?"))
				return tailFailed
			case errors.Is(err, io.EOF): // --once: the stream ended
				return tailOK
			}
			// --once: the connection failed mid-stream.
			fmt.Fprintf(stderr, "ssehub tail: connection to %s lost: %s\n", shown, lossReason(err))
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

// lossReason says why an open connection ended, without the client's
// "connection lost" prefix (the message has its own).
func lossReason(err error) string {
	switch {
	case errors.Is(err, io.EOF):
		return "the server ended the stream"
	case errors.Is(err, io.ErrUnexpectedEOF):
		return "the connection was cut mid-response"
	}
	if inner := errors.Unwrap(err); inner != nil && strings.HasPrefix(err.Error(), "connection lost: ") {
		err = inner
	}
	return err.Error()
}

// reconnectError describes a reconnection attempt that got no answer.
func reconnectError(target string, err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	return fmt.Errorf("could not reconnect to %s: %w", redactText(target), err)
}

// failedError describes a response that ends tail (a status other than 200,
// or not text/event-stream) with the server's JSON error message when it
// sent one.
func failedError(shown string, fe *client.FailedError) error {
	what := "connection to " + shown + " failed"
	status := fe.Status
	if status == "" {
		status = fmt.Sprintf("%d %s", fe.StatusCode, http.StatusText(fe.StatusCode))
	}
	if fe.StatusCode == http.StatusOK {
		reason := fmt.Sprintf("Content-Type %q is not text/event-stream", fe.ContentType)
		if fe.Err != nil {
			reason = fmt.Sprintf("bad Content-Type %q: %v", fe.ContentType, fe.Err)
		}
		return fmt.Errorf("%s: HTTP %s: %s, so this URL is not an event stream", what, status, reason)
	}
	var e apiError
	if json.Unmarshal(fe.Body, &e) == nil && e.Error.Code != "" {
		return fmt.Errorf("%s: HTTP %s: %s: %s", what, status, e.Error.Code, e.Error.Message)
	}
	if ex := oneLine(fe.Body); ex != "" {
		return fmt.Errorf("%s: HTTP %s: %s", what, status, ex)
	}
	return fmt.Errorf("%s: HTTP %s", what, status)
}

// jsonlEvent is the --jsonl line of one event; fields in this order.
type jsonlEvent struct {
	Type string `json:"type"`
	Data string `json:"data"`
	ID   string `json:"id"`
}

// envelopeView is what printText reads of an ssehub JSON envelope.
type envelopeView struct {
	ID    json.RawMessage `json:"id"`
	Topic *string         `json:"event_type"`
	Type  string          `json:"type"`
	Data  json.RawMessage `json:"data"`
}

// asEnvelope returns data read as an ssehub envelope: a JSON object with
// "event_type" (a string), "id" and "data".
func asEnvelope(data []byte) (*envelopeView, bool) {
	b := bytes.TrimLeft(data, " \t\r\n")
	if len(b) == 0 || b[0] != '{' {
		return nil, false
	}
	var e envelopeView
	if json.Unmarshal(b, &e) != nil || e.Topic == nil || e.ID == nil || e.Data == nil {
		return nil, false
	}
	return &e, true
}

// printText writes an event readably: "[id 42] [topic] type: data", the
// topic only for ssehub envelopes, continuation lines of multi-line data
// indented by two spaces. With unwrap, an envelope's own type and data are
// shown instead of the envelope.
func printText(w io.Writer, ev *sse.Event, unwrap bool) error {
	var b strings.Builder
	if ev.ID != "" {
		fmt.Fprintf(&b, "[id %s] ", ev.ID)
	}
	typ, data := ev.Type, string(ev.Data)
	if env, ok := asEnvelope(ev.Data); ok {
		fmt.Fprintf(&b, "[%s] ", *env.Topic)
		if unwrap {
			typ = env.Type
			if typ == "" {
				typ = "message"
			}
			data = string(env.Data)
			var str string
			if json.Unmarshal(env.Data, &str) == nil {
				data = str // data that was not JSON travels as a JSON string
			}
		}
	}
	b.WriteString(typ)
	b.WriteString(": ")
	b.WriteString(strings.ReplaceAll(data, "\n", "\n  "))
	b.WriteByte('\n')
	_, err := io.WriteString(w, b.String())
	return err
}
