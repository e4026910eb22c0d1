package durable_test

import (
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"regexp"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/ssehub/ssehub/httpapi/durable"
)

// loopback is the network the tests' webhook receivers listen on, allowed
// as the conformance harness allows it.
var loopback = []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}

// subOpts are public endpoints whose webhooks may reach 127.0.0.1, with
// fast ticks and retries.
func subOpts() durable.Options {
	o := publicOpts()
	o.Subscriptions = durable.SubscriptionOptions{AllowNetworks: loopback, Tick: 20 * time.Millisecond,
		WebhookTimeout: 2 * time.Second, RetryBase: 50 * time.Millisecond, RetryMax: 200 * time.Millisecond}
	return o
}

// hook is one webhook request a receiver got.
type hook struct {
	raw       []byte
	signature string
	body      struct {
		SubscriptionID string `json:"subscription_id"`
		WakeID         string `json:"wake_id"`
		Generation     uint64 `json:"generation"`
		Streams        []struct {
			Path       string `json:"path"`
			LinkType   string `json:"link_type"`
			Acked      string `json:"acked_offset"`
			Tail       string `json:"tail_offset"`
			HasPending bool   `json:"has_pending"`
		} `json:"streams"`
		CallbackURL   string `json:"callback_url"`
		CallbackToken string `json:"callback_token"`
	}
}

// receiver is a real webhook receiver on loopback.
type receiver struct {
	t      testing.TB
	srv    *httptest.Server
	mu     sync.Mutex
	got    []*hook
	answer func(*hook) (int, string) // default 200 {}
	ch     chan struct{}
}

func newReceiver(t testing.TB) *receiver {
	rc := &receiver{t: t, ch: make(chan struct{}, 1000)}
	rc.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		h := &hook{raw: b, signature: r.Header.Get("Webhook-Signature")}
		if err := json.Unmarshal(b, &h.body); err != nil {
			t.Errorf("webhook body: %v: %q", err, b)
		}
		rc.mu.Lock()
		rc.got = append(rc.got, h)
		answer := rc.answer
		rc.mu.Unlock()
		rc.ch <- struct{}{}
		status, body := http.StatusOK, "{}"
		if answer != nil {
			status, body = answer(h)
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		_, _ = io.WriteString(w, body)
	}))
	t.Cleanup(rc.srv.Close)
	return rc
}

func (rc *receiver) url() string { return rc.srv.URL + "/hook" }

func (rc *receiver) setAnswer(f func(*hook) (int, string)) {
	rc.mu.Lock()
	rc.answer = f
	rc.mu.Unlock()
}

// next waits for the n-th request (1-based).
func (rc *receiver) wait(n int) *hook {
	rc.t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		rc.mu.Lock()
		if len(rc.got) >= n {
			h := rc.got[n-1]
			rc.mu.Unlock()
			return h
		}
		rc.mu.Unlock()
		select {
		case <-rc.ch:
		case <-deadline:
			rc.t.Fatalf("webhook request %d did not come in 10 s (got %d)", n, rc.count())
		}
	}
}

func (rc *receiver) count() int {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return len(rc.got)
}

// jwk is one key of the hub's JWKS.
type jwk struct {
	Kty, Crv, Kid, Use, Alg, X string
}

func (e *env) jwks() []jwk {
	e.t.Helper()
	r := e.do("GET", "/v1/stream/__ds/jwks.json", "")
	want(e.t, r, http.StatusOK)
	wantHeader(e.t, r, "Content-Type", "application/jwk-set+json")
	var s struct{ Keys []jwk }
	if err := json.Unmarshal([]byte(r.body), &s); err != nil {
		e.t.Fatal(err)
	}
	return s.Keys
}

var sigRE = regexp.MustCompile(`^t=(\d+),kid=([^,]+),ed25519=([A-Za-z0-9_-]+)$`)

// verify checks a webhook's signature against keys, as a receiver does.
func verify(t *testing.T, h *hook, keys []jwk) {
	t.Helper()
	m := sigRE.FindStringSubmatch(h.signature)
	if m == nil {
		t.Fatalf("Webhook-Signature %q is not t=…,kid=…,ed25519=…", h.signature)
	}
	ts, _ := strconv.ParseInt(m[1], 10, 64)
	if d := time.Since(time.Unix(ts, 0)); d > 5*time.Minute || d < -5*time.Minute {
		t.Fatalf("signature timestamp %d is %v off", ts, d)
	}
	for _, k := range keys {
		if k.Kid != m[2] {
			continue
		}
		pub, err := base64.RawURLEncoding.DecodeString(k.X)
		if err != nil || len(pub) != ed25519.PublicKeySize {
			t.Fatalf("JWK x %q", k.X)
		}
		sig, _ := base64.RawURLEncoding.DecodeString(m[3])
		if !ed25519.Verify(pub, append([]byte(m[1]+"."), h.raw...), sig) {
			t.Fatalf("the signature does not verify over t.body")
		}
		return
	}
	t.Fatalf("kid %q is not in the JWKS %v", m[2], keys)
}

// subView is GET's answer.
type subView struct {
	ID         string `json:"id"`
	Type       string `json:"type"`
	Status     string `json:"status"`
	Generation uint64 `json:"generation"`
	Streams    []struct {
		Path     string `json:"path"`
		LinkType string `json:"link_type"`
		Acked    string `json:"acked_offset"`
	} `json:"streams"`
	Webhook *struct {
		URL     string `json:"url"`
		Signing struct {
			Alg, Kid string
			JWKSURL  string `json:"jwks_url"`
		} `json:"signing"`
	} `json:"webhook"`
}

func (e *env) sub(id string) subView {
	e.t.Helper()
	r := e.do("GET", "/v1/stream/__ds/subscriptions/"+id, "")
	want(e.t, r, http.StatusOK)
	var v subView
	if err := json.Unmarshal([]byte(r.body), &v); err != nil {
		e.t.Fatal(err)
	}
	return v
}

// acked returns the acked offset of path in id, or "".
func (e *env) acked(id, path string) string {
	for _, s := range e.sub(id).Streams {
		if s.Path == path {
			return s.Acked
		}
	}
	return ""
}

// waitUntil polls cond for up to 10 s.
func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("waited 10 s for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// settle posts a callback, ack or release with a bearer token.
func (e *env) settle(id, action, token, body string) resp {
	e.t.Helper()
	return e.do("POST", "/v1/stream/__ds/subscriptions/"+id+"/"+action, body, "Authorization", "Bearer "+token, "Content-Type", "application/json")
}

func ackBody(wake string, gen uint64, stream, offset string, done bool) string {
	b, _ := json.Marshal(map[string]any{"wake_id": wake, "generation": gen, "done": done,
		"acks": []map[string]string{{"stream": stream, "offset": offset}}})
	return string(b)
}
