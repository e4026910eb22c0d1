// Package bolt is the default embedded ssehub.Log: a go.etcd.io/bbolt file
// in the data directory, written by one goroutine that commits everything
// queued in one transaction (group commit) and acknowledges each append
// only once that transaction is durable.
package bolt

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/ssehub/ssehub"
	bbolt "go.etcd.io/bbolt"
)

// FileName is the database file inside the data directory.
const FileName = "ssehub.db"

var (
	bucketEvents = []byte("events")
	bucketMeta   = []byte("meta")
	bucketTopics = []byte("topics")
	bucketDedupe = []byte("dedupe")
	keyHead      = []byte("head")
	keyBytes     = []byte("bytes")
)

// Options tune a bolt log.
type Options struct {
	// Retention bounds the history kept; zero fields are no limit.
	Retention ssehub.Retention
	// DedupeWindow is how long an idempotency key is remembered; default 2 minutes.
	DedupeWindow time.Duration
	// MaxBatch bounds the events committed in one transaction; default 10000.
	MaxBatch int
	// NoSync skips fsync on commit: for tests only, it gives up durability.
	NoSync bool
	// OpenTimeout bounds the wait for the file lock another process holds;
	// default 0 waits forever.
	OpenTimeout time.Duration
	// Logger receives the store's logs; default slog.Default().
	Logger *slog.Logger
}

type appendReq struct {
	events []*ssehub.Event
	res    []ssehub.AppendResult
	err    error
	done   chan struct{}
}

type dedupeEntry struct {
	id uint64
	at int64 // unix nanos
}

// Log is the bbolt-backed ssehub.Log; it also implements ssehub.Topics and
// ssehub.KV.
type Log struct {
	db   *bbolt.DB
	opts Options
	reqs chan *appendReq
	quit chan struct{}

	txMu sync.Mutex // serialises the writer's and the janitor's transactions with their in-memory effects

	sendMu     sync.RWMutex // held while queueing, so Close stops new appends first
	sendClosed bool
	wg         sync.WaitGroup

	mu     sync.RWMutex
	first  uint64 // oldest retained id
	head   uint64
	bytes  int64
	recent []*ssehub.Event // the last committed events, for followers
	notify chan struct{}
	closed bool

	dedupe map[string]dedupeEntry // owned by the writer goroutine
	dmu    sync.Mutex             // guards dedupe against the janitor
}

// recentMax bounds the committed events kept in memory for followers.
const recentMax = 8192

// Open opens (creating if needed) the log in dir.
func Open(dir string, opts Options) (*Log, error) {
	if opts.DedupeWindow <= 0 {
		opts.DedupeWindow = 2 * time.Minute
	}
	if opts.MaxBatch <= 0 {
		opts.MaxBatch = 10000
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("bolt: %w", err)
	}
	db, err := bbolt.Open(filepath.Join(dir, FileName), 0o600, &bbolt.Options{
		Timeout: opts.OpenTimeout, NoFreelistSync: true, FreelistType: bbolt.FreelistMapType, NoSync: opts.NoSync,
	})
	if err != nil {
		return nil, fmt.Errorf("bolt: open %s: %w", dir, err)
	}
	l := &Log{db: db, opts: opts, reqs: make(chan *appendReq, 1024), quit: make(chan struct{}),
		notify: make(chan struct{}), dedupe: map[string]dedupeEntry{}}
	err = db.Update(func(tx *bbolt.Tx) error {
		for _, b := range [][]byte{bucketEvents, bucketMeta, bucketTopics, bucketDedupe} {
			if _, err := tx.CreateBucketIfNotExists(b); err != nil {
				return err
			}
		}
		meta := tx.Bucket(bucketMeta)
		if v := meta.Get(keyHead); len(v) == 8 {
			l.head = binary.BigEndian.Uint64(v)
		}
		if v := meta.Get(keyBytes); len(v) == 8 {
			l.bytes = int64(binary.BigEndian.Uint64(v))
		}
		l.first = l.head + 1
		if k, _ := tx.Bucket(bucketEvents).Cursor().First(); k != nil {
			l.first = binary.BigEndian.Uint64(k)
		}
		return tx.Bucket(bucketDedupe).ForEach(func(k, v []byte) error {
			if len(v) == 16 {
				l.dedupe[string(k)] = dedupeEntry{binary.BigEndian.Uint64(v), int64(binary.BigEndian.Uint64(v[8:]))}
			}
			return nil
		})
	})
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("bolt: init: %w", err)
	}
	l.wg.Add(2)
	go l.writer()
	go l.janitor()
	return l, nil
}

// Append implements ssehub.Log: the events are committed with whatever
// else is queued, and Append returns once that commit is durable.
func (l *Log) Append(ctx context.Context, events []*ssehub.Event) ([]ssehub.AppendResult, error) {
	if len(events) > l.opts.MaxBatch {
		return nil, fmt.Errorf("%w: a batch holds at most %d events", ssehub.ErrTooLarge, l.opts.MaxBatch)
	}
	req := &appendReq{events: events, done: make(chan struct{})}
	l.sendMu.RLock()
	if l.sendClosed {
		l.sendMu.RUnlock()
		return nil, ssehub.ErrClosed
	}
	select {
	case l.reqs <- req:
		l.sendMu.RUnlock()
	case <-ctx.Done():
		l.sendMu.RUnlock()
		return nil, ctx.Err()
	}
	<-req.done // once queued, the commit finishes whatever ctx says
	return req.res, req.err
}

