package emitter

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"
)

// ErrCORSCredentials is returned by [Options.Validate] (and so by [Start])
// when CORSOrigin is "*" and CORSCredentials is set: browsers refuse that
// combination, and reflecting any request Origin instead would let every
// web site read a user's credentialed stream.
var ErrCORSCredentials = errors.New(`emitter: CORS origin "*" cannot be combined with credentials`)

// Options configure a stream. The zero value is a plain stream with no
// retry field, no keep-alives, no timeout and no CORS headers.
type Options struct {
	// Retry, when positive, is sent once at the start of the stream as the
	// retry field: how long a client waits before reconnecting. It is sent in
	// whole milliseconds, rounded up.
	Retry time.Duration

	// KeepAlive, when positive, is the idle interval after which a
	// keep-alive comment is written (see KeepAliveComment). Any write
	// (event, comment or encoded bytes) starts the interval again, so a
	// busy stream carries no keep-alives.
	KeepAlive time.Duration

	// KeepAliveComment is the keep-alive comment's text: the bytes are
	// ":" + text + "\n\n" (see [KeepAliveBytes]), the same the ssehub hub
	// sends. Empty means "keepalive": ":keepalive\n\n", as Hantera sends it.
	KeepAliveComment string

	// Timeout, when positive, ends the stream that long after it started:
	// the end event (see [Emitter.End]) with {"reason":"timeout"} is sent,
	// so that a client can tell a finished job from a dropped connection
	// and does not reconnect to start it again; then Done is closed and Err
	// returns ErrTimeout.
	Timeout time.Duration

	// EndEvent and EndID name the end event that [Emitter.End] and a
	// Timeout send: its event type (default "end") and its id (default
	// "end"). A reconnection whose Last-Event-ID is EndID is answered 204
	// No Content by [Start] and [Handler], which makes an EventSource stop
	// reconnecting: the stream it followed is finished. EndEvent "message"
	// with EndID "CLOSE" is the convention of the EventSource example in
	// "High Performance Browser Networking" (onmessage closes on id CLOSE).
	EndEvent, EndID string

	// WriteTimeout, when positive, bounds each write to the client; a write
	// that does not complete in time fails and closes the stream. Start
	// always clears the server's own read and write deadlines
	// (http.Server.ReadTimeout and WriteTimeout), which would otherwise end
	// a long-lived stream.
	WriteTimeout time.Duration

	// CORSOrigin sets Access-Control-Allow-Origin:
	//   - "" sends no CORS headers;
	//   - "*" allows every origin (never together with CORSCredentials);
	//   - otherwise a comma-separated list of origins such as
	//     "https://app.example.com, https://admin.example.com": a request whose
	//     Origin header is in the list gets it reflected, and every response
	//     carries Vary: Origin so caches keep the answers apart.
	CORSOrigin string

	// CORSCredentials sends Access-Control-Allow-Credentials: true with an
	// allowed origin, so browsers may send cookies (EventSource
	// withCredentials). It requires a list of origins, not "*".
	CORSCredentials bool

	// Logger receives the errors a Handler callback returns that are not an
	// *Error; nil means slog.Default().
	Logger *slog.Logger
}

// Validate reports whether the options can be used: durations must not be
// negative, and CORSOrigin "*" must not be combined with CORSCredentials
// ([ErrCORSCredentials]). Call it at startup to find a misconfiguration
// before the first request does.
func (o Options) Validate() error {
	for _, d := range []struct {
		name string
		v    time.Duration
	}{{"Retry", o.Retry}, {"KeepAlive", o.KeepAlive}, {"Timeout", o.Timeout}, {"WriteTimeout", o.WriteTimeout}} {
		if d.v < 0 {
			return fmt.Errorf("emitter: %s must not be negative, got %v", d.name, d.v)
		}
	}
	for _, f := range []struct{ name, v string }{{"KeepAliveComment", o.KeepAliveComment}, {"EndEvent", o.EndEvent}, {"EndID", o.EndID}} {
		if strings.ContainsAny(f.v, "\r\n\x00") {
			return fmt.Errorf("emitter: %s must not contain CR, LF or NUL", f.name)
		}
	}
	origins := o.origins()
	for _, s := range origins {
		if s == "*" && len(origins) > 1 {
			return errors.New(`emitter: CORS origin "*" must stand alone, not in a list`)
		}
		if s == "*" && o.CORSCredentials {
			return ErrCORSCredentials
		}
		if s == "" {
			return fmt.Errorf("emitter: empty origin in CORS origin list %q", o.CORSOrigin)
		}
	}
	if o.CORSCredentials && len(origins) == 0 {
		return errors.New("emitter: CORSCredentials needs a CORSOrigin")
	}
	return nil
}

// origins splits CORSOrigin into its origins; nil when CORS is off.
func (o Options) origins() []string {
	if strings.TrimSpace(o.CORSOrigin) == "" {
		return nil
	}
	list := strings.Split(o.CORSOrigin, ",")
	for i := range list {
		list[i] = strings.TrimSpace(list[i])
	}
	return list
}

// setCORS sets the CORS response headers for r. The options are valid.
func (o Options) setCORS(h http.Header, r *http.Request) {
	CORS{Origins: o.origins(), Credentials: o.CORSCredentials}.Apply(h, r)
}

func (o Options) endEvent() string {
	if o.EndEvent == "" {
		return "end"
	}
	return o.EndEvent
}

func (o Options) endID() string {
	if o.EndID == "" {
		return "end"
	}
	return o.EndID
}

// logger returns the logger for callback errors.
func (o Options) logger() *slog.Logger {
	if o.Logger != nil {
		return o.Logger
	}
	return slog.Default()
}
