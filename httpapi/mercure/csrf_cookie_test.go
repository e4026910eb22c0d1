package mercure_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/ssehub/ssehub/httpapi"
	"github.com/ssehub/ssehub/httpapi/mercure"
	"github.com/ssehub/ssehub/internal/hubtest"
)

// TestHubCookiePublishNeedsCSRF guards a defect found by an adversarial pass:
// the Mercure endpoint takes the hub's own ssehub_token cookie (the one
// the console signs in with), and a publish authenticated by it needed
// only the origin check, not the X-CSRF-Token every other change made
// with that cookie needs (docs/security.md): a browser that sends neither
// Origin nor Sec-Fetch-Site, or a page of a listed CORS origin, could
// publish with the operator's console session. It now needs the proof,
// like the rest of the API, and is refused in Mercure's own plain-text
// form otherwise; Mercure's own cookies keep the protocol's rules.
func TestHubCookiePublishNeedsCSRF(t *testing.T) {
	e := newEnv(t, mercure.Options{})
	post := func(hdr ...string) int {
		t.Helper()
		req, _ := http.NewRequest(http.MethodPost, e.url, strings.NewReader(form("topic", "https://example.com/t", "data", "x").Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Cookie", httpapi.TokenCookie+"="+hubtest.AdminToken)
		for i := 0; i+1 < len(hdr); i += 2 {
			req.Header.Set(hdr[i], hdr[i+1])
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	csrf := httpapi.CSRFToken(hubtest.AdminToken)
	for _, c := range []struct {
		name string
		hdr  []string
		want int
	}{
		{"no Origin, no proof", nil, 403},
		{"same origin, no proof", []string{"Origin", e.th.Srv.URL}, 403},
		{"same origin, a wrong proof", []string{"Origin", e.th.Srv.URL, httpapi.CSRFHeader, strings.Repeat("0", len(csrf))}, 403},
		{"another origin with the proof", []string{"Origin", "https://evil.example", httpapi.CSRFHeader, csrf}, 403},
		{"same origin with the proof", []string{"Origin", e.th.Srv.URL, httpapi.CSRFHeader, csrf}, 200},
		{"no Origin with the proof", []string{httpapi.CSRFHeader, csrf}, 200},
	} {
		if got := post(c.hdr...); got != c.want {
			t.Errorf("%s: %d, want %d", c.name, got, c.want)
		}
	}
	// A read needs no proof.
	e.subscribe(q("topic", "https://example.com/t"), http.Header{"Cookie": {httpapi.TokenCookie + "=" + hubtest.AdminToken}}).cancel()
}
