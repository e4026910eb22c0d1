package mercure_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/ssehub/ssehub/httpapi/mercure"
)

// TestNativeIRISpellingsNotPublishable: a URL pattern subscriber matches
// topics as the WHATWG URL standard parses them, so every spelling of a
// native topic's IRI that parses to it (case of scheme and host, default
// port, dot segments, backslashes, a user, leading spaces, no "//") is
// refused like the IRI itself: else a Mercure publisher shows a
// subscriber of exactly that IRI a public update that passes for the
// native event. With no prefix the bare topic, resolved against the hub,
// is guarded the same way.
func TestNativeIRISpellingsNotPublishable(t *testing.T) {
	e := nativeEnv(t, mercure.Options{})
	iri := nativePrefix + "orders.created"
	exactPattern := e.subscribe(q("match_urlpattern", iri), nil)
	ordersPattern := e.subscribe(q("match_urlpattern", nativePrefix+"orders.:x"), nil)
	tok := accessToken(t, pubKey, detail([]string{"publish"}, exact("*")))
	for _, sp := range []string{
		"HTTPS://EXAMPLE.COM/topics/orders.created", "https://example.com:443/topics/orders.created",
		"https://example.com/topics/./orders.created", "https://example.com/x/../topics/orders.created",
		"https://user@example.com/topics/orders.created", "https:example.com/topics/orders.created",
		`https://example.com\topics\orders.created`, " https://example.com/topics/orders.created",
		"https://ex%61mple.com/topics/orders.created", "https://example.com/topics/orders.%63reated",
		"https://example.com/topics/%2E/orders.created", "https://u:p@example.com/topics/orders.created",
	} {
		if st, body, _ := e.publish(tok, form("topic", sp, "data", "spoof")); st != http.StatusBadRequest || !strings.Contains(body, "native topic") {
			t.Errorf("publish on %q: %d %s, want 400", sp, st, body)
		}
	}
	// Spellings that are other URLs stay Mercure topics.
	for _, other := range []string{"https://example.com/topics/orders%2Ecreated", "https://example.org/topics/orders.created", "http://example.com/topics/orders.created"} {
		if st, body, _ := e.publish(tok, form("topic", other, "data", "other")); st != http.StatusOK {
			t.Errorf("publish on %q: %d %s, want 200", other, st, body)
		}
	}
	e.mustPublish(form("topic", nativePrefix+"billing.paid", "data", "end"))
	exactPattern.none(t, 100*time.Millisecond)
	ordersPattern.none(t, 10*time.Millisecond) // orders%2Ecreated is no orders.:x to a URL pattern either
}

// TestNativeExactIRIQueryNotPublishable: a URL pattern of a plain URL
// takes any query and fragment, so an exact native topic's IRI with one
// is that IRI to it.
func TestNativeExactIRIQueryNotPublishable(t *testing.T) {
	tok := accessToken(t, pubKey, detail([]string{"publish"}, exact("*")))
	exactNative := nativeEnv(t, mercure.Options{NativeTopics: []string{"billing.paid"}, NativeIRIPrefix: nativePrefix})
	for _, sp := range []string{nativePrefix + "billing.paid?x=1", nativePrefix + "billing.paid#h", nativePrefix + "billing.paid?"} {
		if st, body, _ := exactNative.publish(tok, form("topic", sp, "data", "spoof")); st != http.StatusBadRequest || !strings.Contains(body, "native topic") {
			t.Errorf("publish on %q: %d %s, want 400", sp, st, body)
		}
	}
}

// TestNativeBareIRISpellingsNotPublishable: with no prefix the bare
// topic, resolved against the hub's URL, is guarded in its spellings.
func TestNativeBareIRISpellingsNotPublishable(t *testing.T) {
	tok := accessToken(t, pubKey, detail([]string{"publish"}, exact("*")))
	bare := nativeEnv(t, mercure.Options{NativeTopics: []string{"orders.*"}})
	for _, sp := range []string{"orders.created", "./orders.created", "/.well-known/orders.created", bare.url + "/../orders.created", `\.well-known\orders.created`} {
		if st, body, _ := bare.publish(tok, form("topic", sp, "data", "spoof")); st != http.StatusBadRequest || !strings.Contains(body, "native topic") {
			t.Errorf("bare: publish on %q: %d %s, want 400", sp, st, body)
		}
	}
}

