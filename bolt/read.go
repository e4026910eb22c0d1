package bolt

import (
	"bytes"
	"context"
	"encoding/binary"

	"github.com/ssehub/ssehub"
	bbolt "go.etcd.io/bbolt"
)

// readChunk bounds the events one read transaction visits, so a long
// replay never pins one transaction (and the file's old pages) for long.
const readChunk = 4096

// Read implements ssehub.Log. Data and Meta of the event passed to fn are
// valid only until fn returns.
func (l *Log) Read(ctx context.Context, after uint64, m ssehub.Matcher, fn func(*ssehub.Event) error) error {
	_, upto := l.Bounds()
	var ev ssehub.Event
	var topic string
	var lastTopic []byte
	for after < upto {
		if err := ctx.Err(); err != nil {
			return err
		}
		visited := 0
		err := l.db.View(func(tx *bbolt.Tx) error {
			c := tx.Bucket(bucketEvents).Cursor()
			for k, v := c.Seek(itob(after + 1)); k != nil && visited < readChunk; k, v = c.Next() {
				id := binary.BigEndian.Uint64(k)
				if id > upto {
					after = upto
					return nil
				}
				after = id
				visited++
				tb, rest, err := topicOf(v)
				if err != nil {
					return err
				}
				if !bytes.Equal(tb, lastTopic) {
					topic = string(tb)
					lastTopic = append(lastTopic[:0], tb...)
				}
				if m != nil && !m.Match(topic) {
					continue
				}
				if err := decodeInto(&ev, id, topic, rest); err != nil {
					return err
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

// Follow implements ssehub.Log: events come from the recently committed
// ones kept in memory, or from the file when the follower is further behind.
func (l *Log) Follow(ctx context.Context, after uint64, fn func(*ssehub.Event) error) error {
	var batch []*ssehub.Event
	for {
		l.mu.RLock()
		head, notify, closed := l.head, l.notify, l.closed
		if after+1 < l.first {
			after = l.first - 1 // retention removed these; the ring may still hold them
		}
		batch = batch[:0]
		inRecent := len(l.recent) > 0 && l.recent[0].ID <= after+1
		if inRecent {
			i := int(after + 1 - l.recent[0].ID)
			batch = append(batch, l.recent[min(i, len(l.recent)):]...)
		}
		l.mu.RUnlock()
		if closed {
			return ssehub.ErrClosed
		}
		switch {
		case after >= head:
			select {
			case <-notify:
			case <-ctx.Done():
				return ctx.Err()
			case <-l.quit:
				return ssehub.ErrClosed
			}
		case inRecent:
			for _, ev := range batch {
				if err := fn(ev); err != nil {
					return err
				}
				after = ev.ID
			}
		default:
			err := l.Read(ctx, after, nil, func(ev *ssehub.Event) error {
				cp := *ev
				cp.Data = append([]byte(nil), ev.Data...)
				if ev.Meta != nil {
					cp.Meta = append([]byte(nil), ev.Meta...)
				}
				after = ev.ID
				return fn(&cp)
			})
			if err != nil {
				return err
			}
			if first, _ := l.Bounds(); after+1 < first {
				after = first - 1 // retention passed a slow follower
			}
			if h := head; after < h {
				// Nothing left to read below the head: retention removed it.
				after = h
			}
		}
	}
}

// Topics implements ssehub.Topics.
func (l *Log) Topics(ctx context.Context) ([]ssehub.TopicInfo, error) {
	var out []ssehub.TopicInfo
	err := l.db.View(func(tx *bbolt.Tx) error {
		return tx.Bucket(bucketTopics).ForEach(func(k, v []byte) error {
			if len(v) != 16 {
				return errCorrupt
			}
			out = append(out, ssehub.TopicInfo{Topic: string(k), Events: int64(binary.BigEndian.Uint64(v)), LastID: binary.BigEndian.Uint64(v[8:])})
			return nil
		})
	})
	return out, err
}

func kvBucket(name string) []byte { return []byte("kv/" + name) }

// Get implements ssehub.KV.
func (l *Log) Get(_ context.Context, bucket, key string) ([]byte, error) {
	var out []byte
	err := l.db.View(func(tx *bbolt.Tx) error {
		b := tx.Bucket(kvBucket(bucket))
		if b == nil {
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

// Put implements ssehub.KV.
func (l *Log) Put(_ context.Context, bucket, key string, value []byte) error {
	return l.db.Update(func(tx *bbolt.Tx) error {
		b, err := tx.CreateBucketIfNotExists(kvBucket(bucket))
		if err != nil {
			return err
		}
		return b.Put([]byte(key), value)
	})
}

// Delete implements ssehub.KV.
func (l *Log) Delete(_ context.Context, bucket, key string) error {
	return l.db.Update(func(tx *bbolt.Tx) error {
		b := tx.Bucket(kvBucket(bucket))
		if b == nil {
			return nil
		}
		return b.Delete([]byte(key))
	})
}

// List implements ssehub.KV.
func (l *Log) List(_ context.Context, bucket string, fn func(key string, value []byte) error) error {
	return l.db.View(func(tx *bbolt.Tx) error {
		b := tx.Bucket(kvBucket(bucket))
		if b == nil {
			return nil
		}
		return b.ForEach(func(k, v []byte) error { return fn(string(k), v) })
	})
}
