package client

import (
	"errors"
	"io"
	"strings"

	"github.com/ssehub/ssehub/sse"
)

// errBadLastEventID rejects an initial last event ID no stream could set.
var errBadLastEventID = errors.New("client: last event ID must not contain CR, LF or NUL")

// newDecoder returns a decoder for a new connection whose stream starts with
// the persisted last event ID string (the EventSource's state, not the
// stream's).
func newDecoder(body io.Reader, lastEventID string) *sse.Decoder {
	d := sse.NewDecoder(body)
	d.SetLastEventID(lastEventID)
	return d
}

// validLastEventID reports whether id could be a stream's last event ID.
func validLastEventID(id string) bool { return !strings.ContainsAny(id, "\r\n\x00") }
