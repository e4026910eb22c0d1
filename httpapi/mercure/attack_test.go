package mercure_test

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/ssehub/ssehub/auth"
	"github.com/ssehub/ssehub/httpapi/mercure"
)

// TestSubscriptionsAPINeedsStreamPurpose: the subscriptions API is a read
// (it lists who subscribes to what, with their JWT payloads), so an ssehub
// token needs the stream purpose there as on GET /.well-known/mercure; a
// publish (ingest) token whose scope covers the subscription topics once
// read it.
func TestSubscriptionsAPINeedsStreamPurpose(t *testing.T) {
	e := newEnv(t, mercure.Options{Anonymous: true, Subscriptions: true})
	ctx := context.Background()
	tokens := e.th.API.Tokens()
	e.subscribe(q("match", "https://example.com/secret"), nil)
	get := func(token string) (int, string) {
		req, _ := http.NewRequest(http.MethodGet, e.url+"/subscriptions", nil)
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	pub, _, err := tokens.Create(ctx, auth.CreateOptions{Purpose: auth.PurposePublish, Topics: []string{mercure.PrivatePrefix + "*"}})
	if err != nil {
		t.Fatal(err)
	}
	if st, body := get(pub); st != http.StatusForbidden {
		t.Errorf("subscriptions API with a publish token: %d %s, want 403", st, body)
	}
	tok, _, err := tokens.Create(ctx, auth.CreateOptions{Purpose: auth.PurposeStream, Topics: []string{mercure.PrivatePrefix + "*"}})
	if err != nil {
		t.Fatal(err)
	}
	if st, body := get(tok); st != http.StatusOK {
		t.Errorf("subscriptions API with a stream token: %d %s, want 200", st, body)
	}
}

// TestJWTNotTakenFromQuery: a Mercure JWT in the query string (ssehub's
// ?token=) is refused, as the authorization query parameter is (RFC 9700:
// URLs end up in proxies' logs, browser history and Referer headers); only
// ssehub tokens may come there.
func TestJWTNotTakenFromQuery(t *testing.T) {
	e := newEnv(t, mercure.Options{})
	jwtSub := accessToken(t, subKey, detail([]string{"subscribe"}, exact("*")))
	if s, resp := e.trySubscribe(q("match", "https://example.com/a", "token", jwtSub), nil); s != nil || resp.StatusCode != http.StatusBadRequest {
		st := 200
		if resp != nil {
			st = resp.StatusCode
		}
		t.Errorf("subscribe with a JWT in ?token=: %d, want 400", st)
	}
	req, _ := http.NewRequest(http.MethodPost, e.url+"?token="+accessToken(t, pubKey, detail([]string{"publish"}, exact("*"))),
		strings.NewReader(form("topic", "https://example.com/a", "data", "x").Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest {
		t.Errorf("publish with a JWT in ?token=: %d, want 400", resp.StatusCode)
	}
	// The header still works, and ssehub tokens still work in ?token=.
	e.subscribe(q("match", "https://example.com/a"), bearer(jwtSub))
	tok, _, err := e.th.API.Tokens().Create(context.Background(), auth.CreateOptions{Purpose: auth.PurposeStream, Topics: []string{mercure.PublicPrefix + "*"}})
	if err != nil {
		t.Fatal(err)
	}
	e.subscribe(q("match", "https://example.com/a", "token", tok), nil)
}

// TestSubscriptionsAPIRefusalHasNoCursor: a refused request to the
// subscriptions API does not learn the log's head (the Link header's
// last-event-id, which counts every event of the hub): only a token that
// grants subscribe on the path gets it.
func TestSubscriptionsAPIRefusalHasNoCursor(t *testing.T) {
	e := newEnv(t, mercure.Options{Anonymous: true, Subscriptions: true})
	e.mustPublish(form("topic", "https://example.com/a", "data", "x"))
	for name, token := range map[string]string{"none": "", "no grant": accessToken(t, subKey, detail([]string{"subscribe"}, exact("x")))} {
		req, _ := http.NewRequest(http.MethodGet, e.url+"/subscriptions", nil)
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode == http.StatusOK || strings.Contains(resp.Header.Get("Link"), "last-event-id") {
			t.Errorf("%s: %d with Link %q", name, resp.StatusCode, resp.Header.Get("Link"))
		}
	}
}

// TestJWTSignatureMustBeCanonical: a JWT whose signature's last base64url
// character differs only in its unused low bits decodes to the same bytes
// under lenient decoding, so a tampered token was accepted (the conformance
// spec's "bad signature" check failed whenever the real signature ended in
// "xw" and the test replaced that with "xx"). RFC 7515 encodings are
// canonical; anything else is refused.
func TestJWTSignatureMustBeCanonical(t *testing.T) {
	e := newEnv(t, mercure.Options{})
	tok := accessToken(t, pubKey, detail([]string{"publish"}, exact("*")))
	sig := tok[strings.LastIndexByte(tok, '.')+1:]
	// An HS256 signature is 32 bytes, 43 characters: the last carries 4 bits
	// of data and 2 zero bits. Setting one of the zero bits keeps the data.
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	last := strings.IndexByte(alphabet, sig[len(sig)-1])
	if len(sig) != 43 || last%4 != 0 {
		t.Fatalf("signature %q is not a canonical 32-byte encoding", sig)
	}
	tampered := tok[:len(tok)-1] + string(alphabet[last+1])
	if st, body, _ := e.publish(tampered, form("topic", "https://example.com/a", "data", "x")); st != http.StatusUnauthorized {
		t.Errorf("publish with a non-canonical signature: %d %s, want 401", st, body)
	}
	if st, body, _ := e.publish(tok, form("topic", "https://example.com/a", "data", "x")); st != http.StatusOK {
		t.Errorf("publish with the real token: %d %s, want 200", st, body)
	}
}
