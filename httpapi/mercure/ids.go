package mercure

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/ssehub/ssehub"
	"github.com/ssehub/ssehub/hub"
)

// IDBucket is the KV bucket that maps publisher-supplied update ids to
// log ids, so that such an id works as Last-Event-ID.
const IDBucket = "mercure_ids"

// idIndex keeps the first log id of every publisher-supplied id: a reused
// id resolves to its earliest update, as the specification requires.
// Entries of events that retention removed are pruned.
type idIndex struct {
	kv  ssehub.KV
	hub *hub.Hub
	mu  sync.Mutex // check-then-put of one node
}

// key is a hash, so that any id fits every store's key syntax.
func idKey(id string) string {
	sum := sha256.Sum256([]byte(id))
	return hex.EncodeToString(sum[:])
}

// record maps id to logID unless it maps to an earlier event already.
func (x *idIndex) record(ctx context.Context, id string, logID uint64) error {
	x.mu.Lock()
	defer x.mu.Unlock()
	k := idKey(id)
	if v, err := x.kv.Get(ctx, IDBucket, k); err == nil {
		if old, oid, ok := parseIDValue(v); ok && oid == id && old <= logID {
			if first, err := x.hub.Bounds(ctx); err != nil || old >= first.First {
				return nil
			}
		}
	} else if !errors.Is(err, ssehub.ErrNotFound) {
		return err
	}
	v := strconv.AppendUint(nil, logID, 10)
	v = append(v, ' ')
	v = append(v, id...)
	if err := x.kv.Put(ctx, IDBucket, k, v); err != nil {
		return fmt.Errorf("recording the update id: %w", err)
	}
	return nil
}

// lookup returns the log id of a publisher-supplied id.
func (x *idIndex) lookup(ctx context.Context, id string) (uint64, bool, error) {
	v, err := x.kv.Get(ctx, IDBucket, idKey(id))
	if errors.Is(err, ssehub.ErrNotFound) {
		return 0, false, nil
	}
	if err != nil {
		return 0, false, err
	}
	logID, stored, ok := parseIDValue(v)
	return logID, ok && stored == id, nil
}

func parseIDValue(v []byte) (uint64, string, bool) {
	n, id, ok := strings.Cut(string(v), " ")
	if !ok {
		return 0, "", false
	}
	logID, err := strconv.ParseUint(n, 10, 64)
	return logID, id, err == nil
}

// prune deletes the entries of events the log no longer holds.
func (x *idIndex) prune(ctx context.Context) (int, error) {
	pos, err := x.hub.Bounds(ctx)
	if err != nil {
		return 0, err
	}
	var dead []string
	err = x.kv.List(ctx, IDBucket, func(key string, value []byte) error {
		if logID, _, ok := parseIDValue(value); !ok || logID < pos.First {
			dead = append(dead, key)
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	for _, k := range dead {
		if err := x.kv.Delete(ctx, IDBucket, k); err != nil {
			return 0, err
		}
	}
	return len(dead), nil
}

func (x *idIndex) pruneEvery(ctx context.Context, every time.Duration, log *slog.Logger) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		if n, err := x.prune(ctx); err != nil && ctx.Err() == nil {
			log.Warn("mercure: pruning update ids", "err", err)
		} else if n > 0 {
			log.Debug("mercure: pruned update ids", "count", n)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
