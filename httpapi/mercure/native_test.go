package mercure_test

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/ssehub/ssehub/auth"
	"github.com/ssehub/ssehub/config"
	"github.com/ssehub/ssehub/httpapi/durable"
	"github.com/ssehub/ssehub/httpapi/mercure"
	"github.com/ssehub/ssehub/internal/hubtest"
)

const nativePrefix = "https://example.com/topics/"

// nativeEnv is a hub that shows orders.* to Mercure subscribers.
func nativeEnv(t *testing.T, opts mercure.Options) *env {
	t.Helper()
	opts.Anonymous = true
	if opts.NativeTopics == nil {
		opts.NativeTopics = []string{"orders.*"}
		opts.NativeIRIPrefix = nativePrefix
	}
	return newEnv(t, opts)
}

// publishNative posts data to /publish/{topic} with the admin token and
// returns the event's log id.
func (e *env) publishNative(topic, typ, contentType, data string) string {
	e.t.Helper()
	u := e.th.Srv.URL + "/publish/" + topic
	if typ != "" {
		u += "?type=" + url.QueryEscape(typ)
	}
	req, _ := http.NewRequest(http.MethodPost, u, strings.NewReader(data))
	req.Header.Set("Authorization", "Bearer "+hubtest.AdminToken)
	req.Header.Set("Content-Type", contentType)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	var out struct{ ID string }
	if resp.StatusCode != 200 || json.NewDecoder(resp.Body).Decode(&out) != nil {
		e.t.Fatalf("native publish on %s: %d", topic, resp.StatusCode)
	}
	return out.ID
}

// subscribeGrant subscribes with a JWT granting subscribe on grants.
func (e *env) subscribeGrant(query string, grants ...map[string]string) *stream {
	e.t.Helper()
	return e.subscribe(query, bearer(accessToken(e.t, subKey, detail([]string{"subscribe"}, grants...))))
}

// hubID is the Mercure id of the log id n.
func (e *env) hubID(n string) string { return "#" + n + "@" + e.th.Hub.Epoch() }

