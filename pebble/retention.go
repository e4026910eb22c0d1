package pebble

import (
	"time"

	cpebble "github.com/cockroachdb/pebble/v2"
	"github.com/ssehub/ssehub"
)

// deleteChunk bounds the events one cleanup batch of the janitor removes,
// and how many more than it appended a commit removes.
const deleteChunk = 2000

// janitor applies age retention (and count and byte retention the writer
// left behind), and forgets expired idempotency keys, once a second.
func (l *Log) janitor() {
	defer l.wg.Done()
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		select {
		case <-l.quit:
			return
		case now := <-t.C:
			l.enforceRetention(now)
			l.expireKeys(now)
		}
	}
}

// over reports whether the oldest event is past a bound.
func (l *Log) over(s *txState, ns int64, now time.Time, withAge bool) bool {
	r := l.opts.Retention
	return (r.MaxEvents > 0 && s.count > r.MaxEvents) || (r.MaxBytes > 0 && s.bytes > r.MaxBytes) ||
		(withAge && r.MaxAge > 0 && now.UnixNano()-ns > int64(r.MaxAge))
}

// trim deletes, in b, up to budget of the oldest events past the bounds
// (age only when withAge), with their index entries and topic counts. It
// reads the events stored before the batch: those with ids from s.first to
// stored (the head before the batch); the batch's own events are always
// retained (a group fits the bounds).
func (l *Log) trim(b *cpebble.Batch, s *txState, stored uint64, now time.Time, budget int, withAge bool) (int, error) {
	r := l.opts.Retention
	if r.MaxEvents <= 0 && r.MaxBytes <= 0 && (!withAge || r.MaxAge <= 0) {
		return 0, nil
	}
	if !withAge && !l.over(s, 0, now, false) || s.first > stored {
		return 0, nil
	}
	// Start at first: the tombstones of events removed before it are never
	// stepped over.
	it, err := l.db.NewIter(&cpebble.IterOptions{LowerBound: eventKey(s.first), UpperBound: eventKey(stored + 1)})
	if err != nil {
		return 0, err
	}
	defer it.Close()
	removed := 0
	next := stored + 1 // the oldest id left once the loop ends
	for ok := it.First(); ok; ok = it.Next() {
		id, _ := eventID(it.Key())
		if removed >= budget {
			next = id
			break
		}
		v, err := it.ValueAndErr()
		if err != nil {
			return removed, err
		}
		tb, size, ns, err := recordInfo(v)
		if err != nil {
			// A damaged record must not stop retention (and with it every
			// commit): remove it with its stored size.
			l.opts.Logger.Error("pebble: retention removes a damaged event record", "id", id)
			tb, size, ns = nil, int64(len(v)), 0
		}
		if !l.over(s, ns, now, withAge) {
			next = id
			break
		}
		if err := b.Delete(it.Key(), nil); err != nil {
			return removed, err
		}
		if tb != nil && !ssehub.IsSys(string(tb)) {
			if err := b.Delete(indexKey(string(tb), id), nil); err != nil {
				return removed, err
			}
			ti, err := l.topic(s, string(tb))
			if err != nil {
				return removed, err
			}
			ti.Events--
		}
		s.count--
		s.bytes -= size // exactly what commit added: Event.Size of the stored event
		removed++
	}
	if err := it.Error(); err != nil {
		return removed, err
	}
	if removed > 0 {
		// The oldest left is the next stored event, or the batch's first.
		s.first = min(next, s.head+1)
	}
	return removed, nil
}

