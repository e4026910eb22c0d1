package mercure_test

import (
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/ssehub/ssehub/httpapi/mercure"
	"github.com/ssehub/ssehub/internal/hubtest"
)

// BenchmarkPublish compares a Mercure publish (form POST, JWT verified,
// meta sealed) with ssehub's own POST /publish/{topic} of the same data,
// over the same memory store, with parallel publishers.
func BenchmarkPublish(b *testing.B) {
	e := newBenchEnv(b)
	tok := accessTokenB(b)
	body := url.Values{"topic": {"https://example.com/books/1"}, "data": {strings.Repeat("x", 200)}}.Encode()
	native := e.th.Srv.URL + "/publish/" + mercure.TopicFor("https://example.com/books/1", false)
	run := func(b *testing.B, url, ctype, auth, body string) {
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				req, _ := http.NewRequest(http.MethodPost, url, strings.NewReader(body))
				req.Header.Set("Content-Type", ctype)
				req.Header.Set("Authorization", "Bearer "+auth)
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					b.Fatal(err)
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != 200 {
					b.Fatalf("status %d", resp.StatusCode)
				}
			}
		})
	}
	b.Run("mercure", func(b *testing.B) { run(b, e.url, "application/x-www-form-urlencoded", tok, body) })
	b.Run("native", func(b *testing.B) { run(b, native, "text/plain", hubtest.AdminToken, strings.Repeat("x", 200)) })
}