func TestNativeTopicsDelivery(t *testing.T) {
	e := nativeEnv(t, mercure.Options{})
	iri := nativePrefix + "orders.created"
	exactSub := e.subscribeGrant(q("match", iri), exact(iri))
	patternSub := e.subscribeGrant(q("match_urlpattern", nativePrefix+":topic"), pattern(nativePrefix+":topic"))
	tplSub := e.subscribe(q("topic", nativePrefix+"{topic}"), bearer(legacyToken(t, subKey, map[string]any{"subscribe": []any{nativePrefix + "{topic}"}})))
	star := e.subscribeGrant(q("match", "*"), exact("*"))
	anon := e.subscribe(q("match", iri), nil)
	anonStar := e.subscribe(q("match", "*"), nil)
	otherGrant := e.subscribeGrant(q("match", iri), exact(nativePrefix+"orders.other"))
	noSelector := e.subscribeGrant(q("match", nativePrefix+"orders.other"), exact("*"))

	tokens := e.th.API.Tokens()
	ctx := context.Background()
	inScope, _, err := tokens.Create(ctx, auth.CreateOptions{Purpose: auth.PurposeStream, Topics: []string{"orders.created"}})
	if err != nil {
		t.Fatal(err)
	}
	outScope, _, err := tokens.Create(ctx, auth.CreateOptions{Purpose: auth.PurposeStream, Topics: []string{"orders.other", "mercure.*"}})
	if err != nil {
		t.Fatal(err)
	}
	scoped := e.subscribe(q("match", "*"), bearer(inScope))
	unscoped := e.subscribe(q("match", "*"), bearer(outScope))
	// A token whose scope is only native topics outside native_topics
	// holds nothing for this endpoint.
	billing, _, err := tokens.Create(ctx, auth.CreateOptions{Purpose: auth.PurposeStream, Topics: []string{"billing.*"}})
	if err != nil {
		t.Fatal(err)
	}
	if _, resp := e.trySubscribe(q("match", "*"), bearer(billing)); resp == nil || resp.StatusCode != 403 {
		t.Errorf("a token scoped to billing.* only: want 403")
	}

	data := "{\"total\":42,\n\"note\":\"two lines\"}"
	id := e.publishNative("orders.created", "created", "text/plain", data)
	for name, s := range map[string]*stream{"exact": exactSub, "urlpattern": patternSub, "uritemplate": tplSub, "wildcard": star, "scoped token": scoped} {
		ev := s.next(t)
		if string(ev.Data) != data || ev.Type != "created" || ev.ID != e.hubID(id) {
			t.Errorf("%s got id %q type %q data %q; want %q created %q", name, ev.ID, ev.Type, ev.Data, e.hubID(id), data)
		}
	}
	// Events the wildcard JWT must never see: another native topic, a
	// Durable Streams topic, a native event passing for a subscription
	// event. Then a Mercure update, which must be the next it gets.
	e.publishNative("billing.paid", "", "text/plain", "billing")
	e.publishNative("ds.chat", "", "text/plain", "durable")
	e.publishNative("orders.forged", "mercure", "text/plain", "forged")
	e.mustPublish(form("topic", "https://example.com/books/1", "data", "book"))
	if ev := star.next(t); string(ev.Data) != "book" {
		t.Errorf("wildcard JWT got %q after the native event, want the Mercure update", ev.Data)
	}
	if ev := anonStar.next(t); string(ev.Data) != "book" {
		t.Errorf("anonymous wildcard got %q, want only the public Mercure update", ev.Data)
	}
	if ev := unscoped.next(t); string(ev.Data) != "book" {
		t.Errorf("a token without orders.created in its scope got %q, want only the Mercure update", ev.Data)
	}
	for name, s := range map[string]*stream{"anonymous": anon, "other grant": otherGrant, "other selector": noSelector, "exact": exactSub, "scoped token": scoped} {
		select {
		case ev, ok := <-s.events:
			if ok {
				t.Errorf("%s got %q, want nothing", name, ev.Data)
			}
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// TestNativeByteExact reads a native event's bytes off the wire.
func TestNativeByteExact(t *testing.T) {
	e := nativeEnv(t, mercure.Options{})
	iri := nativePrefix + "orders.created"
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, e.url+"?"+q("match", iri), nil)
	req.Header.Set("Authorization", "Bearer "+accessToken(t, subKey, detail([]string{"subscribe"}, exact(iri))))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	br := bufio.NewReader(resp.Body)
	if l, _ := br.ReadString('\n'); l != ":\n" {
		t.Fatalf("first line %q", l)
	}
	id := e.publishNative("orders.created", "created", "application/json", `{"total":42}`)
	want := "event: created\nid: " + e.hubID(id) + "\ndata: {\"total\":42}\n\n"
	got := make([]byte, len(want))
	if _, err := io.ReadFull(br, got); err != nil || string(got) != want {
		t.Fatalf("got %q (%v), want %q", got, err, want)
	}
}

// TestNativeReplay: resuming interleaves native events with Mercure
// updates in log order, from a Mercure update's id or a native event's.
func TestNativeReplay(t *testing.T) {
	e := nativeEnv(t, mercure.Options{})
	a := e.mustPublish(form("topic", "https://example.com/books/1", "data", "m1", "private", "on"))
	n1 := e.hubID(e.publishNative("orders.created", "", "text/plain", "n1"))
	e.publishNative("billing.paid", "", "text/plain", "billing")
	e.mustPublish(form("topic", "https://example.com/books/2", "data", "m2", "id", "urn:m2"))
	e.publishNative("orders.shipped", "shipped", "text/plain", "n2")
	e.publishNative("ds.x", "", "text/plain", "durable")
	e.mustPublish(form("topic", "https://example.com/books/3", "data", "m3"))
	read := func(s *stream, n int) string {
		var out []string
		for range n {
			ev := s.next(t)
			out = append(out, string(ev.Data)+"/"+strings.TrimPrefix(ev.Type, "message"))
		}
		s.none(t, 100*time.Millisecond)
		return strings.Join(out, ",")
	}
	all := func(cursor string) *stream {
		return e.subscribeGrant(q("match", "*", "last_event_id", cursor), exact("*"))
	}
	for _, c := range []struct{ name, cursor, want string }{
		{"earliest", "earliest", "m1/,n1/,m2/,n2/shipped,m3/"},
		{"a Mercure update's hub id", a, "n1/,m2/,n2/shipped,m3/"},
		{"a native event's id", n1, "m2/,n2/shipped,m3/"},
		{"a publisher's id", "urn:m2", "n2/shipped,m3/"},
	} {
		if got := read(all(c.cursor), strings.Count(c.want, ",")+1); got != c.want {
			t.Errorf("%s: got %s, want %s", c.name, got, c.want)
		}
	}
	// The grant still applies on replay: a JWT for books and
	// orders.shipped only, and an anonymous subscriber.
	s := e.subscribe(q("match", "*", "last_event_id", "earliest"), bearer(accessToken(t, subKey,
		detail([]string{"subscribe"}, pattern("https://example.com/books/:id"), exact(nativePrefix+"orders.shipped")))))
	if got := read(s, 4); got != "m1/,m2/,n2/shipped,m3/" {
		t.Errorf("a narrower grant: got %s", got)
	}
	if got := read(e.subscribe(q("match", "*", "last_event_id", "earliest"), nil), 2); got != "m2/,m3/" {
		t.Errorf("anonymous: got %s", got)
	}
	// A stream token scoped to orders.created and the public updates.
	tok, _, err := e.th.API.Tokens().Create(context.Background(), auth.CreateOptions{Purpose: auth.PurposeStream, Topics: []string{"orders.created", "mercure.*"}})
	if err != nil {
		t.Fatal(err)
	}
	if got := read(e.subscribe(q("match", "*", "last_event_id", "earliest"), bearer(tok)), 3); got != "n1/,m2/,m3/" {
		t.Errorf("a scoped ssehub token: got %s", got)
	}
}

// TestNativeOff: without native_topics nothing changes; a native event
// reaches no Mercure subscriber, not even an admin's.
func TestNativeOff(t *testing.T) {
	e := newEnv(t, mercure.Options{Anonymous: true})
	star := e.subscribeGrant(q("match", "*"), exact("*"))
	admin := e.subscribe(q("match", "*"), bearer(hubtest.AdminToken))
	e.publishNative("orders.created", "", "text/plain", "native")
	e.mustPublish(form("topic", "https://example.com/books/1", "data", "book"))
	for name, s := range map[string]*stream{"JWT": star, "admin token": admin} {
		if ev := s.next(t); string(ev.Data) != "book" {
			t.Errorf("%s got %q, want the Mercure update only", name, ev.Data)
		}
	}
	if got := read1(t, e.subscribeGrant(q("match", "*", "last_event_id", "earliest"), exact("*"))); got != "book" {
		t.Errorf("replay got %q", got)
	}
}

func read1(t *testing.T, s *stream) string { t.Helper(); return string(s.next(t).Data) }

// TestNativeBareIRI: with no prefix the IRI is the topic, and a topic
// whose IRI resolves into the hub's own namespace is never delivered.
func TestNativeBareIRI(t *testing.T) {
	e := nativeEnv(t, mercure.Options{NativeTopics: []string{"orders.*", "mercure"}})
	s := e.subscribeGrant(q("match", "orders.created"), exact("orders.created"))
	star := e.subscribeGrant(q("match", "*"), exact("*"))
	watcher := e.subscribeGrant(q("match_urlpattern", "/.well-known/mercure{/*}?"), pattern("/.well-known/mercure{/*}?"))
	e.publishNative("mercure", "", "text/plain", "passes for the hub")
	id := e.publishNative("orders.created", "", "text/plain", "bare")
	for name, s := range map[string]*stream{"exact": s, "wildcard": star} {
		if ev := s.next(t); string(ev.Data) != "bare" || ev.ID != e.hubID(id) {
			t.Errorf("%s got %+v", name, ev)
		}
	}
	watcher.none(t, 200*time.Millisecond)
}

// TestNativeConfigRefused: patterns overlapping another surface's topics
// and an IRI prefix in the hub's namespace stop Register.
func TestNativeConfigRefused(t *testing.T) {
	e := newEnv(t, mercure.Options{})
	for _, c := range []struct {
		opts mercure.Options
		want string
	}{
		{mercure.Options{NativeTopics: []string{"*"}}, "overlaps mercure.*"},
		{mercure.Options{NativeTopics: []string{"ds.*"}}, "overlaps ds.*"},
		{mercure.Options{NativeTopics: []string{"mercure_private.x"}}, "overlaps mercure_private.*"},
		{mercure.Options{NativeTopics: []string{"orders/*"}}, "invalid topic"},
		{mercure.Options{NativeTopics: []string{"orders.*"}, NativeIRIPrefix: "/.well-known/mercure/subscriptions/"}, "reserved namespace"},
		{mercure.Options{NativeTopics: []string{"orders.*"}, NativeIRIPrefix: "a\x00"}, "control"},
	} {
		c.opts.Enabled = true
		err := mercure.New(c.opts).Register(e.th.API)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v: %v, want %q", c.opts, err, c.want)
		}
	}
	// The reserved list names the Durable Streams prefix that package uses.
	found := false
	for _, r := range config.MercureReservedTopics {
		found = found || r.Pattern == durable.TopicPrefix+".*"
	}
	if !found {
		t.Errorf("config.MercureReservedTopics does not hold %s.*", durable.TopicPrefix)
	}
}

// TestNativeIRINotPublishable: a Mercure publish on a native topic's IRI
// is refused, so that an anonymous subscriber cannot be shown a public
// update that looks like the native topic's (private) event; other IRIs
// under the prefix are Mercure topics as before.
func TestNativeIRINotPublishable(t *testing.T) {
	e := nativeEnv(t, mercure.Options{})
	anon := e.subscribe(q("match_urlpattern", nativePrefix+":t"), nil)
	tok := accessToken(t, pubKey, detail([]string{"publish"}, exact("*")))
	for _, f := range []url.Values{
		form("topic", nativePrefix+"orders.created", "data", "spoof"),
		form("topic", "https://example.com/other", "topic", nativePrefix+"orders.x", "data", "spoof as an alternate"),
		form("topic", nativePrefix+"orders.created", "data", "spoof", "private", "on"),
	} {
		if st, body, _ := e.publish(tok, f); st != http.StatusBadRequest || !strings.Contains(body, "native topic") {
			t.Errorf("publish %v: %d %s, want 400", f, st, body)
		}
	}
	e.mustPublish(form("topic", nativePrefix+"billing.paid", "data", "a Mercure topic"))
	if ev := anon.next(t); string(ev.Data) != "a Mercure topic" {
		t.Errorf("got %q", ev.Data)
	}
}

func TestNativeOptionsFromConfig(t *testing.T) {
	cfg, err := config.Parse([]byte("mercure:\n  enabled: true\n  native_topics: [orders.*, billing.paid]\n  native_iri_prefix: " + nativePrefix + "\n"))
	if err != nil {
		t.Fatal(err)
	}
	o := mercure.OptionsFrom(cfg)
	if strings.Join(o.NativeTopics, ",") != "orders.*,billing.paid" || o.NativeIRIPrefix != nativePrefix {
		t.Errorf("options %v %q", o.NativeTopics, o.NativeIRIPrefix)
	}
}
