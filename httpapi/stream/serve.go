package stream

import (
	"context"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ssehub/ssehub/emitter"
	"github.com/ssehub/ssehub/httpapi"
	"github.com/ssehub/ssehub/hub"
)

// writeChunk is how many bytes one write to a subscriber carries at most
// (or one event, when an event is larger).
const writeChunk = 64 << 10

var bufPool = sync.Pool{New: func() any { b := make([]byte, 0, writeChunk+4096); return &b }}

// serveSSE starts req's stream. A plain HTTP/1.1 stream is handed to the
// pump after its headers (see detach.go). Others keep this goroutine:
// serveSSE writes their first bytes and has the server run the stream
// once the handler has returned (httpapi.Server.Continue), so that the
// goroutine waits with little of its stack in use.
func (f *Feature) serveSSE(w http.ResponseWriter, r *http.Request, req *request) {
	release, ok := f.s.Limiter().OpenStream(w, r, req.who)
	if !ok {
		return
	}
	if p := f.pumpFor(w, r); p != nil {
		f.serveDetached(w, r, req, p, release)
		return
	}
	e := req.endpoint
	g := &goStream{f: f, w: w, e: e, release: release, wake: make(chan struct{}, 1)}
	// The subscriber's context carries only its labels: the stream ends
	// through g (the hub's end of the subscription, the feature's sweep on
	// its request's end, the server's shutdown all wake it), and a context
	// under nothing that can be canceled registers nowhere. Close cancels
	// the subscriber's own.
	req.opts.Context = hub.WithLabels(context.Background(), labelsOf(r, e))
	req.opts.Notify = g.notify
	sub, err := f.s.Hub().Subscribe(req.opts)
	if err != nil {
		release()
		f.writeSubscribeError(w, err)
		return
	}
	g.sub = sub
	g.ctx = r.Context()
	f.addGoStream(g)
	g.enc = f.encoderFor(r)
	g.rc = http.NewResponseController(w)
	if !g.write(g.enc.compress(append(f.startStream(w, r, e, g.enc), f.initFrames(r.Context(), req)...))) {
		g.close()
		return
	}
	f.s.Continue(r, g.run)
}

// goStream is a stream served by its handler's goroutine (HTTP/2, or a
// connection that cannot be detached). Whatever may give it something to
// do sends on wake, so that it waits on one channel: the subscriber's
// Notify (an event, the hub's end of the subscription), and the feature's
// sweep (its heartbeat is due, its request ended, the server shuts down).
// Neither a timer nor a context of its own: an idle stream costs little.
type goStream struct {
	f       *Feature
	w       http.ResponseWriter
	rc      *http.ResponseController
	ctx     context.Context // the request's; the sweep stops g once it is done
	e       *Endpoint
	sub     *hub.Subscriber
	enc     *streamEncoder // nil when the stream is sent as it is
	release func()         // the limits'
	// lastWrite is when g last wrote (sinceStart); the sweep asks for a
	// heartbeat once it is Heartbeat old.
	lastWrite atomic.Int64
	state     atomic.Uint32
	deadline  bool // the write deadline is set
	wake      chan struct{}
	// prev and next link the feature's goroutine streams, under f.goMu.
	prev, next *goStream
}

// start is the origin of goStream.lastWrite: a monotonic clock.
var start = time.Now()

func sinceStart() int64 { return int64(time.Since(start)) }

// The bits of goStream.state.
const (
	stStop      = 1 << iota // the request ended or the server shuts down
	stHeartbeat             // the sweep found its heartbeat due
)

// run serves g until it ends. It runs under the server's ServeHTTP, and
// its frame and the channel receive are all that is above ServeHTTP's
// while the stream waits: the runtime halves an idle goroutine's stack
// only when less than a quarter of it is in use (docs/tls-streams.md).
func (g *goStream) run() {
	defer g.close()
	for g.step() {
		<-g.wake
	}
}

// notify is the subscriber's Notify, and what every other wake-up sends.
func (g *goStream) notify() {
	select {
	case g.wake <- struct{}{}:
	default:
	}
}

// stop ends g at its next wake-up: its request ended, or the server shuts
// down.
func (g *goStream) stop() {
	g.state.Or(stStop)
	g.notify()
}

