package nats

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/ssehub/ssehub"
)

// The hub's KV lives in one JetStream KV bucket, "<stream>_kv", shared by
// every node: bucket b, key k is the KV key "<b>.<k>", each part as it is
// when it is letters, digits, '_' and '-' (and, for k, dot-separated
// tokens of them), else "=" and its base64url encoding. The bucket's
// stream serves reads from its leader (no direct get from a replica), so
// a token created on one node is found at once on every other.

func (s *Store) kvName() string { return s.name + "_kv" }

func (s *Store) openKV(ctx context.Context) (jetstream.KeyValue, error) {
	name := s.kvName()
	cfg := jetstream.KeyValueConfig{Bucket: name, Description: "ssehub state (tokens, deregistered topics)", History: 1,
		Replicas: s.opts.Replicas, Storage: jetstream.FileStorage}
	if s.opts.StorageType == "memory" {
		cfg.Storage = jetstream.MemoryStorage
	}
	kv, err := s.js.KeyValue(ctx, name)
	if errors.Is(err, jetstream.ErrBucketNotFound) {
		kv, err = s.js.CreateKeyValue(ctx, cfg)
		if errors.Is(err, jetstream.ErrBucketExists) {
			kv, err = s.js.KeyValue(ctx, name)
		}
	}
	if err != nil {
		return nil, fmt.Errorf("KV bucket %s: %w", name, err)
	}
	// Leader reads: turn direct gets off on the bucket's stream, then bind
	// again so the client reads through the leader.
	ks, err := s.js.Stream(ctx, "KV_"+name)
	if err != nil {
		return nil, fmt.Errorf("KV bucket %s: %w", name, err)
	}
	if c := ks.CachedInfo().Config; c.AllowDirect || c.Replicas != s.opts.Replicas {
		c.AllowDirect, c.Replicas = false, s.opts.Replicas
		if _, err := s.js.UpdateStream(ctx, c); err != nil {
			return nil, fmt.Errorf("KV bucket %s: %w", name, err)
		}
		if kv, err = s.js.KeyValue(ctx, name); err != nil {
			return nil, fmt.Errorf("KV bucket %s: %w", name, err)
		}
	}
	return kv, nil
}

func plainToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

func encPart(s string) string {
	if plainToken(s) {
		return s
	}
	return "=" + base64.RawURLEncoding.EncodeToString([]byte(s))
}

func decPart(s string) (string, bool) {
	if !strings.HasPrefix(s, "=") {
		return s, true
	}
	b, err := base64.RawURLEncoding.DecodeString(s[1:])
	return string(b), err == nil
}

func kvKey(bucket, key string) string { return encPart(bucket) + "." + encPart(key) }

// Get returns a copy of the value of key in bucket, or ssehub.ErrNotFound.
func (s *Store) Get(ctx context.Context, bucket, key string) ([]byte, error) {
	if s.isClosed() {
		return nil, ssehub.ErrClosed
	}
	ctx, cancel := s.requestContext(ctx)
	defer cancel()
	e, err := s.kv.Get(ctx, kvKey(bucket, key))
	switch {
	case errors.Is(err, jetstream.ErrKeyNotFound), errors.Is(err, jetstream.ErrKeyDeleted):
		return nil, fmt.Errorf("nats: %s/%s: %w", bucket, key, ssehub.ErrNotFound)
	case err != nil:
		return nil, s.unavailable("kv get", err)
	}
	return append([]byte(nil), e.Value()...), nil
}

// Put stores value under key in bucket once the bucket's replicas have it.
func (s *Store) Put(ctx context.Context, bucket, key string, value []byte) error {
	if s.isClosed() {
		return ssehub.ErrClosed
	}
	if key == "" {
		return errors.New("nats: an empty KV key")
	}
	ctx, cancel := s.requestContext(ctx)
	defer cancel()
	if _, err := s.kv.Put(ctx, kvKey(bucket, key), append([]byte(nil), value...)); err != nil {
		return s.unavailable("kv put", err)
	}
	return nil
}

