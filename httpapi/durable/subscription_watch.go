package durable

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/ssehub/ssehub"
	"github.com/ssehub/ssehub/format"
	"github.com/ssehub/ssehub/httpapi"
	"github.com/ssehub/ssehub/hub"
)

// registerSubscriptions starts the subscription APIs on s: keys and
// records from the KV, the watcher of the live feed, the webhook workers.
func (f *Feature) registerSubscriptions(s *httpapi.Server) error {
	o := f.opts.Subscriptions
	if o.Disabled {
		return nil
	}
	o.defaults()
	ctx, cancel := context.WithCancel(context.Background())
	m := &subManager{f: f, opts: o, kv: s.Hub().Store(), guard: &webhookGuard{allow: o.AllowNetworks}, log: s.Logger(), node: randomID("n_"),
		now: f.opts.Now, shared: f.opts.Refresh > 0 || s.Hub().Conditional(), subs: map[string]*subState{},
		deliveries: make(chan string, o.MaxSubscriptions+1), kick: make(chan struct{}, 1), ctx: ctx, cancel: cancel}
	lctx, lcancel := context.WithTimeout(ctx, 30*time.Second)
	defer lcancel()
	keys, err := loadSubKeys(lctx, m.kv)
	if err != nil {
		cancel()
		return err
	}
	m.keys = keys
	if err := m.loadAll(lctx); err != nil {
		cancel()
		return fmt.Errorf("durable streams: loading subscriptions: %w", err)
	}
	f.subs = m
	pos := s.Hub().Head()
	m.wg.Add(1 + o.WebhookConcurrency)
	go m.watch(pos)
	m.client = m.guard.client(o.WebhookTimeout)
	for range o.WebhookConcurrency {
		go m.deliverLoop(m.client)
	}
	s.OnShutdown(m.stop)
	return nil
}

// stop ends the watcher and the webhook workers and waits for them, then
// closes the webhook client's idle connections (each holds goroutines
// until the receiver or the idle timeout would end it).
func (m *subManager) stop() {
	m.cancel()
	m.wg.Wait()
	m.client.CloseIdleConnections()
}

// watch is the subscriptions' one loop: on every wake-up from the live
// feed it reads the events after pos and matches their streams against
// the subscriptions; on every tick it ends expired leases, queues the
// webhook deliveries due and, on a shared store, reads other nodes'
// changes. It never waits on a webhook: deliveries run in their workers.
func (m *subManager) watch(pos uint64) {
	defer m.wg.Done()
	// The live feed's subscriber, held only while a subscription exists
	// (so a hub without any has no extra subscriber): a wake-up only;
	// what changed is read from the log after the last event looked at.
	var sub *hub.Subscriber
	defer func() {
		if sub != nil {
			sub.Close()
		}
	}()
	tick := time.NewTicker(m.opts.Tick)
	defer tick.Stop()
	var buf []byte
	lastList := time.Now()
	m.timers(m.ctx, true)
	for {
		select {
		case <-m.ctx.Done():
			return
		case <-m.kick:
		case <-tick.C:
			m.timers(m.ctx, false)
			if m.shared && time.Since(lastList) > 2*time.Second {
				if err := m.loadAll(m.ctx); err != nil {
					m.log.Warn("durable streams: reading subscriptions", "err", err)
				}
				lastList = time.Now()
			}
		}
		switch busy := m.busy(); {
		case busy && sub == nil:
			var err error
			sub, err = m.f.s.Hub().Subscribe(hub.SubscribeOptions{Context: m.ctx,
				Filter: ssehub.NewFilter(ssehub.MustPattern(TopicPrefix + ".*")), Format: format.Raw, Notify: m.kickWatcher})
			if err != nil {
				m.log.Warn("durable streams: subscribing to the live feed; the tick looks instead", "err", err)
				sub = nil
			}
		case !busy && sub != nil:
			sub.Close()
			sub = nil
		}
		// Drain what the feed queued (the bytes are not needed).
		for sub != nil {
			var err error
			buf, err = sub.Next(buf[:0], 1<<20)
			if err != nil || len(buf) == 0 {
				break
			}
		}
		var err error
		if pos, err = m.scan(m.ctx, pos); err != nil && m.ctx.Err() == nil {
			m.log.Warn("durable streams: subscriptions reading the log", "err", err)
		}
	}
}

var errEnough = errors.New("enough for one pass")

// touch is one stream touched by the events of one scan.
type touch struct {
	first   uint64 // the first event of it seen
	last    uint64 // the last
	deleted bool   // its last event seen was a delete
}

