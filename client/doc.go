// Package client is an EventSource for Go: it connects to a
// text/event-stream URL and follows the WHATWG HTML "Server-sent events"
// processing model.
//
// A [Client] sends Accept: text/event-stream and Cache-Control: no-cache,
// announces a connection when the response is a 200 with a text/event-stream
// MIME type (any case, any parameters), and fails for good on any other status
// or content type, returning a [*FailedError]. When the body ends or the
// network fails it waits the reconnection time (the server's retry field, or
// [DefaultRetry]) and reconnects to the original URL with a Last-Event-ID
// header carrying the exact last event ID string received (omitted while that
// string is empty). The last event ID and the reconnection time are the
// client's state: they persist across connections.
//
// All parsing is done by package [github.com/ssehub/ssehub/sse].
//
// Read events with [Client.Next] or range over [Client.Events]. Cancel the
// context (or call [Client.Close]) to stop; that aborts the connection or the
// wait at once.
package client
