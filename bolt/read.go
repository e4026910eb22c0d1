package bolt

import (
	"bytes"
	"container/heap"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"

	"github.com/ssehub/ssehub"
	"github.com/ssehub/ssehub/internal/groupcommit"
	bbolt "go.etcd.io/bbolt"
)

// readChunk bounds the events one read transaction visits, so a long
// replay never pins one transaction (and the file's old pages) for long.
const readChunk = 4096

// indexCost is what reading one event through the per-topic index costs
// against one step of a scan of the whole log (a seek into the events
// bucket per event, and one per topic to start); see planRead.
const indexCost = 4

// view runs a read transaction, or fails with ErrClosed after Close.
func (l *Log) view(fn func(*bbolt.Tx) error) error {
	err := l.db.View(fn)
	if errors.Is(err, bbolt.ErrDatabaseNotOpen) {
		return ssehub.ErrClosed
	}
	return err
}

func (l *Log) update(fn func(*bbolt.Tx) error) error {
	err := l.db.Update(fn)
	switch {
	case errors.Is(err, bbolt.ErrDatabaseNotOpen):
		return ssehub.ErrClosed
	case errors.Is(err, bbolt.ErrKeyTooLarge), errors.Is(err, bbolt.ErrValueTooLarge):
		return fmt.Errorf("%w: %w", ssehub.ErrTooLarge, err)
	}
	return err
}

// Read implements ssehub.Log. Data and Meta of the event passed to fn are
// valid only until fn returns. All is read by scanning the log; other
// filters through the per-topic index unless the matching topics hold
// enough of the range that a scan costs less (planRead).
func (l *Log) Read(ctx context.Context, after uint64, f ssehub.Filter, fn func(*ssehub.Event) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if f.IsEmpty() {
		return nil
	}
	l.mu.RLock()
	upto, first, count := l.head, l.first, l.count
	l.mu.RUnlock()
	if after >= upto {
		return nil
	}
	if f.IsAll() {
		return l.scan(ctx, after, upto, f.Match, fn)
	}
	var topics []string
	var useIndex bool
	if err := l.view(func(tx *bbolt.Tx) error {
		topics, useIndex = planRead(tx, f, max(after+1, first), upto, count)
		return nil
	}); err != nil {
		return err
	}
	if !useIndex {
		return l.scan(ctx, after, upto, f.Match, fn)
	}
	return l.merge(ctx, after, upto, topics, fn)
}

// planRead returns the topics f matches and whether to read them through
// the index. The rule: the index costs indexCost per matching topic (a
// seek to start) plus indexCost per event it is expected to return (the
// topics' retained events, spread evenly over the log, times the share of
// the log in the range); a scan costs one per event in the range [from,
// upto]. The index is used when it costs less, so a sparse topic costs
// about what it returns and a topic that holds most of the log is scanned.
func planRead(tx *bbolt.Tx, f ssehub.Filter, from, upto uint64, count int64) ([]string, bool) {
	if from > upto || count <= 0 {
		return nil, true
	}
	span := float64(upto - from + 1)
	share := min(span/float64(count), 1)
	tb := tx.Bucket(bucketTopics)
	var topics []string
	var events int64
	cost := func() float64 { return indexCost * (float64(len(topics)) + float64(events)*share) }
	for _, p := range f.Patterns() {
		if p.Exact() {
			if v := tb.Get([]byte(p.String())); len(v) == 16 {
				topics = append(topics, p.String())
				events += int64(binary.BigEndian.Uint64(v))
			}
			continue
		}
		prefix := []byte(strings.TrimSuffix(p.String(), "*"))
		c := tb.Cursor()
		for k, v := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, v = c.Next() {
			if len(v) == 16 {
				topics = append(topics, string(k))
				events += int64(binary.BigEndian.Uint64(v))
			}
			if cost() >= span {
				return nil, false
			}
		}
	}
	return topics, cost() < span
}

