// Package bolt is the default embedded ssehub.Store: a go.etcd.io/bbolt
// file in the data directory, written by one goroutine that commits
// everything queued in one transaction (group commit) and acknowledges each
// append only once that transaction is durable.
//
// Importing the package registers the "bolt" driver with
// ssehub.RegisterDriver.
package bolt

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/ssehub/ssehub"
	"github.com/ssehub/ssehub/internal/groupcommit"
	bbolt "go.etcd.io/bbolt"
)

// FileName is the database file inside the data directory.
const FileName = "ssehub.db"

var (
	bucketEvents = []byte("events")
	bucketMeta   = []byte("meta")
	bucketTopics = []byte("topics")
	bucketIndex  = []byte("topicidx")
	bucketDedupe = []byte("dedupe")
	keyHead      = []byte("head")
	keyBytes     = []byte("bytes")
	keyCount     = []byte("count")
	keyFirst     = []byte("first")
	keyEpoch     = []byte("epoch")
	keySchema    = []byte("schema")
)

// schema 2 added the per-topic index, the event count and pruned topics.
const schema = 2

// Defaults of Options.
const (
	DefaultMaxBatch    = 10_000
	DefaultOpenTimeout = 3 * time.Second
)

// Options tune a bolt log.
type Options struct {
	// Retention bounds the history kept; zero fields are no limit. Count and
	// byte bounds hold whenever an Append returns; age is applied once a
	// second.
	Retention ssehub.Retention
	// DedupeWindow is how long an idempotency key is remembered; default 2 minutes.
	DedupeWindow time.Duration
	// MaxBatch bounds the events of one Append and of one commit; default
	// DefaultMaxBatch. Capabilities reports it, lowered to
	// Retention.MaxEvents when that is smaller.
	MaxBatch int
	// NoSync skips fsync on commit: for tests only, it gives up durability.
	NoSync bool
	// OpenTimeout bounds the wait for the file lock another process holds;
	// default DefaultOpenTimeout, negative waits until the context ends.
	OpenTimeout time.Duration
	// Logger receives the store's logs; default slog.Default().
	Logger *slog.Logger
}

// appendReq is one Append waiting for its group's commit.
type appendReq = groupcommit.Request

type dedupeEntry struct {
	id uint64
	at int64 // unix nanos
}

// Log is the bbolt-backed ssehub.Store; it also implements
// ssehub.StatsReporter.
type Log struct {
	db       *bbolt.DB
	dir      string
	opts     Options
	maxBatch int
	epoch    string
	queue    *groupcommit.Queue // the Appends waiting for the writer
	quit     chan struct{}

	txMu sync.Mutex // serialises the writer's and the janitor's transactions with their in-memory effects

	wg sync.WaitGroup

	mu     sync.RWMutex
	first  uint64 // oldest retained id; head+1 when none
	head   uint64
	count  int64 // retained events
	bytes  int64
	recent []*ssehub.Event // the last committed events, for followers
	notify chan struct{}
	closed bool

	dedupe map[string]dedupeEntry // owned by the writer goroutine
	dmu    sync.Mutex             // guards dedupe against the janitor
}

// recentMax bounds the committed events kept in memory for followers.
const recentMax = 8192

// testHookPut, when set by a test, is called for each event inside the
// commit's transaction; an error fails the transaction as a failing Put
// would.
var testHookPut func(*ssehub.Event) error

// Open opens (creating if needed) the log in dir.
func Open(dir string, opts Options) (*Log, error) {
	return OpenContext(context.Background(), dir, opts)
}

