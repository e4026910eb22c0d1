package durable

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/ssehub/ssehub/httpapi"
)

// The protocol's error codes of the subscription APIs.
const (
	codeWebhookURL     = "WEBHOOK_URL_REJECTED"
	codeFenced         = "FENCED"
	codeAlreadyClaimed = "ALREADY_CLAIMED"
	codeNoPending      = "NO_PENDING_WORK"
	codeInvalidOffset  = "INVALID_OFFSET"
	codeSubNotFound    = "SUBSCRIPTION_NOT_FOUND"
	codeTokenInvalid   = "TOKEN_INVALID"
	codeTokenExpired   = "TOKEN_EXPIRED"
)

// serveReserved answers every path under /v1/stream/__ds: the
// subscription APIs, the webhook JWKS, and for anything else a refusal,
// so no application stream is ever made there.
func (f *Feature) serveReserved(w http.ResponseWriter, r *http.Request, name string) {
	rest := strings.TrimPrefix(strings.TrimPrefix(name, ReservedSegment), "/")
	m := f.subs
	if m == nil {
		f.reservedMiss(w, r)
		return
	}
	if rest == "jwks.json" {
		if !allow(w, r, http.MethodGet, http.MethodHead) {
			return
		}
		w.Header().Set("Cache-Control", "public, max-age=300")
		w.Header().Set("Content-Type", "application/jwk-set+json")
		w.WriteHeader(http.StatusOK)
		if r.Method == http.MethodGet {
			_ = json.NewEncoder(w).Encode(m.keys.jwks())
		}
		return
	}
	sub, ok := strings.CutPrefix(rest, "subscriptions/")
	if !ok {
		f.reservedMiss(w, r)
		return
	}
	id, action, _ := strings.Cut(sub, "/")
	if !validSubID(id) {
		fail(w, http.StatusBadRequest, "a subscription id is 1 to 128 letters, digits or -_.:")
		return
	}
	w.Header().Set("Cache-Control", "no-store")
	switch {
	case action == "":
		switch r.Method {
		case http.MethodPut:
			m.put(w, r, id)
		case http.MethodGet:
			m.get(w, r, id)
		case http.MethodDelete:
			m.remove(w, r, id)
		default:
			allow(w, r, http.MethodPut, http.MethodGet, http.MethodDelete)
		}
	case action == "streams":
		if allow(w, r, http.MethodPost) {
			m.addStreams(w, r, id)
		}
	case strings.HasPrefix(action, "streams/"):
		if allow(w, r, http.MethodDelete) {
			m.removeStream(w, r, id, strings.TrimPrefix(action, "streams/"))
		}
	case action == "callback" || action == "ack" || action == "release":
		if allow(w, r, http.MethodPost) {
			m.settle(w, r, id, action)
		}
	case action == "claim":
		if allow(w, r, http.MethodPost) {
			m.claim(w, r, id)
		}
	default:
		f.reservedMiss(w, r)
	}
}

// reservedMiss answers a path under __ds that is no control API.
func (f *Feature) reservedMiss(w http.ResponseWriter, r *http.Request) {
	if r.Method == http.MethodPut {
		fail(w, http.StatusBadRequest, "stream paths whose first segment is "+ReservedSegment+" are reserved for the protocol's control APIs")
		return
	}
	httpapi.WriteError(w, http.StatusNotFound, httpapi.CodeNotFound, "no control API at this path under "+Path+ReservedSegment+"/")
}

// allow answers 405 unless r's method is one of methods.
func allow(w http.ResponseWriter, r *http.Request, methods ...string) bool {
	for _, m := range methods {
		if r.Method == m {
			return true
		}
	}
	w.Header().Set("Allow", strings.Join(methods, ", "))
	httpapi.WriteError(w, http.StatusMethodNotAllowed, httpapi.CodeMethod, r.Method+" is not allowed here")
	return false
}

// authorizeSub checks that r may manage (write) or read rec: a token of
// purpose publish (manage) or stream (read) whose scope covers every
// stream the subscription can link and its wake stream.
func (m *subManager) authorizeSub(w http.ResponseWriter, r *http.Request, write bool, c *subConfig, extra []string) bool {
	scopes, err := c.scopes(extra)
	if err != nil {
		fail(w, http.StatusBadRequest, err.Error())
		return false
	}
	_, ok := m.f.authorize(w, r, write, scopes...)
	return ok
}

// explicitLinks returns rec's explicit links.
func explicitLinks(rec *subRecord) []string {
	var out []string
	for _, p := range rec.sortedLinks() {
		if rec.Links[p].Explicit {
			out = append(out, p)
		}
	}
	return out
}

