package emitter

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/ssehub/ssehub/sse"
)

// firstComment is the comment flushed with the headers when a stream starts.
const firstComment = "connected"

// keepAliveComment is the comment written after an idle interval.
const keepAliveComment = "keepalive"

// maxKeptBuffer is the largest encoding buffer kept between writes; one
// larger (left by a big event) is dropped so an idle stream holds little.
const maxKeptBuffer = 64 << 10

// An Emitter is one Server-Sent Events stream, started by [Start] or
// [Handler]. Its methods are safe for concurrent use.
//
// A stream ends when Close or Error is called, when Options.Timeout
// elapses, when a write fails, or when the request's context ends (the
// client went away). Then Done is closed, Closed returns true, Err tells
// why, and every send returns that error.
//
// The handler that called Start must not return while the Emitter is in
// use: call Close (or Wait) before returning, typically with defer. After
// Close returns, no write is in progress and none will start, and the
// keep-alive goroutine has ended.
type Emitter struct {
	w           http.ResponseWriter
	rc          *http.ResponseController
	opts        Options
	lastEventID string

	ctx         context.Context
	cancel      context.CancelCauseFunc
	stopTimeout context.CancelFunc
	loopDone    chan struct{} // closed when the keep-alive goroutine ends; nil if none
	// stopTimeoutEnd cancels the end event a Timeout sends; timeoutEnded
	// is closed once that has run.
	stopTimeoutEnd func() bool
	timeoutEnded   chan struct{}

	mu        sync.Mutex
	closed    bool      // Close was called or a write failed
	reason    error     // why the stream ended, once closed
	buf       []byte    // encoding buffer, reused under mu
	lastWrite time.Time // time of the last write, for keep-alives
}

// Start begins an event stream on w for request r and returns its Emitter.
//
// It sets the stream headers (see the package documentation) and the CORS
// headers the options ask for, clears the server's read and write
// deadlines, writes status 200, a first ": connected" comment and, if
// opts.Retry is set, the retry field, and flushes them at once.
//
// Start returns an error without writing anything if the options are
// invalid (see [Options.Validate]); the caller can still answer with
// [WriteError]. It answers two requests itself and returns an error that
// says so, so that a handler calling Start for every request never runs a
// stream for them: an OPTIONS request (a CORS preflight: 204 with the CORS
// headers the options allow; see [Preflight]) gets [ErrPreflight], and a
// reconnection after the end event (Last-Event-ID equal to
// Options.EndID: 204 No Content, which makes an EventSource stop
// reconnecting) gets [ErrFinished]. It returns an error after the headers were written if the
// first write or flush fails, for instance because the client is already
// gone or w cannot flush (it does not implement http.Flusher, directly or
// through an Unwrap method); the response is unusable then.
func Start(w http.ResponseWriter, r *http.Request, opts Options) (*Emitter, error) {
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	if Preflight(w, r, opts) {
		return nil, ErrPreflight
	}
	if LastEventID(r) == opts.endID() {
		opts.setCORS(w.Header(), r)
		w.WriteHeader(http.StatusNoContent)
		return nil, ErrFinished
	}
	h := w.Header()
	SetHeaders(h, r)
	opts.setCORS(h, r)

	rc := http.NewResponseController(w)
	// A stream outlives any server-wide deadline; without clearing the read
	// deadline net/http's background read would time out and cancel the
	// request context. Writers that cannot set deadlines need no clearing.
	_ = rc.SetReadDeadline(time.Time{})
	_ = rc.SetWriteDeadline(time.Time{})

	parent, stopTimeout := r.Context(), context.CancelFunc(func() {})
	if opts.Timeout > 0 {
		parent, stopTimeout = context.WithTimeoutCause(parent, opts.Timeout, ErrTimeout)
	}
	ctx, cancel := context.WithCancelCause(parent)
	e := &Emitter{
		w:           w,
		rc:          rc,
		opts:        opts,
		lastEventID: LastEventID(r),
		ctx:         ctx,
		cancel:      cancel,
		stopTimeout: stopTimeout,
	}

	w.WriteHeader(http.StatusOK)
	e.buf = sse.AppendComment(e.buf[:0], firstComment)
	if opts.Retry > 0 {
		e.buf = sse.AppendRetry(e.buf, opts.Retry)
	}
	e.buf = append(e.buf, '\n')
	e.mu.Lock()
	err := e.writeLocked(e.buf)
	e.mu.Unlock()
	if err != nil {
		e.Close()
		return nil, fmt.Errorf("emitter: start: %w", err)
	}
	if opts.KeepAlive > 0 {
		e.loopDone = make(chan struct{})
		go e.keepAlive()
	}
	if opts.Timeout > 0 {
		e.timeoutEnded = make(chan struct{})
		e.stopTimeoutEnd = context.AfterFunc(parent, e.timedOut)
	}
	return e, nil
}