// scan reads the log in id order from after to upto, calling fn for the
// events whose topic match accepts (every event when match is nil, system
// events included).
func (l *Log) scan(ctx context.Context, after, upto uint64, match func(string) bool, fn func(*ssehub.Event) error) error {
	var ev ssehub.Event
	var topic string
	var lastTopic []byte
	for after < upto {
		if err := ctx.Err(); err != nil {
			return err
		}
		visited := 0
		err := l.view(func(tx *bbolt.Tx) error {
			c := tx.Bucket(bucketEvents).Cursor()
			for k, v := c.Seek(itob(after + 1)); k != nil && visited < readChunk; k, v = c.Next() {
				id := binary.BigEndian.Uint64(k)
				if id > upto {
					after = upto
					return nil
				}
				after = id
				visited++
				tb, _, err := topicOf(v)
				if err != nil {
					return fmt.Errorf("bolt: event %d: %w", id, err)
				}
				if !bytes.Equal(tb, lastTopic) {
					topic = string(tb)
					lastTopic = append(lastTopic[:0], tb...)
				}
				if match != nil && !match(topic) {
					continue
				}
				if err := decodeInto(&ev, id, topic, v); err != nil {
					return fmt.Errorf("bolt: event %d: %w", id, err)
				}
				if err := fn(&ev); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			return err
		}
		if visited == 0 {
			return nil
		}
	}
	return nil
}

// topicCursor is one topic's position in a merged read: the next id it
// has, and a cursor on its index entries while a transaction is open.
type topicCursor struct {
	topic  string
	prefix []byte // topic \x00
	next   uint64
	cur    *bbolt.Cursor
}

type cursorHeap []*topicCursor

func (h cursorHeap) Len() int           { return len(h) }
func (h cursorHeap) Less(i, j int) bool { return h[i].next < h[j].next }
func (h cursorHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *cursorHeap) Push(x any)        { *h = append(*h, x.(*topicCursor)) }
func (h *cursorHeap) Pop() any {
	old := *h
	c := old[len(old)-1]
	*h = old[:len(old)-1]
	return c
}

// indexID returns the id of index key k of the cursor's topic, or false.
func (tc *topicCursor) indexID(k []byte, upto uint64) (uint64, bool) {
	if len(k) != len(tc.prefix)+8 || !bytes.HasPrefix(k, tc.prefix) {
		return 0, false
	}
	id := binary.BigEndian.Uint64(k[len(tc.prefix):])
	return id, id <= upto
}

// merge reads the events of topics with after < id <= upto in id order,
// merging the topics' index entries with a heap, in transactions of at
// most readChunk events.
func (l *Log) merge(ctx context.Context, after, upto uint64, topics []string, fn func(*ssehub.Event) error) error {
	h := make(cursorHeap, 0, len(topics))
	started := false
	var ev ssehub.Event
	for !started || len(h) > 0 {
		if err := ctx.Err(); err != nil {
			return err
		}
		err := l.view(func(tx *bbolt.Tx) error {
			idx, evb := tx.Bucket(bucketIndex), tx.Bucket(bucketEvents)
			if !started {
				started = true
				for _, t := range topics {
					tc := &topicCursor{topic: t, prefix: append([]byte(t), 0)}
					tc.cur = idx.Cursor()
					k, _ := tc.cur.Seek(indexKey([]byte(t), after+1))
					if id, ok := tc.indexID(k, upto); ok {
						tc.next = id
						h = append(h, tc)
					}
				}
				heap.Init(&h)
			}
			defer func() {
				for _, tc := range h {
					tc.cur = nil // cursors die with the transaction
				}
			}()
			for visited := 0; len(h) > 0 && visited < readChunk; visited++ {
				tc := h[0]
				id := tc.next
				// A missing record was removed by retention since the
				// index entry was read (or is a damaged record's leftover).
				if v := evb.Get(itob(id)); v != nil {
					if err := decodeInto(&ev, id, tc.topic, v); err != nil {
						return fmt.Errorf("bolt: event %d: %w", id, err)
					}
					if err := fn(&ev); err != nil {
						return err
					}
				}
				var k []byte
				if tc.cur == nil {
					tc.cur = idx.Cursor()
					k, _ = tc.cur.Seek(indexKey([]byte(tc.topic), id+1))
				} else {
					k, _ = tc.cur.Next()
				}
				if next, ok := tc.indexID(k, upto); ok {
					tc.next = next
					heap.Fix(&h, 0)
				} else {
					tc.cur = nil
					heap.Pop(&h)
				}
			}
			return nil
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// Follow implements ssehub.Log: events come from the recently committed
// ones kept in memory, or from the file when the follower is further
// behind (groupcommit.Follow). Every event it passes is the receiver's.
func (l *Log) Follow(ctx context.Context, after uint64, fn func(*ssehub.Event) error) error {
	return groupcommit.Follow(ctx, after, l.quit, l.followState, l.scanAll, fn)
}

// followState is what Follow looks at on each turn.
func (l *Log) followState(after uint64, batch []*ssehub.Event) (groupcommit.FollowState, []*ssehub.Event) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	batch, in := groupcommit.Recent(l.recent, after, batch)
	return groupcommit.FollowState{Head: l.head, First: l.first, Notify: l.notify, Closed: l.closed, InRecent: in}, batch
}

// scanAll passes fn every event after after up to upto.
func (l *Log) scanAll(ctx context.Context, after, upto uint64, fn func(*ssehub.Event) error) error {
	return l.scan(ctx, after, upto, nil, fn)
}

// Topics implements ssehub.Topics.
func (l *Log) Topics(_ context.Context, after string, limit int) ([]ssehub.TopicInfo, error) {
	var out []ssehub.TopicInfo
	err := l.view(func(tx *bbolt.Tx) error {
		c := tx.Bucket(bucketTopics).Cursor()
		k, v := c.Seek([]byte(after))
		if k != nil && string(k) == after {
			k, v = c.Next()
		}
		for ; k != nil && (limit <= 0 || len(out) < limit); k, v = c.Next() {
			if len(v) != 16 {
				return fmt.Errorf("bolt: topic %q: %w", k, errCorrupt)
			}
			if n := int64(binary.BigEndian.Uint64(v)); n > 0 {
				out = append(out, ssehub.TopicInfo{Topic: string(k), Events: n, LastID: binary.BigEndian.Uint64(v[8:])})
			}
		}
		return nil
	})
	return out, err
}

// Topic implements ssehub.Topics.
func (l *Log) Topic(_ context.Context, topic string) (ssehub.TopicInfo, error) {
	var ti ssehub.TopicInfo
	err := l.view(func(tx *bbolt.Tx) error {
		if topic == "" || len(topic) > bbolt.MaxKeySize {
			return ssehub.ErrNotFound
		}
		v := tx.Bucket(bucketTopics).Get([]byte(topic))
		if len(v) != 16 || binary.BigEndian.Uint64(v) == 0 {
			return ssehub.ErrNotFound
		}
		ti = ssehub.TopicInfo{Topic: topic, Events: int64(binary.BigEndian.Uint64(v)), LastID: binary.BigEndian.Uint64(v[8:])}
		return nil
	})
	return ti, err
}

// Last implements ssehub.Topics: a reverse seek in the topic's index.
func (l *Log) Last(_ context.Context, topic string) (*ssehub.Event, error) {
	if ssehub.IsSys(topic) || topic == "" {
		return nil, ssehub.ErrNotFound
	}
	var out *ssehub.Event
	err := l.view(func(tx *bbolt.Tx) error {
		tc := &topicCursor{topic: topic, prefix: append([]byte(topic), 0)}
		c := tx.Bucket(bucketIndex).Cursor()
		evb := tx.Bucket(bucketEvents)
		k, _ := c.Seek(append([]byte(topic), 1))
		if k == nil {
			k, _ = c.Last()
		} else {
			k, _ = c.Prev()
		}
		// Skip entries whose record is gone (a damaged record's leftover).
		for ; k != nil; k, _ = c.Prev() {
			id, ok := tc.indexID(k, ^uint64(0))
			if !ok {
				return ssehub.ErrNotFound
			}
			if v := evb.Get(itob(id)); v != nil {
				var err error
				out, err = decodeOwned(id, v)
				return err
			}
		}
		return ssehub.ErrNotFound
	})
	return out, err
}

func kvBucket(name string) []byte { return []byte("kv/" + name) }

// Get implements ssehub.KV.
func (l *Log) Get(_ context.Context, bucket, key string) ([]byte, error) {
	var out []byte
	err := l.view(func(tx *bbolt.Tx) error {
		b := tx.Bucket(kvBucket(bucket))
		if b == nil || key == "" {
			return ssehub.ErrNotFound
		}
		v := b.Get([]byte(key))
		if v == nil {
			return ssehub.ErrNotFound
		}
		out = append([]byte(nil), v...)
		return nil
	})
	return out, err
}

// Put implements ssehub.KV. A key or bucket name past bbolt's limits fails
// with ssehub.ErrTooLarge.
func (l *Log) Put(_ context.Context, bucket, key string, value []byte) error {
	if len(key) > bbolt.MaxKeySize || len(kvBucket(bucket)) > bbolt.MaxKeySize || int64(len(value)) > bbolt.MaxValueSize {
		return fmt.Errorf("%w: kv %s/%s: key of %d bytes or value of %d bytes past the store's limits", ssehub.ErrTooLarge, bucket, key[:min(len(key), 64)], len(key), len(value))
	}
	if key == "" {
		return errors.New("bolt: kv: empty key")
	}
	return l.update(func(tx *bbolt.Tx) error {
		b, err := tx.CreateBucketIfNotExists(kvBucket(bucket))
		if err != nil {
			return err
		}
		return b.Put([]byte(key), value)
	})
}

// Delete implements ssehub.KV.
func (l *Log) Delete(_ context.Context, bucket, key string) error {
	if key == "" || len(key) > bbolt.MaxKeySize {
		return nil // never stored
	}
	return l.update(func(tx *bbolt.Tx) error {
		b := tx.Bucket(kvBucket(bucket))
		if b == nil {
			return nil
		}
		return b.Delete([]byte(key))
	})
}

// List implements ssehub.KV.
func (l *Log) List(_ context.Context, bucket string, fn func(key string, value []byte) error) error {
	return l.view(func(tx *bbolt.Tx) error {
		b := tx.Bucket(kvBucket(bucket))
		if b == nil {
			return nil
		}
		return b.ForEach(func(k, v []byte) error { return fn(string(k), v) })
	})
}
