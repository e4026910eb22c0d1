package mercure_test

import (
	"bufio"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/ssehub/ssehub/bolt"
	"github.com/ssehub/ssehub/httpapi/mercure"
	"github.com/ssehub/ssehub/internal/hubtest"
	"github.com/ssehub/ssehub/memory"
	"github.com/ssehub/ssehub/sse"
)

const (
	pubKey   = "publisher-secret-publisher-secret"
	subKey   = "subscriber-secret-subscriber-secret"
	issuer   = "https://issuer.example"
	audience = "https://hub.example/.well-known/mercure"
)

// perStream makes newEnv keep a goroutine per stream (see
// TestGoroutinePerStream); by default streams are detached.
var perStream bool

type env struct {
	t   *testing.T
	th  *hubtest.Hub
	url string // the hub's Mercure URL
}

// newEnv starts a hub over a bolt store on t.TempDir() with the Mercure
// feature, behind real HTTP.
func newEnv(t *testing.T, opts mercure.Options, more ...hubtest.Option) *env {
	t.Helper()
	store, err := bolt.Open(t.TempDir(), bolt.Options{})
	if err != nil {
		t.Fatal(err)
	}
	opts.Enabled = true
	opts.GoroutinePerStream = opts.GoroutinePerStream || perStream
	if opts.Publisher.Key == "" {
		opts.Publisher = mercure.Key{Key: pubKey}
	}
	if opts.Subscriber.Key == "" {
		opts.Subscriber = mercure.Key{Key: subKey}
	}
	if opts.Heartbeat == 0 {
		opts.Heartbeat = time.Second
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	all := append([]hubtest.Option{func(c *hubtest.Config) { c.Extra = append(c.Extra, mercure.New(opts)) }}, more...)
	th := hubtest.New(t, store, all...)
	return &env{t: t, th: th, url: th.Srv.URL + mercure.Path}
}

// detail is a Mercure authorization detail.
func detail(actions []string, topics ...map[string]string) map[string]any {
	ts := make([]any, len(topics))
	for i, t := range topics {
		ts[i] = t
	}
	acts := make([]any, len(actions))
	for i, a := range actions {
		acts[i] = a
	}
	return map[string]any{"type": mercure.DetailType, "actions": acts, "topics": ts}
}

func exact(t string) map[string]string { return map[string]string{"match": t} }
func pattern(t string) map[string]string {
	return map[string]string{"match": t, "match_type": "urlpattern"}
}

// accessToken signs an RFC 9068 access token with key (HS256).
func accessToken(t *testing.T, key string, details ...map[string]any) string {
	t.Helper()
	ds := make([]any, len(details))
	for i, d := range details {
		ds[i] = d
	}
	return sign(t, key, "at+jwt", jwt.MapClaims{"iss": issuer, "aud": audience, "sub": "s1", "client_id": "c",
		"iat": time.Now().Unix(), "exp": time.Now().Add(time.Hour).Unix(), "jti": "j", "authorization_details": ds})
}

// legacyToken signs a pre-standard token with the mercure claim.
func legacyToken(t *testing.T, key string, claim map[string]any) string {
	t.Helper()
	return sign(t, key, "JWT", jwt.MapClaims{"mercure": claim})
}

func sign(t *testing.T, key, typ string, c jwt.MapClaims) string {
	t.Helper()
	tok := jwt.NewWithClaims(jwt.SigningMethodHS256, c)
	tok.Header["typ"] = typ
	s, err := tok.SignedString([]byte(key))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// rsaKeys returns a private key and its public key in PEM.
func rsaKeys(t *testing.T) (*rsa.PrivateKey, string) {
	t.Helper()
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKIXPublicKey(&k.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	return k, string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))
}

// publish posts form with token; it returns the status, body and response.
func (e *env) publish(token string, form url.Values) (int, string, *http.Response) {
	e.t.Helper()
	req, _ := http.NewRequest(http.MethodPost, e.url, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), resp
}

// mustPublish publishes with the publisher's wildcard token and returns the id.
func (e *env) mustPublish(form url.Values) string {
	e.t.Helper()
	st, body, _ := e.publish(accessToken(e.t, pubKey, detail([]string{"publish"}, exact("*"))), form)
	if st != http.StatusOK {
		e.t.Fatalf("publish %v: %d %s", form, st, body)
	}
	return body
}

// stream is an open subscription.
type stream struct {
	resp   *http.Response
	events chan sse.Event
	cancel context.CancelFunc
}

// subscribe opens GET url?query with the headers (and cookies) given.
func (e *env) subscribe(query string, header http.Header) *stream {
	e.t.Helper()
	s, resp := e.trySubscribe(query, header)
	if s == nil {
		b, _ := io.ReadAll(resp.Body)
		e.t.Fatalf("subscribe %s: %d %s", query, resp.StatusCode, b)
	}
	return s
}

// trySubscribe returns the stream on 200, else nil and the response.
func (e *env) trySubscribe(query string, header http.Header) (*stream, *http.Response) {
	e.t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, e.url+"?"+query, nil)
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		cancel()
		e.t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK {
		cancel()
		e.t.Cleanup(func() { resp.Body.Close() })
		return nil, resp
	}
	s := &stream{resp: resp, events: make(chan sse.Event, 100), cancel: cancel}
	e.t.Cleanup(func() { cancel(); resp.Body.Close() })
	go func() {
		defer close(s.events)
		d := sse.NewDecoder(bufio.NewReader(resp.Body))
		for {
			ev, err := d.Next()
			if err != nil {
				return
			}
			ev.Data = append([]byte(nil), ev.Data...)
			s.events <- ev
		}
	}()
	return s, resp
}

