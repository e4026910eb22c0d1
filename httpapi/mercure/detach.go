package mercure

import (
	"errors"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ssehub/ssehub/emitter"
	"github.com/ssehub/ssehub/hub"
	"github.com/ssehub/ssehub/internal/pump"
)

// A detached Mercure stream is served by the feature's pump, as ssehub's
// own HTTP/1.1 streams are (httpapi/stream/detach.go, internal/pump):
// after the headers the handler hijacks the connection and returns, so
// an idle stream holds no goroutine. The pump's worker calls Next, which
// reads the hub's bytes and keeps, in place, the updates this stream
// delivers (view.keep, the same rule as a stream with its goroutine).

// view is what one stream delivers: its selectors and credential, and the
// last frame read (whose strings the next one reuses).
type view struct {
	f    *Feature
	sels []selector
	cred *credential
	base string
	u    update
}

// keep reduces buf[start:], frames of the mercure format, in place to
// the SSE bytes of the updates the stream delivers. Each kept event moves
// towards start, never past the frame being read.
func (v *view) keep(buf []byte, start int) []byte {
	out := buf[:start]
	for rest := buf[start:]; len(rest) > 0; {
		var ok bool
		if rest, ok = nextFrame(rest, &v.u); !ok {
			break
		}
		if v.u.sse != nil && v.f.delivers(&v.u, v.sels, v.cred, v.base) {
			out = append(out, v.u.sse...)
		}
	}
	return out
}

// errTokenExpired ends a detached stream at its JWT's exp.
var errTokenExpired = errors.New("mercure: the access token expired")

// detached is one stream the pump writes; it is the pump's Source.
type detached struct {
	v     view
	sub   *hub.Subscriber
	ps    atomic.Pointer[pump.Stream]
	ended atomic.Pointer[error] // why the stream was cut before the pump had it

	mu    sync.Mutex // held while the stream is set up; closed waits for it
	timer *time.Timer
	done  []func() // what end releases, in order
}

// pumpFor returns the pump that may serve r's stream, or nil when r keeps
// its goroutine: GoroutinePerStream, a QUERY, HTTP/2, a TLS connection not
// from a pump.TLSListener, a writer that cannot be hijacked, a system
// without epoll, or a server shutting down. A non-nil pump is released
// (f.pumps.Release) when serveDetached returns.
func (f *Feature) pumpFor(w http.ResponseWriter, r *http.Request) *pump.Pump {
	if f.opts.GoroutinePerStream {
		return nil
	}
	return f.pumps.AcquireFor(w, r) // released when serveDetached returns
}

// serveDetached serves the stream req describes from p; release frees
// its place in the limits when it ends.
func (f *Feature) serveDetached(w http.ResponseWriter, r *http.Request, p *pump.Pump, req *subscribeRequest, release func()) {
	defer f.pumps.Release()
	d := &detached{v: view{f: f, sels: req.sels, cred: req.cred, base: req.base}}
	d.mu.Lock()
	defer d.mu.Unlock()
	d.done = append(d.done, release)
	opts := req.hubOptions(f.s.Context())
	opts.Notify = d.wake
	opts.OnEnd = d.cut
	sub, err := f.s.Hub().Subscribe(opts)
	if err != nil {
		d.end()
		subscribeError(w, err)
		return
	}
	d.sub = sub
	d.done = append(d.done, sub.Close)
	if f.opts.Subscriptions {
		s := f.subs.open(f, req.cred, req.sels, req.base)
		d.done = append(d.done, func() { f.subs.close(f, s) })
	}
	if logEnd := f.s.Detach(w, r); logEnd != nil {
		d.done = append(d.done, logEnd)
	}
	if exp := req.expires(); !exp.IsZero() {
		// The stream ends no later than the token's exp.
		d.timer = time.AfterFunc(time.Until(exp), func() { d.cut(errTokenExpired) })
	}
	req.writeHeaders(w, r)
	rc := http.NewResponseController(w)
	_ = rc.SetWriteDeadline(time.Now().Add(f.opts.WriteTimeout))
	if _, err := w.Write([]byte(":\n")); err != nil || rc.Flush() != nil {
		d.end()
		return
	}
	ps, err := f.pumps.HandOver(p, rc.Hijack, d, f.pumpCfg, d.closed)
	if err != nil {
		// The client's reconnection finds a goroutine.
		if !errors.Is(err, pump.ErrShutdown) {
			f.log.Warn("mercure: a stream could not be detached; streams keep a goroutine each", "err", err)
		}
		d.end()
		return
	}
	d.ps.Store(ps)
	// Notify had no stream to wake until now: wake it again, or an event
	// that came meanwhile waits for the next one or a heartbeat.
	ps.Wake()
	if cause := d.ended.Load(); cause != nil {
		ps.Close(*cause, nil)
	}
}

// cut ends the stream now: its ssehub token was revoked or expired (the
// hub's OnEnd), or its JWT's exp passed.
func (d *detached) cut(cause error) {
	d.ended.CompareAndSwap(nil, &cause)
	if ps := d.ps.Load(); ps != nil {
		ps.Close(cause, nil)
	}
}

// wake is the subscriber's Notify.
func (d *detached) wake() {
	if ps := d.ps.Load(); ps != nil {
		ps.Wake()
	}
}

// maxRounds bounds the hub reads one Next makes when everything it read
// was for other streams; it then asks to be called again rather than hold
// a pump worker.
const maxRounds = 8

// Next implements pump.Source: the updates this stream delivers, of the
// hub's next bytes.
func (d *detached) Next(dst []byte, max int) ([]byte, error) {
	start := len(dst)
	for range maxRounds {
		buf, err := d.sub.Next(dst[:start], max)
		read := len(buf) > start
		out := d.v.keep(buf, start)
		if errors.Is(err, hub.ErrRevoked) || errors.Is(err, hub.ErrExpired) {
			// The hub calls cut for these.
			return out, nil
		}
		if err != nil || len(out) > start || !read {
			return out, err
		}
		dst = out
	}
	d.wake()
	return dst[:start], nil
}

// closed is the pump's onClose.
func (d *detached) closed(error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.end()
}

// end releases what the stream held, with d.mu held.
func (d *detached) end() {
	if d.timer != nil {
		d.timer.Stop()
	}
	for i := len(d.done) - 1; i >= 0; i-- {
		d.done[i]()
	}
	d.done = nil
}

// subscribeError answers a failed hub.Subscribe.
func subscribeError(w http.ResponseWriter, err error) {
	status, msg := http.StatusServiceUnavailable, "the hub could not subscribe; retry"
	if errors.Is(err, hub.ErrRevoked) || errors.Is(err, hub.ErrExpired) {
		status, msg = http.StatusUnauthorized, "the token is revoked or expired"
	}
	plainError(w, status, msg)
}

// writeHeaders writes the stream's status and headers.
func (req *subscribeRequest) writeHeaders(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	emitter.SetHeaders(h, r)
	if req.lastID != "" {
		h.Set("Mercure-Last-Event-ID", req.lastID)
		h.Set("Last-Event-ID", req.lastID)
	}
	w.WriteHeader(http.StatusOK)
}
