package mercure

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"time"

	"github.com/ssehub/ssehub"
	"github.com/ssehub/ssehub/auth"
	"github.com/yosida95/uritemplate/v3"
)

var subscriptionTopic = uritemplate.MustNew("{+path}/subscriptions/{match_type}/{match}/{subscriber}")

// subscription is one connection's subscriptions (one per matcher).
type subscription struct {
	id    string
	items []subscriptionDoc
}

// subscriptionDoc is the document of one subscription, in events and the API.
type subscriptionDoc struct {
	ID         string          `json:"id"`
	Type       string          `json:"type"`
	MatchType  string          `json:"match_type"`
	Match      string          `json:"match"`
	Subscriber string          `json:"subscriber"`
	Active     bool            `json:"active"`
	Payload    json.RawMessage `json:"payload,omitempty"`
}

// newSubscriberID is a random urn:uuid (version 4).
func newSubscriberID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("urn:uuid:%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

func hubPath(base string) string {
	u, err := url.Parse(base)
	if err != nil {
		return Path
	}
	return u.Path
}

// open registers a connection's subscriptions and publishes their events.
func (x *registry) open(f *Feature, cred *credential, sels []selector, base string) *subscription {
	s := &subscription{id: newSubscriberID()}
	p := hubPath(base)
	for _, sel := range sels {
		vars := uritemplate.Values{}
		vars.Set("path", uritemplate.String(p))
		vars.Set("match_type", uritemplate.String(sel.typ))
		vars.Set("match", uritemplate.String(sel.pattern))
		vars.Set("subscriber", uritemplate.String(s.id))
		id, _ := subscriptionTopic.Expand(vars)
		d := subscriptionDoc{ID: id, Type: "subscription", MatchType: sel.typ, Match: sel.pattern, Subscriber: s.id, Active: true}
		if cred.jwt != nil {
			d.Payload = cred.jwt.payloadFor(sel.pattern, base)
		}
		s.items = append(s.items, d)
	}
	x.mu.Lock()
	x.byID[s.id] = s
	x.mu.Unlock()
	f.publishSubscriptions(context.Background(), s.items)
	return s
}

// close unregisters them and publishes their end.
func (x *registry) close(f *Feature, s *subscription) {
	x.mu.Lock()
	delete(x.byID, s.id)
	x.mu.Unlock()
	ended := make([]subscriptionDoc, len(s.items))
	for i, d := range s.items {
		d.Active = false
		ended[i] = d
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	f.publishSubscriptions(ctx, ended)
}

// publishSubscriptions appends one private update per document, with the
// reserved type "mercure".
func (f *Feature) publishSubscriptions(ctx context.Context, docs []subscriptionDoc) {
	evs := make([]*ssehub.Event, 0, len(docs))
	for _, d := range docs {
		data, _ := json.Marshal(d)
		topic := TopicFor(d.ID, true)
		mm := meta{Topics: []string{d.ID}}
		seal(&mm, topic, "mercure")
		m, _ := json.Marshal(metaDoc{Mercure: &mm})
		evs = append(evs, &ssehub.Event{Topic: topic, Type: "mercure", Data: data, Meta: m, Source: "mercure"})
	}
	if _, err := f.s.Hub().Publish(ctx, evs); err != nil {
		f.log.Warn("mercure: publishing subscription events", "err", err)
	}
}

// handleSubscriptions serves the subscriptions API.
func (f *Feature) handleSubscriptions(w http.ResponseWriter, r *http.Request) {
	base := f.hubURL(r)
	// The cursor (the log's head) only for a request the switch below
	// lets through; a refusal gets the bare discovery link.
	head := f.s.Hub().Head()
	link(w, base, "")
	f.s.CORS().Apply(w.Header(), r)
	cred, ok := f.authenticate(w, r, f.sub, base)
	if !ok {
		return
	}
	topic := r.URL.EscapedPath()
	switch {
	case cred.anonymous():
		f.bearerError(w, r, http.StatusUnauthorized, "", "the subscriptions API needs an access token")
		return
	case cred.hub != nil && !cred.hub.Admin && !cred.hub.Token.Purpose.Allows(auth.PurposeStream):
		f.bearerError(w, r, http.StatusForbidden, "insufficient_scope", "the token's purpose is "+string(cred.hub.Token.Purpose)+"; the subscriptions API needs stream")
		return
	case cred.jwt != nil && !cred.jwt.may(false, []string{topic}, base),
		cred.hub != nil && !cred.hub.Admin && !cred.hub.Scope().Match(TopicFor(topic, true)):
		f.bearerError(w, r, http.StatusForbidden, "insufficient_scope", "the token does not grant subscribe on "+strconvQuote(topic))
		return
	}
	last := "earliest"
	if head > 0 {
		last = hubID(strconv.FormatUint(head, 10) + "@" + f.s.Hub().Epoch())
	}
	w.Header().Del("Link")
	link(w, base, last)
	typ, match, subscriber := r.PathValue("type"), r.PathValue("match"), r.PathValue("subscriber")
	var docs []subscriptionDoc
	f.subs.mu.Lock()
	for _, s := range f.subs.byID {
		for _, d := range s.items {
			if (typ == "" || d.MatchType == typ && d.Match == match) && (subscriber == "" || d.Subscriber == subscriber) {
				docs = append(docs, d)
			}
		}
	}
	f.subs.mu.Unlock()
	sort.Slice(docs, func(i, j int) bool { return docs[i].ID < docs[j].ID })
	w.Header().Set("Cache-Control", "must-revalidate")
	if subscriber != "" {
		if len(docs) == 0 {
			plainError(w, http.StatusNotFound, "no active subscription at "+strconvQuote(topic))
			return
		}
		writeJSON(w, docs[0])
		return
	}
	if docs == nil {
		docs = []subscriptionDoc{}
	}
	writeJSON(w, struct {
		ID            string            `json:"id"`
		Type          string            `json:"type"`
		Subscriptions []subscriptionDoc `json:"subscriptions"`
	}{topic, "subscriptions", docs})
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	_ = json.NewEncoder(w).Encode(v)
}
