package hub

import (
	"context"
	"fmt"
	"time"

	"github.com/ssehub/ssehub"
)

// DeregisterTopic deregisters topic on every node: new subscriptions that
// name it fail with ErrGone, live ones that named it end with ErrGone once
// they have the events the log holds before the deregistration (and none
// after it), and publishes to it fail with a *GoneError. It records the topic in the KV,
// then appends a control event that every node's live feed applies; it
// applies it on this node at once, so the caller sees its own change.
func (h *Hub) DeregisterTopic(ctx context.Context, topic string) error {
	if err := ssehub.ValidateTopic(topic); err != nil {
		return err
	}
	stamp := []byte(time.Now().UTC().Format(time.RFC3339))
	if err := h.store.Put(ctx, DeregisteredBucket, topic, stamp); err != nil {
		return fmt.Errorf("hub: record the deregistration: %w", err)
	}
	return h.control(ctx, &ssehub.Event{Topic: ssehub.SysDeregister, Data: []byte(topic)})
}

// RevokeToken ends, on every node, the subscriptions made with the token
// id, and refuses new ones (closing the window between a token check and
// the start of its stream). The token store records the revocation itself;
// the hub keeps the id so that a stream checked just before the revocation
// cannot start after it.
func (h *Hub) RevokeToken(ctx context.Context, id string) error {
	if id == "" {
		return fmt.Errorf("hub: revoke: empty token id")
	}
	if err := h.store.Put(ctx, RevokedBucket, id, []byte(time.Now().UTC().Format(time.RFC3339))); err != nil {
		return fmt.Errorf("hub: record the revocation: %w", err)
	}
	return h.control(ctx, &ssehub.Event{Topic: ssehub.SysRevoke, Data: []byte(id)})
}

// control appends a control event durably and applies it here, at once:
// the live feed may not have dispatched the events before it yet, so a
// subscription it ends gets those from the log (see Subscriber.end); the
// feed's own application of it later changes nothing.
func (h *Hub) control(ctx context.Context, ev *ssehub.Event) error {
	res, err := h.store.Append(ctx, []*ssehub.Event{ev})
	if err != nil {
		return fmt.Errorf("hub: append %s: %w", ev.Topic, err)
	}
	ev.ID = res[0].ID
	h.applyMu.Lock()
	defer h.applyMu.Unlock()
	h.mu.Lock()
	h.applyLocked(ev)
	h.unlockEnds()
	return nil
}

// applyLocked applies a control event; applying one twice changes nothing.
func (h *Hub) applyLocked(ev *ssehub.Event) {
	arg := string(ev.Data)
	switch ev.Topic {
	case ssehub.SysDeregister:
		if _, done := h.gone[arg]; done {
			return
		}
		h.gone[arg] = struct{}{}
		for s := range h.subs {
			if s.wantsExact(arg) {
				h.idx.remove(s)
				s.end(&GoneError{Topic: arg}, false, ev.ID)
			}
		}
	case ssehub.SysRevoke:
		h.revoked[arg] = struct{}{}
		for s := range h.guards[arg] {
			h.idx.remove(s)
			s.end(ErrRevoked, true, ev.ID)
		}
		delete(h.guards, arg)
	default:
		h.opts.Logger.Warn("unknown control event ignored", "topic", ev.Topic, "id", ev.ID)
	}
}

// Gone reports whether topic has been deregistered.
func (h *Hub) Gone(topic string) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	_, ok := h.gone[topic]
	return ok
}

// register adds s to the open subscriptions, or fails when a topic it names
// is deregistered or its token revoked; with h.mu held.
func (h *Hub) registerLocked(s *Subscriber) error {
	for _, t := range s.topics {
		if _, ok := h.gone[t]; ok {
			return &GoneError{Topic: t}
		}
	}
	if s.token != nil {
		if _, ok := h.revoked[s.token.ID]; ok {
			return ErrRevoked
		}
		g := h.guards[s.token.ID]
		if g == nil {
			g = map[*Subscriber]struct{}{}
			h.guards[s.token.ID] = g
		}
		g[s] = struct{}{}
	}
	h.subs[s] = struct{}{}
	return nil
}

// unregisterLocked forgets s; with h.mu held.
func (h *Hub) unregisterLocked(s *Subscriber) {
	h.idx.remove(s)
	delete(h.subs, s)
	if s.token != nil {
		if g := h.guards[s.token.ID]; g != nil {
			delete(g, s)
			if len(g) == 0 {
				delete(h.guards, s.token.ID)
			}
		}
	}
}