// readJSON reads r's JSON body into v within the body limit.
func (m *subManager) readJSON(w http.ResponseWriter, r *http.Request, v any) bool {
	b, ok := m.f.s.ReadBody(w, r, m.f.opts.MaxBodyBytes)
	if !ok {
		return false
	}
	if err := json.Unmarshal(b, v); err != nil {
		httpapi.WriteError(w, http.StatusBadRequest, httpapi.CodeBadJSON, "the body is not the JSON object this takes: "+err.Error())
		return false
	}
	return true
}

// refuseViews refuses a path at or under the native views' prefix
// (Options.NativePath): every name there is a read-only view of a native
// topic, never a stream, so a subscription linking one would never wake
// and a wake written there would go nowhere.
func (m *subManager) refuseViews(paths ...string) error {
	for _, p := range paths {
		if p != "" && m.f.isView(p) {
			return fmt.Errorf("%s: paths under %s/ are read-only views of native topics, not streams a subscription links or writes to", quote(trim(p)), m.f.opts.NativePath)
		}
	}
	return nil
}

// literalPrefix returns a glob's leading literal segments (every stream
// name it can match starts with them), "" when it starts with a wildcard.
func literalPrefix(pattern string) string {
	segs := strings.Split(pattern, "/")
	n := 0
	for n < len(segs) && segs[n] != "*" && segs[n] != "**" {
		n++
	}
	return strings.Join(segs[:n], "/")
}

// base returns the scheme and host webhook receivers reach the hub at.
func (m *subManager) base(r *http.Request) string {
	if m.opts.PublicURL != "" {
		return strings.TrimRight(m.opts.PublicURL, "/")
	}
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return scheme + "://" + r.Host
}

// put creates or re-confirms a subscription.
func (m *subManager) put(w http.ResponseWriter, r *http.Request, id string) {
	var q subRequest
	if !m.readJSON(w, r, &q) {
		return
	}
	c, err := q.normalize(m.opts.MaxStreams)
	if err == nil {
		err = m.refuseViews(append(append([]string{c.WakeStream}, c.Streams...), literalPrefix(c.Pattern))...)
	}
	if err != nil {
		fail(w, http.StatusBadRequest, err.Error())
		return
	}
	if !m.authorizeSub(w, r, true, &c, nil) {
		return
	}
	if c.Type == "webhook" {
		if err := m.guard.checkURL(r.Context(), c.WebhookURL); err != nil {
			httpapi.WriteError(w, http.StatusBadRequest, codeWebhookURL, err.Error())
			return
		}
	}
	ctx := r.Context()
	s, err := m.lock(ctx, id)
	if err != nil {
		m.failed(w, r, err)
		return
	}
	defer m.unlock(id, s)
	if s.rec != nil {
		if s.rec.Hash != c.hash() {
			fail(w, http.StatusConflict, "subscription "+quote(id)+" exists with another configuration")
			return
		}
		// The answer shows every link, explicit ones added since too: it
		// takes the scope a GET of it takes.
		if !m.authorizeSub(w, r, true, &s.rec.Config, explicitLinks(s.rec)) {
			return
		}
		m.writeSub(w, r, s.rec, http.StatusOK)
		return
	}
	if !m.reserve(s) {
		fail(w, http.StatusTooManyRequests, "the hub keeps at most "+strconv.Itoa(m.opts.MaxSubscriptions)+" subscriptions (durable_streams.subscriptions.max_subscriptions)")
		return
	}
	defer m.release(s)
	rec := &subRecord{ID: id, Nonce: randomID(""), Config: c, Hash: c.hash(), CreatedAt: m.now().UTC(), Base: m.base(r),
		Links: map[string]*subLink{}, Status: "active"}
	// Explicit streams and, for a pattern, the matching streams that exist
	// are linked at their tails: creating replays nothing.
	for _, p := range c.Streams {
		t, _, err := m.tail(ctx, p, 0)
		if err != nil {
			m.failed(w, r, err)
			return
		}
		m.link(rec, p, true, t)
	}
	if c.Pattern != "" {
		if err := m.backfill(ctx, rec); err != nil {
			var tm *tooManyError
			if errors.As(err, &tm) {
				fail(w, http.StatusBadRequest, "the pattern matches more streams than a subscription links: "+err.Error())
				return
			}
			m.failed(w, r, err)
			return
		}
	}
	s.set(rec)
	if err := m.save(ctx, s); err != nil {
		s.set(nil)
		m.failed(w, r, err)
		return
	}
	m.kickWatcher() // it holds the live feed while a subscription exists
	m.writeSub(w, r, rec, http.StatusCreated)
}