// CompareAndSwap stores value under key in bucket when the key holds old
// (nil: absent or deleted), with the KV's own revision check (Create, or
// Update at the revision read), so that of several nodes changing one key
// at once exactly one succeeds; the others get an error wrapping
// ssehub.ErrConflict.
func (s *Store) CompareAndSwap(ctx context.Context, bucket, key string, old, value []byte) error {
	if s.isClosed() {
		return ssehub.ErrClosed
	}
	if key == "" {
		return errors.New("nats: an empty KV key")
	}
	ctx, cancel := s.requestContext(ctx)
	defer cancel()
	k := kvKey(bucket, key)
	conflict := fmt.Errorf("nats: %s/%s changed: %w", bucket, key, ssehub.ErrConflict)
	var err error
	if old == nil {
		_, err = s.kv.Create(ctx, k, append([]byte(nil), value...))
	} else {
		var e jetstream.KeyValueEntry
		e, err = s.kv.Get(ctx, k)
		switch {
		case errors.Is(err, jetstream.ErrKeyNotFound), errors.Is(err, jetstream.ErrKeyDeleted):
			return conflict
		case err != nil:
			return s.unavailable("kv get", err)
		case !bytes.Equal(e.Value(), old):
			return conflict
		}
		_, err = s.kv.Update(ctx, k, append([]byte(nil), value...), e.Revision())
	}
	var apiErr *jetstream.APIError
	switch {
	case err == nil:
		return nil
	case errors.Is(err, jetstream.ErrKeyExists), errors.As(err, &apiErr) && apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequence:
		return conflict
	}
	return s.unavailable("kv swap", err)
}

var _ ssehub.KVSwapper = (*Store)(nil)

// Delete removes key from bucket.
func (s *Store) Delete(ctx context.Context, bucket, key string) error {
	if s.isClosed() {
		return ssehub.ErrClosed
	}
	ctx, cancel := s.requestContext(ctx)
	defer cancel()
	if err := s.kv.Delete(ctx, kvKey(bucket, key)); err != nil && !errors.Is(err, jetstream.ErrKeyNotFound) {
		return s.unavailable("kv delete", err)
	}
	return nil
}

// List calls fn for every key of bucket in key order. It reads the bucket
// with one short-lived watcher (a consumer on the KV stream), at most four
// at once per store.
func (s *Store) List(ctx context.Context, bucket string, fn func(key string, value []byte) error) error {
	if s.isClosed() {
		return ssehub.ErrClosed
	}
	type kvPair struct {
		k string
		v []byte
	}
	var pairs []kvPair
	err := s.withState(ctx, func(ctx context.Context) error {
		w, err := s.kv.WatchFiltered(ctx, []string{encPart(bucket) + ".*"}, jetstream.IgnoreDeletes())
		if err != nil {
			return s.unavailable("kv list", err)
		}
		defer w.Stop()
		for {
			select {
			case e, ok := <-w.Updates():
				if !ok {
					return s.unavailable("kv list", errors.New("watcher stopped"))
				}
				if e == nil {
					return nil // every current value was delivered
				}
				_, k, _ := strings.Cut(e.Key(), ".")
				if key, ok := decPart(k); ok {
					pairs = append(pairs, kvPair{key, e.Value()})
				}
			case <-ctx.Done():
				return s.unavailable("kv list", ctx.Err())
			}
		}
	})
	if err != nil {
		return err
	}
	sort.Slice(pairs, func(i, j int) bool { return pairs[i].k < pairs[j].k })
	for _, p := range pairs {
		if err := fn(p.k, p.v); err != nil {
			return err
		}
	}
	return nil
}

// withState runs fn within the store's bound on requests that create or
// scan server-side state, with a request deadline.
func (s *Store) withState(ctx context.Context, fn func(context.Context) error) error {
	select {
	case s.stateSem <- struct{}{}:
		defer func() { <-s.stateSem }()
	case <-ctx.Done():
		return fmt.Errorf("nats: %w", ctx.Err())
	case <-s.closed:
		return ssehub.ErrClosed
	}
	ctx, cancel := s.requestContext(ctx)
	defer cancel()
	return fn(ctx)
}
