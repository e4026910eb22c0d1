// Package emitter streams Server-Sent Events from any net/http handler.
//
// The low-level entry point is [Start], which turns a handler's response
// into an event stream and returns an [Emitter] to send on:
//
//	func events(w http.ResponseWriter, r *http.Request) {
//		e, err := emitter.Start(w, r, emitter.Options{KeepAlive: 30 * time.Second})
//		if err != nil {
//			return
//		}
//		defer e.Close() // the handler must not return while e is in use
//		for n := 0; ; n++ {
//			select {
//			case <-e.Done(): // client gone, timeout, or write error
//				return
//			case <-time.After(time.Second):
//				e.Send(map[string]int{"n": n}, "tick", strconv.Itoa(n))
//			}
//		}
//	}
//
// The high-level entry point is [Handler], which does the same around a
// callback and closes the stream when the callback returns (the model of
// BoxLang's SSE(callback)).
//
// What a stream guarantees:
//
//   - Headers Content-Type: text/event-stream; charset=utf-8,
//     Cache-Control: no-cache and X-Accel-Buffering: no; Connection:
//     keep-alive on HTTP/1.x only, never on HTTP/2 where it is forbidden.
//   - The headers and a first comment (": connected") are flushed as soon as
//     the stream starts, followed by the retry field when [Options.Retry] is
//     set; every later write is flushed at once too. Flushing goes through
//     [http.ResponseController], so wrapped ResponseWriters that implement
//     Unwrap work.
//   - Keep-alive comments (":keepalive" and a blank line, the bytes the
//     ssehub hub and Hantera send; the text is [Options.KeepAliveComment])
//     are written only after [Options.KeepAlive] passed with nothing
//     written; every write resets that idle time.
//   - A stream that is finished says so: [Emitter.End], and a
//     [Options.Timeout] that elapses, send the end event (event: end,
//     id: end), and a reconnection with that id gets 204 No Content, which
//     stops an EventSource for good (BoxLang's retry: 0). An OPTIONS
//     request (a CORS preflight) is answered, never run as a stream.
//   - Payloads are never altered: data is split into data: lines only at its
//     own line breaks, so a client rebuilds it byte for byte.
//   - A client that goes away is noticed promptly, also while the stream is
//     idle: [Emitter.Done] is closed and [Emitter.Closed] turns true.
//   - Every method is safe for concurrent use; writes never interleave.
//
// Errors before the stream starts are plain HTTP responses with a JSON body,
// written by [WriteError]. Errors after it started are sent as an event
// named "error" by [Emitter.Error]. Browsers deliver that event to the same
// "error" listener as connection errors, which carry no data, so a browser
// listener must check event.data before parsing it.
//
// [WantsJSON] lets one handler serve a JSON response to clients that
// explicitly prefer application/json and a stream to everyone else.
package emitter
