// Package pebble is an embedded, durable ssehub.Store on
// github.com/cockroachdb/pebble: a log-structured merge tree in the data
// directory whose write-ahead log makes a commit durable with one
// fdatasync, where bbolt needs two (the pages, then the meta page).
//
// Like the bolt store it is written by one goroutine that commits
// everything queued as one pebble batch (group commit), with the per-topic
// index, the topic counts, the totals and the retention that the appends
// make due in the same batch, and acknowledges each append only once the
// batch is synced; the next group is written while one syncs (pipeline.go).
// Importing the package registers the "pebble" driver with
// ssehub.RegisterDriver.
package pebble

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	cpebble "github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/ssehub/ssehub"
	"github.com/ssehub/ssehub/internal/groupcommit"
)

// DirName is the pebble directory inside the data directory.
const DirName = "pebble"

// Defaults of Options.
const (
	DefaultMaxBatch    = 10_000
	DefaultOpenTimeout = 3 * time.Second
	DefaultCacheSize   = 64 << 20
	DefaultMemTable    = 32 << 20
)

// MaxKeyLen bounds a topic (with the index key's 9 bytes) and an
// idempotency key with its topic, as the bolt store does, so that the
// stores refuse the same events.
const MaxKeyLen = 32768

// maxRecord bounds one event record and one KV value.
const maxRecord = 1 << 30

// Options tune a pebble log.
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
	// NoSync skips the WAL's fsync on commit: for tests only, it gives up
	// durability.
	NoSync bool
	// OpenTimeout bounds the wait for the directory lock another process
	// holds; default DefaultOpenTimeout, negative waits until the context
	// ends.
	OpenTimeout time.Duration
	// CacheSize is pebble's block cache in bytes; default DefaultCacheSize.
	CacheSize int64
	// MemTableSize is the size of one pebble memtable in bytes; default
	// DefaultMemTable.
	MemTableSize uint64
	// Logger receives the store's logs; default slog.Default().
	Logger *slog.Logger
}

// appendReq is one Append waiting for its group's commit.
type appendReq = groupcommit.Request

type dedupeEntry struct {
	id uint64
	at int64 // unix nanos
}

// Log is the pebble-backed ssehub.Store; it also implements
// ssehub.StatsReporter.
type Log struct {
	db       *cpebble.DB
	lock     *cpebble.Lock
	dir      string
	opts     Options
	wo       *cpebble.WriteOptions
	maxBatch int
	epoch    string
	queue    *groupcommit.Queue // the Appends waiting for the writer
	quit     chan struct{}

	txMu sync.Mutex // serialises the writer's and the janitor's batches with their in-memory effects
	// written is the log's state with every applied batch, synced or not
	// (guarded by txMu): the next group's ids follow it.
	written txState

	// The commit pipeline (pipeline.go). pebble makes a batch visible once
	// applied, before its WAL sync: Read and Last stop at the durable
	// head, and Topics and Topic read view, a snapshot taken before the
	// oldest batch still syncing (nil: the store itself is durable).
	syncq       chan *pending
	syncqClosed bool // guarded by txMu
	slotMu      sync.Mutex
	slotCond    *sync.Cond
	unsynced    int // groups handed to the syncer and not yet synced
	vmu         sync.RWMutex
	view        *cpebble.Snapshot
	inflight    []*pending // applied, not yet synced, oldest first
	pinned      bool       // a sync failed: view stays before it
	failMu      sync.Mutex
	failed      error // set once a sync fails; every later commit fails with it

	// dbMu guards the handle against Close: every use of db holds it for
	// reading (pebble panics on a closed DB), Close for writing.
	dbMu     sync.RWMutex
	dbClosed bool

	wg sync.WaitGroup

	mu     sync.RWMutex
	first  uint64 // oldest retained id; head+1 when none
	head   uint64 // the last durable id
	count  int64  // retained events
	bytes  int64
	recent []*ssehub.Event // the last committed events, for followers
	notify chan struct{}
	closed bool

	dedupe map[string]dedupeEntry
	dmu    sync.Mutex // guards dedupe against the janitor
}

// recentMax bounds the committed events kept in memory for followers.
const recentMax = 8192

