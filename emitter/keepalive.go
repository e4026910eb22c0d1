package emitter

import (
	"time"

	"github.com/ssehub/ssehub/sse"
)

// KeepAliveBytes returns the bytes of a keep-alive comment with text (empty
// means "keepalive"): ":keepalive\n\n", a comment line without a space
// after the colon, as Hantera sends it, and a blank line. The emitter and
// the ssehub hub both send exactly these bytes. A blank line after a
// comment dispatches nothing.
func KeepAliveBytes(text string) []byte {
	if text == "" {
		text = keepAliveComment
	}
	return append(sse.AppendTightComment(nil, text), '\n')
}

// keepAlive writes a keep-alive comment whenever Options.KeepAlive passed
// with no write. It runs in its own goroutine and returns when the stream
// ends. Writes do not touch the timer: when it fires, the goroutine checks
// how long the stream has really been idle and sleeps for the rest.
func (e *Emitter) keepAlive() {
	defer close(e.loopDone)
	interval := e.opts.KeepAlive
	comment := KeepAliveBytes(e.opts.KeepAliveComment)
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