// scan reads the events after pos, at most 10,000 at a time, and hands
// every stream they touched to the subscriptions; it returns the new pos.
func (m *subManager) scan(ctx context.Context, pos uint64) (uint64, error) {
	// Head first: an append after it is read by the next pass, so a
	// subscription made meanwhile misses none.
	if head := m.f.s.Hub().Head(); !m.busy() {
		return max(pos, head), nil
	}
	for {
		touched := map[string]*touch{}
		n := 0
		err := m.f.s.Hub().History(ctx, pos, ssehub.NewFilter(ssehub.MustPattern("*")), func(ev *ssehub.Event) error {
			pos = max(pos, ev.ID)
			n++
			if name, ok := NameFor(ev.Topic); ok && !reservedName(name) {
				t := touched[name]
				if t == nil {
					t = &touch{first: ev.ID}
					touched[name] = t
				}
				t.last = ev.ID
				t.deleted = ev.Type == typeDelete
			}
			if n >= 10_000 {
				return errEnough
			}
			return nil
		})
		if err != nil && !errors.Is(err, errEnough) {
			return pos, err
		}
		if len(touched) > 0 {
			m.appended(ctx, touched)
		}
		if !errors.Is(err, errEnough) {
			return pos, nil
		}
	}
}

// appended links the touched streams a pattern matches (at the event
// before the first one seen: "linked before that append") and wakes the
// subscriptions that link any of them.
func (m *subManager) appended(ctx context.Context, touched map[string]*touch) {
	seen := make(map[string]uint64, len(touched))
	for name, t := range touched {
		seen[name] = t.last
	}
	for _, id := range m.ids() {
		s := m.known(id)
		if s == nil {
			continue
		}
		s.mu.Lock()
		rec := s.rec
		hit := false
		changed := false
		if rec != nil {
			for name, t := range touched {
				l := rec.Links[name]
				switch {
				case l != nil && t.deleted && !l.Explicit:
					delete(rec.Links, name) // a deleted stream leaves its glob link
					changed = true
				case l != nil:
					hit = true
				case !t.deleted && rec.Config.Pattern != "" && name != rec.Config.WakeStream && globMatch(rec.Config.Pattern, name):
					if !m.link(rec, name, false, t.first-1) {
						m.log.Warn("durable streams: a subscription links max_streams streams; a matching stream is not linked",
							"subscription", id, "stream", name)
						continue
					}
					hit, changed = true, true
				}
			}
		}
		if hit || changed {
			m.wakeLocked(ctx, id, s, changed, seen)
		}
		m.unlock(id, s)
	}
}

// wakeLocked makes a wake if one is due and saves (s.mu held). On a
// shared store it reads the record first: another node may have changed
// it since this one last did.
func (m *subManager) wakeLocked(ctx context.Context, id string, s *subState, changed bool, seen map[string]uint64) {
	if m.shared {
		links := s.rec.Links
		if err := m.reload(ctx, id, s); err != nil || s.rec == nil {
			return
		}
		for p, l := range links { // keep the links this scan found
			if s.rec.Links[p] == nil && len(s.rec.Links) < m.opts.MaxStreams {
				s.rec.Links[p] = l
			}
		}
	}
	woke, err := m.maybeWake(ctx, s, seen)
	if errors.Is(err, errGenerationTaken) {
		// The winner saw the same events, links the same streams and
		// saves its wake: saving this record would undo it.
		s.touched = time.Time{} // read it again when next used
		_ = m.reload(ctx, id, s)
		return
	}
	if err != nil {
		m.log.Warn("durable streams: waking a subscription", "subscription", id, "err", err)
	}
	if woke || changed {
		if err := m.save(ctx, s); err != nil {
			m.logSave(id, err)
		}
	}
	if woke {
		m.queueDue(id, s)
	}
}

// timers ends the leases that ran out and queues the webhook deliveries
// that are due (first attempts, retries, and after a restart the wakes
// whose delivery was in flight). At start (all) every idle subscription
// with pending work is woken too.
func (m *subManager) timers(ctx context.Context, all bool) {
	now := m.now()
	for _, id := range m.ids() {
		s := m.known(id)
		if s == nil {
			continue
		}
		s.mu.Lock()
		rec := s.rec
		if rec == nil {
			m.unlock(id, s)
			continue
		}
		expired := rec.leaseOver(now)
		if expired || all {
			if m.shared {
				if err := m.reload(ctx, id, s); err != nil || s.rec == nil {
					m.unlock(id, s)
					continue
				}
				rec = s.rec
				expired = rec.leaseOver(now)
			}
			if expired {
				m.expire(ctx, s)
			} else if _, err := m.maybeWake(ctx, s, nil); errors.Is(err, errGenerationTaken) {
				_ = m.reload(ctx, id, s) // the other node saves its wake
				m.unlock(id, s)
				continue
			} else if err != nil {
				m.log.Warn("durable streams: waking a subscription", "subscription", id, "err", err)
			}
			if err := m.save(ctx, s); err != nil {
				m.logSave(id, err)
			}
		}
		m.queueDue(id, s)
		m.unlock(id, s)
	}
}

// queueDue queues s's webhook delivery if one is due (s.mu held).
func (m *subManager) queueDue(id string, s *subState) {
	rec := s.rec
	if rec == nil || rec.Config.Type != "webhook" || rec.WakeID == "" || rec.NextAttempt.IsZero() || m.now().Before(rec.NextAttempt) {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if s.queued {
		return
	}
	select {
	case m.deliveries <- id:
		s.queued = true
	default: // full: the next tick tries again
	}
}
