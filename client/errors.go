package client

import (
	"errors"
	"fmt"
	"net/http"
)

// ErrClosed is returned by [Client.Next] after [Client.Close].
var ErrClosed = errors.New("client: closed")

// FailedError reports that the connection failed for good: the server
// answered with a status other than 200 (204 is how a server says "stop"), or
// with a 200 whose Content-Type is not text/event-stream. The client does not
// reconnect after it; every later [Client.Next] returns the same error.
type FailedError struct {
	// URL is the URL of the response (after redirects).
	URL string
	// StatusCode and Status are the response's, e.g. 404 and "404 Not Found".
	StatusCode int
	Status     string
	// ContentType is the response's Content-Type header as sent.
	ContentType string
	// Body is a short excerpt (at most [BodyExcerptSize] bytes) of the
	// response body, for messages.
	Body []byte
	// Err, when not nil, says why an otherwise acceptable response was
	// refused, e.g. an unparseable Content-Type.
	Err error
}

// BodyExcerptSize bounds the body bytes kept in a [FailedError].
const BodyExcerptSize = 512

// Error describes the failure, e.g.
// `connection failed: HTTP 404 Not Found: {"error":...}`.
func (e *FailedError) Error() string {
	status := e.Status
	if status == "" {
		status = fmt.Sprintf("%d %s", e.StatusCode, http.StatusText(e.StatusCode))
	}
	msg := "connection failed: HTTP " + status
	if e.StatusCode == http.StatusOK {
		if e.Err != nil {
			msg += fmt.Sprintf(": bad Content-Type %q: %v", e.ContentType, e.Err)
		} else {
			msg += fmt.Sprintf(": Content-Type %q is not text/event-stream", e.ContentType)
		}
	} else if e.Err != nil {
		msg += ": " + e.Err.Error()
	}
	if ex := excerpt(e.Body); ex != "" {
		msg += ": " + ex
	}
	return msg
}

// Unwrap returns Err.
func (e *FailedError) Unwrap() error { return e.Err }