// backfill links every existing stream rec's pattern matches at its tail.
// It looks in two places: the store's topics (those with retained events)
// and the streams' checkpoints, which keep a stream whose events retention
// removed entirely.
func (m *subManager) backfill(ctx context.Context, rec *subRecord) error {
	scope, err := patternScope(rec.Config.Pattern)
	if err != nil {
		return err
	}
	prefix := strings.TrimSuffix(scope, "*") // "ds.events." or the exact topic
	after := ""
	if strings.HasSuffix(scope, ".*") {
		after = strings.TrimSuffix(prefix, ".") // sorts before every topic under it
	} else {
		prefix = scope
		after = scope[:len(scope)-1]
	}
	seen := map[string]bool{}
	consider := func(topic string) error {
		name, ok := NameFor(topic)
		if !ok || seen[name] || reservedName(name) || !globMatch(rec.Config.Pattern, name) {
			return nil
		}
		seen[name] = true
		t, exists, err := m.tail(ctx, name, 0)
		if err != nil {
			return err
		}
		if exists && !m.link(rec, name, false, t) {
			return errTooMany(len(rec.Links)+1, m.opts.MaxStreams)
		}
		return nil
	}
	if name, ok := prefixStream(rec.Config.Pattern, scope); ok {
		// "events/**" matches "events", which sorts before the listing's
		// start and is not under its prefix.
		topic, _ := TopicFor(name)
		if err := consider(topic); err != nil {
			return err
		}
	}
	if err := m.backfillTopics(ctx, prefix, after, consider); err != nil {
		return err
	}
	err = m.f.s.Hub().Store().List(ctx, CheckpointBucket, func(topic string, _ []byte) error {
		if !strings.HasPrefix(topic, prefix) {
			if topic > prefix {
				return errListDone
			}
			return nil
		}
		return consider(topic)
	})
	if errors.Is(err, errListDone) {
		return nil
	}
	return err
}

// errListDone ends a KV listing early.
var errListDone = errors.New("durable: listing done")

// backfillTopics calls fn for each store topic under prefix, from the
// first after after, in order.
func (m *subManager) backfillTopics(ctx context.Context, prefix, after string, fn func(topic string) error) error {
	for {
		page, err := m.f.s.Hub().Topics(ctx, after, 1000)
		if err != nil {
			return err
		}
		for _, ti := range page {
			if !strings.HasPrefix(ti.Topic, prefix) {
				if ti.Topic > prefix {
					return nil
				}
				continue
			}
			if err := fn(ti.Topic); err != nil {
				return err
			}
		}
		if len(page) < 1000 {
			return nil
		}
		after = page[len(page)-1].Topic
	}
}

// subJSON is a subscription as GET returns it.
func (m *subManager) subJSON(r *http.Request, rec *subRecord) map[string]any {
	streams := make([]map[string]string, 0, len(rec.Links))
	for _, p := range rec.sortedLinks() {
		l := rec.Links[p]
		streams = append(streams, map[string]string{"path": p, "link_type": l.linkType(), "acked_offset": formatOffset(l.Acked)})
	}
	out := map[string]any{"id": rec.ID, "subscription_id": rec.ID, "type": rec.Config.Type, "streams": streams,
		"webhook": nil, "wake_stream": nil, "lease_ttl_ms": rec.Config.LeaseTTLms,
		"created_at": rec.CreatedAt.Format("2006-01-02T15:04:05.000Z"), "status": rec.Status, "pattern": nil,
		"description": nil, "generation": rec.Generation}
	if rec.Config.Pattern != "" {
		out["pattern"] = rec.Config.Pattern
	}
	if rec.Config.Description != "" {
		out["description"] = rec.Config.Description
	}
	if rec.Config.WebhookURL != "" {
		out["webhook"] = map[string]any{"url": rec.Config.WebhookURL, "signing": map[string]string{
			"alg": "ed25519", "kid": m.keys.kid, "jwks_url": m.base(r) + Path + ReservedSegment + "/jwks.json"}}
	}
	if rec.Config.WakeStream != "" {
		out["wake_stream"] = rec.Config.WakeStream
	}
	if !rec.NextAttempt.IsZero() && rec.Status == "failed" {
		out["next_attempt_at"] = rec.NextAttempt.UTC().Format(time.RFC3339Nano)
	}
	return out
}

func (m *subManager) writeSub(w http.ResponseWriter, r *http.Request, rec *subRecord, status int) {
	httpapi.WriteJSON(w, status, m.subJSON(r, rec))
}

