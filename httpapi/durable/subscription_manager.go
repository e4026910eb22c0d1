package durable

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ssehub/ssehub"
)

// subManager keeps the subscriptions: their records in the KV (the
// authority: a restart or another node reads them there), a copy of each
// in memory for the live feed to match appends against, and the delivery
// machinery (watch.go, webhook.go, pullwake.go).
type subManager struct {
	f      *Feature
	opts   SubscriptionOptions
	kv     ssehub.KV
	keys   *subKeys
	guard  *webhookGuard
	log    *slog.Logger
	now    func() time.Time
	shared bool   // several nodes may write the records (Refresh set, or a conditional store: NATS): read them again before each change
	node   string // this node's name in the claim keys (random, per start)

	mu   sync.Mutex
	subs map[string]*subState

	client     *http.Client // webhook deliveries (webhookGuard.client)
	deliveries chan string  // subscription ids with a webhook delivery due
	kick       chan struct{}
	ctx        context.Context
	cancel     context.CancelFunc
	wg         sync.WaitGroup
}

// subState is one subscription on this node; mu serializes its changes.
type subState struct {
	mu      sync.Mutex
	rec     *subRecord  // nil: deleted
	queued  bool        // in deliveries, or being delivered (under subManager.mu)
	making  bool        // being created: counted against MaxSubscriptions (under subManager.mu)
	exists  atomic.Bool // rec != nil, for count without mu
	raw     []byte      // the record as last read or written (nil: none), for compare-and-swap
	touched time.Time   // when rec was last read from the KV
}

func randomID(prefix string) string {
	b := make([]byte, 12)
	_, _ = rand.Read(b)
	return prefix + base64.RawURLEncoding.EncodeToString(b)
}

// set replaces s's record (s.mu held).
func (s *subState) set(rec *subRecord) {
	s.rec = rec
	s.exists.Store(rec != nil)
}

// loadAll reads every subscription from the KV into memory.
func (m *subManager) loadAll(ctx context.Context) error {
	seen := map[string]bool{}
	err := m.kv.List(ctx, SubscriptionBucket, func(key string, value []byte) error {
		var rec subRecord
		if json.Unmarshal(value, &rec) != nil || rec.ID != key {
			m.log.Warn("durable streams: an unreadable subscription record, skipped", "id", key)
			return nil
		}
		seen[key] = true
		m.mu.Lock()
		s := m.subs[key]
		if s == nil {
			s = &subState{}
			m.subs[key] = s
		}
		m.mu.Unlock()
		s.mu.Lock()
		s.set(&rec)
		s.raw = bytes.Clone(value)
		s.touched = time.Now()
		s.mu.Unlock()
		return nil
	})
	if err != nil {
		return err
	}
	// Gone from the KV (deleted through another node): dropped here too,
	// locking each state without holding m.mu (the order is s.mu, then
	// m.mu).
	m.mu.Lock()
	var gone []string
	for id := range m.subs {
		if !seen[id] {
			gone = append(gone, id)
		}
	}
	m.mu.Unlock()
	for _, id := range gone {
		s := m.known(id)
		if s == nil {
			continue
		}
		s.mu.Lock()
		if err := m.reload(ctx, id, s); err == nil && s.rec == nil {
			m.unlock(id, s)
			continue
		}
		s.mu.Unlock()
	}
	return nil
}

// lock returns id's state locked, with its record current (nil when the
// subscription does not exist). Unlock it with s.mu.Unlock.
func (m *subManager) lock(ctx context.Context, id string) (*subState, error) {
	m.mu.Lock()
	s := m.subs[id]
	if s == nil {
		s = &subState{}
		m.subs[id] = s
		s.touched = time.Time{}
	}
	m.mu.Unlock()
	s.mu.Lock()
	if m.shared || s.touched.IsZero() {
		if err := m.reload(ctx, id, s); err != nil {
			s.mu.Unlock()
			return nil, err
		}
	}
	return s, nil
}

// reload reads s's record from the KV (s.mu held).
func (m *subManager) reload(ctx context.Context, id string, s *subState) error {
	b, err := m.kv.Get(ctx, SubscriptionBucket, id)
	switch {
	case errors.Is(err, ssehub.ErrNotFound):
		s.set(nil)
		s.raw = nil
	case err != nil:
		return fmt.Errorf("reading subscription %q: %w", id, err)
	default:
		var rec subRecord
		if err := json.Unmarshal(b, &rec); err != nil {
			return fmt.Errorf("subscription %q: unreadable record: %w", id, err)
		}
		s.set(&rec)
		s.raw = b
	}
	s.touched = time.Now()
	return nil
}

