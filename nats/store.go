package nats

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/ssehub/ssehub"
)

// Options configure Open. Zero values take the defaults of Settings.
type Options struct {
	// URL is the servers' URL or a comma-separated list; required.
	URL string
	// Stream, SubjectPrefix, Replicas, StorageType, MaxBatch,
	// PublishTimeout and ReadyTimeout are as in Settings.
	Stream         string
	SubjectPrefix  string
	Replicas       int
	StorageType    string
	MaxBatch       int
	PublishTimeout time.Duration
	ReadyTimeout   time.Duration
	// Retention maps to the stream's MaxMsgs, MaxBytes and MaxAge.
	Retention ssehub.Retention
	// DedupeWindow is the stream's duplicate window (default 2 minutes).
	DedupeWindow time.Duration
	// NATS are extra client options (credentials, TLS, a name).
	NATS []nats.Option
	// Logger receives the store's logs; default slog.Default().
	Logger *slog.Logger
	// server is an embedded server the store owns and stops on Close.
	server *Server
}

// Store is an ssehub.Store on a NATS JetStream stream. It is safe for
// concurrent use.
type Store struct {
	opts   Options
	log    *slog.Logger
	nc     *nats.Conn
	js     jetstream.JetStream
	stream jetstream.Stream
	kv     jetstream.KeyValue
	prefix string // "<subject_prefix>."
	name   string // stream name
	caps   ssehub.Capabilities

	batchSem chan struct{} // atomic batches in flight (the server allows 50 a stream)
	stateSem chan struct{} // requests that make server-side state or scan it (List, Topics)

	closed    chan struct{}
	closeOnce sync.Once
	closeErr  error

	mu        sync.Mutex
	lastInfo  *jetstream.StreamInfo
	lastCheck time.Time
	lastErr   error
	stats     atomic.Pointer[ssehub.StoreStats]
}

var (
	_ ssehub.Store         = (*Store)(nil)
	_ ssehub.Health        = (*Store)(nil)
	_ ssehub.StatsReporter = (*Store)(nil)
)

func (o Options) withDefaults() Options {
	s := Settings{Stream: o.Stream, SubjectPrefix: o.SubjectPrefix, Replicas: o.Replicas, StorageType: o.StorageType,
		MaxBatch: o.MaxBatch, PublishTimeout: o.PublishTimeout, ReadyTimeout: o.ReadyTimeout}.withDefaults()
	o.Stream, o.SubjectPrefix, o.Replicas, o.StorageType = s.Stream, s.SubjectPrefix, s.Replicas, s.StorageType
	o.MaxBatch, o.PublishTimeout, o.ReadyTimeout = s.MaxBatch, s.PublishTimeout, s.ReadyTimeout
	if o.DedupeWindow <= 0 {
		o.DedupeWindow = 2 * time.Minute
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	return o
}

// Open connects to the NATS servers at o.URL, waits (at most
// o.ReadyTimeout) until JetStream answers, and creates the stream and its
// KV bucket, or brings an existing stream's limits to o's.
func Open(ctx context.Context, o Options) (*Store, error) {
	o = o.withDefaults()
	if o.URL == "" {
		return nil, errors.New("nats: no server URL")
	}
	st := Settings{URL: o.URL, Stream: o.Stream, SubjectPrefix: o.SubjectPrefix, Replicas: o.Replicas, StorageType: o.StorageType,
		MaxBatch: o.MaxBatch, PublishTimeout: o.PublishTimeout, ReadyTimeout: o.ReadyTimeout}
	if err := st.validate(); err != nil {
		return nil, err
	}
	s := &Store{opts: o, log: o.Logger, prefix: o.SubjectPrefix + ".", name: o.Stream,
		caps:     ssehub.Capabilities{MaxBatch: o.MaxBatch, DenseIDs: true},
		batchSem: make(chan struct{}, 16), stateSem: make(chan struct{}, 4), closed: make(chan struct{})}
	nopts := append([]nats.Option{
		nats.Name("ssehub"),
		nats.MaxReconnects(-1),
		nats.ReconnectWait(250 * time.Millisecond),
		nats.RetryOnFailedConnect(true),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			if err != nil {
				s.log.Warn("nats: disconnected", "err", err)
			}
		}),
		nats.ReconnectHandler(func(nc *nats.Conn) { s.log.Info("nats: reconnected", "server", nc.ConnectedUrlRedacted()) }),
		nats.ErrorHandler(func(_ *nats.Conn, sub *nats.Subscription, err error) {
			s.log.Warn("nats: async error", "err", err)
		}),
	}, o.NATS...)
	nc, err := nats.Connect(o.URL, nopts...)
	if err != nil {
		return nil, fmt.Errorf("nats: connect to %s: %w", shownURL(o.URL), err)
	}
	s.nc = nc
	if s.js, err = jetstream.New(nc); err != nil {
		nc.Close()
		return nil, fmt.Errorf("nats: %w", err)
	}
	if err := s.setup(ctx); err != nil {
		nc.Close()
		return nil, err
	}
	return s, nil
}