// open locks subscription id for a request and checks that its token may
// read it (write: change it) with the extra stream paths it names: false
// when the request is answered (404 for a missing one, to a token that
// may read every stream: without one the answer would tell which ids
// exist). The caller unlocks s.
func (m *subManager) open(w http.ResponseWriter, r *http.Request, id string, write bool, extra []string) (*subState, bool) {
	s, err := m.lock(r.Context(), id)
	if err != nil {
		m.failed(w, r, err)
		return nil, false
	}
	if s.rec == nil {
		if _, ok := m.f.authorize(w, r, write, TopicPrefix+".*"); ok {
			httpapi.WriteError(w, http.StatusNotFound, codeSubNotFound, "no subscription "+quote(id))
		}
		m.unlock(id, s)
		return nil, false
	}
	if !m.authorizeSub(w, r, write, &s.rec.Config, append(explicitLinks(s.rec), extra...)) {
		m.unlock(id, s)
		return nil, false
	}
	return s, true
}

// get serves GET: the subscription with its cursors.
func (m *subManager) get(w http.ResponseWriter, r *http.Request, id string) {
	s, ok := m.open(w, r, id, false, nil)
	if !ok {
		return
	}
	defer m.unlock(id, s)
	m.writeSub(w, r, s.rec, http.StatusOK)
}

// remove serves DELETE: the subscription goes, with its cursors; any
// callback, ack or release of it fails from then on (its tokens name the
// deleted record's nonce).
func (m *subManager) remove(w http.ResponseWriter, r *http.Request, id string) {
	ctx := r.Context()
	s, ok := m.open(w, r, id, true, nil)
	if !ok {
		return
	}
	defer m.unlock(id, s)
	if err := m.kv.Delete(ctx, SubscriptionBucket, id); err != nil {
		m.failed(w, r, err)
		return
	}
	if m.shared { // its claim keys (one of each is left), best effort
		rec := s.rec
		_ = m.kv.Delete(ctx, SubscriptionGenerationBucket, rec.ID+"/"+rec.Nonce+"/"+strconv.FormatUint(rec.Generation, 10))
		if rec.Deliveries > 0 {
			_ = m.kv.Delete(ctx, SubscriptionGenerationBucket, "delivery/"+rec.ID+"/"+rec.Nonce+"/"+strconv.FormatUint(rec.Deliveries-1, 10))
		}
	}
	s.set(nil)
	w.WriteHeader(http.StatusNoContent)
}

// addStreams serves POST …/streams: explicit links at the streams' tails.
func (m *subManager) addStreams(w http.ResponseWriter, r *http.Request, id string) {
	var q struct {
		Streams []string `json:"streams"`
	}
	if !m.readJSON(w, r, &q) {
		return
	}
	if len(q.Streams) > m.opts.MaxStreams {
		fail(w, http.StatusBadRequest, errTooMany(len(q.Streams), m.opts.MaxStreams).Error())
		return
	}
	paths, err := normalizePaths(q.Streams)
	if err == nil {
		err = m.refuseViews(paths...)
	}
	if err != nil {
		fail(w, http.StatusBadRequest, err.Error())
		return
	}
	ctx := r.Context()
	s, ok := m.open(w, r, id, true, paths)
	if !ok {
		return
	}
	defer m.unlock(id, s)
	added := 0
	for _, p := range paths {
		if s.rec.Links[p] == nil {
			added++
		}
	}
	if len(s.rec.Links)+added > m.opts.MaxStreams {
		fail(w, http.StatusBadRequest, errTooMany(len(s.rec.Links)+added, m.opts.MaxStreams).Error())
		return
	}
	for _, p := range paths {
		t, _, err := m.tail(ctx, p, 0)
		if err != nil {
			m.failed(w, r, err)
			return
		}
		m.link(s.rec, p, true, t)
	}
	if err := m.save(ctx, s); err != nil {
		m.failed(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// removeStream serves DELETE …/streams/{path}: only the explicit link
// goes; a glob link of a still matching pattern stays.
func (m *subManager) removeStream(w http.ResponseWriter, r *http.Request, id, raw string) {
	p := strings.Trim(raw, "/")
	ctx := r.Context()
	s, ok := m.open(w, r, id, true, nil)
	if !ok {
		return
	}
	defer m.unlock(id, s)
	if l := s.rec.Links[p]; l != nil && l.Explicit {
		l.Explicit = false
		if !l.Glob {
			delete(s.rec.Links, p)
		}
		if err := m.save(ctx, s); err != nil {
			m.failed(w, r, err)
			return
		}
	}
	w.WriteHeader(http.StatusNoContent)
}