// unlock releases s, dropping it from memory when its subscription is gone.
func (m *subManager) unlock(id string, s *subState) {
	if s.rec == nil {
		m.mu.Lock()
		if m.subs[id] == s {
			delete(m.subs, id)
		}
		m.mu.Unlock()
	}
	s.mu.Unlock()
}

// save writes s's record (s.mu held).
func (m *subManager) save(ctx context.Context, s *subState) error {
	b, err := json.Marshal(s.rec)
	if err != nil {
		return err
	}
	if c, ok := m.kv.(ssehub.KVSwapper); ok && m.shared {
		// Only over what this node read: another node's change in
		// between is not overwritten (the caller gets ErrConflict and
		// the record is read again when next used).
		if err := c.CompareAndSwap(ctx, SubscriptionBucket, s.rec.ID, s.raw, b); err != nil {
			s.touched = time.Time{}
			return fmt.Errorf("storing subscription %q: %w", s.rec.ID, err)
		}
	} else if err := m.kv.Put(ctx, SubscriptionBucket, s.rec.ID, b); err != nil {
		s.touched = time.Time{} // the change is not stored: read the record again when next used
		return fmt.Errorf("storing subscription %q: %w", s.rec.ID, err)
	}
	s.raw = b
	return nil
}

// failed answers a failed change of a subscription: another node's change
// at the same instant is 503 with Retry-After (the client sends it again
// and it applies to the record as it now is), anything else as the
// streams answer store errors.
func (m *subManager) failed(w http.ResponseWriter, r *http.Request, err error) {
	if errors.Is(err, ssehub.ErrConflict) && r.Context().Err() == nil {
		w.Header().Set("Retry-After", "1")
		fail(w, http.StatusServiceUnavailable, "another hub node changed this subscription at the same instant; send the request again")
		return
	}
	m.f.storeFailed(w, r, err)
}

// known returns the state this node keeps for id, or nil.
func (m *subManager) known(id string) *subState {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.subs[id]
}

// reserve counts s, a subscription being created (s.mu held), against
// MaxSubscriptions, or reports false when the subscriptions kept and
// being made already reach it: creations of different ids run at once,
// and a count taken before each is saved lets them all pass. release
// undoes it.
func (m *subManager) reserve(s *subState) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	n := 0
	for _, o := range m.subs {
		if o.exists.Load() || o.making {
			n++
		}
	}
	if n >= m.opts.MaxSubscriptions {
		return false
	}
	s.making = true
	return true
}

func (m *subManager) release(s *subState) {
	m.mu.Lock()
	s.making = false
	m.mu.Unlock()
}

// busy reports whether this node has any subscription, or one being made
// (whose creation may not see an append the live feed has: the watcher
// must not skip it).
func (m *subManager) busy() bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.subs) > 0
}

// ids returns the ids of the subscriptions in memory.
func (m *subManager) ids() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]string, 0, len(m.subs))
	for id := range m.subs {
		out = append(out, id)
	}
	return out
}

// streamInfo is one linked stream as a wake or claim reports it.
type streamInfo struct {
	Path       string `json:"path"`
	LinkType   string `json:"link_type"`
	Acked      string `json:"acked_offset"`
	Tail       string `json:"tail_offset"`
	HasPending bool   `json:"has_pending"`
	tail       uint64
}

// tail returns a stream's tail id, or 0 and false when it does not exist.
// seen is the id of an event of the stream the caller saw in the log (0:
// none): a view of the stream from before it (the live feed can be ahead
// of the append that wrote it) is brought up to the log first.
func (m *subManager) tail(ctx context.Context, path string, seen uint64) (uint64, bool, error) {
	topic, err := TopicFor(path)
	if err != nil {
		return 0, false, nil
	}
	sn, err := m.f.snap(ctx, path, topic, false)
	if err != nil {
		return 0, false, err
	}
	// Behind the log: the caller saw a later event, or other nodes write
	// the stream and this node's views are not refreshed on their own.
	if seen > 0 && (!sn.exists || sn.tail < seen) || m.shared && m.f.opts.Refresh <= 0 {
		e, err := m.f.reg.lock(ctx, path, topic) // reads the topic on from the last event applied
		if err != nil {
			return 0, false, err
		}
		sn = e.snapshot()
		m.f.reg.unlock(e)
	}
	if !sn.exists || sn.softDeleted {
		return 0, false, nil
	}
	return sn.tail, true, nil
}