// enforceRetention deletes the oldest events past the limits. Its batches
// are not synced: a crash before the next synced commit only brings the
// removed events back, with the totals that count them (one batch).
func (l *Log) enforceRetention(now time.Time) {
	r := l.opts.Retention
	if r.MaxEvents <= 0 && r.MaxBytes <= 0 && r.MaxAge <= 0 {
		return
	}
	for {
		select {
		case <-l.quit:
			return
		default:
		}
		removed := 0
		l.txMu.Lock()
		if !l.drain() {
			l.txMu.Unlock()
			return
		}
		st := l.newTxState()
		err := l.use(func() error {
			b := l.db.NewBatch()
			defer b.Close()
			var err error
			if removed, err = l.trim(b, st, st.head, now, deleteChunk, true); err != nil || removed == 0 {
				return err
			}
			st.flush(b)
			return b.Commit(cpebble.NoSync)
		})
		if err == nil && removed > 0 {
			l.written = *st
			l.written.topics = nil
			l.mu.Lock()
			l.apply(st)
			l.mu.Unlock()
		}
		l.txMu.Unlock()
		if err != nil {
			l.opts.Logger.Error("pebble: retention cleanup failed", "err", err)
			return
		}
		if removed < deleteChunk {
			return
		}
	}
}

// lagScanMax bounds the events StoreStats reads to measure a byte lag.
const lagScanMax = 1 << 20

// StoreStats implements ssehub.StatsReporter, as bolt does: RetentionLag
// is the number of oldest events past any bound (the byte lag measured over
// at most 1,048,576 events).
func (l *Log) StoreStats() ssehub.StoreStats {
	l.mu.RLock()
	st := ssehub.StoreStats{Events: l.count, Bytes: l.bytes}
	first, head := l.first, l.head
	l.mu.RUnlock()
	r := l.opts.Retention
	var lag int64
	if r.MaxEvents > 0 {
		lag = max(lag, st.Events-r.MaxEvents)
	}
	if (r.MaxBytes <= 0 || st.Bytes <= r.MaxBytes) && r.MaxAge <= 0 || st.Events == 0 {
		st.RetentionLag = lag
		return st
	}
	_ = l.use(func() error {
		it, err := l.db.NewIter(&cpebble.IterOptions{LowerBound: eventKey(first), UpperBound: eventKey(head + 1)})
		if err != nil {
			return err
		}
		defer it.Close()
		if r.MaxBytes > 0 && st.Bytes > r.MaxBytes {
			excess, n := st.Bytes-r.MaxBytes, int64(0)
			for ok := it.First(); ok && excess > 0 && n < lagScanMax; ok = it.Next() {
				v := it.Value()
				_, size, _, err := recordInfo(v)
				if err != nil {
					size = int64(len(v))
				}
				excess -= size
				n++
			}
			lag = max(lag, n)
		}
		if r.MaxAge > 0 {
			// Times grow with ids: find the first id young enough.
			cutoff := time.Now().UnixNano() - int64(r.MaxAge)
			old := func(id uint64) bool {
				if !it.SeekGE(eventKey(id)) {
					return false
				}
				_, _, ns, err := recordInfo(it.Value())
				return err == nil && ns < cutoff
			}
			lo, hi := first, head+1
			for lo < hi {
				mid := lo + (hi-lo)/2
				if old(mid) {
					lo = mid + 1
				} else {
					hi = mid
				}
			}
			lag = max(lag, min(int64(lo-first), st.Events))
		}
		return nil
	})
	st.RetentionLag = lag
	return st
}

// expireKeys forgets idempotency keys older than the dedupe window.
func (l *Log) expireKeys(now time.Time) {
	cutoff := now.UnixNano() - int64(l.opts.DedupeWindow)
	l.dmu.Lock()
	var expired []string
	for k, e := range l.dedupe {
		if e.at < cutoff {
			expired = append(expired, k)
			delete(l.dedupe, k)
		}
	}
	l.dmu.Unlock()
	for len(expired) > 0 {
		n := min(len(expired), deleteChunk)
		// txMu: a commit writes a key before it enters the map; a key
		// appended again since it expired must stay.
		l.txMu.Lock()
		err := l.use(func() error {
			b := l.db.NewBatch()
			defer b.Close()
			l.dmu.Lock()
			for _, k := range expired[:n] {
				if _, again := l.dedupe[k]; !again {
					_ = b.Delete(dedupeKey(k), nil)
				}
			}
			l.dmu.Unlock()
			return b.Commit(cpebble.NoSync)
		})
		l.txMu.Unlock()
		if err != nil {
			l.opts.Logger.Error("pebble: dedupe cleanup failed", "err", err)
			return
		}
		expired = expired[n:]
	}
}
