package durable

import (
	"context"
	"encoding/json"
	"errors"
	"time"

	"github.com/ssehub/ssehub"
)

// CheckpointBucket is the KV bucket that keeps, per stream topic, what the
// stream's markers say (configuration, closure, forks referring to it), so
// that the store's retention removing old markers does not remove the
// stream: the log stays the authority for everything it still holds, the
// checkpoint covers what it no longer does.
const CheckpointBucket = "durable_streams"

// checkpoint is a stream's marker state as of the event Upto.
type checkpoint struct {
	Upto        uint64         `json:"upto"`
	Gen         uint64         `json:"gen"`
	Meta        createMeta     `json:"meta"`
	Closed      bool           `json:"closed,omitempty"`
	ClosedBy    *producerTuple `json:"closed_by,omitempty"`
	Tail        uint64         `json:"tail"`
	Refs        int            `json:"refs,omitempty"`
	SoftDeleted bool           `json:"soft_deleted,omitempty"`
	LastAccess  time.Time      `json:"last_access"`
}

// restore returns the state a checkpoint describes.
func (c *checkpoint) restore() state {
	st := state{exists: true, softDeleted: c.SoftDeleted, gen: c.Gen, meta: c.Meta, closed: c.Closed, closedBy: c.ClosedBy,
		tail: c.Tail, refs: c.Refs, producers: map[string]producerState{}, lastAccess: c.LastAccess}
	if c.Meta.ExpiresAt != "" {
		st.expires, _ = parseExpiry(c.Meta.ExpiresAt)
	}
	return st
}

// loadCheckpoint reads topic's checkpoint, or nil.
func (r *registry) loadCheckpoint(ctx context.Context, topic string) (*checkpoint, error) {
	b, err := r.hub.Store().Get(ctx, CheckpointBucket, topic)
	if errors.Is(err, ssehub.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var c checkpoint
	if err := json.Unmarshal(b, &c); err != nil {
		return nil, nil // unreadable: the log decides
	}
	return &c, nil
}

// saveCheckpoint records e's marker state as of upto (mu held): the
// stream's checkpoint, or none once it is gone.
func (r *registry) saveCheckpoint(ctx context.Context, e *entry, upto uint64) error {
	st := &e.st
	kv := r.hub.Store()
	if !st.exists {
		return kv.Delete(ctx, CheckpointBucket, e.topic)
	}
	c := checkpoint{Upto: upto, Gen: st.gen, Meta: st.meta, Closed: st.closed, ClosedBy: st.closedBy, Tail: st.tail,
		Refs: st.refs, SoftDeleted: st.softDeleted, LastAccess: st.lastAccess}
	b, err := json.Marshal(c)
	if err != nil {
		return err
	}
	return kv.Put(ctx, CheckpointBucket, e.topic, b)
}