// timedOut sends the end event when Options.Timeout ends the stream.
func (e *Emitter) timedOut() {
	defer close(e.timeoutEnded)
	if !errors.Is(context.Cause(e.ctx), ErrTimeout) {
		return // the client went away: there is nobody to tell
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	e.endTimedOutLocked()
}

// endTimedOutLocked sends the timeout's end event and closes the stream if
// Options.Timeout ended it and it is not closed yet. Both the timeout's own
// goroutine and Close call it: a handler that returns as soon as its
// context is done races that goroutine, and whichever comes first sends
// the end event, so a timed-out client is always told.
func (e *Emitter) endTimedOutLocked() {
	if e.closed || !errors.Is(context.Cause(e.ctx), ErrTimeout) {
		return
	}
	if b, err := e.endFrame(e.buf[:0], []byte(`{"reason":"timeout"}`)); err == nil {
		_ = e.writeLocked(b)
	}
	e.closeLocked(ErrTimeout)
}

// endFrame appends the end event with data.
func (e *Emitter) endFrame(dst, data []byte) ([]byte, error) {
	typ := e.opts.endEvent()
	if typ == "message" {
		typ = ""
	}
	return sse.AppendEvent(dst, &sse.Event{Type: typ, ID: e.opts.endID(), Data: data})
}

// End sends the end event and closes the stream: the way to tell a client
// that the stream is finished and it must not reconnect (BoxLang's
// retry: 0). data is encoded as for [Emitter.Send]; nil sends
// {"reason":"done"}. The event is
//
//	event: end
//	id: end
//	data: {"reason":"done"}
//
// (its type and id set by Options.EndEvent and Options.EndID). A browser
// should close its EventSource on it:
//
//	source.addEventListener("end", () => source.close());
//
// and one that reconnects anyway sends Last-Event-ID: end, which [Start]
// and [Handler] answer with 204 No Content: an EventSource stops for good
// on a 204.
func (e *Emitter) End(data any) error {
	if data == nil {
		data = json.RawMessage(`{"reason":"done"}`)
	}
	b, err := encodeData(data)
	if err != nil {
		return err
	}
	e.mu.Lock()
	err = e.openLocked()
	if err == nil {
		var frame []byte
		if frame, err = e.endFrame(e.buf[:0], b); err == nil {
			e.buf = frame
			err = e.writeLocked(frame)
		}
	}
	e.mu.Unlock()
	e.Close()
	return err
}

// LastEventID returns the ID of the last event the client of r saw: the
// Last-Event-ID header an EventSource sends when it reconnects, or else the
// last_event_id or lastEventId query parameter, which a first connection
// can use; "" if none. The value is as the client sent it, not validated. A
// handler can check it before starting the stream, and answer a malformed
// one with [WriteError].
func LastEventID(r *http.Request) string {
	if id := r.Header.Get("Last-Event-ID"); id != "" {
		return id
	}
	q := r.URL.Query()
	if id := q.Get("last_event_id"); id != "" {
		return id
	}
	return q.Get("lastEventId")
}

// LastEventID returns the ID of the last event the client saw, so a
// handler can resume after it; see the function [LastEventID].
func (e *Emitter) LastEventID() string { return e.lastEventID }

// Context returns a context that is done when the stream ends. It carries
// the request context's values.
func (e *Emitter) Context() context.Context { return e.ctx }

// Done returns a channel that is closed when the stream ends, for whatever
// reason (see [Emitter.Err]).
func (e *Emitter) Done() <-chan struct{} { return e.ctx.Done() }

// Closed reports whether the stream has ended.
func (e *Emitter) Closed() bool { return e.ctx.Err() != nil }

// Err returns nil while the stream is open, and then why it ended:
// [ErrClosed], [ErrTimeout], an error wrapping [ErrClientGone], or the
// error of the write that failed (which also cancels the request context,
// but is reported as the reason).
func (e *Emitter) Err() error {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.errLocked()
}

// errLocked is Err with e.mu held.
func (e *Emitter) errLocked() error {
	if e.reason != nil {
		return e.reason
	}
	return e.ctxReason()
}

// ctxReason tells why the context ended, or nil if it has not.
func (e *Emitter) ctxReason() error {
	cause := context.Cause(e.ctx)
	if cause == nil || errors.Is(cause, ErrClosed) || errors.Is(cause, ErrTimeout) {
		return cause
	}
	return fmt.Errorf("%w: %w", ErrClientGone, cause)
}

// Send sends one event. A string, []byte or json.RawMessage is sent as is;
// any other value is encoded with encoding/json. event names the event type
// for addEventListener ("" is the default "message"), and id, when not
// empty, sets the client's last event ID.
//
// An event or id that cannot be represented (a line break in either, or NUL
// in the id) or data that fails to encode returns an error and leaves the
// stream open. A failed write ends the stream and returns the write error;
// on an ended stream Send returns [Emitter.Err].
func (e *Emitter) Send(data any, event, id string) error {
	b, err := encodeData(data)
	if err != nil {
		return err
	}
	return e.SendEvent(&sse.Event{ID: id, Type: event, Data: b})
}

// SendEvent sends ev as [sse.AppendEvent] encodes it, including its Retry
// field if set. Errors are as for [Emitter.Send].
func (e *Emitter) SendEvent(ev *sse.Event) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if err := e.openLocked(); err != nil {
		return err
	}
	b, err := sse.AppendEvent(e.buf[:0], ev)
	if err != nil {
		return err
	}
	e.buf = b
	return e.writeLocked(b)
}

