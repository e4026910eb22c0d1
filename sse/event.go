package sse

import "time"

// Event is one server-sent event.
//
// When encoding, ID and Type are written only when non-empty, Retry only when
// positive, and Data always (so every encoded event is dispatched by a
// client). When decoding, Type is "message" if the stream named none, and ID
// is the stream's last event ID at the time the event was dispatched (the
// EventSource lastEventId), which may come from an earlier event.
type Event struct {
	ID    string
	Type  string
	Data  []byte
	Retry time.Duration
}
