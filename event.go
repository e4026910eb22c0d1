package ssehub

import (
	"encoding/json"
	"time"
)

// Event is one published event as the log stores it.
type Event struct {
	// ID is assigned by the log on append: strictly increasing over the whole
	// hub, across topics. It is the SSE id field, in decimal.
	ID uint64
	// Topic is dot-separated tokens, e.g. "orders.created"; see ValidateTopic.
	Topic string
	// Type is the SSE event name in raw format; empty means "message".
	Type string
	// Data is the payload, never altered.
	Data []byte
	// Key is an optional idempotency key: a second append with the same
	// topic and key inside the dedupe window returns the first event's id.
	Key string
	// Entity, Source and Meta are optional descriptive fields carried in the
	// JSON envelope. Meta, when set, is a JSON object.
	Entity string
	Source string
	Meta   json.RawMessage
	// Time is when the log stored the event (set by the log on append).
	Time time.Time
}

// Size returns the approximate number of bytes the event takes in a log,
// used for byte-based retention and memory bounds.
func (e *Event) Size() int {
	return 64 + len(e.Topic) + len(e.Type) + len(e.Data) + len(e.Key) + len(e.Entity) + len(e.Source) + len(e.Meta)
}

// AppendResult is the outcome of appending one event.
type AppendResult struct {
	// ID is the event's id: new, or the first event's id for a duplicate.
	ID uint64
	// Duplicate reports that an event with the same topic and key was
	// appended inside the dedupe window, and nothing new was stored.
	Duplicate bool
}
