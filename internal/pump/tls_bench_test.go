//go:build linux

package pump

import (
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"testing"

	"github.com/ssehub/ssehub/internal/netpoll"
	"github.com/ssehub/ssehub/internal/selfsigned"
)

// BenchmarkTLSSeal is what a TLS stream costs per write beyond a cleartext
// one: sealing the write's bytes into records (AES-GCM on this machine's
// CPU), for one small event and for a full 64 KiB write. A cleartext
// stream shares one event's encoded bytes across all its subscribers; a
// TLS stream seals them once per stream.
//
//	go test -run '^$' -bench TLSSeal -benchmem ./internal/pump
func BenchmarkTLSSeal(b *testing.B) {
	for _, v := range []struct {
		name string
		max  uint16
		own  bool
	}{{"TLS1.2", tls.VersionTLS12, false}, {"TLS1.3", tls.VersionTLS13, false}, {"TLS1.3-own", tls.VersionTLS13, true}} {
		for _, size := range []int{300, writeChunk} {
			b.Run(fmt.Sprintf("%s/bytes=%d", v.name, size), func(b *testing.B) {
				layer, cleanup := benchLayer(b, v.max, v.own)
				defer cleanup()
				plain := make([]byte, size)
				dst := make([]byte, 0, size+4096)
				b.SetBytes(int64(size))
				b.ReportAllocs()
				b.ResetTimer()
				for range b.N {
					out, err := layer.seal(dst[:0], plain)
					if err != nil {
						b.Fatal(err)
					}
					dst = out
				}
			})
		}
	}
}

// benchLayer returns a tlsLayer over a loopback TLS connection, switched
// to buffering, or with own an own-records one after a first record
// through crypto/tls; nothing is sent after the handshake (and that record).
func benchLayer(b *testing.B, maxVersion uint16, own bool) (*tlsLayer, func()) {
	cert, _, err := selfsigned.Certificate()
	if err != nil {
		b.Fatal(err)
	}
	tcp, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	ln := TLSListener(tcp, &tls.Config{Certificates: []tls.Certificate{cert}, MaxVersion: maxVersion})
	defer ln.Close()
	raw, err := net.Dial("tcp", tcp.Addr().String())
	if err != nil {
		b.Fatal(err)
	}
	cli := tls.Client(raw, &tls.Config{InsecureSkipVerify: true})
	hs := make(chan error, 1)
	go func() { hs <- cli.Handshake() }()
	srv, err := ln.Accept()
	if err != nil {
		b.Fatal(err)
	}
	if err := srv.(*tls.Conn).Handshake(); err != nil {
		b.Fatal(err)
	}
	if err := <-hs; err != nil {
		b.Fatal(err)
	}
	if own {
		srv.(*tls.Conn).NetConn().(*tlsRaw).capture.Store(true)
		go func() { _, _ = io.ReadFull(cli, make([]byte, 2)) }()
		if _, err := srv.Write([]byte("ok")); err != nil {
			b.Fatal(err)
		}
	}
	sc, layer, err := pollable(srv)
	if err != nil {
		b.Fatal(err)
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		b.Fatal(err)
	}
	if (layer.rec != nil) != own {
		b.Fatalf("own records: %v, want %v", layer.rec != nil, own)
	}
	s := &Stream{p: &Pump{opts: Options{Counters: new(Counters)}}, nc: netpoll.NewConn(rc), conn: srv}
	layer.start(s)
	return layer, func() { s.conn.Close(); cli.Close() }
}