// next waits for the next event.
func (s *stream) next(t *testing.T) sse.Event {
	t.Helper()
	select {
	case ev, ok := <-s.events:
		if !ok {
			t.Fatal("the stream ended")
		}
		return ev
	case <-time.After(5 * time.Second):
		t.Fatal("no event within 5 s")
	}
	return sse.Event{}
}

// none checks nothing arrives within d.
func (s *stream) none(t *testing.T, d time.Duration) {
	t.Helper()
	select {
	case ev, ok := <-s.events:
		if ok {
			t.Fatalf("unexpected event %q id %q", ev.Data, ev.ID)
		}
	case <-time.After(d):
	}
}

func form(kv ...string) url.Values {
	v := url.Values{}
	for i := 0; i+1 < len(kv); i += 2 {
		v.Add(kv[i], kv[i+1])
	}
	return v
}

func q(kv ...string) string { return form(kv...).Encode() }

func bearer(token string) http.Header { return http.Header{"Authorization": {"Bearer " + token}} }

// newBenchEnv is newEnv for benchmarks, over the memory store so that
// the HTTP path's CPU cost shows rather than fsync.
func newBenchEnv(b *testing.B, opts ...func(*mercure.Options)) *env {
	b.Helper()
	store := memory.New(memory.Options{})
	o := mercure.Options{Enabled: true, Logger: slog.New(slog.DiscardHandler), Publisher: mercure.Key{Key: pubKey}, Subscriber: mercure.Key{Key: subKey}, Anonymous: true}
	for _, fn := range opts {
		fn(&o)
	}
	f := mercure.New(o)
	th := hubtest.New(b, store, func(c *hubtest.Config) { c.Extra = append(c.Extra, f) })
	return &env{th: th, url: th.Srv.URL + mercure.Path}
}

func accessTokenB(b *testing.B) string {
	tok := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{"exp": time.Now().Add(time.Hour).Unix(),
		"authorization_details": []any{detail([]string{"publish"}, exact("*"))}})
	tok.Header["typ"] = "at+jwt"
	s, err := tok.SignedString([]byte(pubKey))
	if err != nil {
		b.Fatal(err)
	}
	return s
}

// subscribeTokenB is an access token granting subscribe on iri.
func subscribeTokenB(b *testing.B, iri string) string {
	tok := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{"exp": time.Now().Add(time.Hour).Unix(),
		"authorization_details": []any{detail([]string{"subscribe"}, exact(iri))}})
	tok.Header["typ"] = "at+jwt"
	s, err := tok.SignedString([]byte(subKey))
	if err != nil {
		b.Fatal(err)
	}
	return s
}