// setup waits for JetStream and creates or updates the stream and the KV.
func (s *Store) setup(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, s.opts.ReadyTimeout)
	defer cancel()
	var last error
	for attempt := 0; ; attempt++ {
		last = s.setupOnce(ctx)
		if last == nil {
			return nil
		}
		if errors.Is(last, errConfig) {
			return last
		}
		if attempt%10 == 0 {
			s.log.Info("nats: waiting for JetStream", "stream", s.name, "err", last)
		}
		if st := s.nc.Status(); st != nats.CONNECTED {
			last = fmt.Errorf("no NATS server answers at %s (client %s): %w", shownURL(s.opts.URL), st, last)
		}
		select {
		case <-ctx.Done():
			hint := ""
			if s.opts.Replicas > 1 {
				hint = fmt.Sprintf("; a cluster needs a majority of its servers up, and a stream with %d replicas needs %d servers with JetStream", s.opts.Replicas, s.opts.Replicas)
			}
			return fmt.Errorf("JetStream at %s was not ready within %v (storage.nats.ready_timeout): %w%s",
				shownURL(s.opts.URL), s.opts.ReadyTimeout, last, hint)
		case <-time.After(250 * time.Millisecond):
		}
	}
}

var errConfig = errors.New("nats: the stream's configuration cannot be applied")

func (s *Store) streamConfig() jetstream.StreamConfig {
	r := s.opts.Retention
	cfg := jetstream.StreamConfig{
		Name:               s.name,
		Description:        "ssehub event log",
		Subjects:           []string{s.prefix + ">"},
		Retention:          jetstream.LimitsPolicy,
		Discard:            jetstream.DiscardOld,
		MaxMsgs:            -1,
		MaxBytes:           -1,
		MaxAge:             r.MaxAge,
		MaxMsgsPerSubject:  -1,
		MaxConsumers:       -1,
		Duplicates:         s.opts.DedupeWindow,
		Replicas:           s.opts.Replicas,
		Storage:            jetstream.FileStorage,
		AllowDirect:        true,
		AllowAtomicPublish: true,
	}
	if r.MaxEvents > 0 {
		cfg.MaxMsgs = r.MaxEvents
	}
	if r.MaxBytes > 0 {
		cfg.MaxBytes = r.MaxBytes
	}
	if s.opts.StorageType == "memory" {
		cfg.Storage = jetstream.MemoryStorage
	}
	// JetStream refuses a duplicate window longer than the maximum age.
	if cfg.MaxAge > 0 && cfg.Duplicates > cfg.MaxAge {
		cfg.Duplicates = cfg.MaxAge
	}
	return cfg
}

