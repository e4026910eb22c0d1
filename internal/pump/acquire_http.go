package pump

import "net/http"

// AcquireFor is Acquire for the stream r answers through w, or nil when
// that stream must keep its goroutine: not a GET, not HTTP/1.1 (HTTP/2
// streams cannot be hijacked), a TLS connection not accepted from a
// TLSListener (Detachable), or a writer that cannot be hijacked.
func (l *Lazy) AcquireFor(w http.ResponseWriter, r *http.Request) *Pump {
	if r.Method != http.MethodGet || r.ProtoMajor != 1 || r.ProtoMinor != 1 ||
		(r.TLS != nil && !Detachable(r.Context())) || !canHijack(w) {
		return nil
	}
	return l.Acquire()
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