// TestReservedSpellingsNotPublishable: the hub's namespace (where the
// subscription events live) is guarded in every spelling a URL pattern
// subscriber's matcher takes for it: a publisher with backslashes or a
// leading space made a watcher of the subscriptions API see a forged
// subscription event.
func TestReservedSpellingsNotPublishable(t *testing.T) {
	e := newEnv(t, mercure.Options{Anonymous: true, Subscriptions: true})
	tok := accessToken(t, pubKey, detail([]string{"publish"}, exact("*")))
	watch := "/.well-known/mercure/subscriptions{/*}?"
	watcher := e.subscribe(q("match_urlpattern", watch), bearer(accessToken(t, subKey, detail([]string{"subscribe"}, pattern(watch)))))
	if ev := watcher.next(t); !strings.Contains(string(ev.Data), `"active":true`) {
		t.Fatalf("the watcher's own subscription event: %q", ev.Data)
	}
	for _, sp := range []string{
		`\.well-known\mercure\subscriptions\a\b`, `/.well-known\mercure/subscriptions/a/b`, " /.well-known/mercure/subscriptions/a/b",
		`http:\\127.0.0.1\.well-known\mercure\subscriptions\a\b`, "HTTP://127.0.0.1/.well-known/mercure/subscriptions/a/b",
	} {
		if st, body, _ := e.publish(tok, form("topic", sp, "data", `{"forged":true}`)); st != http.StatusBadRequest || !strings.Contains(body, "reserved namespace") {
			t.Errorf("publish on %q: %d %s, want 400", sp, st, body)
		}
	}
	watcher.none(t, 150*time.Millisecond)
}

// TestNativeGrantLookalikes: grants that look like a native IRI but are
// not it (percent-encoded, another case, another host, the prefix alone,
// relative, a template of other topics) show no native event: the first
// event each stream gets is the Mercure update published after it.
func TestNativeGrantLookalikes(t *testing.T) {
	e := nativeEnv(t, mercure.Options{})
	subs := map[string]*stream{
		"percent-encoded pattern": e.subscribeGrant(q("match", "*"), pattern(nativePrefix+"orders%2Ecreated")),
		"percent-encoded exact":   e.subscribeGrant(q("match", "*"), exact(nativePrefix+"orders%2Ecreated")),
		"upper case exact":        e.subscribeGrant(q("match", "*"), exact("HTTPS://EXAMPLE.COM/topics/orders.created")),
		"other host pattern":      e.subscribeGrant(q("match", "*"), pattern("https://example.org/topics/:t")),
		"the prefix":              e.subscribeGrant(q("match", "*"), exact(nativePrefix)),
		"relative pattern":        e.subscribeGrant(q("match", "*"), pattern("/topics/:t")),
		"template of books":       e.subscribe(q("topic", "*"), bearer(legacyToken(t, subKey, map[string]any{"subscribe": []any{"https://example.com/books/{id}"}}))),
	}
	e.publishNative("orders.created", "", "text/plain", "native")
	e.mustPublish(form("topic", "https://example.com/books/1", "data", "book"))
	for name, s := range subs {
		if ev := s.next(t); string(ev.Data) != "book" {
			t.Errorf("%s got %q first, want the Mercure update", name, ev.Data)
		}
	}
}

// TestNativePrefixSpellingRefused: a native_iri_prefix that a URL pattern
// reads as inside the hub's namespace is refused at start, as the plain
// spelling is.
func TestNativePrefixSpellingRefused(t *testing.T) {
	e := newEnv(t, mercure.Options{})
	for _, prefix := range []string{`\.well-known\mercure\subscriptions\`, `/.well-known\mercure/`, " /.well-known/mercure/"} {
		err := mercure.New(mercure.Options{Enabled: true, NativeTopics: []string{"orders.*"}, NativeIRIPrefix: prefix}).Register(e.th.API)
		if err == nil || !strings.Contains(err.Error(), "reserved namespace") {
			t.Errorf("prefix %q: %v, want the reserved namespace refused", prefix, err)
		}
	}
}
