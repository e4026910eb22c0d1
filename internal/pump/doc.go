// Package pump writes many long-lived HTTP/1.1 response streams from a few
// goroutines.
//
// net/http serves each connection with a goroutine and, while a handler
// runs, a second one that watches for the client going away; with their
// stacks and buffers that is about 27 KiB per idle server-sent events
// stream. A [Pump] takes a stream over once its headers are written (the
// handler hijacks the connection and returns, so both goroutines end) and
// then holds only what the stream needs: the connection, its [Source], and
// a few words of state. A few workers write every stream: a Source that
// has bytes calls [Stream.Wake]; a worker asks it for them with Next,
// frames them as an HTTP/1.1 chunk and writes without blocking. A client
// that cannot take the bytes keeps them pending (at most one write's worth)
// until its socket drains, and is closed after Options.WriteTimeout; it
// never holds a worker. A stream that ends (its Source returned an error,
// or Close was called) writes what is pending, its final bytes and the
// last chunk the same way before its connection is closed. One [netpoll.Poller] goroutine reports when a
// client closes its connection, and one ticker sends heartbeats to idle
// streams and enforces the write timeout.
package pump