func (s *Store) setupOnce(ctx context.Context) error {
	actx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	want := s.streamConfig()
	stream, err := s.js.Stream(actx, s.name)
	switch {
	case errors.Is(err, jetstream.ErrStreamNotFound):
		stream, err = s.js.CreateStream(actx, want)
		if errors.Is(err, jetstream.ErrStreamNameAlreadyInUse) {
			stream, err = s.js.Stream(actx, s.name) // another node made it first
		}
		if err != nil {
			return fmt.Errorf("create stream %s: %w", s.name, err)
		}
		s.log.Info("nats: stream created", "stream", s.name, "replicas", want.Replicas)
	case err != nil:
		return fmt.Errorf("stream %s: %w", s.name, err)
	default:
		have := stream.CachedInfo().Config
		if changed := configDiff(have, want); changed != "" {
			if stream, err = s.js.UpdateStream(actx, mergeConfig(have, want)); err != nil {
				var apiErr *jetstream.APIError
				if errors.As(err, &apiErr) && apiErr.Code == 400 {
					return fmt.Errorf("%w: stream %s (%s): %w", errConfig, s.name, changed, err)
				}
				return fmt.Errorf("update stream %s: %w", s.name, err)
			}
			s.log.Info("nats: stream updated", "stream", s.name, "changed", changed)
		}
	}
	s.stream = stream
	s.remember(stream.CachedInfo())
	kv, err := s.openKV(actx)
	if err != nil {
		return err
	}
	s.kv = kv
	return nil
}

// configDiff names the fields of have that differ from want, or "".
func configDiff(have, want jetstream.StreamConfig) string {
	var d []string
	check := func(name string, differ bool) {
		if differ {
			d = append(d, name)
		}
	}
	check("subjects", strings.Join(have.Subjects, ",") != strings.Join(want.Subjects, ","))
	check("max_msgs", have.MaxMsgs != want.MaxMsgs)
	check("max_bytes", have.MaxBytes != want.MaxBytes)
	check("max_age", have.MaxAge != want.MaxAge)
	check("duplicate_window", have.Duplicates != want.Duplicates)
	check("replicas", have.Replicas != want.Replicas)
	check("allow_direct", have.AllowDirect != want.AllowDirect)
	check("allow_atomic", have.AllowAtomicPublish != want.AllowAtomicPublish)
	check("discard", have.Discard != want.Discard)
	return strings.Join(d, ", ")
}

// mergeConfig returns have with want's fields that the store sets.
func mergeConfig(have, want jetstream.StreamConfig) jetstream.StreamConfig {
	have.Subjects, have.MaxMsgs, have.MaxBytes, have.MaxAge = want.Subjects, want.MaxMsgs, want.MaxBytes, want.MaxAge
	have.Duplicates, have.Replicas, have.AllowDirect, have.AllowAtomicPublish = want.Duplicates, want.Replicas, want.AllowDirect, want.AllowAtomicPublish
	have.Discard = want.Discard
	return have
}

// remember keeps the latest stream state for StoreStats.
func (s *Store) remember(info *jetstream.StreamInfo) {
	if info == nil {
		return
	}
	s.stats.Store(&ssehub.StoreStats{Events: int64(info.State.Msgs), Bytes: int64(info.State.Bytes)})
}

// info returns the stream's current info, answered by its leader.
func (s *Store) info(ctx context.Context, opts ...jetstream.StreamInfoOpt) (*jetstream.StreamInfo, error) {
	if s.isClosed() {
		return nil, ssehub.ErrClosed
	}
	ctx, cancel := s.requestContext(ctx)
	defer cancel()
	info, err := s.stream.Info(ctx, opts...)
	if err != nil {
		return nil, s.unavailable("stream info", err)
	}
	if len(opts) == 0 {
		s.remember(info)
	}
	return info, nil
}

// requestContext bounds one request to the servers.
func (s *Store) requestContext(ctx context.Context) (context.Context, context.CancelFunc) {
	if _, ok := ctx.Deadline(); ok {
		return context.WithCancel(ctx)
	}
	return context.WithTimeout(ctx, s.opts.PublishTimeout)
}