// step writes what is ready, or a heartbeat when one is due, and reports
// whether the stream goes on.
//
//go:noinline
func (g *goStream) step() bool {
	st := g.state.And(^uint32(stHeartbeat))
	for {
		if st&stStop != 0 {
			if end := g.enc.end(nil); len(end) > 0 {
				g.write(end)
			}
			return false
		}
		bp := bufPool.Get().(*[]byte)
		var buf []byte
		var err error
		if g.enc == nil {
			buf, err = g.sub.Next((*bp)[:0], writeChunk)
		} else {
			buf, err = g.enc.compressNext((*bp)[:0], func(plain []byte) ([]byte, error) { return g.sub.Next(plain, writeChunk) })
		}
		if err != nil {
			buf = append(buf, g.enc.end(endEvent(err))...)
		}
		ok := len(buf) == 0 || g.write(buf)
		n := len(buf)
		if cap(buf) <= 4*writeChunk {
			*bp = buf[:0]
			bufPool.Put(bp)
		}
		if !ok || err != nil {
			return false
		}
		if n == 0 {
			break
		}
		st = g.state.Load()
	}
	if st&stHeartbeat != 0 && sinceStart()-g.lastWrite.Load() >= int64(g.e.Heartbeat) {
		if !g.write(g.enc.compress(g.e.pumpConfig.Ping)) {
			return false
		}
	}
	if g.deadline && !g.f.heartbeatsBeforeDeadline(g.e) {
		// No heartbeat would be written before the write deadline passes,
		// and over HTTP/2 a passed deadline resets the stream even when no
		// write is under way: clear it while the stream is idle.
		_ = g.rc.SetWriteDeadline(time.Time{})
		g.deadline = false
	}
	return true
}

// write sends b and flushes it, bounded by the write timeout.
func (g *goStream) write(b []byte) bool {
	now := time.Now()
	g.lastWrite.Store(int64(now.Sub(start)))
	g.deadline = true
	_ = g.rc.SetWriteDeadline(now.Add(g.f.opts.WriteTimeout))
	if len(b) > 0 {
		if _, err := g.w.Write(b); err != nil {
			return false
		}
	}
	return g.rc.Flush() == nil
}

// close frees what g holds.
func (g *goStream) close() {
	g.f.removeGoStream(g)
	g.sub.Close()
	g.release()
}

// addGoStream puts g in the feature's list, which Shutdown ends; after
// Shutdown, g is stopped at once.
func (f *Feature) addGoStream(g *goStream) {
	f.goMu.Lock()
	defer f.goMu.Unlock()
	if f.goClosed {
		g.state.Or(stStop)
		return
	}
	g.next = f.goStreams
	if g.next != nil {
		g.next.prev = g
	}
	f.goStreams = g
	if !f.sweeping {
		f.sweeping = true
		go f.sweep()
	}
}

// sweep runs while the feature has goroutine streams: every sweepEvery it
// stops those whose request ended (the client went away, or reset the
// stream) and asks for a heartbeat from those idle for their interval.
// One pass over the list replaces a timer and an AfterFunc per stream.
func (f *Feature) sweep() {
	t := time.NewTicker(f.sweepEvery)
	defer t.Stop()
	for range t.C {
		f.goMu.Lock()
		if f.goStreams == nil || f.goClosed {
			f.sweeping = false
			f.goMu.Unlock()
			return
		}
		f.sweepLocked(sinceStart())
		f.goMu.Unlock()
	}
}

// sweepLocked is one pass of the sweep at now (sinceStart), with f.goMu
// held.
func (f *Feature) sweepLocked(now int64) {
	for g := f.goStreams; g != nil; g = g.next {
		switch h := g.e.Heartbeat; {
		case g.ctx.Err() != nil:
			g.stop()
		case h > 0 && now-g.lastWrite.Load() >= int64(h):
			g.state.Or(stHeartbeat)
			g.notify()
		}
	}
}

// maxSweep is the longest interval of the sweep: how late, at most, a
// goroutine stream notices that its request ended.
const maxSweep = 250 * time.Millisecond

// sweepInterval is the sweep's interval for endpoints es: maxSweep, or a
// quarter of the shortest heartbeat when that is shorter (5 ms at least),
// so that a heartbeat is at most that late.
func sweepInterval(es ...*Endpoint) time.Duration {
	d := maxSweep
	for _, e := range es {
		if e.Heartbeat > 0 {
			d = min(d, max(e.Heartbeat/4, 5*time.Millisecond))
		}
	}
	return d
}

// heartbeatsBeforeDeadline reports whether e's heartbeats come before the
// write deadline a write sets would pass (with a second to spare, and the
// sweep's lateness); else a stream clears the deadline while it waits.
func (f *Feature) heartbeatsBeforeDeadline(e *Endpoint) bool {
	return e.Heartbeat > 0 && e.Heartbeat+time.Second+2*f.sweepEvery < f.opts.WriteTimeout
}

func (f *Feature) removeGoStream(g *goStream) {
	f.goMu.Lock()
	defer f.goMu.Unlock()
	if g.prev != nil {
		g.prev.next = g.next
	} else if f.goStreams == g {
		f.goStreams = g.next
	}
	if g.next != nil {
		g.next.prev = g.prev
	}
	g.prev, g.next = nil, nil
}

// closeGoStreams stops every goroutine stream (Shutdown); each writes its
// end and returns.
func (f *Feature) closeGoStreams() {
	f.goMu.Lock()
	defer f.goMu.Unlock()
	f.goClosed = true
	for g := f.goStreams; g != nil; g = g.next {
		g.stop()
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
