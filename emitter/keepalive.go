package emitter

import (
	"time"

	"github.com/ssehub/ssehub/sse"
)

// keepAlive writes a keep-alive comment whenever Options.KeepAlive passed
// with no write. It runs in its own goroutine and returns when the stream
// ends. Writes do not touch the timer: when it fires, the goroutine checks
// how long the stream has really been idle and sleeps for the rest.
func (e *Emitter) keepAlive() {
	defer close(e.loopDone)
	interval := e.opts.KeepAlive
	comment := sse.AppendComment(nil, keepAliveComment)
	t := time.NewTimer(interval)
	defer t.Stop()
	for {
		select {
		case <-e.ctx.Done():
			return
		case <-t.C:
		}
		e.mu.Lock()
		if e.openLocked() != nil {
			e.mu.Unlock()
			return
		}
		next := interval
		if idle := time.Since(e.lastWrite); idle < interval {
			next = interval - idle
		} else if e.writeLocked(comment) != nil {
			e.mu.Unlock()
			return
		}
		e.mu.Unlock()
		t.Reset(next)
	}
}