// writer is the single goroutine that commits appends.
func (l *Log) writer() {
	defer l.wg.Done()
	var batch []*appendReq
	buf := make([]byte, 0, 4096)
	for {
		var first *appendReq
		select {
		case first = <-l.reqs:
		case <-l.quit:
			// Finish what is queued, then stop.
			for {
				select {
				case r := <-l.reqs:
					l.commit([]*appendReq{r}, &buf)
				default:
					return
				}
			}
		}
		batch = append(batch[:0], first)
		n := len(first.events)
	drain:
		for n < l.opts.MaxBatch {
			select {
			case r := <-l.reqs:
				batch = append(batch, r)
				n += len(r.events)
			default:
				break drain
			}
		}
		l.commit(batch, &buf)
		if cap(buf) > 16<<20 {
			buf = make([]byte, 0, 4096) // do not keep a huge batch's arena
		}
	}
}

// commit writes a group of requests in one transaction and answers each.
func (l *Log) commit(batch []*appendReq, buf *[]byte) {
	now := time.Now().UTC()
	l.txMu.Lock()
	defer l.txMu.Unlock()
	l.mu.RLock()
	head, size := l.head, l.bytes
	l.mu.RUnlock()
	var committed []*ssehub.Event
	newKeys := map[string]dedupeEntry{}
	topics := map[string]*ssehub.TopicInfo{}
	*buf = (*buf)[:0]
	err := l.db.Update(func(tx *bbolt.Tx) error {
		evb := tx.Bucket(bucketEvents)
		evb.FillPercent = 1.0
		tb := tx.Bucket(bucketTopics)
		db := tx.Bucket(bucketDedupe)
		l.dmu.Lock()
		defer l.dmu.Unlock()
		for _, req := range batch {
			req.res = make([]ssehub.AppendResult, len(req.events))
			for i, in := range req.events {
				var dk string
				if in.Key != "" {
					dk = in.Topic + "\x00" + in.Key
					e, ok := newKeys[dk]
					if !ok {
						e, ok = l.dedupe[dk]
					}
					if ok && now.UnixNano()-e.at <= int64(l.opts.DedupeWindow) {
						req.res[i] = ssehub.AppendResult{ID: e.id, Duplicate: true}
						continue
					}
				}
				head++
				ev := *in
				ev.ID, ev.Time = head, now
				// bbolt keeps a reference to the value until commit: each
				// record gets its own bytes in the arena (a grown arena
				// leaves earlier records in the old array, still valid).
				start := len(*buf)
				*buf = encodeEvent(*buf, &ev)
				if err := evb.Put(itob(head), (*buf)[start:len(*buf):len(*buf)]); err != nil {
					return err
				}
				ev.Data = append([]byte(nil), in.Data...)
				if in.Meta != nil {
					ev.Meta = append([]byte(nil), in.Meta...)
				}
				committed = append(committed, &ev)
				size += int64(ev.Size())
				ti := topics[ev.Topic]
				if ti == nil {
					ti = &ssehub.TopicInfo{Topic: ev.Topic}
					if v := tb.Get([]byte(ev.Topic)); len(v) == 16 {
						ti.Events, ti.LastID = int64(binary.BigEndian.Uint64(v)), binary.BigEndian.Uint64(v[8:])
					}
					topics[ev.Topic] = ti
				}
				ti.Events++
				ti.LastID = head
				if dk != "" {
					e := dedupeEntry{head, now.UnixNano()}
					newKeys[dk] = e
					if err := db.Put([]byte(dk), dedupeValue(e)); err != nil {
						return err
					}
				}
				req.res[i] = ssehub.AppendResult{ID: head}
			}
		}
		for _, ti := range topics {
			if err := tb.Put([]byte(ti.Topic), topicValue(ti.Events, ti.LastID)); err != nil {
				return err
			}
		}
		meta := tx.Bucket(bucketMeta)
		if err := meta.Put(keyHead, itob(head)); err != nil {
			return err
		}
		return meta.Put(keyBytes, itob(uint64(size)))
	})
	if err != nil {
		err = fmt.Errorf("bolt: commit: %w", err)
		for _, req := range batch {
			req.res, req.err = nil, err
			close(req.done)
		}
		return
	}
	l.dmu.Lock()
	for k, e := range newKeys {
		l.dedupe[k] = e
	}
	l.dmu.Unlock()
	for _, req := range batch {
		for i, r := range req.res {
			if !r.Duplicate {
				req.events[i].ID, req.events[i].Time = r.ID, now
			}
		}
	}
	l.mu.Lock()
	l.head, l.bytes = head, size
	l.recent = append(l.recent, committed...)
	if len(l.recent) > recentMax {
		l.recent = append(l.recent[:0:0], l.recent[len(l.recent)-recentMax/2:]...)
	}
	close(l.notify)
	l.notify = make(chan struct{})
	l.mu.Unlock()
	for _, req := range batch {
		close(req.done)
	}
}

func dedupeValue(e dedupeEntry) []byte {
	var b [16]byte
	binary.BigEndian.PutUint64(b[:], e.id)
	binary.BigEndian.PutUint64(b[8:], uint64(e.at))
	return b[:]
}

func topicValue(events int64, last uint64) []byte {
	var b [16]byte
	binary.BigEndian.PutUint64(b[:], uint64(events))
	binary.BigEndian.PutUint64(b[8:], last)
	return b[:]
}

// Bounds implements ssehub.Log.
func (l *Log) Bounds() (first, head uint64) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return l.first, l.head
}

// Close implements ssehub.Log: queued appends are committed first.
func (l *Log) Close() error {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return nil
	}
	l.closed = true
	l.mu.Unlock()
	l.sendMu.Lock()
	l.sendClosed = true
	l.sendMu.Unlock()
	close(l.quit)
	l.wg.Wait()
	return l.db.Close()
}

var errStop = errors.New("stop")