// infos returns rec's linked streams with their tails now (s.mu held).
// seen holds, by path, the last event of a stream the caller saw.
func (m *subManager) infos(ctx context.Context, rec *subRecord, seen map[string]uint64) ([]streamInfo, error) {
	out := make([]streamInfo, 0, len(rec.Links))
	for _, p := range rec.sortedLinks() {
		l := rec.Links[p]
		t, ok, err := m.tail(ctx, p, seen[p])
		if err != nil {
			return nil, err
		}
		if !ok || t < l.Acked {
			t = l.Acked
		}
		out = append(out, streamInfo{Path: p, LinkType: l.linkType(), Acked: formatOffset(l.Acked), Tail: formatOffset(t),
			HasPending: t > l.Acked, tail: t})
	}
	return out, nil
}

// snapshotInfos reports the streams of rec's wake as it was made: the
// tails it covers (s.mu held).
func snapshotInfos(rec *subRecord) []streamInfo {
	out := make([]streamInfo, 0, len(rec.Snapshot))
	for _, p := range rec.sortedLinks() {
		l := rec.Links[p]
		t, ok := rec.Snapshot[p]
		if !ok || t < l.Acked {
			t = l.Acked
		}
		out = append(out, streamInfo{Path: p, LinkType: l.linkType(), Acked: formatOffset(l.Acked), Tail: formatOffset(t), HasPending: t > l.Acked, tail: t})
	}
	return out
}

// maybeWake makes a new wake when rec is idle (no wake in flight, no
// lease held) and a linked stream has events past its cursor; it reports
// whether it made one. s.mu is held; the caller saves.
func (m *subManager) maybeWake(ctx context.Context, s *subState, seen map[string]uint64) (bool, error) {
	rec := s.rec
	if rec == nil || rec.WakeID != "" || rec.Holder != "" {
		return false, nil
	}
	infos, err := m.infos(ctx, rec, seen)
	if err != nil {
		return false, err
	}
	first := ""
	for _, in := range infos {
		if in.HasPending {
			first = in.Path
			break
		}
	}
	if first == "" {
		return false, nil
	}
	if won, err := m.claimGeneration(ctx, rec); err != nil {
		return false, err
	} else if !won {
		return false, errGenerationTaken
	}
	m.newWake(rec, infos)
	if rec.Config.Type == "pull-wake" {
		m.writeWake(ctx, rec, first)
	}
	return true, nil
}

// SubscriptionGenerationBucket holds, on a store several hub nodes share,
// one key per subscription generation being made: the node that creates
// it makes that wake, so two nodes seeing the same append do not both
// wake the subscription.
const SubscriptionGenerationBucket = "durable_subscriptions_generations"

// generationClaimTTL is how long a generation's key blocks other nodes
// from making that generation.
const generationClaimTTL = 10 * time.Second

// claimGeneration reports whether this node may make rec's next
// generation: always on a store one process writes; on a shared one
// (ssehub.KVSwapper) only if it is the first to create the generation's
// key. The previous generation's key is removed then.
func (m *subManager) claimGeneration(ctx context.Context, rec *subRecord) (bool, error) {
	key := func(gen uint64) string { return rec.ID + "/" + rec.Nonce + "/" + strconv.FormatUint(gen, 10) }
	prev := ""
	if rec.Generation > 0 {
		prev = key(rec.Generation)
	}
	return m.claimKey(ctx, key(rec.Generation+1), prev, generationClaimTTL)
}

// claimDelivery reports whether this node may send rec's next delivery
// attempt (any wake, any retry: rec.Deliveries numbers them): on a shared
// store, the first node to create the attempt's key. The caller saves
// rec with Deliveries moved on.
func (m *subManager) claimDelivery(ctx context.Context, rec *subRecord) (bool, error) {
	key := func(n uint64) string { return "delivery/" + rec.ID + "/" + rec.Nonce + "/" + strconv.FormatUint(n, 10) }
	prev := ""
	if rec.Deliveries > 0 {
		prev = key(rec.Deliveries - 1)
	}
	won, err := m.claimKey(ctx, key(rec.Deliveries), prev, max(generationClaimTTL, 2*m.opts.WebhookTimeout+time.Second))
	if won {
		rec.Deliveries++
	}
	return won, err
}

