package httpapi_test

import (
	"net/http"
	"sort"
	"strings"
	"testing"

	"github.com/ssehub/ssehub"
	"github.com/ssehub/ssehub/httpapi"
	"github.com/ssehub/ssehub/httpapi/stream"
)

// TestWrongMethodIs405Everywhere: POST /healthz, DELETE /metrics, PUT
// /api/topics and POST /readyz answered 404. Every route answers every
// method it does not serve with 405, an Allow header listing exactly the
// ones it does (GET brings HEAD), and the JSON error.
func TestWrongMethodIs405Everywhere(t *testing.T) {
	th := newMemoryHub(t, withStreams(stream.Endpoint{Name: "alerts", Path: "/alerts/live", Match: ssehub.All(), Public: true},
		stream.Endpoint{Name: "feed", Path: "/feed/", Match: ssehub.All()}))
	routes := map[string][]string{
		"/healthz":                           {"GET"},
		"/readyz":                            {"GET"},
		"/metrics":                           {"GET"},
		"/api/session":                       {"DELETE", "GET", "POST"},
		"/events":                            {"GET"},
		"/stream/" + strings.Repeat("a", 64): {"GET"},
		"/alerts/live":                       {"GET"},
		"/feed/":                             {"GET"},
		"/publish/a.b":                       {"POST"},
		"/publish":                           {"POST"},
		"/api/topics":                        {"GET"},
		"/api/topics/a.b":                    {"DELETE", "GET"},
		"/api/tokens":                        {"GET", "POST"},
		"/api/tokens/tok_0123456789abcdef":   {"DELETE"},
	}
	methods := []string{"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE", "PROPFIND"}
	for path, allowed := range routes {
		want := append([]string(nil), allowed...)
		for _, m := range allowed {
			if m == "GET" {
				want = append(want, "HEAD")
			}
		}
		sort.Strings(want)
		ok := map[string]bool{}
		for _, m := range want {
			ok[m] = true
		}
		for _, m := range methods {
			if ok[m] {
				continue
			}
			resp, b := send(t, th.newRequest(m, path, adminToken, "", "Content-Type", "application/json"))
			what := m + " " + path
			if got := strings.Split(strings.ReplaceAll(resp.Header.Get("Allow"), " ", ""), ","); strings.Join(got, ",") != strings.Join(want, ",") {
				t.Errorf("%s: Allow %q, want %q", what, resp.Header.Get("Allow"), strings.Join(want, ", "))
			}
			if m == "HEAD" {
				if resp.StatusCode != http.StatusMethodNotAllowed {
					t.Errorf("%s: %d, want 405", what, resp.StatusCode)
				}
				continue
			}
			wantError(t, what, resp, b, http.StatusMethodNotAllowed, httpapi.CodeMethod)
		}
	}
}
