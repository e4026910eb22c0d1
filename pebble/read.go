package pebble

import (
	"bytes"
	"container/heap"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"

	cpebble "github.com/cockroachdb/pebble/v2"
	"github.com/ssehub/ssehub"
	"github.com/ssehub/ssehub/internal/groupcommit"
)

// readChunk bounds the events one iterator visits, so a long replay never
// pins pebble's memtables and files for long, and Close never waits long.
const readChunk = 4096

// indexCost is what reading one event through the per-topic index costs
// against one step of a scan of the whole log (see planRead, the same rule
// as bolt's).
const indexCost = 4

// Read implements ssehub.Log. Data and Meta of the event passed to fn are
// valid only until fn returns. All is read by scanning the log; other
// filters through the per-topic index unless the matching topics hold
// enough of the range that a scan costs less. Read never goes past the
// durable head.
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
	if err := l.use(func() error {
		var err error
		topics, useIndex, err = l.planRead(f, max(after+1, first), upto, count)
		return err
	}); err != nil {
		return err
	}
	if !useIndex {
		return l.scan(ctx, after, upto, f.Match, fn)
	}
	return l.merge(ctx, max(after, first-1), upto, topics, fn)
}

// planRead returns the topics f matches and whether to read them through
// the index: the index costs indexCost per matching topic plus indexCost
// per event it is expected to return; a scan costs one per event in
// [from, upto].
func (l *Log) planRead(f ssehub.Filter, from, upto uint64, count int64) ([]string, bool, error) {
	if from > upto || count <= 0 {
		return nil, true, nil
	}
	span := float64(upto - from + 1)
	share := min(span/float64(count), 1)
	var topics []string
	var events int64
	cost := func() float64 { return indexCost * (float64(len(topics)) + float64(events)*share) }
	for _, p := range f.Patterns() {
		if p.Exact() {
			v, err := l.get(topicKey(p.String()))
			if err != nil {
				return nil, false, err
			}
			if n, _, ok := parseTopicValue(v); ok {
				topics = append(topics, p.String())
				events += n
			}
			continue
		}
		prefix := topicKey(strings.TrimSuffix(p.String(), "*"))
		it, err := l.db.NewIter(&cpebble.IterOptions{LowerBound: prefix, UpperBound: prefixEnd(prefix)})
		if err != nil {
			return nil, false, err
		}
		for ok := it.First(); ok; ok = it.Next() {
			if n, _, ok := parseTopicValue(it.Value()); ok {
				topics = append(topics, string(it.Key()[1:]))
				events += n
			}
			if cost() >= span {
				it.Close()
				return nil, false, nil
			}
		}
		if err := it.Close(); err != nil {
			return nil, false, err
		}
	}
	return topics, cost() < span, nil
}

// scan reads the log in id order from after to upto, calling fn for the
// events whose topic match accepts (every event when match is nil, system
// events included).
func (l *Log) scan(ctx context.Context, after, upto uint64, match func(string) bool, fn func(*ssehub.Event) error) error {
	var ev ssehub.Event
	var topic string
	var lastTopic []byte
	l.mu.RLock()
	after = max(after, l.first-1) // below first are only tombstones
	l.mu.RUnlock()
	for after < upto {
		if err := ctx.Err(); err != nil {
			return err
		}
		visited := 0
		err := l.use(func() error {
			it, err := l.db.NewIter(&cpebble.IterOptions{LowerBound: eventKey(after + 1), UpperBound: eventKey(upto + 1)})
			if err != nil {
				return err
			}
			defer it.Close()
			for ok := it.First(); ok && visited < readChunk; ok = it.Next() {
				id, _ := eventID(it.Key())
				after = id
				visited++
				v, err := it.ValueAndErr()
				if err != nil {
					return err
				}
				tb, _, err := topicOf(v)
				if err != nil {
					return fmt.Errorf("pebble: event %d: %w", id, err)
				}
				if !bytes.Equal(tb, lastTopic) {
					topic = string(tb)
					lastTopic = append(lastTopic[:0], tb...)
				}
				if match != nil && !match(topic) {
					continue
				}
				if err := decodeInto(&ev, id, topic, v); err != nil {
					return fmt.Errorf("pebble: event %d: %w", id, err)
				}
				if err := fn(&ev); err != nil {
					return err
				}
			}
			return it.Error()
		})
		if err != nil {
			return err
		}
		if visited < readChunk {
			return nil
		}
	}
	return nil
}