// unavailable wraps a failed request: the caller's cancellation stays
// itself, a closed store is ErrClosed, anything else ErrUnavailable.
func (s *Store) unavailable(op string, err error) error {
	switch {
	case errors.Is(err, context.Canceled):
		return fmt.Errorf("nats: %s: %w", op, err)
	case s.isClosed(), errors.Is(err, nats.ErrConnectionClosed):
		return fmt.Errorf("nats: %s: %w", op, ssehub.ErrClosed)
	}
	return fmt.Errorf("nats: %s: %w: %w", op, ssehub.ErrUnavailable, err)
}

// epochOf names a stream instance: its creation time (set once by the
// cluster, the same on every node, new when the stream is recreated) and
// its name, in base 36.
func epochOf(info *jetstream.StreamInfo) string {
	h := fnv.New32a()
	h.Write([]byte(info.Config.Name))
	return strconv.FormatInt(info.Created.UnixNano(), 36) + strconv.FormatUint(uint64(h.Sum32()), 36)
}

// Bounds returns the stream's first and last sequence and its epoch.
func (s *Store) Bounds(ctx context.Context) (ssehub.Position, error) {
	info, err := s.info(ctx)
	if err != nil {
		return ssehub.Position{}, err
	}
	return positionOf(info), nil
}

func positionOf(info *jetstream.StreamInfo) ssehub.Position {
	p := ssehub.Position{First: info.State.FirstSeq, Head: info.State.LastSeq, Epoch: epochOf(info)}
	if info.State.Msgs == 0 || p.First == 0 {
		p.First = p.Head + 1
	}
	return p
}

// Capabilities: atomic batches up to MaxBatch, dense ids (stream
// sequences have no holes: nothing deletes single messages, and a
// refused publish or batch takes no sequence).
func (s *Store) Capabilities() ssehub.Capabilities { return s.caps }

// StoreStats returns the stream's size as last seen (Bounds refreshes it).
// JetStream applies the count and byte limits as it stores and the age
// limit on a timer, so RetentionLag is 0.
func (s *Store) StoreStats() ssehub.StoreStats {
	if st := s.stats.Load(); st != nil {
		return *st
	}
	return ssehub.StoreStats{}
}

// Healthy returns nil while the client is connected and the stream's
// leader answers; the answer is kept for a second, so /readyz probes do
// not each cost a request.
func (s *Store) Healthy(ctx context.Context) error {
	if s.isClosed() {
		return ssehub.ErrClosed
	}
	if st := s.nc.Status(); st != nats.CONNECTED {
		return fmt.Errorf("nats: %w: not connected (%s)", ssehub.ErrUnavailable, st)
	}
	s.mu.Lock()
	if time.Since(s.lastCheck) < time.Second {
		err := s.lastErr
		s.mu.Unlock()
		return err
	}
	s.mu.Unlock()
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	_, err := s.info(ctx)
	s.mu.Lock()
	s.lastCheck, s.lastErr = time.Now(), err
	s.mu.Unlock()
	return err
}

func (s *Store) isClosed() bool {
	select {
	case <-s.closed:
		return true
	default:
		return false
	}
}

// Close ends Follow calls, closes the connection and stops an embedded
// server the store started.
func (s *Store) Close() error {
	s.closeOnce.Do(func() {
		close(s.closed)
		s.nc.Close()
		if s.opts.server != nil {
			s.opts.server.Shutdown()
		}
	})
	return s.closeErr
}

// Conn returns the store's NATS connection, for tools and tests.
func (s *Store) Conn() *nats.Conn { return s.nc }

// StreamName returns the JetStream stream's name.
func (s *Store) StreamName() string { return s.name }

// StreamInfo returns the stream's info from its leader (state, cluster).
func (s *Store) StreamInfo(ctx context.Context) (*jetstream.StreamInfo, error) { return s.info(ctx) }
