package pebble

import (
	"context"
	"fmt"
	"slices"
	"time"

	cpebble "github.com/cockroachdb/pebble/v2"
	"github.com/ssehub/ssehub"
	"github.com/ssehub/ssehub/internal/groupcommit"
)

// Append implements ssehub.Log: the events are committed with whatever
// else is queued, and Append returns once that commit is durable. What
// the store could not hold is refused before anything is queued
// (groupcommit.Check), so that one request's event never fails the other
// requests committed with it.
func (l *Log) Append(ctx context.Context, events []*ssehub.Event) ([]ssehub.AppendResult, error) {
	size, err := groupcommit.Check(events, groupcommit.Limits{MaxBatch: l.maxBatch, MaxKeyLen: MaxKeyLen, MaxRecord: maxRecord, MaxBytes: l.opts.Retention.MaxBytes}, encodedLen)
	if err != nil {
		return nil, err
	}
	return l.queue.Submit(ctx, events, size)
}

// writer is the single goroutine that commits appends, in groups
// (package internal/groupcommit), and hands each to the syncer.
func (l *Log) writer() {
	defer l.wg.Done()
	w := groupcommit.Writer{Reqs: l.queue.Reqs(), Quit: l.quit, MaxBatch: l.maxBatch, MaxBytes: l.opts.Retention.MaxBytes,
		Commit: l.commit, BeforeGroup: l.room, Logger: l.opts.Logger, Name: "pebble"}
	w.Run()
	l.txMu.Lock()
	close(l.syncq)
	l.syncqClosed = true
	l.txMu.Unlock()
}

// txState is the log's state as a batch changes it; it becomes the log's
// only once the batch is durable.
type txState struct {
	first, head  uint64
	count, bytes int64
	topics       map[string]*ssehub.TopicInfo // touched topics
	now          time.Time                    // the batch's event time
}

// newTxState starts from the state with every applied batch (txMu held):
// a group follows the groups still syncing.
func (l *Log) newTxState() *txState {
	st := l.written
	st.topics = map[string]*ssehub.TopicInfo{}
	return &st
}

// topic returns the touched topic's info, reading it from the store the
// first time.
func (l *Log) topic(s *txState, name string) (*ssehub.TopicInfo, error) {
	ti := s.topics[name]
	if ti == nil {
		ti = &ssehub.TopicInfo{Topic: name}
		v, err := l.get(topicKey(name))
		if err != nil {
			return nil, err
		}
		if n, last, ok := parseTopicValue(v); ok {
			ti.Events, ti.LastID = n, last
		}
		s.topics[name] = ti
	}
	return ti, nil
}

// flush writes the touched topics and the totals into b; a topic with no
// retained event is deleted.
func (s *txState) flush(b *cpebble.Batch) {
	for _, ti := range s.topics {
		if ti.Events <= 0 {
			_ = b.Delete(topicKey(ti.Topic), nil)
		} else {
			_ = b.Set(topicKey(ti.Topic), topicValue(ti.Events, ti.LastID), nil)
		}
	}
	_ = b.Set(keyHead, itob(s.head), nil)
	_ = b.Set(keyCount, itob(uint64(max(s.count, 0))), nil)
	_ = b.Set(keyBytes, itob(uint64(max(s.bytes, 0))), nil)
	_ = b.Set(keyFirst, itob(s.first), nil)
}

func (l *Log) apply(s *txState) {
	l.first, l.head, l.count, l.bytes = s.first, s.head, max(s.count, 0), max(s.bytes, 0)
}