// Comment writes text as a comment, which clients ignore; a text with line
// breaks becomes several comment lines.
func (e *Emitter) Comment(text string) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if err := e.openLocked(); err != nil {
		return err
	}
	e.buf = sse.AppendComment(e.buf[:0], text)
	return e.writeLocked(e.buf)
}

// WriteEncoded writes b, which must hold complete encoded events or
// comments (as produced by [sse.AppendEvent] and [sse.AppendComment]), and
// flushes. It lets a caller encode an event once and write the same bytes to
// many streams. b is not retained.
func (e *Emitter) WriteEncoded(b []byte) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if err := e.openLocked(); err != nil {
		return err
	}
	return e.writeLocked(b)
}

// Error sends an event named "error" whose data is the JSON object
// {"code":code,"message":message}, then closes the stream. It returns the
// write error, if any.
//
// Browsers deliver this event to the same "error" listener (and onerror)
// that reports connection errors; those carry no data. A listener must
// therefore check event.data before parsing it:
//
//	source.addEventListener("error", (e) => {
//		if (e.data) { const err = JSON.parse(e.data); ... } // application error
//		else { ... } // connection error; the browser may reconnect
//	});
//
// A client that should not reconnect after an application error must call
// close() on its EventSource.
func (e *Emitter) Error(code, message string) error {
	data, _ := json.Marshal(Error{Code: code, Message: message})
	err := e.SendEvent(&sse.Event{Type: "error", Data: data})
	e.Close()
	return err
}

// encodeData returns the bytes Send writes for data: a string, []byte or
// json.RawMessage as is, any other value encoded with encoding/json.
func encodeData(data any) ([]byte, error) {
	switch v := data.(type) {
	case string:
		return []byte(v), nil
	case []byte:
		return v, nil
	case json.RawMessage:
		return v, nil
	default:
		b, err := json.Marshal(v)
		if err != nil {
			return nil, fmt.Errorf("emitter: encode data: %w", err)
		}
		return b, nil
	}
}

// Close ends the stream. It is idempotent and always returns nil. After it
// returns no write is in progress, later sends return [ErrClosed] (or the
// earlier reason the stream ended), and the keep-alive goroutine has ended.
// Close does not end the HTTP response itself: the response ends when the
// handler returns.
func (e *Emitter) Close() error {
	e.mu.Lock()
	e.endTimedOutLocked()
	e.closeLocked(ErrClosed)
	e.mu.Unlock()
	if e.loopDone != nil {
		<-e.loopDone
	}
	if e.stopTimeoutEnd != nil && !e.stopTimeoutEnd() {
		<-e.timeoutEnded // the timeout's end event was being written
	}
	return nil
}

// Wait blocks until the stream ends, then closes it (see [Emitter.Close])
// and returns why it ended. A handler that sends from other goroutines can
// end with Wait.
func (e *Emitter) Wait() error {
	<-e.ctx.Done()
	e.Close()
	return e.Err()
}

// openLocked returns the reason the stream ended, or nil if it is open.
func (e *Emitter) openLocked() error {
	if e.closed || e.ctx.Err() != nil {
		return e.errLocked()
	}
	return nil
}

// writeLocked writes b and flushes. A failure closes the stream.
func (e *Emitter) writeLocked(b []byte) error {
	if e.opts.WriteTimeout > 0 {
		_ = e.rc.SetWriteDeadline(time.Now().Add(e.opts.WriteTimeout))
	}
	_, err := e.w.Write(b)
	if err == nil {
		err = e.rc.Flush()
	}
	if cap(e.buf) > maxKeptBuffer {
		e.buf = nil
	}
	if err != nil {
		werr := &writeError{err}
		e.closeLocked(werr)
		return werr
	}
	e.lastWrite = time.Now()
	return nil
}

// closeLocked marks the stream closed with cause (unless it already ended,
// in which case the first cause stays) and releases its timer.
func (e *Emitter) closeLocked(cause error) {
	if e.closed {
		return
	}
	e.closed = true
	var we *writeError
	if e.reason = e.ctxReason(); e.reason == nil || errors.As(cause, &we) {
		// A failed write is the reason even though net/http cancels the
		// request context when it sees it.
		e.reason = cause
	}
	e.cancel(cause)
	e.stopTimeout()
	e.buf = nil
	if e.opts.WriteTimeout > 0 {
		// Leave no deadline behind for what net/http writes after the
		// handler returns.
		_ = e.rc.SetWriteDeadline(time.Time{})
	}
}
