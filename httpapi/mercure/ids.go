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

// record maps id to logID unless it maps to an earlier event already. On
// a store several nodes share (ssehub.KVSwapper) the entry changes only if
// it still holds what was read, else it is read again: of nodes publishing
// one id at once, the earliest update wins.
func (x *idIndex) record(ctx context.Context, id string, logID uint64) error {
	x.mu.Lock()
	defer x.mu.Unlock()
	k := idKey(id)
	v := strconv.AppendUint(nil, logID, 10)
	v = append(v, ' ')
	v = append(v, id...)
	swapper, shared := x.kv.(ssehub.KVSwapper)
	for try := 0; ; try++ {
		cur, err := x.kv.Get(ctx, IDBucket, k)
		switch {
		case errors.Is(err, ssehub.ErrNotFound):
			cur = nil
		case err != nil:
			return err
		default:
			if old, oid, ok := parseIDValue(cur); ok && oid == id && old <= logID {
				if first, err := x.hub.Bounds(ctx); err != nil || old >= first.First {
					return nil
				}
			}
		}
		if !shared {
			err = x.kv.Put(ctx, IDBucket, k, v)
		} else if err = swapper.CompareAndSwap(ctx, IDBucket, k, cur, v); errors.Is(err, ssehub.ErrConflict) && try < 16 {
			continue
		}
		if err != nil {
			return fmt.Errorf("recording the update id: %w", err)
		}
		return nil
	}
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
