package mercure

import (
	"hash/maphash"
	"sync"
)

// matchCache remembers URL pattern results: evaluating a URL pattern parses
// the topic as a URL (microseconds), and every stream with the same pattern
// asks about the same topics. Bounded: a full shard is emptied.
type matchCache struct {
	seed   maphash.Seed
	shards [32]matchShard
}

type matchShard struct {
	mu sync.Mutex
	m  map[matchKey]bool
}

type matchKey struct{ base, pattern, topic string }

// maxPerShard bounds each shard: 32 × 256 results in all, a few MB at
// most with topics and patterns at their length limits.
const maxPerShard = 256

var urlPatternResults = &matchCache{seed: maphash.MakeSeed()}

// reservedResults remembers whether a native event's IRI is in the hub's
// reserved namespace (the key's pattern is empty), which parses it.
var reservedResults = &matchCache{seed: maphash.MakeSeed()}

func (c *matchCache) shard(k matchKey) *matchShard {
	var h maphash.Hash
	h.SetSeed(c.seed)
	h.WriteString(k.pattern)
	h.WriteByte(0)
	h.WriteString(k.topic)
	return &c.shards[h.Sum64()%uint64(len(c.shards))]
}

// test returns the cached result for k, computing it with fn when absent.
func (c *matchCache) test(k matchKey, fn func() bool) bool {
	s := c.shard(k)
	s.mu.Lock()
	v, ok := s.m[k]
	s.mu.Unlock()
	if ok {
		return v
	}
	v = fn()
	s.mu.Lock()
	if s.m == nil || len(s.m) >= maxPerShard {
		s.m = make(map[matchKey]bool, 64)
	}
	s.m[k] = v
	s.mu.Unlock()
	return v
}
