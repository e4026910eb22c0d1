package httpapi

import (
	"errors"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ssehub/ssehub/hub"
	"github.com/ssehub/ssehub/internal/pump"
)

// A detached stream is an SSE stream served by the server's pump instead
// of its own goroutine: after the headers and the first bytes the handler
// hijacks the HTTP/1.1 connection and returns, so an idle stream holds
// neither net/http's two goroutines nor their buffers.
type detached struct {
	s      *Server
	sub    *hub.Subscriber
	ps     atomic.Pointer[pump.Stream]
	logEnd func() // writes the access log line, if on
	// revoked is why the stream's token ended, if it did.
	revoked atomic.Pointer[error]

	mu      sync.Mutex // held while the stream is set up; onClose waits for it
	release func()     // the limits' and the token guard's
}

// pumpFor returns the pump that may serve r's stream, or nil when r must
// keep its goroutine: HTTP/2 and TLS connections, a writer that cannot be
// hijacked, a system without epoll, or a server shutting down.
func (s *Server) pumpFor(w http.ResponseWriter, r *http.Request) *pump.Pump {
	if s.GoroutinePerStream || r.Method != http.MethodGet || r.ProtoMajor != 1 || r.ProtoMinor != 1 || r.TLS != nil || !canHijack(w) {
		return nil
	}
	s.pumpMu.Lock()
	defer s.pumpMu.Unlock()
	if s.pump == nil && !s.noPump {
		p, err := pump.New(pump.Options{WriteTimeout: s.WriteTimeout, Counters: &s.pumpCounters})
		if err != nil {
			s.Logger.Info("streams keep a goroutine each", "reason", err)
			s.noPump = true
			return nil
		}
		s.pump = p
	}
	if s.pump != nil {
		s.detaching.Add(1) // done when serveDetached returns
	}
	return s.pump
}

// canHijack reports whether w, or a writer it wraps, is an http.Hijacker.
func canHijack(w http.ResponseWriter) bool {
	for {
		if _, ok := w.(http.Hijacker); ok {
			return true
		}
		u, ok := w.(interface{ Unwrap() http.ResponseWriter })
		if !ok {
			return false
		}
		w = u.Unwrap()
	}
}

// serveDetached serves req's stream from p. release frees its place in the
// limits; it is called when the stream ends.
func (s *Server) serveDetached(w http.ResponseWriter, r *http.Request, req *subscription, p *pump.Pump, release func()) {
	defer s.detaching.Done()
	d := &detached{s: s}
	d.mu.Lock()
	defer d.mu.Unlock()
	// Guard first: a token revoked once the client has seen the headers
	// must end this stream.
	unguard := s.guardStream(req.who, d.revoke)
	d.release = func() { unguard(); release() }
	opts := req.opts
	opts.Notify = d.wake
	d.sub = s.hub.Subscribe(opts)
	if rec, ok := w.(*statusRecorder); ok {
		rec.detached = true
		d.logEnd = func() { s.logRequest(r, rec.status, rec.start) }
	}
	rc := http.NewResponseController(w)
	if !s.write(w, rc, s.startStream(w, req.stream)) {
		d.end()
		return
	}
	conn, _, err := rc.Hijack()
	if err != nil {
		// canHijack said it could: end this response, and let the client's
		// reconnection find a goroutine.
		s.Logger.Warn("hijacking a stream failed; streams keep a goroutine each", "err", err)
		s.disablePump()
		d.end()
		return
	}
	_ = conn.SetDeadline(time.Time{})
	ps, err := p.Add(conn, d, req.stream.pumpConfig, d.closed)
	if err != nil {
		if !errors.Is(err, pump.ErrShutdown) {
			s.Logger.Warn("a stream could not be detached; streams keep a goroutine each", "err", err)
			s.disablePump()
		}
		_, _ = conn.Write([]byte("0\r\n\r\n"))
		_ = conn.Close()
		d.end()
		return
	}
	d.ps.Store(ps)
	// The subscriber's Notify (wake) had no stream to wake until now, and
	// Add's own Wake may have been served before an event came: wake it
	// again, or that event waits for the next one or a heartbeat.
	ps.Wake()
	if cause := d.revoked.Load(); cause != nil {
		ps.Close(*cause, errorEvent("UNAUTHORIZED", (*cause).Error()))
	}
}

// revoke ends the stream because its token expired or was revoked.
func (d *detached) revoke(cause error) {
	d.revoked.CompareAndSwap(nil, &cause)
	if ps := d.ps.Load(); ps != nil {
		ps.Close(cause, errorEvent("UNAUTHORIZED", cause.Error()))
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
	out, err := d.sub.Next(d.s.ctx, dst, max)
	if errors.Is(err, hub.ErrGone) {
		out = append(out, goneEvent...)
	}
	return out, err
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

func (s *Server) disablePump() {
	s.pumpMu.Lock()
	s.noPump = true
	s.pumpMu.Unlock()
}

// closePump ends every detached stream; no stream is detached afterwards.
func (s *Server) closePump() {
	s.pumpMu.Lock()
	p := s.pump
	s.pump, s.noPump = nil, true
	s.pumpMu.Unlock()
	s.detaching.Wait() // handlers handing a stream over finish first
	if p != nil {
		_ = p.Close()
	}
}
