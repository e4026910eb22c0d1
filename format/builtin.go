package format

import (
	"sync"

	"github.com/ssehub/ssehub"
	"github.com/ssehub/ssehub/envelope"
	"github.com/ssehub/ssehub/sse"
)

// The built-in formats.
var (
	// Envelope sends "event: message" with the JSON envelope as data
	// (Inboxclaw's format).
	Envelope Format = envelopeFormat{}
	// Raw sends the event's type as the SSE event name (none, so
	// "message", when it has no type) and its data as is.
	Raw Format = rawFormat{}
)

func init() {
	MustRegister(Envelope)
	MustRegister(Raw)
}

type envelopeFormat struct{}

func (envelopeFormat) Name() string { return "envelope" }

// scratch holds envelopes while they are framed.
var scratch = sync.Pool{New: func() any { b := make([]byte, 0, 1024); return &b }}

func (envelopeFormat) Encode(dst []byte, ev *ssehub.Event, id string) []byte {
	bp := scratch.Get().(*[]byte)
	data := envelope.Append((*bp)[:0], ev)
	dst = appendFrame(dst, &sse.Event{ID: id, Type: "message", Data: data})
	if cap(data) <= 64<<10 {
		*bp = data[:0]
		scratch.Put(bp)
	}
	return dst
}

type rawFormat struct{}

func (rawFormat) Name() string { return "raw" }

func (rawFormat) Encode(dst []byte, ev *ssehub.Event, id string) []byte {
	return appendFrame(dst, &sse.Event{ID: id, Type: ev.Type, Data: ev.Data})
}

// appendFrame frames e; a type or id that cannot be sent (a store returning
// corrupt data: both are validated before they are stored) is dropped
// rather than dropping the event.
func appendFrame(dst []byte, e *sse.Event) []byte {
	out, err := sse.AppendEvent(dst, e)
	if err != nil {
		if sse.ValidateType(e.Type) != nil {
			e.Type = ""
		}
		if sse.ValidateID(e.ID) != nil {
			e.ID = ""
		}
		out, _ = sse.AppendEvent(dst, e)
	}
	return out
}
