// Package sse encodes and decodes the text/event-stream wire format exactly as
// the WHATWG HTML standard ("Server-sent events", section 9.2) defines it.
//
// It knows nothing of HTTP servers or hubs: an [Event] is turned into bytes
// with [AppendEvent] (encode once into a reused buffer, write the same bytes
// to many connections) or an [Encoder], and a byte stream is turned back into
// events with a [Decoder], which follows the standard's parsing and dispatch
// algorithm to the letter, including its UTF-8 decoding, line ends and
// last-event-ID rules.
//
// Round trip: an event with an ID free of CR, LF and NUL, a type free of CR
// and LF, and data whose line breaks are LF decodes to the same ID, type
// ("message" when empty) and data, byte for byte. The wire format has no way
// to tell CR, LF and CRLF apart, so CR and CRLF in data arrive as LF; and
// clients decode UTF-8, so invalid UTF-8 arrives as U+FFFD.
package sse
