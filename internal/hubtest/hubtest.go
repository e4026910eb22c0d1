// Package hubtest starts a whole hub for tests: a store, the hub over it,
// the HTTP server with every feature, behind a real HTTP server on
// loopback, with the connection-bounding httpapi.Listener and the
// http.Server timeouts that `ssehub serve` uses. Tests in any package use
// it instead of wiring the parts again.
package hubtest

import (
	"context"
	"crypto/tls"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/ssehub/ssehub"
	"github.com/ssehub/ssehub/auth"
	"github.com/ssehub/ssehub/httpapi"
	"github.com/ssehub/ssehub/httpapi/admin"
	"github.com/ssehub/ssehub/httpapi/publish"
	"github.com/ssehub/ssehub/httpapi/stream"
	"github.com/ssehub/ssehub/hub"
	"github.com/ssehub/ssehub/internal/pump"
	"github.com/ssehub/ssehub/internal/selfsigned"
)

// AdminToken is the admin token of every test hub.
const AdminToken = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

// Config is what a test may change before the hub starts.
type Config struct {
	API     httpapi.Options
	Hub     hub.Options
	Stream  stream.Options
	Publish publish.Options
	Admin   admin.Options
	HTTP    HTTP
	// Extra features, registered after the built-in ones.
	Extra []httpapi.Feature
}

// HTTP configures the listener and the http.Server as serve does from
// server.* and limits.max_connections. Zero values are no bound.
type HTTP struct {
	// MaxConnections bounds the open TCP connections (httpapi.Listener).
	MaxConnections int
	// IdleTimeout is http.Server.IdleTimeout (server.idle_timeout).
	IdleTimeout time.Duration
	// ReadHeaderTimeout is http.Server.ReadHeaderTimeout
	// (server.read_header_timeout).
	ReadHeaderTimeout time.Duration
	// TLS serves HTTPS (httptest's certificate, ALPN h2 and http/1.1)
	// over the listener as serve does, so TLS streams are detached too.
	// Srv.Client() speaks HTTP/1.1 to it.
	TLS bool
}

// Option changes a Config.
type Option func(*Config)

// Hub is a running test hub. Cleanup stops it and closes the store.
type Hub struct {
	Store ssehub.Store
	Hub   *hub.Hub
	API   *httpapi.Server
	Srv   *httptest.Server
	// Listener is the connection-bounding listener Srv serves on.
	Listener *httpapi.Listener
}

// New starts a hub over store; the test's cleanup stops it.
func New(t testing.TB, store ssehub.Store, opts ...Option) *Hub {
	t.Helper()
	var c Config
	for _, o := range opts {
		o(&c)
	}
	h, err := hub.New(context.Background(), store, c.Hub)
	if err != nil {
		t.Fatal(err)
	}
	c.API.Hub = h
	c.API.Tokens = auth.NewStore(store)
	if c.API.AdminHash == ([32]byte{}) {
		c.API.AdminHash = httpapi.HashToken(AdminToken)
	}
	c.API.Features = append([]httpapi.Feature{stream.New(c.Stream), publish.New(c.Publish), admin.New(c.Admin)}, c.Extra...)
	th := &Hub{Store: store, Hub: h}
	if th.API, err = httpapi.New(c.API); err != nil {
		t.Fatal(err)
	}
	th.Srv = httptest.NewUnstartedServer(th.API)
	th.Listener = httpapi.NewListener(th.Srv.Listener, c.HTTP.MaxConnections)
	th.Srv.Listener = th.Listener
	th.Srv.Config.IdleTimeout = c.HTTP.IdleTimeout
	th.Srv.Config.ReadHeaderTimeout = c.HTTP.ReadHeaderTimeout
	if c.HTTP.TLS {
		th.Srv.Listener = pump.TLSReady(th.Listener)
		th.Srv.Config.ConnContext = pump.ConnContext
		// Its own certificate (httptest's client trusts it), set before
		// pump.TLSConfig clones the config for each connection.
		cert, _, err := selfsigned.Certificate()
		if err != nil {
			t.Fatal(err)
		}
		th.Srv.TLS = pump.TLSConfig(&tls.Config{Certificates: []tls.Certificate{cert}, NextProtos: []string{"h2", "http/1.1"}})
		th.Srv.StartTLS()
	} else {
		th.Srv.Start()
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = h.Run(ctx) }()
	t.Cleanup(func() {
		th.API.Shutdown()
		th.Srv.CloseClientConnections()
		th.Srv.Close()
		cancel()
		<-done
		_ = store.Close()
	})
	return th
}
