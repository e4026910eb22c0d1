package auth

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"time"
)

// Prune deletes the tokens that expired before cutoff, their records and
// their hashes, and returns how many it deleted. A deleted token can never
// authenticate again, exactly as an expired one cannot: pruning only
// forgets. Tokens without an expiry are kept, revoked or not. Without
// pruning, short-lived tokens (the console's, BoilStream's 8-hour web
// tokens) would grow the KV and every token listing forever.
func (s *Store) Prune(ctx context.Context, cutoff time.Time) (int, error) {
	var gone []Token
	err := s.kv.List(ctx, tokensBucket, func(_ string, v []byte) error {
		var t Token
		if err := json.Unmarshal(v, &t); err != nil {
			return err
		}
		if !t.ExpiresAt.IsZero() && t.ExpiresAt.Before(cutoff) {
			gone = append(gone, t)
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("prune tokens: %w", err)
	}
	for i, t := range gone {
		// The hash first: a record without its hash is harmless (it can
		// never match), a hash without its record is a dangling pointer.
		if err := s.kv.Delete(ctx, hashesBucket, t.Hash); err != nil {
			return i, fmt.Errorf("prune token %s: %w", t.ID, err)
		}
		if err := s.kv.Delete(ctx, tokensBucket, t.ID); err != nil {
			return i, fmt.Errorf("prune token %s: %w", t.ID, err)
		}
	}
	return len(gone), nil
}

// PruneEvery runs Prune now and then every interval, deleting the tokens
// that expired more than retention ago, until ctx ends. Failures are
// logged and retried at the next interval.
func (s *Store) PruneEvery(ctx context.Context, interval, retention time.Duration, log *slog.Logger) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		n, err := s.Prune(ctx, s.now().Add(-retention))
		switch {
		case err != nil && ctx.Err() == nil:
			log.Warn("pruning expired tokens failed", "err", err)
		case n > 0:
			log.Info("pruned expired tokens", "count", n, "expired_before", s.now().Add(-retention).UTC().Format(time.RFC3339))
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
