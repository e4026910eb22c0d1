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
// admin token is the operator's: only MaxConnections and MaxTopics apply to it.
type Limits struct {
	// PublishRate is the events per second one token (or the admin) may
	// publish, with bursts of PublishBurst; past it: 429 with Retry-After.
	PublishRate  float64
	PublishBurst int
	// StreamsPerToken and StreamsPerAddr bound concurrent streams (429).
	StreamsPerToken int
	StreamsPerAddr  int
	// MaxConnections bounds open streams in all (503 when full).
	MaxConnections int
	// MaxTopics bounds the patterns of one subscription (400).
	MaxTopics int
	// MaxTopicLen bounds topics and patterns in bytes (400); it can only
	// lower the hard limit of ssehub.MaxTopicLen (255).
	MaxTopicLen int
}

// limiter enforces Limits.
type limiter struct {
	Limits
	mu       sync.Mutex
	rates    map[string]*rate.Limiter
	byToken  map[string]int
	byAddr   map[string]int
	total    int
	lastSeen map[string]time.Time
}

func newLimiter(l Limits) *limiter {
	return &limiter{Limits: l, rates: map[string]*rate.Limiter{}, byToken: map[string]int{}, byAddr: map[string]int{}, lastSeen: map[string]time.Time{}}
}

// principalKey names who a request acts as, for per-token limits.
func principalKey(p *principal) string {
	if p == nil {
		return ""
	}
	if p.admin {
		return "admin"
	}
	return p.token.ID
}

// allowPublish takes n events from who's publish budget, or writes 429.
func (l *limiter) allowPublish(w http.ResponseWriter, who *principal, n int) bool {
	if l.PublishRate <= 0 || who.admin {
		return true
	}
	key := principalKey(who)
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
		writeError(w, http.StatusTooManyRequests, codeRateLimited, fmt.Sprintf("a request of %d events exceeds the burst of %d allowed for this token", n, lim.Burst()))
		return false
	}
	r := lim.ReserveN(now, n)
	if d := r.DelayFrom(now); d > 0 {
		r.CancelAt(now)
		w.Header().Set("Retry-After", strconv.Itoa(int(math.Ceil(d.Seconds()))))
		writeError(w, http.StatusTooManyRequests, codeRateLimited, fmt.Sprintf("publish rate limit of %g events/s exceeded; retry in %v", l.PublishRate, d.Round(time.Millisecond)))
		return false
	}
	return true
}

// clientAddr returns the request's remote IP.
func clientAddr(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// openStream counts a new stream against the limits, or writes 429/503.
// The returned func releases it.
func (l *limiter) openStream(w http.ResponseWriter, r *http.Request, who *principal) (func(), bool) {
	key, addr := principalKey(who), clientAddr(r)
	admin := who != nil && who.admin // the operator: only the total bound applies
	l.mu.Lock()
	defer l.mu.Unlock()
	switch {
	case l.MaxConnections > 0 && l.total >= l.MaxConnections:
		w.Header().Set("Retry-After", "5")
		writeError(w, http.StatusServiceUnavailable, codeUnavailable, fmt.Sprintf("the hub is at its limit of %d streams", l.MaxConnections))
		return nil, false
	case !admin && l.StreamsPerToken > 0 && key != "" && l.byToken[key] >= l.StreamsPerToken:
		w.Header().Set("Retry-After", "5")
		writeError(w, http.StatusTooManyRequests, codeRateLimited, fmt.Sprintf("this token already has %d open streams, the limit", l.StreamsPerToken))
		return nil, false
	case !admin && l.StreamsPerAddr > 0 && l.byAddr[addr] >= l.StreamsPerAddr:
		w.Header().Set("Retry-After", "5")
		writeError(w, http.StatusTooManyRequests, codeRateLimited, fmt.Sprintf("this address already has %d open streams, the limit", l.StreamsPerAddr))
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
