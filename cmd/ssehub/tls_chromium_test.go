package main

import (
	"bufio"
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// requireChromium returns Chromium's path, or skips (fails with CI=true or
// SSEHUB_REQUIRE_INTEROP=1) when it is not installed.
func requireChromium(t *testing.T) string {
	t.Helper()
	for _, c := range []string{"/usr/bin/chromium", "chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(c); err == nil {
			return p
		}
	}
	if os.Getenv("CI") == "true" || os.Getenv("SSEHUB_REQUIRE_INTEROP") == "1" {
		t.Fatal("Chromium not found; failing because CI=true or SSEHUB_REQUIRE_INTEROP=1")
	}
	t.Skip("Chromium not found")
	return ""
}

// tlsHub is a hub served by `ssehub serve --tls-self-signed` in process,
// and a Go client for it over HTTP/1.1.
type tlsHub struct {
	t      *testing.T
	url    string
	admin  string
	client *http.Client
}

func (h *tlsHub) do(method, path, body string) (int, []byte) {
	h.t.Helper()
	req, _ := http.NewRequest(method, h.url+path, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+h.admin)
	if strings.HasPrefix(body, "{") {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := h.client.Do(req)
	if err != nil {
		h.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

func (h *tlsHub) publish(topic, data string) string {
	h.t.Helper()
	code, b := h.do("POST", "/publish/"+topic, data)
	var r struct{ ID string }
	if code != 200 || json.Unmarshal(b, &r) != nil {
		h.t.Fatalf("publish: %d %s", code, b)
	}
	return r.ID
}

// metric reads one unlabelled metric from /metrics.
func (h *tlsHub) metric(name string) float64 {
	h.t.Helper()
	req, _ := http.NewRequest("GET", h.url+"/metrics", nil)
	req.Header.Set("Authorization", "Bearer "+h.admin)
	resp, err := h.client.Do(req)
	if err != nil {
		h.t.Fatal(err)
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), name+" "); ok {
			f, _ := strconv.ParseFloat(v, 64)
			return f
		}
	}
	h.t.Fatalf("no %s in /metrics", name)
	return 0
}

// TestChromiumTLSStreams opens an EventSource in real Chromium on a hub
// served over TLS, once over HTTP/1.1 (Chromium with --disable-http2: the
// stream is detached, written by the pump) and once over HTTP/2 (kept on
// its goroutine): each replays from the start, gets live events, and ends
// for good when its token is revoked (the error event, then a refused
// reconnect). The pump's write counter tells which path served it.
func TestChromiumTLSStreams(t *testing.T) {
	chromium := requireChromium(t)
	t.Setenv("SSEHUB_ADMIN_TOKEN", "chromium-tls-admin")
	url, _, _ := startServe(t, "--store", "memory", "--tls-self-signed")
	tr := &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}
	defer tr.CloseIdleConnections()
	hub := &tlsHub{t: t, url: url, admin: "chromium-tls-admin", client: &http.Client{Transport: tr, Timeout: 10 * time.Second}}

	for _, c := range []struct {
		name     string
		flags    []chromedp.ExecAllocatorOption
		detached bool
	}{
		{"http1.1", []chromedp.ExecAllocatorOption{chromedp.Flag("disable-http2", true)}, true},
		{"h2", nil, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			h := &tlsHub{t: t, url: hub.url, admin: hub.admin, client: hub.client}
			topic := "chrome." + strings.ReplaceAll(c.name, ".", "")
			var want []string
			for i := range 3 {
				want = append(want, h.publish(topic, fmt.Sprintf("replayed %d", i)))
			}
			code, b := h.do("POST", "/api/tokens", `{"purpose":"stream","topics":["chrome.*"]}`)
			var tok struct{ ID, Token string }
			if code != 201 || json.Unmarshal(b, &tok) != nil {
				t.Fatalf("create token: %d %s", code, b)
			}

			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			opts := append(chromedp.DefaultExecAllocatorOptions[:],
				chromedp.ExecPath(chromium), chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU, chromedp.NoFirstRun,
				chromedp.Flag("disable-quic", true), chromedp.Flag("disable-background-networking", true),
				chromedp.Flag("disable-component-update", true), chromedp.Flag("disable-sync", true),
				chromedp.Flag("ignore-certificate-errors", true), chromedp.UserDataDir(t.TempDir()))
			allocCtx, cancelAlloc := chromedp.NewExecAllocator(ctx, append(opts, c.flags...)...)
			defer cancelAlloc()
			browser, cancelBrowser := chromedp.NewContext(allocCtx)
			defer cancelBrowser()
			if err := chromedp.Do(browser, chromedp.Navigate(url+"/healthz")); err != nil {
				t.Fatalf("open the hub in Chromium: %v", err)
			}
			writes0 := h.metric("ssehub_stream_writes_total")
			own0 := h.metric("ssehub_stream_tls_own_records_total")
			js := fmt.Sprintf(`window.got = []; window.errors = 0;
const es = new EventSource(%q); window.es = es;
es.onmessage = (ev) => got.push(ev.lastEventId + " " + ev.data);
es.onerror = () => errors++; true`, "/events?topic="+topic+"&last_event_id=earliest&token="+tok.Token)
			if _, err := chromedp.Run(browser, chromedp.Evaluate[bool](js)); err != nil {
				t.Fatal(err)
			}
			type page struct {
				Got        []string `json:"got"`
				Errors     int      `json:"errors"`
				ReadyState int      `json:"readyState"`
			}
			var last page
			wait := func(what string, cond func(page) bool) {
				t.Helper()
				deadline := time.Now().Add(20 * time.Second)
				for {
					var err error
					if last, err = chromedp.Run(browser, chromedp.Evaluate[page](`({got: window.got, errors: window.errors, readyState: window.es.readyState})`)); err != nil {
						t.Fatal(err)
					}
					if cond(last) {
						return
					}
					if time.Now().After(deadline) {
						t.Fatalf("waiting for %s: %+v", what, last)
					}
					time.Sleep(50 * time.Millisecond)
				}
			}
			wait("the replay", func(p page) bool { return len(p.Got) >= 3 })
			for i := range 2 {
				want = append(want, h.publish(topic, fmt.Sprintf("live %d", i)))
			}
			wait("the live events", func(p page) bool { return len(p.Got) >= 5 })
			for i, id := range want {
				kind := "replayed"
				n := i
				if i >= 3 {
					kind, n = "live", i-3
				}
				if w := fmt.Sprintf("%s %s %d", id, kind, n); last.Got[i] != w {
					t.Fatalf("event %d: %q, want %q (all: %q)", i, last.Got[i], w, last.Got)
				}
			}
			if len(last.Got) != 5 {
				t.Fatalf("got %q", last.Got)
			}
			// An event over 16 KiB: more than one record, the pump's own on
			// the detached stream.
			big := strings.Repeat("0123456789abcdef", 2600)
			bigID := h.publish(topic, big)
			wait("the big event", func(p page) bool { return len(p.Got) >= 6 })
			if last.Got[5] != bigID+" "+big {
				t.Fatalf("the big event: %d bytes, want %d", len(last.Got[5]), len(bigID)+1+len(big))
			}
			own := h.metric("ssehub_stream_tls_own_records_total") - own0
			if c.detached && own < 1 {
				t.Fatalf("the detached stream's records were sealed by crypto/tls, not the pump (%v on own records)", own)
			}
			if !c.detached && own != 0 {
				t.Fatalf("%v HTTP/2 streams on own records", own)
			}
			writes := h.metric("ssehub_stream_writes_total") - writes0
			if c.detached && writes < 2 {
				t.Fatalf("the pump wrote %v times for a detached stream's live events", writes)
			}
			if !c.detached && writes != 0 {
				t.Fatalf("the pump wrote %v times for an HTTP/2 stream", writes)
			}

			if code, b := h.do("DELETE", "/api/tokens/"+tok.ID, ""); code/100 != 2 {
				t.Fatalf("revoke: %d %s", code, b)
			}
			// The error event, the end, a reconnect refused with 401: CLOSED.
			wait("the stream to end for good", func(p page) bool { return p.ReadyState == 2 })
			if len(last.Got) != 6 || last.Errors == 0 {
				t.Fatalf("after revocation: %+v", last)
			}
		})
	}
	deadline := time.Now().Add(5 * time.Second)
	for hub.metric("ssehub_subscribers") != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("%v subscribers left after the browsers' streams ended", hub.metric("ssehub_subscribers"))
		}
		time.Sleep(50 * time.Millisecond)
	}
}
