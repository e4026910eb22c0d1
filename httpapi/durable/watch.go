package durable

import (
	"context"
	"sync"

	"github.com/ssehub/ssehub"
	"github.com/ssehub/ssehub/hub"
)

// watches wake the live reads of views when their topic gets an event. A
// real stream's entry is woken by the commits that go through it; a native
// topic's events come from anywhere (POST /publish, other hub nodes), so
// its watch is a hub subscription of the topic, shared by every live read
// of the topic on this node, that exists while one is held.
type watches struct {
	mu sync.Mutex
	m  map[string]*watch
}

// watch is one topic's subscription and the channel it closes (and
// replaces) at each event, as an entry's changed is.
type watch struct {
	refs   int // under watches.mu
	mu     sync.Mutex
	ch     chan struct{}
	cancel context.CancelFunc
	done   chan struct{}
}

// hold starts (or shares) the watch of topic and returns its release.
// The watch sees every event dispatched after hold returns.
func (ws *watches) hold(h *hub.Hub, parent context.Context, topic string) (func(), error) {
	ws.mu.Lock()
	defer ws.mu.Unlock()
	if w := ws.m[topic]; w != nil {
		w.refs++
		return func() { ws.release(topic, w) }, nil
	}
	ctx, cancel := context.WithCancel(parent)
	// Topics is empty, not nil: a deregistration of the topic does not end
	// the watch (the view reads what the log still holds). The format is
	// the default envelope, the one the hub most likely encodes each event
	// in already (it encodes every event once in each format in use).
	// OnEnd is not needed: without a credential or a named topic, only
	// Close and ctx end it.
	sub, err := h.Subscribe(hub.SubscribeOptions{Context: ctx, Filter: ssehub.MustFilter(topic), Topics: []string{}})
	if err != nil {
		cancel()
		return nil, err
	}
	w := &watch{refs: 1, ch: make(chan struct{}), cancel: cancel, done: make(chan struct{})}
	if ws.m == nil {
		ws.m = map[string]*watch{}
	}
	ws.m[topic] = w
	go w.run(ctx, sub)
	return func() { ws.release(topic, w) }, nil
}

// release drops one hold of w; the last one stops it and waits for its
// goroutine.
func (ws *watches) release(topic string, w *watch) {
	ws.mu.Lock()
	w.refs--
	last := w.refs == 0
	if last && ws.m[topic] == w {
		delete(ws.m, topic)
	}
	ws.mu.Unlock()
	if last {
		w.cancel()
		<-w.done
	}
}

// changed returns the channel the next event of topic closes, or nil when
// no live read holds the topic's watch.
func (ws *watches) changed(topic string) <-chan struct{} {
	ws.mu.Lock()
	w := ws.m[topic]
	ws.mu.Unlock()
	if w == nil {
		return nil
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.ch
}

// held returns how many topics are watched.
func (ws *watches) held() int {
	ws.mu.Lock()
	defer ws.mu.Unlock()
	return len(ws.m)
}

// run drains the subscription (its bytes are not needed: readers read the
// log) and wakes the readers after each batch, until ctx is done.
func (w *watch) run(ctx context.Context, sub *hub.Subscriber) {
	defer close(w.done)
	defer sub.Close()
	var buf []byte
	for {
		if _, err := sub.Wait(ctx, 0); err != nil {
			return
		}
		var err error
		buf, err = sub.Next(buf[:0], 64<<10)
		if len(buf) > 0 || err != nil {
			w.mu.Lock()
			close(w.ch)
			w.ch = make(chan struct{})
			w.mu.Unlock()
		}
		if err != nil {
			return
		}
		if cap(buf) > 1<<20 {
			buf = nil
		}
	}
}