// OpenContext opens (creating if needed) the log in dir. It waits at most
// opts.OpenTimeout for a lock another process holds, and returns early with
// ctx's error when ctx ends. A damaged file is refused with an error
// wrapping ErrCorrupt: the file is checked before bbolt maps it, since bbolt
// can crash the process on a damaged page (see docs/storage.md).
func OpenContext(ctx context.Context, dir string, opts Options) (*Log, error) {
	if opts.DedupeWindow <= 0 {
		opts.DedupeWindow = 2 * time.Minute
	}
	if opts.MaxBatch <= 0 {
		opts.MaxBatch = DefaultMaxBatch
	}
	if opts.OpenTimeout == 0 {
		opts.OpenTimeout = DefaultOpenTimeout
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if err := makeDir(dir); err != nil {
		return nil, fmt.Errorf("bolt: %w", err)
	}
	db, err := openDB(ctx, dir, opts.OpenTimeout, opts.NoSync, false)
	if err != nil {
		return nil, err
	}
	l := &Log{db: db, dir: dir, opts: opts, queue: groupcommit.NewQueue(1024), quit: make(chan struct{}),
		notify: make(chan struct{}), dedupe: map[string]dedupeEntry{}}
	l.maxBatch = opts.MaxBatch
	if r := opts.Retention.MaxEvents; r > 0 && r < int64(l.maxBatch) {
		l.maxBatch = int(r)
	}
	if err := l.init(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("bolt: open %s: %w", dir, err)
	}
	l.wg.Add(2)
	go l.writer()
	go l.janitor()
	return l, nil
}

// openDB locks, checks and opens the file of dir.
func openDB(ctx context.Context, dir string, timeout time.Duration, noSync, readOnly bool) (*bbolt.DB, error) {
	path := filepath.Join(dir, FileName)
	flag := os.O_RDWR | os.O_CREATE
	if readOnly {
		flag = os.O_RDONLY
	}
	_, statErr := os.Stat(path)
	f, err := os.OpenFile(path, flag, 0o600)
	if err != nil {
		return nil, fmt.Errorf("bolt: %w", err)
	}
	if os.IsNotExist(statErr) && !readOnly && !noSync {
		// A new file: its directory entry must be durable before any
		// commit to it is acknowledged.
		if err := syncDir(dir); err != nil {
			f.Close()
			return nil, fmt.Errorf("bolt: %w", err)
		}
	}
	if err := lockFile(ctx, f, !readOnly, timeout); err != nil {
		f.Close()
		return nil, fmt.Errorf("bolt: data directory %s: %w", dir, err)
	}
	if err := verifyFile(ctx, f); err != nil {
		f.Close()
		if ctx.Err() != nil {
			return nil, fmt.Errorf("bolt: open %s: %w", dir, err)
		}
		return nil, fmt.Errorf("bolt: %s: %w (run 'ssehub check --data %s'; 'ssehub salvage --data %s --out NEWDIR' copies what is readable)",
			path, err, dir, dir)
	}
	return boltOpen(path, f, noSync, readOnly)
}

// boltOpen hands the locked, checked file to bbolt. The recover is a
// second line only: a panic in bbolt's own goroutines cannot be recovered,
// which is why verifyFile runs first.
func boltOpen(path string, f *os.File, noSync, readOnly bool) (db *bbolt.DB, err error) {
	defer func() {
		if r := recover(); r != nil {
			f.Close()
			db, err = nil, fmt.Errorf("bolt: %s: %w: %v", path, ErrCorrupt, r)
		}
	}()
	db, err = bbolt.Open(path, 0o600, &bbolt.Options{
		Timeout: time.Second, NoFreelistSync: true, FreelistType: bbolt.FreelistMapType, NoSync: noSync, ReadOnly: readOnly,
		OpenFile: func(string, int, os.FileMode) (*os.File, error) { return f, nil },
	})
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("bolt: open %s: %w", path, err)
	}
	return db, nil
}

// newEpoch returns 12 random lower-case letters and digits.
func newEpoch() string { return strings.ToLower(rand.Text()[:12]) }

func getU64(b *bbolt.Bucket, k []byte) (uint64, bool) {
	if v := b.Get(k); len(v) == 8 {
		return binary.BigEndian.Uint64(v), true
	}
	return 0, false
}

