package durable

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/netip"
	"sort"
	"strings"
	"time"
)

// ReservedSegment is the first path segment of the protocol's control APIs
// (sections 6–7): /v1/stream/__ds/… is never an application stream.
const ReservedSegment = "__ds"

// SubscriptionBucket is the KV bucket of the subscriptions, one key per
// subscription id; SubscriptionKeysBucket holds the webhook signing key
// and the key that signs callback and claim tokens.
const (
	SubscriptionBucket     = "durable_subscriptions"
	SubscriptionKeysBucket = "durable_subscriptions_keys"
)

// Subscription limits the protocol sets.
const (
	minLeaseTTL     = time.Second
	maxLeaseTTL     = 10 * time.Minute
	defaultLeaseTTL = 30 * time.Second
	maxSubIDLen     = 128
	maxPatternLen   = 1024
	maxPatternSegs  = 32
	maxDescription  = 1024
	maxWebhookURL   = 2048
	maxWorkerName   = 256
)

// SubscriptionOptions configure the subscription APIs (protocol sections
// 6–7). Zero fields take the defaults.
type SubscriptionOptions struct {
	// Disabled serves no subscription API: every /v1/stream/__ds/ path
	// answers 404 (and still is no application stream).
	Disabled bool
	// MaxSubscriptions bounds the subscriptions kept (default 1,000).
	MaxSubscriptions int
	// MaxStreams bounds the streams one subscription links (default 1,000).
	MaxStreams int
	// WebhookTimeout bounds one webhook request (default 10 s).
	WebhookTimeout time.Duration
	// WebhookConcurrency bounds the webhook requests in flight (default 16).
	WebhookConcurrency int
	// AllowNetworks are the local networks (loopback, private, link-local…)
	// that webhooks may reach, over http:// too; all others of that kind
	// are refused (SSRF).
	AllowNetworks []netip.Prefix
	// PublicURL is the hub's URL for callback_url and jwks_url; empty: the
	// creating request's scheme and Host.
	PublicURL string
	// Tick is how often leases, retries and other nodes' changes are
	// looked at (default 200 ms).
	Tick time.Duration
	// RetryBase and RetryMax are the webhook retry backoff (default 1 s,
	// 60 s, with 20% jitter).
	RetryBase, RetryMax time.Duration
}

func (o *SubscriptionOptions) defaults() {
	if o.MaxSubscriptions <= 0 {
		o.MaxSubscriptions = 1_000
	}
	if o.MaxStreams <= 0 {
		o.MaxStreams = 1_000
	}
	if o.WebhookTimeout <= 0 {
		o.WebhookTimeout = 10 * time.Second
	}
	if o.WebhookConcurrency <= 0 {
		o.WebhookConcurrency = 16
	}
	if o.Tick <= 0 {
		o.Tick = 200 * time.Millisecond
	}
	if o.RetryBase <= 0 {
		o.RetryBase = time.Second
	}
	if o.RetryMax <= 0 {
		o.RetryMax = 60 * time.Second
	}
	o.PublicURL = strings.TrimRight(o.PublicURL, "/")
}

// subConfig is a subscription's normalized configuration: what its hash,
// and so idempotent re-confirmation, covers.
type subConfig struct {
	Type        string   `json:"type"`
	Pattern     string   `json:"pattern,omitempty"`
	Streams     []string `json:"streams,omitempty"`
	WebhookURL  string   `json:"webhook_url,omitempty"`
	WakeStream  string   `json:"wake_stream,omitempty"`
	LeaseTTLms  int64    `json:"lease_ttl_ms"`
	Description string   `json:"description,omitempty"`
}

