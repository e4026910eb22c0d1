package emitter

import (
	"encoding/json"
	"errors"
	"net/http"
)

// Reasons a stream ended, as returned by [Emitter.Err] and by sends on an
// ended stream. A failed write yields an error that wraps the write error.
var (
	// ErrClosed means the stream was closed by Close (or Error).
	ErrClosed = errors.New("emitter: closed")
	// ErrTimeout means Options.Timeout elapsed.
	ErrTimeout = errors.New("emitter: timeout")
	// ErrClientGone means the request's context ended: the client went
	// away (or the handler returned).
	ErrClientGone = errors.New("emitter: client gone")
	// ErrPreflight is returned by Start for an OPTIONS request, which it
	// answered (a CORS preflight) instead of starting a stream.
	ErrPreflight = errors.New("emitter: an OPTIONS request was answered, not streamed")
	// ErrFinished is returned by Start for a reconnection after the end
	// event, which it answered with 204 No Content.
	ErrFinished = errors.New("emitter: the stream is finished; the reconnection got 204")
)

// Error is an application error with a machine-readable code and a message
// for people. It is the JSON object sent by [Emitter.Error] and inside the
// body written by [WriteError]. A [Handler] callback that returns an *Error
// has it sent to the client as an error event.
type Error struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

// Error returns "code: message".
func (e *Error) Error() string { return e.Code + ": " + e.Message }

// WriteError writes an error response for a request whose stream has not
// started: status and the JSON body {"error":{"code":...,"message":...}}
// with Content-Type: application/json. An EventSource fails the connection
// on any status other than 200 and does not reconnect.
func WriteError(w http.ResponseWriter, status int, code, message string) {
	body := ErrorBody(code, message)
	h := w.Header()
	h.Del("Content-Length")
	h.Set("Content-Type", "application/json")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

// ErrorBody returns the JSON error body {"error":{"code":…,"message":…}}
// and a newline.
func ErrorBody(code, message string) []byte {
	body, _ := json.Marshal(struct {
		Error Error `json:"error"`
	}{Error{code, message}})
	return append(body, '\n')
}

// writeError is the cause recorded when a write to the client fails.
type writeError struct{ err error }

func (e *writeError) Error() string { return "emitter: write: " + e.err.Error() }
func (e *writeError) Unwrap() error { return e.err }