// topicCursor is one topic's position in a merged read: the next id it
// has, and an iterator over its index entries while a chunk is read.
type topicCursor struct {
	topic  string
	prefix []byte // 'i' topic 0x00
	next   uint64
	it     *cpebble.Iterator
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

// open positions the cursor's iterator at its first entry above after
// (bounded by upto) and reports whether there is one.
func (tc *topicCursor) open(db *cpebble.DB, after, upto uint64) (bool, error) {
	it, err := db.NewIter(&cpebble.IterOptions{
		LowerBound: binary.BigEndian.AppendUint64(append([]byte(nil), tc.prefix...), after+1),
		UpperBound: binary.BigEndian.AppendUint64(append([]byte(nil), tc.prefix...), upto+1),
	})
	if err != nil {
		return false, err
	}
	tc.it = it
	return tc.load(it.First())
}

func (tc *topicCursor) load(ok bool) (bool, error) {
	if !ok {
		return false, tc.it.Error()
	}
	k := tc.it.Key()
	if len(k) != len(tc.prefix)+8 {
		return false, fmt.Errorf("pebble: index key %q: %w", k, errCorrupt)
	}
	tc.next = binary.BigEndian.Uint64(k[len(tc.prefix):])
	return true, nil
}

func (tc *topicCursor) close() {
	if tc.it != nil {
		tc.it.Close()
		tc.it = nil
	}
}

// merge reads the events of topics with after < id <= upto in id order,
// merging the topics' index entries with a heap, in chunks of at most
// readChunk events, each with fresh iterators. One iterator over the events
// fetches each by a forward seek, which pebble turns into steps when the
// next id is near.
func (l *Log) merge(ctx context.Context, after, upto uint64, topics []string, fn func(*ssehub.Event) error) error {
	h := make(cursorHeap, 0, len(topics))
	for _, t := range topics {
		h = append(h, &topicCursor{topic: t, prefix: indexPrefix(t)})
	}
	var ev ssehub.Event
	started := false
	for !started || len(h) > 0 {
		if err := ctx.Err(); err != nil {
			return err
		}
		err := l.use(func() error {
			defer func() {
				for _, tc := range h {
					tc.close() // iterators live for one chunk
				}
			}()
			// (Re)open every cursor at its next id.
			live := h[:0]
			for _, tc := range h {
				from := after
				if started {
					from = tc.next - 1
				}
				ok, err := tc.open(l.db, from, upto)
				if err != nil {
					return err
				}
				if ok {
					live = append(live, tc)
				} else {
					tc.close()
				}
			}
			h = live
			heap.Init(&h)
			started = true
			evs, err := l.db.NewIter(&cpebble.IterOptions{LowerBound: eventKey(after + 1), UpperBound: eventKey(upto + 1)})
			if err != nil {
				return err
			}
			defer evs.Close()
			for visited := 0; len(h) > 0 && visited < readChunk; visited++ {
				tc := h[0]
				id := tc.next
				after = id
				// A missing record was removed by retention since the
				// index entry was read.
				if evs.SeekGE(eventKey(id)) {
					if k, _ := eventID(evs.Key()); k == id {
						v, err := evs.ValueAndErr()
						if err != nil {
							return err
						}
						if err := decodeInto(&ev, id, tc.topic, v); err != nil {
							return fmt.Errorf("pebble: event %d: %w", id, err)
						}
						if err := fn(&ev); err != nil {
							return err
						}
					}
				} else if err := evs.Error(); err != nil {
					return err
				}
				ok, err := tc.load(tc.it.Next())
				if err != nil {
					return err
				}
				if ok {
					heap.Fix(&h, 0)
				} else {
					tc.close()
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
// ones kept in memory, or from the store when the follower is further
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
	err := l.durable(func(r cpebble.Reader) error {
		it, err := r.NewIter(&cpebble.IterOptions{LowerBound: topicKey(after), UpperBound: []byte{prefixTopic + 1}})
		if err != nil {
			return err
		}
		defer it.Close()
		for ok := it.First(); ok && (limit <= 0 || len(out) < limit); ok = it.Next() {
			name := string(it.Key()[1:])
			if name == after {
				continue
			}
			n, last, ok := parseTopicValue(it.Value())
			if !ok {
				return fmt.Errorf("pebble: topic %q: %w", name, errCorrupt)
			}
			if n > 0 {
				out = append(out, ssehub.TopicInfo{Topic: name, Events: n, LastID: last})
			}
		}
		return it.Error()
	})
	return out, err
}

// Topic implements ssehub.Topics.
func (l *Log) Topic(_ context.Context, topic string) (ssehub.TopicInfo, error) {
	if topic == "" || ssehub.IsSys(topic) {
		return ssehub.TopicInfo{}, ssehub.ErrNotFound
	}
	var ti ssehub.TopicInfo
	err := l.durable(func(r cpebble.Reader) error {
		v, err := getFrom(r, topicKey(topic))
		if err != nil {
			return err
		}
		n, last, ok := parseTopicValue(v)
		if !ok || n <= 0 {
			return ssehub.ErrNotFound
		}
		ti = ssehub.TopicInfo{Topic: topic, Events: n, LastID: last}
		return nil
	})
	return ti, err
}

// Last implements ssehub.Topics: a reverse seek in the topic's index,
// below the durable head.
func (l *Log) Last(_ context.Context, topic string) (*ssehub.Event, error) {
	if ssehub.IsSys(topic) || topic == "" {
		return nil, ssehub.ErrNotFound
	}
	l.mu.RLock()
	head := l.head
	l.mu.RUnlock()
	var out *ssehub.Event
	err := l.use(func() error {
		prefix := indexPrefix(topic)
		it, err := l.db.NewIter(&cpebble.IterOptions{LowerBound: prefix,
			UpperBound: binary.BigEndian.AppendUint64(append([]byte(nil), prefix...), head+1)})
		if err != nil {
			return err
		}
		defer it.Close()
		for ok := it.Last(); ok; ok = it.Prev() {
			k := it.Key()
			if len(k) != len(prefix)+8 {
				return fmt.Errorf("pebble: index key %q: %w", k, errCorrupt)
			}
			id := binary.BigEndian.Uint64(k[len(prefix):])
			v, err := l.get(eventKey(id))
			if err != nil {
				return err
			}
			if v != nil {
				out, err = decodeOwned(id, v)
				return err
			}
		}
		if err := it.Error(); err != nil {
			return err
		}
		return ssehub.ErrNotFound
	})
	return out, err
}

// Get implements ssehub.KV.
func (l *Log) Get(_ context.Context, bucket, key string) ([]byte, error) {
	if key == "" {
		return nil, ssehub.ErrNotFound
	}
	var out []byte
	err := l.use(func() error {
		v, err := l.get(append(kvPrefix(bucket), key...))
		if err != nil {
			return err
		}
		if v == nil {
			return ssehub.ErrNotFound
		}
		out = v
		return nil
	})
	return out, err
}

// Put implements ssehub.KV; it returns once the value is durable. A key
// or bucket name longer than MaxKeyLen fails with ssehub.ErrTooLarge.
func (l *Log) Put(_ context.Context, bucket, key string, value []byte) error {
	if len(key) > MaxKeyLen || len(bucket) > MaxKeyLen || len(value) > maxRecord {
		return fmt.Errorf("%w: kv %s/%s: key of %d bytes or value of %d bytes past the store's limits", ssehub.ErrTooLarge, bucket, key[:min(len(key), 64)], len(key), len(value))
	}
	if key == "" {
		return errors.New("pebble: kv: empty key")
	}
	return l.use(func() error { return l.db.Set(append(kvPrefix(bucket), key...), value, l.wo) })
}

// Delete implements ssehub.KV.
func (l *Log) Delete(_ context.Context, bucket, key string) error {
	if key == "" || len(key) > MaxKeyLen {
		return nil // never stored
	}
	return l.use(func() error { return l.db.Delete(append(kvPrefix(bucket), key...), l.wo) })
}

// List implements ssehub.KV.
func (l *Log) List(_ context.Context, bucket string, fn func(key string, value []byte) error) error {
	return l.use(func() error {
		p := kvPrefix(bucket)
		it, err := l.db.NewIter(&cpebble.IterOptions{LowerBound: p, UpperBound: prefixEnd(p)})
		if err != nil {
			return err
		}
		defer it.Close()
		for ok := it.First(); ok; ok = it.Next() {
			if err := fn(string(it.Key()[len(p):]), it.Value()); err != nil {
				return err
			}
		}
		return it.Error()
	})
}