func (c *subConfig) hash() string {
	b, _ := json.Marshal(c)
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

func (c *subConfig) leaseTTL() time.Duration { return time.Duration(c.LeaseTTLms) * time.Millisecond }

// subLink is one linked stream: how, and its cursor (the id of the last
// event acked, an offset's id).
type subLink struct {
	Explicit bool   `json:"explicit,omitempty"`
	Glob     bool   `json:"glob,omitempty"`
	Acked    uint64 `json:"acked"`
}

func (l *subLink) linkType() string {
	if l.Explicit {
		return "explicit"
	}
	return "glob"
}

// subRecord is a subscription as kept in the KV: configuration, links
// with their cursors, and the delivery state (wake, lease, retries), so a
// restart or another node takes over where this one was.
type subRecord struct {
	ID        string              `json:"id"`
	Nonce     string              `json:"nonce"` // new at every creation: tokens of a deleted subscription never fit a new one
	Config    subConfig           `json:"config"`
	Hash      string              `json:"hash"`
	CreatedAt time.Time           `json:"created_at"`
	Base      string              `json:"base"` // scheme://host of callback_url
	Links     map[string]*subLink `json:"links"`

	Generation uint64            `json:"generation"`
	WakeID     string            `json:"wake_id,omitempty"`
	Snapshot   map[string]uint64 `json:"snapshot,omitempty"` // tails when the wake was made
	Holder     string            `json:"holder,omitempty"`
	LeaseUntil time.Time         `json:"lease_until,omitzero"`
	// Status is "active", or "failed" while a webhook retry is scheduled.
	Status      string    `json:"status"`
	Attempts    int       `json:"attempts,omitempty"`
	NextAttempt time.Time `json:"next_attempt_at,omitzero"` // a webhook delivery is due then
	// Deliveries counts the delivery attempts claimed on a shared store.
	Deliveries uint64 `json:"deliveries,omitempty"`
}

func (r *subRecord) clearWake() {
	r.WakeID, r.Snapshot, r.Holder, r.LeaseUntil = "", nil, "", time.Time{}
	r.Attempts, r.NextAttempt, r.Status = 0, time.Time{}, "active"
}

// leaseOver reports whether rec's wake is under a lease that ran out by
// now: a pull-wake claim, or a webhook wake its receiver took (a 2xx
// answer) and has not called back on. A webhook wake whose delivery is
// due or in flight is not: the lease runs from the answer.
func (r *subRecord) leaseOver(now time.Time) bool {
	return r.WakeID != "" && !r.LeaseUntil.IsZero() && now.After(r.LeaseUntil) &&
		(r.Config.Type == "pull-wake" || r.NextAttempt.IsZero())
}

// sortedLinks returns the linked paths in order.
func (r *subRecord) sortedLinks() []string {
	out := make([]string, 0, len(r.Links))
	for p := range r.Links {
		out = append(out, p)
	}
	sort.Strings(out)
	return out
}

// subRequest is the body of PUT /__ds/subscriptions/{id}.
type subRequest struct {
	Type    string   `json:"type"`
	Pattern *string  `json:"pattern"`
	Streams []string `json:"streams"`
	Webhook *struct {
		URL string `json:"url"`
	} `json:"webhook"`
	WakeStream  *string `json:"wake_stream"`
	LeaseTTLms  *int64  `json:"lease_ttl_ms"`
	Description *string `json:"description"`
}

// normalize checks a request and returns its configuration (the webhook
// URL is checked apart, for SSRF).
func (q *subRequest) normalize(maxStreams int) (subConfig, error) {
	c := subConfig{Type: q.Type, LeaseTTLms: defaultLeaseTTL.Milliseconds()}
	switch q.Type {
	case "webhook":
		if q.Webhook == nil || q.Webhook.URL == "" {
			return c, fmt.Errorf("a webhook subscription needs webhook.url")
		}
		if q.WakeStream != nil {
			return c, fmt.Errorf("wake_stream is for pull-wake subscriptions")
		}
		c.WebhookURL = q.Webhook.URL
	case "pull-wake":
		if q.WakeStream == nil || *q.WakeStream == "" {
			return c, fmt.Errorf("a pull-wake subscription needs wake_stream")
		}
		if q.Webhook != nil {
			return c, fmt.Errorf("webhook is for webhook subscriptions")
		}
		w, err := normalizePath(*q.WakeStream)
		if err != nil {
			return c, fmt.Errorf("wake_stream: %w", err)
		}
		c.WakeStream = w
	default:
		return c, fmt.Errorf("type must be webhook or pull-wake, not %s", quote(trim(q.Type)))
	}
	if q.Pattern == nil && len(q.Streams) == 0 {
		return c, fmt.Errorf("a subscription needs a pattern, streams, or both")
	}
	if q.Pattern != nil {
		p, err := normalizePattern(*q.Pattern)
		if err != nil {
			return c, err
		}
		c.Pattern = p
	}
	if len(q.Streams) > maxStreams {
		return c, errTooMany(len(q.Streams), maxStreams)
	}
	var err error
	if c.Streams, err = normalizePaths(q.Streams); err != nil {
		return c, err
	}
	if q.LeaseTTLms != nil {
		d := time.Duration(*q.LeaseTTLms) * time.Millisecond
		if *q.LeaseTTLms < minLeaseTTL.Milliseconds() || *q.LeaseTTLms > maxLeaseTTL.Milliseconds() || d < minLeaseTTL {
			return c, fmt.Errorf("lease_ttl_ms must be from 1000 (1 s) to 600000 (10 minutes)")
		}
		c.LeaseTTLms = *q.LeaseTTLms
	}
	if q.Description != nil {
		if len(*q.Description) > maxDescription {
			return c, fmt.Errorf("description is longer than %d bytes", maxDescription)
		}
		c.Description = *q.Description
	}
	return c, nil
}

type tooManyError struct{ n, max int }

func (e *tooManyError) Error() string {
	return fmt.Sprintf("%d streams: a subscription links at most %d (durable_streams.subscriptions.max_streams)", e.n, e.max)
}

func errTooMany(n, max int) error { return &tooManyError{n, max} }

// normalizePaths normalizes, sorts and deduplicates stream paths.
func normalizePaths(in []string) ([]string, error) {
	if len(in) == 0 {
		return nil, nil
	}
	seen := make(map[string]bool, len(in))
	out := make([]string, 0, len(in))
	for _, s := range in {
		p, err := normalizePath(s)
		if err != nil {
			return nil, fmt.Errorf("streams: %w", err)
		}
		if !seen[p] {
			seen[p] = true
			out = append(out, p)
		}
	}
	sort.Strings(out)
	return out, nil
}

// normalizePath checks a stream-root-relative path: no leading or trailing
// '/', a name TopicFor takes, not under the reserved prefix.
func normalizePath(s string) (string, error) {
	p := strings.Trim(s, "/")
	if p == "" {
		return "", fmt.Errorf("an empty stream path")
	}
	if reservedName(p) {
		return "", fmt.Errorf("%s: paths under %s/ are reserved", quote(trim(p)), ReservedSegment)
	}
	if _, err := TopicFor(p); err != nil {
		return "", err
	}
	return p, nil
}

// reservedName reports whether a stream name is under the control prefix.
func reservedName(name string) bool {
	return name == ReservedSegment || strings.HasPrefix(name, ReservedSegment+"/")
}

// normalizePattern checks a glob: '/'-separated non-empty segments, each
// "*" (one segment), "**" (zero or more) or literal, bounded in length and
// segments (matching is linear in both, see globMatch).
func normalizePattern(s string) (string, error) {
	p := strings.Trim(s, "/")
	if p == "" {
		return "", fmt.Errorf("pattern is empty")
	}
	if len(p) > maxPatternLen {
		return "", fmt.Errorf("pattern is longer than %d bytes", maxPatternLen)
	}
	segs := strings.Split(p, "/")
	if len(segs) > maxPatternSegs {
		return "", fmt.Errorf("pattern has more than %d segments", maxPatternSegs)
	}
	for _, g := range segs {
		if g == "" {
			return "", fmt.Errorf("pattern %s has an empty segment", quote(trim(p)))
		}
	}
	if segs[0] == ReservedSegment {
		return "", fmt.Errorf("pattern %s: paths under %s/ are reserved", quote(trim(p)), ReservedSegment)
	}
	return p, nil
}

// globMatch reports whether path matches pattern ("*" one segment, "**"
// zero or more, anything else literally, "%2A" standing for a literal
// '*'). It runs in O(segments of pattern × segments of path), however
// many "**" the pattern has.
func globMatch(pattern, path string) bool {
	ps := strings.Split(pattern, "/")
	ss := strings.Split(path, "/")
	// cur[j]: pattern[:i] matches path[:j].
	cur := make([]bool, len(ss)+1)
	next := make([]bool, len(ss)+1)
	cur[0] = true
	for _, g := range ps {
		switch g {
		case "**":
			seen := false
			for j := range cur {
				seen = seen || cur[j]
				next[j] = seen
			}
		default:
			lit := strings.ReplaceAll(strings.ReplaceAll(g, "%2A", "*"), "%2a", "*")
			next[0] = false
			for j := 1; j <= len(ss); j++ {
				next[j] = cur[j-1] && (g == "*" || ss[j-1] == lit)
			}
		}
		cur, next = next, cur
	}
	return cur[len(ss)]
}

// patternScope returns the ssehub topic pattern that covers every stream
// a glob can match: the topic of its literal leading segments and all
// below ("events/*" → "ds.events.*"), or the one topic of a glob without
// wildcards.
func patternScope(pattern string) (string, error) {
	segs := strings.Split(pattern, "/")
	var lit []string
	for _, g := range segs {
		if g == "*" || g == "**" {
			break
		}
		lit = append(lit, strings.ReplaceAll(strings.ReplaceAll(g, "%2A", "*"), "%2a", "*"))
	}
	if len(lit) == 0 {
		return TopicPrefix + ".*", nil
	}
	t, err := TopicFor(strings.Join(lit, "/"))
	if err != nil {
		return "", err
	}
	if len(lit) == len(segs) {
		return t, nil
	}
	return t + ".*", nil
}

// prefixStream returns the stream of a glob's literal leading segments
// when the glob matches that stream itself (only "**" follow them:
// "events/**" matches "events"), which the topic pattern patternScope
// returns does not cover.
func prefixStream(pattern, scope string) (string, bool) {
	base, ok := strings.CutSuffix(scope, ".*")
	if !ok || base == TopicPrefix {
		return "", false
	}
	name, ok := NameFor(base)
	if !ok || !globMatch(pattern, name) {
		return "", false
	}
	return name, true
}

// scopes returns the topic patterns a token must cover to act on a
// subscription: its pattern's scope (with the stream of its literal
// prefix when the pattern matches it), each linked explicit stream, the
// wake stream.
func (c *subConfig) scopes(extra []string) ([]string, error) {
	var out []string
	if c.Pattern != "" {
		s, err := patternScope(c.Pattern)
		if err != nil {
			return nil, err
		}
		out = append(out, s)
		if name, ok := prefixStream(c.Pattern, s); ok {
			t, err := TopicFor(name)
			if err != nil {
				return nil, err
			}
			out = append(out, t)
		}
	}
	for _, list := range [][]string{c.Streams, extra} {
		for _, p := range list {
			t, err := TopicFor(p)
			if err != nil {
				return nil, err
			}
			out = append(out, t)
		}
	}
	if c.WakeStream != "" {
		t, err := TopicFor(c.WakeStream)
		if err != nil {
			return nil, err
		}
		out = append(out, t)
	}
	return out, nil
}

// validSubID reports whether id may name a subscription: 1 to 128 bytes
// of letters, digits and "-_.:".
func validSubID(id string) bool {
	if id == "" || len(id) > maxSubIDLen {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.' || c == ':') {
			return false
		}
	}
	return true
}
