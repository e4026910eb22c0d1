package main

import (
	"context"
	"crypto/tls"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
)

// TestTLSHTTP2SharesOneConnection serves HTTPS with a self-signed
// certificate and opens 50 streams from one client: all are HTTP/2 and
// share a single TCP connection.
func TestTLSHTTP2SharesOneConnection(t *testing.T) {
	t.Setenv("SSEHUB_ADMIN_TOKEN", "tls-admin")
	url, out, _ := startServe(t, "--store", "memory", "--tls-self-signed")
	if !strings.HasPrefix(url, "https://") || !strings.Contains(out.String(), "SHA-256 fingerprint") {
		t.Fatalf("url %s, output:\n%s", url, out.String())
	}
	var dials atomic.Int32
	tr := &http.Transport{
		TLSClientConfig:   &tls.Config{InsecureSkipVerify: true},
		ForceAttemptHTTP2: true,
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			dials.Add(1)
			return (&net.Dialer{}).DialContext(ctx, network, addr)
		},
	}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr}
	get := func() *http.Response {
		req, _ := http.NewRequest("GET", url+"/events?topic=*", nil)
		req.Header.Set("Authorization", "Bearer tls-admin")
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		return resp
	}
	first := get() // establish the connection before the rest race to dial
	defer first.Body.Close()
	for i := 0; i < 49; i++ {
		resp := get()
		defer resp.Body.Close()
		if resp.ProtoMajor != 2 || resp.StatusCode != 200 || resp.Header.Get("Connection") != "" {
			t.Fatalf("stream %d: %s %d Connection=%q", i, resp.Proto, resp.StatusCode, resp.Header.Get("Connection"))
		}
	}
	if n := dials.Load(); n != 1 {
		t.Fatalf("50 streams used %d connections, want 1", n)
	}
}

// TestH2C serves cleartext HTTP/2 with prior knowledge beside HTTP/1.1.
func TestH2C(t *testing.T) {
	t.Setenv("SSEHUB_ADMIN_TOKEN", "h2c-admin")
	url, _, _ := startServe(t, "--store", "memory", "--h2c")
	p := new(http.Protocols)
	p.SetUnencryptedHTTP2(true)
	client := &http.Client{Transport: &http.Transport{Protocols: p}}
	req, _ := http.NewRequest("GET", url+"/healthz", nil)
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.ProtoMajor != 2 {
		t.Fatalf("got %s", resp.Proto)
	}
}