// commit writes a group of requests in one batch, with the retention it
// makes due, applies it and hands it to the syncer, which answers each
// request once the batch is durable. On error nothing is stored and no
// request is answered.
func (l *Log) commit(batch []*appendReq) error {
	if err := l.failure(); err != nil {
		return err
	}
	now := time.Now().UTC()
	l.txMu.Lock()
	defer l.txMu.Unlock()
	if l.syncqClosed {
		return ssehub.ErrClosed
	}
	owner := groupcommit.NewOwner(batch)
	committed := make([]*ssehub.Event, 0, owner.Cap())
	newKeys := map[string]dedupeEntry{}
	results := make([][]ssehub.AppendResult, len(batch))
	st := l.newTxState()
	st.now = now
	oldHead := st.head
	var p *pending
	err := l.use(func() error {
		b := l.db.NewBatch()
		defer func() {
			if p == nil {
				_ = b.Close()
			}
		}()
		var buf []byte
		// The index keys go in after the group's event keys: pebble inserts
		// a batch into its memtable in order, starting each key's search
		// from the one before, so keys in order cost far less to insert
		// than event and index keys taken in turn.
		var idx []byte
		var idxEnds []int
		var lastTopic *ssehub.TopicInfo
		l.dmu.Lock()
		defer l.dmu.Unlock()
		appended := 0
		for ri, req := range batch {
			res := make([]ssehub.AppendResult, len(req.Events))
			results[ri] = res
			for i, in := range req.Events {
				var dk string
				if in.Key != "" {
					dk = in.Topic + "\x00" + in.Key
					e, ok := newKeys[dk]
					if !ok {
						e, ok = l.dedupe[dk]
					}
					if ok && now.UnixNano()-e.at <= int64(l.opts.DedupeWindow) {
						res[i] = ssehub.AppendResult{ID: e.id, Duplicate: true}
						continue
					}
				}
				if testHookPut != nil {
					if err := testHookPut(in); err != nil {
						return err
					}
				}
				st.head++
				id := st.head
				ev := *in
				ev.ID, ev.Time = id, now
				// The batch copies key and value: buf is reused.
				buf = appendEventKey(buf[:0], id)
				k := len(buf)
				buf = encodeEvent(buf, &ev)
				if err := b.Set(buf[:k], buf[k:], nil); err != nil {
					return fmt.Errorf("event %d: %w", i, err)
				}
				committed = append(committed, owner.Own(&ev))
				st.bytes += int64(ev.Size())
				st.count++
				if st.first > id {
					st.first = id
				}
				if !ssehub.IsSys(ev.Topic) {
					idx = appendIndexKey(idx, ev.Topic, id)
					idxEnds = append(idxEnds, len(idx))
					if lastTopic == nil || lastTopic.Topic != ev.Topic {
						var err error
						if lastTopic, err = l.topic(st, ev.Topic); err != nil {
							return err
						}
					}
					lastTopic.Events++
					lastTopic.LastID = id
				}
				if dk != "" {
					e := dedupeEntry{id, now.UnixNano()}
					newKeys[dk] = e
					if err := b.Set(dedupeKey(dk), dedupeValue(e), nil); err != nil {
						return fmt.Errorf("event %d: %w", i, err)
					}
				}
				res[i] = ssehub.AppendResult{ID: id}
				appended++
			}
		}
		start := 0
		for _, end := range idxEnds {
			if err := b.Set(idx[start:end], nil, nil); err != nil {
				return fmt.Errorf("index: %w", err)
			}
			start = end
		}
		// Count and byte retention, in the same batch: the bounds hold when
		// the appends are acknowledged, and the writer pays for the
		// removal (back-pressure). At most deleteChunk more than were
		// appended are removed, so a log far over its bounds (retention
		// lowered at a restart) catches up over several commits.
		if _, err := l.trim(b, st, oldHead, now, appended+deleteChunk, false); err != nil {
			return fmt.Errorf("retention: %w", err)
		}
		st.flush(b)
		// pebble makes the batch visible once applied, before its WAL
		// sync: Read and Last stop at the durable head, Topics and Topic
		// read the snapshot enqueue takes (pipeline.go).
		q := &pending{b: b, nosync: l.opts.NoSync, st: st, committed: committed, reqs: slices.Clone(batch), results: results}
		l.enqueue(q)
		var err error
		if l.opts.NoSync {
			err = b.Commit(cpebble.NoSync)
		} else {
			err = l.db.ApplyNoSyncWait(b, cpebble.Sync)
		}
		if err != nil {
			l.dequeue(q)
			return err
		}
		p = q
		return nil
	})
	if err != nil {
		return fmt.Errorf("pebble: commit: %w", err)
	}
	// The group's keys count for the next groups at once: a duplicate
	// behind it is answered after it, once both are durable, and a failed
	// sync fails both.
	l.dmu.Lock()
	for k, e := range newKeys {
		l.dedupe[k] = e
	}
	l.dmu.Unlock()
	l.written = *st
	l.written.topics = nil
	l.take()
	l.syncq <- p // bounded: at most maxInFlight groups wait for their sync
	return nil
}
