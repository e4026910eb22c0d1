package httpapi

import (
	"fmt"
	"math"
	"net"
	"net/http"
	"strconv"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// Limits bound what one client can take. A zero field is no limit. The
// admin token is the operator's: only MaxStreams applies to it.
type Limits struct {
	// PublishRate is the events per second one token may publish, with
	// bursts of PublishBurst; past it: 429 with Retry-After.
	PublishRate  float64
	PublishBurst int
	// StreamsPerToken and StreamsPerAddr bound concurrent streams (429).
	StreamsPerToken int
	StreamsPerAddr  int
	// MaxStreams bounds open streams in all (503 when full).
	MaxStreams int
	// MaxTopics bounds the patterns of any list a client sends: ?topic=,
	// ?event_type=, a token's topics (400).
	MaxTopics int
	// MaxTopicLen bounds topics and patterns in bytes (400); it can only
	// lower the hard limit of ssehub.MaxTopicLen (255).
	MaxTopicLen int
}

// Limiter enforces Limits.
type Limiter struct {
	Limits
	mu       sync.Mutex
	rates    map[string]*rate.Limiter
	byToken  map[string]int
	byAddr   map[string]int
	total    int
	lastSeen map[string]time.Time
}

func newLimiter(l Limits) *Limiter {
	return &Limiter{Limits: l, rates: map[string]*rate.Limiter{}, byToken: map[string]int{}, byAddr: map[string]int{}, lastSeen: map[string]time.Time{}}
}

// AllowPublish takes n events from who's publish budget, or writes 429.
func (l *Limiter) AllowPublish(w http.ResponseWriter, who *Principal, n int) bool {
	if l.PublishRate <= 0 || who.Admin {
		return true
	}
	key := who.Key()
	l.mu.Lock()
	lim := l.rates[key]
	if lim == nil {
		burst := max(l.PublishBurst, int(math.Ceil(l.PublishRate)), 1)
		lim = rate.NewLimiter(rate.Limit(l.PublishRate), burst)
		l.rates[key] = lim
	}
	now := time.Now()
	l.lastSeen[key] = now
	if len(l.lastSeen) > 10000 { // forget idle budgets so the map stays small
		for k, t := range l.lastSeen {
			if now.Sub(t) > time.Minute {
				delete(l.lastSeen, k)
				delete(l.rates, k)
			}
		}
	}
	l.mu.Unlock()
	if n > lim.Burst() {
		// Waiting would not help: the request must be split.
		WriteError(w, http.StatusRequestEntityTooLarge, CodeTooLarge, fmt.Sprintf("a request of %d events exceeds the burst of %d allowed for this token (limits.publish_burst): split it", n, lim.Burst()))
		return false
	}
	r := lim.ReserveN(now, n)
	if d := r.DelayFrom(now); d > 0 {
		r.CancelAt(now)
		w.Header().Set("Retry-After", strconv.Itoa(int(math.Ceil(d.Seconds()))))
		WriteError(w, http.StatusTooManyRequests, CodeRateLimited, fmt.Sprintf("publish rate limit of %g events/s exceeded; retry in %v", l.PublishRate, d.Round(time.Millisecond)))
		return false
	}
	return true
}

// ClientAddr returns the request's remote IP.
func ClientAddr(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// OpenStream counts a new stream against the limits, or writes 429/503.
// The returned func releases it.
func (l *Limiter) OpenStream(w http.ResponseWriter, r *http.Request, who *Principal) (func(), bool) {
	key, addr := who.Key(), ClientAddr(r)
	admin := who != nil && who.Admin // the operator: only the total bound applies
	l.mu.Lock()
	defer l.mu.Unlock()
	switch {
	case l.MaxStreams > 0 && l.total >= l.MaxStreams:
		w.Header().Set("Retry-After", "5")
		WriteError(w, http.StatusServiceUnavailable, CodeUnavailable, fmt.Sprintf("the hub is at its limit of %d streams", l.MaxStreams))
		return nil, false
	case !admin && l.StreamsPerToken > 0 && key != "" && l.byToken[key] >= l.StreamsPerToken:
		w.Header().Set("Retry-After", "5")
		WriteError(w, http.StatusTooManyRequests, CodeRateLimited, fmt.Sprintf("this token already has %d open streams, the limit", l.StreamsPerToken))
		return nil, false
	case !admin && l.StreamsPerAddr > 0 && l.byAddr[addr] >= l.StreamsPerAddr:
		w.Header().Set("Retry-After", "5")
		WriteError(w, http.StatusTooManyRequests, CodeRateLimited, fmt.Sprintf("this address already has %d open streams, the limit", l.StreamsPerAddr))
		return nil, false
	}
	l.total++
	l.byAddr[addr]++
	if key != "" {
		l.byToken[key]++
	}
	return func() {
		l.mu.Lock()
		defer l.mu.Unlock()
		l.total--
		if l.byAddr[addr]--; l.byAddr[addr] <= 0 {
			delete(l.byAddr, addr)
		}
		if key != "" {
			if l.byToken[key]--; l.byToken[key] <= 0 {
				delete(l.byToken, key)
			}
		}
	}, true
}

// Streams returns the number of open streams.
func (l *Limiter) Streams() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.total
}
