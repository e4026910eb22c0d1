//go:build linux

package pump

import (
	"crypto/tls"
	"net"
	"os"
	"runtime"
	"runtime/pprof"
	"testing"

	"github.com/ssehub/ssehub/internal/selfsigned"
)

// BenchmarkTLSConnRetained reports the heap a server-side TLS connection
// keeps once its handshake is done and its client's request was read, as
// a detached stream's connection keeps it (what crypto/tls holds for the
// connection's life: its record buffers, sized by the ClientHello, both
// directions' ciphers, the Conn itself, and our tlsRaw). TLS1.3-own is a
// connection handed over to own records (PrepareTLS, a header record, the
// proof): what remains is the socket and the tlsrec.Sealer. The clients'
// ends are closed and collected before measuring; only the servers' stay.
//
//	go test -run '^$' -bench TLSConnRetained -benchtime 1x ./internal/pump
//	SSEHUB_TLS_HEAP_PROFILE=/tmp/tlsheap go test -run '^$' -bench TLSConnRetained -benchtime 1x -memprofilerate 1 ./internal/pump
//	go tool pprof -sample_index=inuse_space -top /tmp/tlsheap.TLS1.3
func BenchmarkTLSConnRetained(b *testing.B) {
	for _, v := range []struct {
		name string
		max  uint16
		own  bool // handed over: what a stream on the pump's own records keeps
	}{{"TLS1.2", tls.VersionTLS12, false}, {"TLS1.3", tls.VersionTLS13, false}, {"TLS1.3-own", tls.VersionTLS13, true}} {
		b.Run(v.name, func(b *testing.B) {
			const n = 500
			cert, _, err := selfsigned.Certificate()
			if err != nil {
				b.Fatal(err)
			}
			tcp, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				b.Fatal(err)
			}
			ln := TLSListener(tcp, &tls.Config{Certificates: []tls.Certificate{cert}, MaxVersion: v.max})
			defer ln.Close()
			request := []byte("GET /events?topic=a HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\nAuthorization: Bearer 0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef\r\n\r\n")
			servers := make([]any, 0, n)
			closers := make([]net.Conn, 0, n)
			one := func() {
				raw, err := net.Dial("tcp", tcp.Addr().String())
				if err != nil {
					b.Fatal(err)
				}
				cli := tls.Client(raw, &tls.Config{InsecureSkipVerify: true})
				done := make(chan error, 1)
				go func() {
					if err := cli.Handshake(); err != nil {
						done <- err
						return
					}
					_, err := cli.Write(request)
					done <- err
				}()
				c, err := ln.Accept()
				if err != nil {
					b.Fatal(err)
				}
				srv := c.(*tls.Conn)
				buf := make([]byte, 4096) // net/http's read buffer; released at the hand-over
				got := 0
				for got < len(request) {
					m, err := srv.Read(buf)
					if err != nil {
						b.Fatal(err)
					}
					got += m
				}
				if v.own {
					srv.NetConn().(*tlsRaw).capture.Store(true) // PrepareTLS
					if _, err := srv.Write([]byte("HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n")); err != nil {
						b.Fatal(err)
					}
				}
				if err := <-done; err != nil {
					b.Fatal(err)
				}
				cli.Close() // the client's side goes; the server's stays, unread
				if !v.own {
					servers = append(servers, srv)
					closers = append(closers, srv.NetConn())
					return
				}
				_, layer, err := pollable(srv)
				if err != nil || layer.rec == nil {
					b.Fatalf("not handed over: %v", err)
				}
				// What start keeps: the socket and the sealer; the tls.Conn goes.
				layer.raw.dead = true
				servers = append(servers, layer.rec)
				closers = append(closers, layer.raw.Conn)
			}
			one() // warm up the pools and the certificate's parse
			var before, after runtime.MemStats
			runtime.GC()
			runtime.ReadMemStats(&before)
			b.ResetTimer()
			for range n {
				one()
			}
			b.StopTimer()
			runtime.GC()
			runtime.GC()
			runtime.ReadMemStats(&after)
			b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc)/n, "retained-B/conn")
			if path := os.Getenv("SSEHUB_TLS_HEAP_PROFILE"); path != "" {
				// The profile while the connections are open, by allocation site.
				f, err := os.Create(path + "." + v.name)
				if err != nil {
					b.Fatal(err)
				}
				_ = pprof.Lookup("heap").WriteTo(f, 0)
				f.Close()
			}
			for _, c := range closers {
				c.Close()
			}
			runtime.KeepAlive(servers)
		})
	}
}
