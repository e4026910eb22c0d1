// Package sse encodes and decodes the text/event-stream wire format exactly as
// the WHATWG HTML standard ("Server-sent events", section 9.2) defines it.
//
// It knows nothing of HTTP servers or hubs: an [Event] is turned into bytes
// with [AppendEvent] (encode once, write the same bytes to many connections),
// and a byte stream is turned back into events with a [Decoder], which follows
// the standard's parsing and dispatch algorithm to the letter.
package sse
