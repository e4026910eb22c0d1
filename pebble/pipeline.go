package pebble

import (
	"errors"
	"fmt"

	cpebble "github.com/cockroachdb/pebble/v2"
	"github.com/ssehub/ssehub"
)

// The commit pipeline. The writer builds a group's batch, assigns its ids
// and applies it with DB.ApplyNoSyncWait under txMu, then hands it to the
// syncer and goes on to the next group as soon as there is room
// (pipelineDepth): it builds and applies the next group while the syncer
// answers the last one, and with a deeper pipeline pebble writes a group
// to the WAL while the previous one syncs. The syncer waits for each
// batch's sync in commit order and only then makes it the log's: the
// durable head moves, followers (the hub's dispatch) get its events, and
// its appends are answered. So nothing a crash could lose is ever
// acknowledged, dispatched, or read (Read and Last stop at the durable
// head; Topics and Topic read the durable view below).
//
// A failed sync leaves it unknown what the WAL holds: the store fails that
// batch, every batch behind it and every later append (errFailed), and
// acknowledges nothing more.

// maxInFlight bounds the groups applied and not yet synced.
const maxInFlight = 8

// pipelineDepth is how many groups may wait for their sync before the
// writer takes the next one (BeforeGroup waits for room); at most
// maxInFlight. At 1 the writer takes everything queued the moment a sync
// returns and applies it while the syncer answers the synced group, so the
// WAL's next sync starts at once with one large group. Deeper, each
// request arriving during a sync became a group of its own (pebble's WAL
// writer still syncs them together): more groups, each with its totals,
// snapshot and wake-ups, and over HTTP with 32 publishers depth 8 acked
// 0.78x and depth 2 1.00x what the unpipelined commit did, depth 1 1.69x
// (medians of 5 interleaved rounds, docs/store-benchmarks.md).
var pipelineDepth = 1

// room waits until fewer than pipelineDepth groups wait for their sync.
func (l *Log) room() {
	l.slotMu.Lock()
	for l.unsynced >= pipelineDepth {
		l.slotCond.Wait()
	}
	l.slotMu.Unlock()
}

// take and release count a group waiting for its sync.
func (l *Log) take() {
	l.slotMu.Lock()
	l.unsynced++
	l.slotMu.Unlock()
}

func (l *Log) release() {
	l.slotMu.Lock()
	l.unsynced--
	l.slotMu.Unlock()
	l.slotCond.Signal()
}

// pending is a group applied to pebble and waiting for its sync, or a
// barrier (done set): the syncer closes done once everything before it is
// synced.
type pending struct {
	b         *cpebble.Batch
	nosync    bool            // committed without a sync (Options.NoSync)
	st        *txState        // the log's state once b is durable
	committed []*ssehub.Event // b's events, owned, for followers
	reqs      []*appendReq    // answered once b is durable
	results   [][]ssehub.AppendResult
	before    *cpebble.Snapshot // the store as it was before b was applied
	done      chan struct{}
}

// errFailed wraps the error that stopped the store.
var errFailed = errors.New("pebble: the store failed")

// enqueue registers p as applied-but-not-durable, before it is applied: its
// snapshot of what precedes it becomes the durable view when nothing else
// is in flight.
func (l *Log) enqueue(p *pending) {
	l.vmu.Lock()
	p.before = l.db.NewSnapshot()
	if len(l.inflight) == 0 && !l.pinned {
		l.view = p.before
	}
	l.inflight = append(l.inflight, p)
	l.vmu.Unlock()
}

// dequeue forgets p, the last one enqueued, whose apply failed.
func (l *Log) dequeue(p *pending) {
	l.vmu.Lock()
	l.inflight = l.inflight[:len(l.inflight)-1]
	if len(l.inflight) == 0 && !l.pinned {
		l.view = nil
	}
	_ = p.before.Close()
	l.vmu.Unlock()
}

// retire forgets p, the oldest in flight, once it is durable: the durable
// view moves to the next one's snapshot, or to the store itself when none
// is left.
func (l *Log) retire(p *pending) {
	l.vmu.Lock()
	l.inflight[0] = nil
	l.inflight = l.inflight[1:]
	if len(l.inflight) == 0 {
		l.inflight = nil
		l.view = nil
	} else {
		l.view = l.inflight[0].before
	}
	_ = p.before.Close()
	l.vmu.Unlock()
}

// drop forgets p, the oldest in flight, whose sync failed: the durable
// view stays the snapshot before the first failed group, until Close.
func (l *Log) drop(p *pending) {
	l.vmu.Lock()
	l.inflight[0] = nil
	l.inflight = l.inflight[1:]
	l.pinned = true
	if p.before != l.view {
		_ = p.before.Close()
	}
	l.vmu.Unlock()
}

// durable runs fn with a reader of the durable state: the snapshot taken
// before the oldest batch still syncing, or the store itself.
func (l *Log) durable(fn func(cpebble.Reader) error) error {
	l.vmu.RLock()
	defer l.vmu.RUnlock()
	return l.use(func() error {
		if l.view != nil {
			return fn(l.view)
		}
		return fn(l.db)
	})
}

// drain returns once every group handed to the syncer is synced and
// answered, so that the durable state is the written one (txMu held); false
// once the writer has stopped.
func (l *Log) drain() bool {
	if l.syncqClosed || l.failure() != nil {
		return false
	}
	p := &pending{done: make(chan struct{})}
	l.syncq <- p
	<-p.done
	return true
}

// syncer makes each applied group the log's once its sync is done, in
// commit order.
func (l *Log) syncer() {
	defer l.wg.Done()
	var failed error
	for p := range l.syncq {
		if p.done != nil {
			close(p.done)
			continue
		}
		var err error
		if !p.nosync {
			err = p.b.SyncWait()
		}
		l.release()
		_ = p.b.Close()
		if err == nil && failed == nil {
			l.publish(p)
			continue
		}
		if failed == nil {
			failed = fmt.Errorf("%w: WAL sync: %w", errFailed, err)
			l.fail(failed)
			l.opts.Logger.Error("pebble: WAL sync failed: the store refuses further appends", "err", err)
		}
		l.drop(p)
		for _, req := range p.reqs {
			req.Res, req.Err = nil, failed
			close(req.Done)
		}
	}
}

// fail makes every later commit fail with err.
func (l *Log) fail(err error) {
	l.failMu.Lock()
	if l.failed == nil {
		l.failed = err
	}
	l.failMu.Unlock()
}

// failure returns the error that stopped the store, or nil.
func (l *Log) failure() error {
	l.failMu.Lock()
	defer l.failMu.Unlock()
	return l.failed
}

// publish makes a durable group the log's: its state, its events for
// followers, the durable view, its answers.
func (l *Log) publish(p *pending) {
	now := p.st.now
	for ri, req := range p.reqs {
		req.Res = p.results[ri]
		for i, r := range req.Res {
			if !r.Duplicate {
				req.Events[i].ID, req.Events[i].Time = r.ID, now
			}
		}
	}
	l.mu.Lock()
	l.apply(p.st)
	l.recent = append(l.recent, p.committed...)
	if len(l.recent) > recentMax {
		l.recent = append(l.recent[:0:0], l.recent[len(l.recent)-recentMax/2:]...)
	}
	close(l.notify)
	l.notify = make(chan struct{})
	l.mu.Unlock()
	l.retire(p) // before the answers: an appender reads its own write in Topics
	for _, req := range p.reqs {
		close(req.Done)
	}
}