// testFS, when set by a test, is the file system stores open on (a
// crashable in-memory one, to lose what was not synced).
var testFS vfs.FS

// testTune, when set by a benchmark, changes pebble's options.
var testTune func(*cpebble.Options)

// testHookPut, when set by a test, is called for each event while the
// group's batch is built; an error fails the batch as a failing write
// would.
var testHookPut func(*ssehub.Event) error

// Open opens (creating if needed) the log in dir.
func Open(dir string, opts Options) (*Log, error) {
	return OpenContext(context.Background(), dir, opts)
}

// OpenContext opens (creating if needed) the log in dir (in its
// subdirectory DirName). It waits at most opts.OpenTimeout for a lock
// another process holds, and returns early with ctx's error when ctx ends.
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
	if opts.CacheSize <= 0 {
		opts.CacheSize = DefaultCacheSize
	}
	if opts.MemTableSize == 0 {
		opts.MemTableSize = DefaultMemTable
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	path := filepath.Join(dir, DirName)
	fs := vfs.Default
	if testFS != nil {
		fs = testFS
	}
	if err := makeDir(fs, path); err != nil {
		return nil, fmt.Errorf("pebble: %w", err)
	}
	lock, err := lockDir(ctx, fs, path, opts.OpenTimeout)
	if err != nil {
		return nil, fmt.Errorf("pebble: data directory %s: %w", dir, err)
	}
	cache := cpebble.NewCache(opts.CacheSize)
	defer cache.Unref()
	po := &cpebble.Options{
		Cache:              cache,
		MemTableSize:       opts.MemTableSize,
		FormatMajorVersion: cpebble.FormatNewest,
		Lock:               lock,
		FS:                 fs,
		Logger:             pebbleLogger{opts.Logger},
	}
	if testTune != nil {
		testTune(po)
	}
	db, err := cpebble.Open(path, po)
	if err != nil {
		lock.Close()
		return nil, fmt.Errorf("pebble: open %s: %w", path, err)
	}
	l := &Log{db: db, lock: lock, dir: dir, opts: opts, wo: cpebble.Sync, queue: groupcommit.NewQueue(1024),
		quit: make(chan struct{}), notify: make(chan struct{}), dedupe: map[string]dedupeEntry{}}
	if opts.NoSync {
		l.wo = cpebble.NoSync
	}
	l.maxBatch = opts.MaxBatch
	if r := opts.Retention.MaxEvents; r > 0 && r < int64(l.maxBatch) {
		l.maxBatch = int(r)
	}
	if err := l.init(); err != nil {
		db.Close()
		lock.Close()
		return nil, fmt.Errorf("pebble: open %s: %w", dir, err)
	}
	l.written = txState{first: l.first, head: l.head, count: l.count, bytes: l.bytes}
	l.syncq = make(chan *pending, maxInFlight)
	l.slotCond = sync.NewCond(&l.slotMu)
	l.wg.Add(3)
	go l.writer()
	go l.syncer()
	go l.janitor()
	return l, nil
}

// makeDir creates path and its parents, syncing each parent that got a
// new entry, so that a power loss right after the first commits cannot
// lose the directory that holds them (pebble syncs only its own).
func makeDir(fs vfs.FS, path string) error {
	var created []string
	for p := path; ; p = filepath.Dir(p) {
		if _, err := fs.Stat(p); err == nil || p == filepath.Dir(p) {
			break
		}
		created = append(created, p)
	}
	if err := fs.MkdirAll(path, 0o700); err != nil {
		return err
	}
	for _, p := range created {
		d, err := fs.OpenDir(filepath.Dir(p))
		if err != nil {
			return err
		}
		err = d.Sync()
		if cerr := d.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return fmt.Errorf("sync %s: %w", filepath.Dir(p), err)
		}
	}
	return nil
}

