package bolt

import (
	"encoding/binary"
	"time"

	"github.com/ssehub/ssehub"
	bbolt "go.etcd.io/bbolt"
)

// deleteChunk bounds the events one cleanup transaction removes, so the
// writer never waits long for the file lock.
const deleteChunk = 2000

// janitor applies retention and forgets expired idempotency keys, in small
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
		err := l.db.Update(func(tx *bbolt.Tx) error {
			l.mu.RLock()
			first, head, size := l.first, l.head, l.bytes
			l.mu.RUnlock()
			evb, tb := tx.Bucket(bucketEvents), tx.Bucket(bucketTopics)
			c := evb.Cursor()
			counts := map[string]int64{}
			for k, v := c.First(); k != nil && removed < deleteChunk; k, v = c.First() {
				count := int64(head - first + 1)
				tp, rest, err := topicOf(v)
				if err != nil {
					return err
				}
				topic := string(tp)
				ns, _ := binary.Varint(rest)
				over := (r.MaxEvents > 0 && count > r.MaxEvents) || (r.MaxBytes > 0 && size > r.MaxBytes) ||
					(r.MaxAge > 0 && now.Sub(time.Unix(0, ns)) > r.MaxAge)
				if !over {
					break
				}
				rs, err := recordSize(v)
				if err != nil {
					return err
				}
				size -= rs // exactly what commit added: Event.Size of the stored event
				if err := c.Delete(); err != nil {
					return err
				}
				counts[topic]++
				first = binary.BigEndian.Uint64(k) + 1
				removed++
			}
			if removed == 0 {
				return nil
			}
			for topic, n := range counts {
				if v := tb.Get([]byte(topic)); len(v) == 16 {
					left := int64(binary.BigEndian.Uint64(v)) - n
					if err := tb.Put([]byte(topic), topicValue(max(left, 0), binary.BigEndian.Uint64(v[8:]))); err != nil {
						return err
					}
				}
			}
			if err := tx.Bucket(bucketMeta).Put(keyBytes, itob(uint64(max(size, 0)))); err != nil {
				return err
			}
			tx.OnCommit(func() {
				l.mu.Lock()
				l.first, l.bytes = first, max(size, 0)
				l.mu.Unlock()
			})
			return nil
		})
		l.txMu.Unlock()
		if err != nil {
			l.opts.Logger.Error("retention cleanup failed", "err", err)
			return
		}
		if removed < deleteChunk {
			return
		}
	}
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
			l.opts.Logger.Error("dedupe cleanup failed", "err", err)
			return
		}
		expired = expired[n:]
	}
}

var _ ssehub.Log = (*Log)(nil)
