package bolt

import (
	"encoding/binary"
	"time"

	"github.com/ssehub/ssehub"
	bbolt "go.etcd.io/bbolt"
)

// deleteChunk bounds the events one cleanup transaction of the janitor
// removes, and how many more than it appended a commit removes, so neither
// holds the file lock long.
const deleteChunk = 2000

// janitor applies age retention (and count and byte retention the writer
// left behind), and forgets expired idempotency keys, in small
// transactions, once a second.
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

// trim deletes up to budget of the oldest events past the bounds (age only
// when withAge), with their index entries and topic counts, in tx.
func (l *Log) trim(tx *bbolt.Tx, s *txState, now time.Time, budget int, withAge bool) (int, error) {
	r := l.opts.Retention
	if r.MaxEvents <= 0 && r.MaxBytes <= 0 && (!withAge || r.MaxAge <= 0) {
		return 0, nil
	}
	evb, idx := tx.Bucket(bucketEvents), tx.Bucket(bucketIndex)
	c := evb.Cursor()
	removed := 0
	for k, v := c.First(); k != nil && removed < budget; k, v = c.First() {
		id := binary.BigEndian.Uint64(k)
		tb, size, ns, err := recordInfo(v)
		if err != nil {
			// A damaged record must not stop retention (and with it every
			// commit): remove it with its stored size, leaving its index
			// entry, which reads skip.
			l.opts.Logger.Error("bolt: retention removes a damaged event record", "id", id)
			tb, size, ns = nil, int64(len(v)), 0
		}
		if !l.over(s, ns, now, withAge) {
			break
		}
		if err := c.Delete(); err != nil {
			return removed, err
		}
		if tb != nil && !ssehub.IsSys(string(tb)) {
			if err := idx.Delete(indexKey(tb, id)); err != nil {
				return removed, err
			}
			s.topic(string(tb)).Events--
		}
		s.count--
		s.bytes -= size // exactly what commit added: Event.Size of the stored event
		removed++
	}
	if removed > 0 {
		s.first = s.head + 1
		if k, _ := c.First(); k != nil {
			s.first = binary.BigEndian.Uint64(k)
		}
	}
	return removed, nil
}

// enforceRetention deletes the oldest events past the limits.
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
		var st *txState
		err := l.db.Update(func(tx *bbolt.Tx) error {
			st = l.newTxState(tx)
			var err error
			if removed, err = l.trim(tx, st, now, deleteChunk, true); err != nil || removed == 0 {
				return err
			}
			return st.flush(tx)
		})
		if err == nil && removed > 0 {
			l.mu.Lock()
			l.apply(st)
			l.mu.Unlock()
		}
		l.txMu.Unlock()
		if err != nil {
			l.opts.Logger.Error("bolt: retention cleanup failed", "err", err)
			return
		}
		if removed < deleteChunk {
			return
		}
	}
}

// lagScanMax bounds the events StoreStats reads to measure a byte lag.
const lagScanMax = 1 << 20

// StoreStats implements ssehub.StatsReporter. RetentionLag is the number
// of oldest events past any bound: past MaxAge until the janitor's next
// tick (once a second), and past MaxEvents or MaxBytes only when the
// writer could not keep up (each commit removes at most 2,000 events more
// than it appended). The byte lag is measured over at most 1,048,576
// events.
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
	_ = l.view(func(tx *bbolt.Tx) error {
		evb := tx.Bucket(bucketEvents)
		if r.MaxBytes > 0 && st.Bytes > r.MaxBytes {
			excess, n := st.Bytes-r.MaxBytes, int64(0)
			c := evb.Cursor()
			for k, v := c.First(); k != nil && excess > 0 && n < lagScanMax; k, v = c.Next() {
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
			c := evb.Cursor()
			old := func(id uint64) bool {
				k, v := c.Seek(itob(id))
				if k == nil {
					return false
				}
				_, _, ns, err := recordInfo(v)
				return err == nil && ns < cutoff
			}
			lo, hi := first, head+1 // the first young id is in [lo, hi]
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
		// txMu: a commit writes a key to the file before it enters the map;
		// a key appended again since it expired must stay in the file.
		l.txMu.Lock()
		err := l.db.Update(func(tx *bbolt.Tx) error {
			b := tx.Bucket(bucketDedupe)
			l.dmu.Lock()
			defer l.dmu.Unlock()
			for _, k := range expired[:n] {
				if _, again := l.dedupe[k]; again {
					continue
				}
				if err := b.Delete([]byte(k)); err != nil {
					return err
				}
			}
			return nil
		})
		l.txMu.Unlock()
		if err != nil {
			l.opts.Logger.Error("bolt: dedupe cleanup failed", "err", err)
			return
		}
		expired = expired[n:]
	}
}
