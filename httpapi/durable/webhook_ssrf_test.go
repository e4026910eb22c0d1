package durable_test

import (
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// TestWebhookURLRejected: without an allowed network, no webhook may
// point at loopback, private, link-local (cloud metadata), CGNAT,
// unspecified or IPv4-mapped local addresses, at a name that resolves to
// one, or use http://, credentials or another scheme.
func TestWebhookURLRejected(t *testing.T) {
	o := publicOpts()
	e := newEnv(t, o)
	for _, u := range []string{
		"http://127.0.0.1/hook", "https://127.0.0.1/hook", "https://127.0.0.2:8443/", "https://169.254.169.254/latest/meta-data/",
		"https://[::1]/", "https://[::ffff:127.0.0.1]/", "https://[::ffff:169.254.169.254]/", "https://10.0.0.1/", "https://192.168.1.1/",
		"https://172.16.5.4/", "https://100.64.0.1/", "https://0.0.0.0/", "https://[::]/", "https://[fe80::1]/", "https://[fc00::1]/",
		"https://[64:ff9b::7f00:1]/", "https://localhost/", "https://localhost./", "https://2130706433/", "https://0x7f000001/",
		"https://127.1/", "http://93.184.216.34/", "ftp://93.184.216.34/", "https://user:pw@93.184.216.34/", "//93.184.216.34/",
		"https://93.184.216.34/#frag", "https://" + strings.Repeat("a", 3000) + ".com/", "https://[fe80::1%25eth0]/",
	} {
		r := e.do("PUT", subPath+"ssrf", webhookSub("x/*", u))
		if r.StatusCode != http.StatusBadRequest || !strings.Contains(r.body, "WEBHOOK_URL_REJECTED") {
			t.Errorf("%s: %d %s", u, r.StatusCode, r.body)
		}
	}
	// A public address over https is taken.
	want(t, e.do("PUT", subPath+"ok", webhookSub("never/*", "https://93.184.216.34/hook")), http.StatusCreated)
}

// TestWebhookRedirectNotFollowed: a receiver in an allowed network that
// answers with a redirect to a local address not allowed (127.0.0.2,
// [::1], the metadata address) does not get the hub there: the redirect
// is a failed delivery, retried against the configured URL only.
func TestWebhookRedirectNotFollowed(t *testing.T) {
	var hits atomic.Int32
	ln, err := net.Listen("tcp", "127.0.0.2:0")
	if err != nil {
		t.Skipf("no 127.0.0.2 here: %v", err)
	}
	target := &httptest.Server{Listener: ln, Config: &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
	})}}
	target.Start()
	defer target.Close()
	e := newEnv(t, subOpts()) // allows 127.0.0.1/32 only
	for i, to := range []string{target.URL + "/", "http://169.254.169.254/latest/meta-data/", "http://[::1]:1/"} {
		rc := newReceiver(t)
		rc.setAnswer(func(*hook) (int, string) { return http.StatusFound, "" })
		rc.srv.Config.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			rc.mu.Lock()
			rc.got = append(rc.got, &hook{})
			rc.mu.Unlock()
			rc.ch <- struct{}{}
			http.Redirect(w, r, to, http.StatusTemporaryRedirect)
		})
		id := "redir" + string(rune('a'+i))
		pattern := "redir/" + string(rune('a'+i)) + "/*"
		want(t, e.do("PUT", subPath+id, webhookSub(pattern, rc.url())), http.StatusCreated)
		e.mustCreate("/v1/stream/redir/"+string(rune('a'+i))+"/1", textPlain, "x")
		rc.wait(1)
		waitUntil(t, "status failed", func() bool { return e.sub(id).Status == "failed" })
	}
	time.Sleep(50 * time.Millisecond)
	if n := hits.Load(); n != 0 {
		t.Fatalf("the redirect target got %d requests", n)
	}
}

// TestWebhookDialGuard: the check runs again on the address each
// connection dials, so a name that resolves to a refused address when the
// hub delivers (DNS rebinding) gets no request either: a subscription to
// localhost made while 127.0.0.1 was allowed, on a hub (a restart with
// another configuration) that no longer allows it, delivers nothing.
func TestWebhookDialGuard(t *testing.T) {
	o := subOpts()
	o.Subscriptions.AllowNetworks = nil
	e := newEnvWith(t, subOpts(), nil)
	rc := newReceiver(t)
	port := rc.srv.Listener.Addr().(*net.TCPAddr).Port
	u := "http://127.0.0.1:" + strconv.Itoa(port) + "/hook"
	want(t, e.do("PUT", subPath+"rebind", webhookSub("rb/*", u)), http.StatusCreated)
	e.opts = o
	e.restart()
	e.mustCreate("/v1/stream/rb/1", textPlain, "x")
	waitUntil(t, "status failed", func() bool { return e.sub("rebind").Status == "failed" })
	if n := rc.count(); n != 0 {
		t.Fatalf("the refused address got %d webhook requests", n)
	}
}
