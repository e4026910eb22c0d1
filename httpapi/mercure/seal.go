package mercure

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"sync"

	"github.com/ssehub/ssehub"
)

// The meta of an update published through the Mercure endpoint (its
// alternate topics, its publisher's id) is sealed with an HMAC under a key
// kept in the hub's KV, shared by every node. A publisher on the ssehub
// side (POST /publish with a JSON envelope) can write any meta; unsealed,
// it is ignored, so an ssehub token scoped to one topic cannot add
// alternate topics it may not publish on, or forge the hub's subscription
// events.

// sealBucket and sealKeyName hold the key.
const (
	sealBucket  = "mercure"
	sealKeyName = "meta_hmac_key"
)

// sealer is the process's key: one Mercure hub per process (Register
// refuses a second one over another store while the first runs).
var sealer struct {
	mu    sync.Mutex
	key   []byte
	users int
}

// loadSealKey reads the hub's key, creating it on first use.
func loadSealKey(ctx context.Context, kv ssehub.KV) ([]byte, error) {
	k, err := kv.Get(ctx, sealBucket, sealKeyName)
	if err == nil && len(k) == 32 {
		return k, nil
	}
	if err != nil && !errors.Is(err, ssehub.ErrNotFound) {
		return nil, err
	}
	k = make([]byte, 32)
	if _, err := rand.Read(k); err != nil {
		return nil, err
	}
	if err := kv.Put(ctx, sealBucket, sealKeyName, k); err != nil {
		return nil, err
	}
	// Another node may have written its own at the same moment: use the
	// one that is stored.
	return kv.Get(ctx, sealBucket, sealKeyName)
}

// useSealKey makes k the process's key; release undoes it.
func useSealKey(k []byte) (release func(), err error) {
	sealer.mu.Lock()
	defer sealer.mu.Unlock()
	if sealer.users > 0 && !hmac.Equal(sealer.key, k) {
		return nil, fmt.Errorf("another Mercure hub with another store runs in this process")
	}
	sealer.key = append([]byte(nil), k...)
	sealer.users++
	var once sync.Once
	return func() {
		once.Do(func() {
			sealer.mu.Lock()
			sealer.users--
			sealer.mu.Unlock()
		})
	}, nil
}

// mac is the seal of m on an event of topic and type typ.
func mac(m *meta, topic, typ string) string {
	sealer.mu.Lock()
	key := sealer.key
	sealer.mu.Unlock()
	if key == nil {
		return ""
	}
	unsealed := *m
	unsealed.Sig = ""
	b, _ := json.Marshal(&unsealed)
	h := hmac.New(sha256.New, key)
	h.Write([]byte(topic))
	h.Write([]byte{0})
	h.Write([]byte(typ))
	h.Write([]byte{0})
	h.Write(b)
	return hex.EncodeToString(h.Sum(nil))
}

// seal sets m's seal for an event of topic and type typ.
func seal(m *meta, topic, typ string) { m.Sig = mac(m, topic, typ) }

// sealed reports whether m's seal is the hub's.
func sealed(m *meta, topic, typ string) bool {
	want := mac(m, topic, typ)
	return want != "" && hmac.Equal([]byte(want), []byte(m.Sig))
}