// lockDir takes pebble's directory lock, retrying every 50 ms for timeout
// (negative: until ctx ends).
func lockDir(ctx context.Context, fs vfs.FS, path string, timeout time.Duration) (*cpebble.Lock, error) {
	var deadline <-chan time.Time
	if timeout > 0 {
		t := time.NewTimer(timeout)
		defer t.Stop()
		deadline = t.C
	}
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		lock, err := cpebble.LockDirectory(path, fs)
		if err == nil {
			return lock, nil
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("%w (waiting for the lock: %v)", ctx.Err(), err)
		case <-deadline:
			return nil, fmt.Errorf("in use (%v): gave up after %v (is a hub running on it? stop it, or use --server)", err, timeout)
		case <-tick.C:
		}
	}
}

// newEpoch returns 12 random lower-case letters and digits.
func newEpoch() string { return strings.ToLower(rand.Text()[:12]) }

// get returns a copy of key's value, or nil when it is missing.
func (l *Log) get(key []byte) ([]byte, error) { return getFrom(l.db, key) }

// getFrom returns a copy of key's value in r, or nil when it is missing.
func getFrom(r cpebble.Reader, key []byte) ([]byte, error) {
	v, c, err := r.Get(key)
	if errors.Is(err, cpebble.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	out := append([]byte(nil), v...)
	c.Close()
	return out, nil
}

// init loads the state, giving a new directory its epoch and schema.
func (l *Log) init() error {
	epoch, err := l.get(keyEpoch)
	if err != nil {
		return err
	}
	if len(epoch) == 0 {
		l.epoch = newEpoch()
		b := l.db.NewBatch()
		defer b.Close()
		_ = b.Set(keyEpoch, []byte(l.epoch), nil)
		_ = b.Set(keySchema, itob(schema), nil)
		if err := b.Commit(cpebble.Sync); err != nil {
			return err
		}
	} else {
		l.epoch = string(epoch)
	}
	if v, err := l.get(keySchema); err != nil {
		return err
	} else if s, _ := u64(v); s != schema {
		return fmt.Errorf("layout version %d, this build reads %d", s, schema)
	}
	var head, count, bytes, first uint64
	for k, p := range map[string]*uint64{string(keyHead): &head, string(keyCount): &count, string(keyBytes): &bytes, string(keyFirst): &first} {
		v, err := l.get([]byte(k))
		if err != nil {
			return err
		}
		*p, _ = u64(v)
	}
	l.head, l.count, l.bytes = head, int64(count), int64(bytes)
	l.first = l.head + 1
	if l.count > 0 && first > 0 {
		l.first = first
	}
	it, err := l.db.NewIter(&cpebble.IterOptions{LowerBound: []byte{prefixDedupe}, UpperBound: []byte{prefixDedupe + 1}})
	if err != nil {
		return err
	}
	for ok := it.First(); ok; ok = it.Next() {
		if v := it.Value(); len(v) == 16 {
			id, _ := u64(v[:8])
			at, _ := u64(v[8:])
			l.dedupe[string(it.Key()[1:])] = dedupeEntry{id, int64(at)}
		}
	}
	return it.Close()
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
	l.dbMu.Lock()
	l.dbClosed = true
	if l.view != nil { // pinned by a failed sync
		_ = l.view.Close()
		l.view = nil
	}
	err := l.db.Close()
	l.dbMu.Unlock()
	if lerr := l.lock.Close(); err == nil {
		err = lerr
	}
	return err
}

// use runs fn with the handle held against Close, or fails with
// ErrClosed after Close.
func (l *Log) use(fn func() error) error {
	l.dbMu.RLock()
	defer l.dbMu.RUnlock()
	if l.dbClosed {
		return ssehub.ErrClosed
	}
	return fn()
}

// pebbleLogger sends pebble's own logs to slog.
type pebbleLogger struct{ l *slog.Logger }

func (p pebbleLogger) Infof(format string, args ...any) {
	p.l.Debug("pebble: " + fmt.Sprintf(format, args...))
}

func (p pebbleLogger) Errorf(format string, args ...any) {
	p.l.Error("pebble: " + fmt.Sprintf(format, args...))
}

func (p pebbleLogger) Fatalf(format string, args ...any) {
	p.l.Error("pebble: fatal: " + fmt.Sprintf(format, args...))
	os.Exit(1)
}

var (
	_ ssehub.Store         = (*Log)(nil)
	_ ssehub.StatsReporter = (*Log)(nil)
)
