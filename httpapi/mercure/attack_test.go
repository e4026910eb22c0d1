package mercure_test

import (
	"context"
	"io"
	"net/http"
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
