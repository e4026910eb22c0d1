package stream

import (
	"context"
	"net/http"
	"sync"
	"time"

	"github.com/ssehub/ssehub/emitter"
	"github.com/ssehub/ssehub/httpapi"
	"github.com/ssehub/ssehub/hub"
)

// writeChunk is how many bytes one write to a subscriber carries at most
// (or one event, when an event is larger).
const writeChunk = 64 << 10

var bufPool = sync.Pool{New: func() any { b := make([]byte, 0, writeChunk+4096); return &b }}

// serveSSE streams req to the client until it goes away, the server shuts
// down, its token ends or a topic it named is deregistered. A plain
// HTTP/1.1 stream is handed to the pump after its headers (see detach.go);
// others keep this goroutine.
func (f *Feature) serveSSE(w http.ResponseWriter, r *http.Request, req *request) {
	release, ok := f.s.Limiter().OpenStream(w, r, req.who)
	if !ok {
		return
	}
	if p := f.pumpFor(w, r); p != nil {
		f.serveDetached(w, r, req, p, release)
		return
	}
	defer release()
	e := req.endpoint
	ctx, cancel := context.WithCancelCause(r.Context())
	defer cancel(nil)
	stop := context.AfterFunc(f.s.Context(), func() { cancel(nil) })
	defer stop()

	req.opts.Context = hub.WithLabels(ctx, labelsOf(r, e))
	req.opts.OnEnd = cancel // a revoked or expired token ends the stream at once
	sub, err := f.s.Hub().Subscribe(req.opts)
	if err != nil {
		f.writeSubscribeError(w, err)
		return
	}
	defer sub.Close()
	enc := f.encoderFor(r)
	rc := http.NewResponseController(w)
	if !f.write(w, rc, enc.compress(append(f.startStream(w, r, e, enc), f.initFrames(ctx, req)...))) {
		return
	}
	heartbeat := e.pumpConfig.Ping
	for {
		ready, err := sub.Wait(ctx, e.Heartbeat)
		if err != nil {
			if end := enc.end(endEvent(context.Cause(ctx))); len(end) > 0 {
				f.write(w, rc, end)
			}
			return
		}
		if !ready {
			if !f.write(w, rc, enc.compress(heartbeat)) {
				return
			}
			continue
		}
		bp := bufPool.Get().(*[]byte)
		var buf []byte
		if enc == nil {
			buf, err = sub.Next((*bp)[:0], writeChunk)
		} else {
			buf, err = enc.compressNext((*bp)[:0], func(plain []byte) ([]byte, error) { return sub.Next(plain, writeChunk) })
		}
		if err != nil {
			buf = append(buf, enc.end(endEvent(err))...)
		}
		ok := len(buf) == 0 || f.write(w, rc, buf)
		if cap(buf) <= 4*writeChunk {
			*bp = buf[:0]
			bufPool.Put(bp)
		}
		if !ok || err != nil {
			return
		}
	}
}

// labelsOf names a stream in the hub's list of connections.
func labelsOf(r *http.Request, e *Endpoint) hub.Labels {
	return hub.Labels{Stream: e.Name, Client: httpapi.ClientAddr(r)}
}

// startStream sets a stream's headers (with its encoding's: enc, nil when
// it is not compressed), writes the status, and returns the stream's first
// bytes: its hello and retry, not yet compressed.
func (f *Feature) startStream(w http.ResponseWriter, r *http.Request, e *Endpoint, enc *streamEncoder) []byte {
	emitter.SetHeaders(w.Header(), r)
	setEncodingHeaders(w.Header(), f.opts.Compression, enc)
	w.WriteHeader(http.StatusOK)
	return e.hello[:len(e.hello):len(e.hello)] // appending never writes into the shared hello
}

// write sends b and flushes it, bounded by the write timeout.
func (f *Feature) write(w http.ResponseWriter, rc *http.ResponseController, b []byte) bool {
	_ = rc.SetWriteDeadline(time.Now().Add(f.opts.WriteTimeout))
	if len(b) > 0 {
		if _, err := w.Write(b); err != nil {
			return false
		}
	}
	return rc.Flush() == nil
}
