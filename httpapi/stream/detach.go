package stream

import (
	"errors"
	"net/http"
	"sync"
	"sync/atomic"

	"github.com/ssehub/ssehub/hub"
	"github.com/ssehub/ssehub/internal/pump"
)

// A detached stream is an SSE stream served by the feature's pump instead
// of its own goroutine: after the headers and the first bytes the handler
// hijacks the HTTP/1.1 connection and returns, so an idle stream holds
// neither net/http's two goroutines nor their buffers.
type detached struct {
	f      *Feature
	sub    *hub.Subscriber
	ps     atomic.Pointer[pump.Stream]
	logEnd func() // writes the access log line, if on
	// ended is why the hub cut the stream (revoked or expired token), if it did.
	ended atomic.Pointer[error]

	mu      sync.Mutex // held while the stream is set up; onClose waits for it
	release func()     // the limits'
	// enc compresses the stream; nil when it is sent as it is. Only the
	// pump's worker uses it once the stream is handed over.
	enc *streamEncoder
}

// pumpFor returns the pump that may serve r's stream, or nil when r must
// keep its goroutine: HTTP/2, TLS connections not accepted from a
// pump.TLSListener (see pump.ConnContext), a writer that cannot be
// hijacked, a system without epoll, or a server shutting down.
func (f *Feature) pumpFor(w http.ResponseWriter, r *http.Request) *pump.Pump {
	if f.opts.GoroutinePerStream {
		return nil
	}
	return f.pumps.AcquireFor(w, r) // released when serveDetached returns
}

// serveDetached serves req's stream from p. release frees its place in the
// limits; it is called when the stream ends.
func (f *Feature) serveDetached(w http.ResponseWriter, r *http.Request, req *request, p *pump.Pump, release func()) {
	defer f.pumps.Release()
	d := &detached{f: f, release: release, enc: f.encoderFor(r)}
	d.mu.Lock()
	defer d.mu.Unlock()
	opts := req.opts
	opts.Context = hub.WithLabels(f.s.Context(), labelsOf(r, req.endpoint))
	opts.Notify = d.wake
	opts.OnEnd = d.cut
	sub, err := f.s.Hub().Subscribe(opts)
	if err != nil {
		release()
		f.writeSubscribeError(w, err)
		return
	}
	d.sub = sub
	d.logEnd = f.s.Detach(w, r)
	rc := http.NewResponseController(w)
	pump.PrepareTLS(r.Context()) // the pump may then seal the stream's TLS records itself
	if !f.write(w, rc, d.enc.compress(append(f.startStream(w, r, req.endpoint, d.enc), f.initFrames(r.Context(), req)...))) {
		d.end()
		return
	}
	ps, err := f.pumps.HandOver(p, rc.Hijack, d, req.endpoint.pumpConfig, d.closed)
	if err != nil {
		// The client's reconnection finds a goroutine.
		if !errors.Is(err, pump.ErrShutdown) {
			f.s.Logger().Warn("a stream could not be detached; streams keep a goroutine each", "err", err)
		}
		d.end()
		return
	}
	d.ps.Store(ps)
	// The subscriber's Notify had no stream to wake until now, and Add's
	// own Wake may have been served before an event came: wake it again,
	// or that event waits for the next one or a heartbeat.
	ps.Wake()
	if cause := d.ended.Load(); cause != nil {
		ps.Close(*cause, endEvent(*cause))
	}
}

// cut is the subscriber's OnEnd: its token was revoked or expired, so the
// stream ends now with an error event, even if its client is backed up.
func (d *detached) cut(cause error) {
	d.ended.CompareAndSwap(nil, &cause)
	if ps := d.ps.Load(); ps != nil {
		ps.Close(cause, endEvent(cause))
	}
}

// wake is the subscriber's Notify.
func (d *detached) wake() {
	if ps := d.ps.Load(); ps != nil {
		ps.Wake()
	}
}

// Next implements pump.Source.
func (d *detached) Next(dst []byte, max int) ([]byte, error) {
	if d.enc == nil {
		return d.next(dst, max)
	}
	return d.enc.compressNext(dst, func(plain []byte) ([]byte, error) { return d.next(plain, max) })
}

// next appends the stream's next bytes, as they are, to dst.
func (d *detached) next(dst []byte, max int) ([]byte, error) {
	out, err := d.sub.Next(dst, max)
	if errors.Is(err, hub.ErrRevoked) || errors.Is(err, hub.ErrExpired) {
		// The hub calls cut for these, which closes the stream with its
		// error event; ending it here too would race cut for the last word.
		return out, nil
	}
	if err != nil {
		out = append(out, endEvent(err)...)
	}
	return out, err
}

// AppendPing implements pump.EncodedSource.
func (d *detached) AppendPing(dst, ping []byte) []byte {
	if d.enc == nil {
		return append(dst, ping...)
	}
	return d.enc.appendBatch(dst, ping)
}

// AppendEnd implements pump.EncodedSource.
func (d *detached) AppendEnd(dst, final []byte) []byte {
	if d.enc == nil {
		return append(dst, final...)
	}
	return d.enc.appendEnd(dst, final)
}

// closed is the pump's onClose.
func (d *detached) closed(error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.end()
}

// end frees what the stream held, with d.mu held.
func (d *detached) end() {
	d.sub.Close()
	d.release()
	if d.logEnd != nil {
		d.logEnd()
	}
}