// init creates the buckets, migrates an older file and loads the state.
func (l *Log) init(ctx context.Context) error {
	var version uint64
	err := l.db.Update(func(tx *bbolt.Tx) error {
		for _, b := range [][]byte{bucketEvents, bucketMeta, bucketTopics, bucketIndex, bucketDedupe} {
			if _, err := tx.CreateBucketIfNotExists(b); err != nil {
				return err
			}
		}
		meta := tx.Bucket(bucketMeta)
		if v := meta.Get(keyEpoch); len(v) > 0 {
			l.epoch = string(v)
		} else {
			// A file without an epoch (new, or from before epochs) gets
			// one now and keeps it.
			l.epoch = newEpoch()
			if err := meta.Put(keyEpoch, []byte(l.epoch)); err != nil {
				return err
			}
		}
		version, _ = getU64(meta, keySchema)
		if version == 0 {
			if k, _ := tx.Bucket(bucketEvents).Cursor().First(); k == nil {
				version = schema // a new file: nothing to migrate
				return meta.Put(keySchema, itob(schema))
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	if version < schema {
		if err := l.migrate(ctx); err != nil {
			return fmt.Errorf("migrate: %w", err)
		}
	}
	return l.db.View(func(tx *bbolt.Tx) error {
		meta := tx.Bucket(bucketMeta)
		l.head, _ = getU64(meta, keyHead)
		b, _ := getU64(meta, keyBytes)
		c, _ := getU64(meta, keyCount)
		l.bytes, l.count = int64(b), int64(c)
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
}

// migrate brings a schema 1 file to schema 2: it builds the per-topic
// index and the event count, and rebuilds the topics bucket from the
// retained events (dropping topics with none), in transactions of
// migrateChunk events. A crash part-way leaves the schema at 1, so the
// next open starts over.
func (l *Log) migrate(ctx context.Context) error {
	const migrateChunk = 50_000
	l.opts.Logger.Info("bolt: building the per-topic index (once, for a file from an older version)", "dir", l.dir)
	start := time.Now()
	if err := l.db.Update(func(tx *bbolt.Tx) error {
		for _, b := range [][]byte{bucketIndex, bucketTopics} {
			if err := tx.DeleteBucket(b); err != nil && !errors.Is(err, bbolt.ErrBucketNotFound) {
				return err
			}
			if _, err := tx.CreateBucket(b); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		return err
	}
	topics := map[string]*ssehub.TopicInfo{}
	var after, count uint64
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		n := 0
		err := l.db.Update(func(tx *bbolt.Tx) error {
			idx := tx.Bucket(bucketIndex)
			idx.FillPercent = 0.9
			c := tx.Bucket(bucketEvents).Cursor()
			for k, v := c.Seek(itob(after + 1)); k != nil && n < migrateChunk; k, v = c.Next() {
				id := binary.BigEndian.Uint64(k)
				after = id
				n++
				count++
				tb, _, err := topicOf(v)
				if err != nil {
					l.opts.Logger.Error("bolt: damaged event record left out of the index", "id", id)
					continue
				}
				if ssehub.IsSys(string(tb)) {
					continue
				}
				if err := idx.Put(indexKey(tb, id), nil); err != nil {
					return err
				}
				ti := topics[string(tb)]
				if ti == nil {
					ti = &ssehub.TopicInfo{Topic: string(tb)}
					topics[ti.Topic] = ti
				}
				ti.Events++
				ti.LastID = id
			}
			return nil
		})
		if err != nil {
			return err
		}
		if n < migrateChunk {
			break
		}
	}
	err := l.db.Update(func(tx *bbolt.Tx) error {
		tb := tx.Bucket(bucketTopics)
		for _, ti := range topics {
			if err := tb.Put([]byte(ti.Topic), topicValue(ti.Events, ti.LastID)); err != nil {
				return err
			}
		}
		meta := tx.Bucket(bucketMeta)
		if err := meta.Put(keyCount, itob(count)); err != nil {
			return err
		}
		return meta.Put(keySchema, itob(schema))
	})
	l.opts.Logger.Info("bolt: index built", "events", count, "topics", len(topics), "took", time.Since(start).Round(time.Millisecond))
	return err
}

// indexKey is the per-topic index key of an event: topic \x00 id.
func indexKey(topic []byte, id uint64) []byte {
	k := make([]byte, 0, len(topic)+9)
	k = append(k, topic...)
	k = append(k, 0)
	return binary.BigEndian.AppendUint64(k, id)
}

// Append implements ssehub.Log: the events are committed with whatever
// else is queued, and Append returns once that commit is durable. What
// the store could not hold is refused before anything is queued
// (groupcommit.Check), so that one request's event never fails the other
// requests committed with it.
func (l *Log) Append(ctx context.Context, events []*ssehub.Event) ([]ssehub.AppendResult, error) {
	size, err := groupcommit.Check(events, groupcommit.Limits{MaxBatch: l.maxBatch, MaxKeyLen: bbolt.MaxKeySize, MaxRecord: bbolt.MaxValueSize, MaxBytes: l.opts.Retention.MaxBytes}, encodedLen)
	if err != nil {
		return nil, err
	}
	return l.queue.Submit(ctx, events, size)
}

// writer is the single goroutine that commits appends, in groups
// (package internal/groupcommit).
func (l *Log) writer() {
	defer l.wg.Done()
	buf := make([]byte, 0, 4096)
	w := groupcommit.Writer{Reqs: l.queue.Reqs(), Quit: l.quit, MaxBatch: l.maxBatch, MaxBytes: l.opts.Retention.MaxBytes,
		Commit: func(batch []*appendReq) error { return l.commit(batch, &buf) },
		AfterGroup: func() {
			if cap(buf) > 16<<20 {
				buf = make([]byte, 0, 4096) // do not keep a huge batch's arena
			}
		},
		Logger: l.opts.Logger, Name: "bolt"}
	w.Run()
}

// txState is the log's state as a transaction changes it; it becomes the
// log's only once the transaction commits.
type txState struct {
	first, head  uint64
	count, bytes int64
	topics       map[string]*ssehub.TopicInfo // touched topics
	tb           *bbolt.Bucket
}

func (l *Log) newTxState(tx *bbolt.Tx) *txState {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return &txState{first: l.first, head: l.head, count: l.count, bytes: l.bytes,
		topics: map[string]*ssehub.TopicInfo{}, tb: tx.Bucket(bucketTopics)}
}

func (s *txState) topic(name string) *ssehub.TopicInfo {
	ti := s.topics[name]
	if ti == nil {
		ti = &ssehub.TopicInfo{Topic: name}
		if v := s.tb.Get([]byte(name)); len(v) == 16 {
			ti.Events, ti.LastID = int64(binary.BigEndian.Uint64(v)), binary.BigEndian.Uint64(v[8:])
		}
		s.topics[ti.Topic] = ti
	}
	return ti
}

// flush writes the touched topics and the totals; a topic with no retained
// event is removed from the bucket.
func (s *txState) flush(tx *bbolt.Tx) error {
	for _, ti := range s.topics {
		var err error
		if ti.Events <= 0 {
			err = s.tb.Delete([]byte(ti.Topic))
		} else {
			err = s.tb.Put([]byte(ti.Topic), topicValue(ti.Events, ti.LastID))
		}
		if err != nil {
			return err
		}
	}
	meta := tx.Bucket(bucketMeta)
	for k, v := range map[string]uint64{"head": s.head, "bytes": uint64(max(s.bytes, 0)), "count": uint64(max(s.count, 0)), "first": s.first} {
		if err := meta.Put([]byte(k), itob(v)); err != nil {
			return err
		}
	}
	return nil
}

func (l *Log) apply(s *txState) {
	l.first, l.head, l.count, l.bytes = s.first, s.head, max(s.count, 0), max(s.bytes, 0)
}

// commit writes a group of requests in one transaction, with the
// retention it makes due, and answers each request once it is durable. On
// error nothing is stored and no request is answered.
func (l *Log) commit(batch []*appendReq, buf *[]byte) error {
	now := time.Now().UTC()
	l.txMu.Lock()
	defer l.txMu.Unlock()
	owner := groupcommit.NewOwner(batch)
	committed := make([]*ssehub.Event, 0, owner.Cap())
	var st *txState
	newKeys := map[string]dedupeEntry{}
	*buf = (*buf)[:0]
	results := make([][]ssehub.AppendResult, len(batch))
	err := l.db.Update(func(tx *bbolt.Tx) error {
		st = l.newTxState(tx)
		evb := tx.Bucket(bucketEvents)
		evb.FillPercent = 1.0
		idx := tx.Bucket(bucketIndex)
		idx.FillPercent = 0.9 // each topic's entries grow at its tail
		db := tx.Bucket(bucketDedupe)
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
				// bbolt keeps a reference to the value until commit: each
				// record gets its own bytes in the arena (a grown arena
				// leaves earlier records in the old array, still valid).
				start := len(*buf)
				*buf = binary.BigEndian.AppendUint64(*buf, id)
				key := (*buf)[start:len(*buf):len(*buf)]
				start = len(*buf)
				*buf = encodeEvent(*buf, &ev)
				if err := evb.Put(key, (*buf)[start:len(*buf):len(*buf)]); err != nil {
					return fmt.Errorf("event %d: %w", i, err)
				}
				committed = append(committed, owner.Own(&ev))
				st.bytes += int64(ev.Size())
				st.count++
				if st.first > id {
					st.first = id
				}
				if !ssehub.IsSys(ev.Topic) {
					// The index key in the arena too, for the same reason.
					start := len(*buf)
					*buf = binary.BigEndian.AppendUint64(append(append(*buf, ev.Topic...), 0), id)
					if err := idx.Put((*buf)[start:len(*buf):len(*buf)], nil); err != nil {
						return fmt.Errorf("event %d: %w", i, err)
					}
					ti := st.topic(ev.Topic)
					ti.Events++
					ti.LastID = id
				}
				if dk != "" {
					e := dedupeEntry{id, now.UnixNano()}
					newKeys[dk] = e
					if err := db.Put([]byte(dk), dedupeValue(e)); err != nil {
						return fmt.Errorf("event %d: %w", i, err)
					}
				}
				res[i] = ssehub.AppendResult{ID: id}
				appended++
			}
		}
		// Count and byte retention, in the same transaction: the bounds
		// hold when the appends are acknowledged, and the writer pays for
		// the removal (back-pressure). At most deleteChunk more than were
		// appended are removed, so a log far over its bounds (retention
		// lowered at a restart) catches up over several commits.
		if _, err := l.trim(tx, st, now, appended+deleteChunk, false); err != nil {
			return fmt.Errorf("retention: %w", err)
		}
		return st.flush(tx)
	})
	if err != nil {
		return fmt.Errorf("bolt: commit: %w", err)
	}
	l.dmu.Lock()
	for k, e := range newKeys {
		l.dedupe[k] = e
	}
	l.dmu.Unlock()
	for ri, req := range batch {
		req.Res = results[ri]
		for i, r := range req.Res {
			if !r.Duplicate {
				req.Events[i].ID, req.Events[i].Time = r.ID, now
			}
		}
	}
	l.mu.Lock()
	l.apply(st)
	l.recent = append(l.recent, committed...)
	if len(l.recent) > recentMax {
		l.recent = append(l.recent[:0:0], l.recent[len(l.recent)-recentMax/2:]...)
	}
	close(l.notify)
	l.notify = make(chan struct{})
	l.mu.Unlock()
	for _, req := range batch {
		close(req.Done)
	}
	return nil
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

// Bounds implements ssehub.Log; it answers from memory.
func (l *Log) Bounds(context.Context) (ssehub.Position, error) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return ssehub.Position{First: l.first, Head: l.head, Epoch: l.epoch}, nil
}

// Capabilities implements ssehub.Log.
func (l *Log) Capabilities() ssehub.Capabilities {
	return ssehub.Capabilities{MaxBatch: l.maxBatch, DenseIDs: true}
}

// Dir returns the data directory.
func (l *Log) Dir() string { return l.dir }

// Close implements ssehub.Log: queued appends are committed first.
func (l *Log) Close() error {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return nil
	}
	l.closed = true
	l.mu.Unlock()
	l.queue.Close()
	close(l.quit)
	l.wg.Wait()
	return l.db.Close()
}

var errStop = errors.New("stop")

var (
	_ ssehub.Store         = (*Log)(nil)
	_ ssehub.StatsReporter = (*Log)(nil)
)
