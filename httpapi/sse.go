package httpapi

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/ssehub/ssehub/hub"
)

// writeChunk is how many bytes one write to a subscriber carries at most.
const writeChunk = 64 << 10

var bufPool = sync.Pool{New: func() any { b := make([]byte, 0, writeChunk+4096); return &b }}

var (
	helloInfo      = []byte("event: info\ndata: connected\n\n")
	helloComment   = []byte(": connected\n\n")
	heartbeatEvent = []byte("event: heartbeat\ndata: ping\n\n")
	heartbeatColon = []byte(":keepalive\n\n")
	goneEvent      = []byte("event: error\ndata: {\"code\":\"GONE\",\"message\":\"topic deregistered\"}\n\n")
)

// serveSSE streams sub to the client until it goes away, the server shuts
// down or a topic it named is deregistered. A plain HTTP/1.1 stream is
// handed to the pump after its headers (see detached); others keep this
// goroutine.
func (s *Server) serveSSE(w http.ResponseWriter, r *http.Request, req *subscription) {
	release, ok := s.limits.openStream(w, r, req.who)
	if !ok {
		return
	}
	if p := s.pumpFor(w, r); p != nil {
		s.serveDetached(w, r, req, p, release)
		return
	}
	defer release()
	st := req.stream
	ctx, cancel := context.WithCancelCause(r.Context())
	defer cancel(nil)
	stop := context.AfterFunc(s.ctx, func() { cancel(nil) })
	defer stop()
	unguard := s.guardStream(req.who, cancel)
	defer unguard()

	sub := s.hub.Subscribe(req.opts)
	defer sub.Close()
	rc := http.NewResponseController(w)
	if !s.write(w, rc, s.startStream(w, st)) {
		return
	}
	heartbeat := heartbeatBytes(st)
	for {
		ready, err := sub.Wait(ctx, st.Heartbeat)
		if err != nil {
			if cause := context.Cause(ctx); errors.Is(cause, errTokenExpired) || errors.Is(cause, errTokenRevoked) {
				s.write(w, rc, errorEvent("UNAUTHORIZED", cause.Error()))
			}
			return
		}
		if !ready {
			if !s.write(w, rc, heartbeat) {
				return
			}
			continue
		}
		bp := bufPool.Get().(*[]byte)
		buf, err := sub.Next(ctx, (*bp)[:0], writeChunk)
		ok := len(buf) == 0 || s.write(w, rc, buf)
		if cap(buf) <= 4*writeChunk {
			*bp = buf[:0]
			bufPool.Put(bp)
		}
		if errors.Is(err, hub.ErrGone) && ok {
			s.write(w, rc, goneEvent)
		}
		if !ok || err != nil {
			return
		}
	}
}

// startStream sets a stream's headers, writes the status, and returns the
// stream's first bytes: its hello and retry.
func (s *Server) startStream(w http.ResponseWriter, st *Stream) []byte {
	h := w.Header()
	h.Set("Content-Type", "text/event-stream; charset=utf-8")
	h.Set("Cache-Control", "no-cache")
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	first := make([]byte, 0, 64)
	switch st.Hello {
	case "info":
		first = append(first, helloInfo...)
	case "comment":
		first = append(first, helloComment...)
	}
	if st.Retry > 0 {
		first = append(first, "retry: "...)
		first = strconv.AppendInt(first, st.Retry.Milliseconds(), 10)
		first = append(first, "\n\n"...)
	}
	return first
}

// heartbeatBytes is what st sends after its heartbeat interval of idle.
func heartbeatBytes(st *Stream) []byte {
	if st.HeartbeatStyle == "comment" {
		return heartbeatColon
	}
	return heartbeatEvent
}

// errorEvent renders an error event; browsers deliver it to the same
// "error" listener as connection errors, which carry no data.
func errorEvent(code, message string) []byte {
	b, _ := json.Marshal(map[string]string{"code": code, "message": message})
	return append(append([]byte("event: error\ndata: "), b...), "\n\n"...)
}

// write sends b and flushes it, bounded by the write timeout.
func (s *Server) write(w http.ResponseWriter, rc *http.ResponseController, b []byte) bool {
	_ = rc.SetWriteDeadline(time.Now().Add(s.WriteTimeout))
	if len(b) > 0 {
		if _, err := w.Write(b); err != nil {
			return false
		}
	}
	return rc.Flush() == nil
}

// setCORS allows the request's origin when configured to. "*" is answered
// with "*" and never with credentials; a listed origin is echoed back with
// credentials allowed (so a cookie token works), and Vary: Origin.
func (s *Server) setCORS(w http.ResponseWriter, r *http.Request) { setCORS(w, r, s.CORSOrigins) }

func setCORS(w http.ResponseWriter, r *http.Request, origins []string) {
	origin := r.Header.Get("Origin")
	if origin == "" {
		return
	}
	h := w.Header()
	h.Del("Access-Control-Allow-Origin")
	h.Del("Access-Control-Allow-Credentials")
	for _, o := range origins {
		if o == origin {
			h.Set("Access-Control-Allow-Origin", origin)
			h.Set("Access-Control-Allow-Credentials", "true")
			h.Add("Vary", "Origin")
			return
		}
	}
	for _, o := range origins {
		if o == "*" {
			h.Set("Access-Control-Allow-Origin", "*")
			return
		}
	}
}