// claimKey creates k (create-if-absent) in SubscriptionGenerationBucket
// and removes prev; it reports false when another node created k first.
// A key older than ttl (its node died before finishing) is taken over.
// A key this node created is its own still: a node that claimed a
// generation and then lost the race to save its record (another node
// changed it meanwhile) decides again on the next event or tick, and
// must not find itself locked out for ttl by its own claim.
func (m *subManager) claimKey(ctx context.Context, k, prev string, ttl time.Duration) (bool, error) {
	c, ok := m.kv.(ssehub.KVSwapper)
	if !m.shared || !ok {
		return true, nil
	}
	stamp := []byte(m.node + " " + strconv.FormatInt(time.Now().UnixNano(), 10))
	err := c.CompareAndSwap(ctx, SubscriptionGenerationBucket, k, nil, stamp)
	if errors.Is(err, ssehub.ErrConflict) {
		b, gerr := m.kv.Get(ctx, SubscriptionGenerationBucket, k)
		if gerr != nil {
			return false, nil
		}
		node, at, perr := parseClaim(b)
		if perr != nil || node != m.node && time.Since(at) < ttl {
			return false, nil
		}
		err = c.CompareAndSwap(ctx, SubscriptionGenerationBucket, k, b, stamp)
		if errors.Is(err, ssehub.ErrConflict) {
			return false, nil
		}
	}
	if err != nil {
		return false, err
	}
	if prev != "" {
		_ = m.kv.Delete(ctx, SubscriptionGenerationBucket, prev)
	}
	return true, nil
}

// parseClaim reads a claim key's value: the claiming node and when
// ("node unixnano"; a bare time from an older version has no node).
func parseClaim(b []byte) (node string, at time.Time, err error) {
	s := string(b)
	if i := strings.LastIndexByte(s, ' '); i >= 0 {
		node, s = s[:i], s[i+1:]
	}
	n, err := strconv.ParseInt(s, 10, 64)
	return node, time.Unix(0, n), err
}

// wakeIfIdle is maybeWake for a caller whose own change must be saved
// whatever another node does: a wake another node is making is no wake
// here.
func (m *subManager) wakeIfIdle(ctx context.Context, s *subState) (bool, error) {
	woke, err := m.maybeWake(ctx, s, nil)
	if errors.Is(err, errGenerationTaken) {
		return false, nil
	}
	return woke, err
}

// errGenerationTaken is maybeWake's answer when another hub node is
// making the wake: the caller's record is about to be stale.
var errGenerationTaken = errors.New("another hub node is making this wake")

// newWake starts the next generation with a wake covering infos' tails.
func (m *subManager) newWake(rec *subRecord, infos []streamInfo) {
	now := m.now()
	rec.Generation++
	rec.WakeID = randomID("w_")
	rec.Snapshot = make(map[string]uint64, len(infos))
	for _, in := range infos {
		rec.Snapshot[in.Path] = in.tail
	}
	rec.Holder, rec.Attempts, rec.Status = "", 0, "active"
	rec.LeaseUntil, rec.NextAttempt = time.Time{}, time.Time{}
	if rec.Config.Type == "webhook" {
		// The lease starts when the wake is issued; the delivery is due now.
		rec.LeaseUntil = now.Add(rec.Config.leaseTTL())
		rec.NextAttempt = now
	}
}

// link adds path to rec's links with its cursor at acked, as explicit
// or glob; it reports false when rec links MaxStreams streams already.
func (m *subManager) link(rec *subRecord, path string, explicit bool, acked uint64) bool {
	if rec.Config.WakeStream == path {
		return true // a wake stream never wakes its own subscription
	}
	l := rec.Links[path]
	if l == nil {
		if len(rec.Links) >= m.opts.MaxStreams {
			return false
		}
		l = &subLink{Acked: acked}
		rec.Links[path] = l
	}
	if explicit {
		l.Explicit = true
	} else {
		l.Glob = true
	}
	return true
}

// kickWatcher wakes the watcher loop.
func (m *subManager) kickWatcher() {
	select {
	case m.kick <- struct{}{}:
	default:
	}
}

// logSave logs a failed save of a background change; another node's
// change at the same instant is routine on a shared store (the record is
// read again, and the next event or tick decides again).
func (m *subManager) logSave(id string, err error) {
	if errors.Is(err, ssehub.ErrConflict) {
		m.log.Debug("durable streams: a subscription changed on another node meanwhile", "subscription", id)
		return
	}
	m.log.Warn("durable streams: saving a subscription", "subscription", id, "err", err)
}
