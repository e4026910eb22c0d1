//go:build linux

package pump_test

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http/httputil"
	"sync"
	"testing"
	"time"

	"github.com/ssehub/ssehub/internal/pump"
	"github.com/ssehub/ssehub/internal/selfsigned"
)

var (
	certOnce sync.Once
	cert     tls.Certificate
)

func serverTLS(t *testing.T, maxVersion uint16) *tls.Config {
	t.Helper()
	certOnce.Do(func() {
		var err error
		if cert, _, err = selfsigned.Certificate(); err != nil {
			panic(err)
		}
	})
	return &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12, MaxVersion: maxVersion}
}

// openTLS connects a TLS client over loopback to a pump.TLSListener,
// completes the handshake and adds the server's *tls.Conn to p.
func openTLS(t *testing.T, p *pump.Pump, cfg *pump.Config, maxVersion uint16) *conn {
	t.Helper()
	tcp, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ln := pump.TLSListener(tcp, serverTLS(t, maxVersion))
	defer ln.Close()
	raw, err := net.Dial("tcp", tcp.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	cli := tls.Client(raw, &tls.Config{InsecureSkipVerify: true})
	t.Cleanup(func() { cli.Close() })
	hs := make(chan error, 1)
	go func() { hs <- cli.Handshake() }()
	srv, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.(*tls.Conn).Handshake(); err != nil {
		t.Fatal(err)
	}
	if err := <-hs; err != nil {
		t.Fatal(err)
	}
	c := &conn{src: &source{}, client: cli, closed: make(chan error, 1)}
	c.src.mu.Lock()
	c.stream, err = p.Add(srv, c.src, cfg, func(err error) { c.closed <- err })
	if err != nil {
		t.Fatal(err)
	}
	c.src.stream = c.stream
	c.src.mu.Unlock()
	c.body = bufio.NewReader(cli)
	if cfg.Chunked {
		c.body = httputil.NewChunkedReader(c.body)
	}
	return c
}

var tlsVersions = []struct {
	name string
	max  uint16
}{{"TLS1.2", tls.VersionTLS12}, {"TLS1.3", tls.VersionTLS13}}

// TestTLSEveryByteInOrder feeds TLS streams in pieces of every size, over
// TLS 1.2 and 1.3: each client decrypts exactly what its source was
// given, in order, as valid chunks, while the pump writes ciphertext.
func TestTLSEveryByteInOrder(t *testing.T) {
	for _, v := range tlsVersions {
		t.Run(v.name, func(t *testing.T) {
			var counters pump.Counters
			p := newPump(t, pump.Options{Workers: 2, Counters: &counters})
			cfg := &pump.Config{Chunked: true}
			const streams, pieces = 8, 200
			var wg sync.WaitGroup
			errs := make(chan error, streams)
			total := 0
			for i := range streams {
				c := openTLS(t, p, cfg, v.max)
				var want bytes.Buffer
				for j := range pieces {
					fmt.Fprintf(&want, "%d:%d:%s\n", i, j, bytes.Repeat([]byte{'x'}, (i*131+j*977)%20000))
				}
				total += want.Len()
				wg.Add(2)
				go func() {
					defer wg.Done()
					for _, line := range bytes.SplitAfter(want.Bytes(), []byte("\n")) {
						c.src.push(line)
					}
				}()
				go func() {
					defer wg.Done()
					got := make([]byte, want.Len())
					if _, err := io.ReadFull(c.body, got); err != nil {
						errs <- fmt.Errorf("stream %d: %w", i, err)
						return
					}
					if !bytes.Equal(got, want.Bytes()) {
						errs <- fmt.Errorf("stream %d: bytes differ", i)
					}
				}()
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				t.Error(err)
			}
			// What went on the wire is ciphertext: more than the plaintext
			// (record headers and tags), which a cleartext stream would not be.
			// A worker counts a write once it returns, which can be after the
			// client has read it: wait for the count.
			deadline := time.Now().Add(5 * time.Second)
			for counters.Bytes.Load() <= uint64(total) && time.Now().Before(deadline) {
				time.Sleep(time.Millisecond)
			}
			if got := counters.Bytes.Load(); got <= uint64(total) {
				t.Fatalf("wrote %d bytes for %d of plaintext", got, total)
			}
		})
	}
}

// TestTLSEndAndCloseNotify closes a TLS stream with final bytes: the
// client gets them, the last chunk, and then a clean TLS close (the
// close_notify the pump tries once the tail is written), not a cut record.
func TestTLSEndAndCloseNotify(t *testing.T) {
	for _, v := range tlsVersions {
		t.Run(v.name, func(t *testing.T) {
			p := newPump(t, pump.Options{})
			c := openTLS(t, p, &pump.Config{Chunked: true}, v.max)
			c.src.push([]byte("a"))
			a := make([]byte, 1)
			if _, err := io.ReadFull(c.body, a); err != nil {
				t.Fatal(err)
			}
			why := errors.New("revoked")
			c.stream.Close(why, []byte("bye"))
			b, err := io.ReadAll(c.body) // stops at the last chunk
			if err != nil || string(b) != "bye" {
				t.Fatalf("got %q, %v", b, err)
			}
			c.waitClosed(t, why)
			// After the last chunk: the close_notify, which tls.Conn reads as
			// io.EOF; a connection cut mid-record would be ErrUnexpectedEOF,
			// and a record after the close a protocol error.
			_ = c.client.SetReadDeadline(time.Now().Add(5 * time.Second))
			if n, err := c.client.Read(make([]byte, 16)); n != 0 || err != io.EOF {
				t.Fatalf("after the end: %d bytes, %v (want io.EOF)", n, err)
			}
		})
	}
}

// TestTLSHeartbeat: an idle TLS stream gets its pings, encrypted.
func TestTLSHeartbeat(t *testing.T) {
	p := newPump(t, pump.Options{})
	c := openTLS(t, p, &pump.Config{Heartbeat: 50 * time.Millisecond, Ping: []byte(":hb\n\n")}, tls.VersionTLS13)
	buf := make([]byte, 5*3)
	if _, err := io.ReadFull(c.body, buf); err != nil {
		t.Fatal(err)
	}
	if string(buf) != ":hb\n\n:hb\n\n:hb\n\n" {
		t.Fatalf("got %q", buf)
	}
}

// TestTLSStalledClientTimesOut: a TLS client that stops reading is closed
// after the write timeout while another TLS stream gets all its bytes.
func TestTLSStalledClientTimesOut(t *testing.T) {
	// 1 s, not the cleartext test's 300 ms: the fast client decrypts 8 MiB
	// meanwhile, which on a loaded machine under -race can pause that long.
	p := newPump(t, pump.Options{WriteTimeout: time.Second})
	cfg := &pump.Config{Chunked: true}
	stalled := openTLS(t, p, cfg, tls.VersionTLS13)
	fast := openTLS(t, p, cfg, tls.VersionTLS13)
	chunk := bytes.Repeat([]byte("y"), 64<<10)
	for range 128 {
		stalled.src.push(chunk)
		fast.src.push(chunk)
	}
	if n, err := io.Copy(io.Discard, io.LimitReader(fast.body, 128<<16)); err != nil || n != 128<<16 {
		select {
		case cause := <-fast.closed:
			t.Fatalf("fast client read %d bytes: %v (its stream ended: %v)", n, err, cause)
		default:
			t.Fatalf("fast client read %d bytes: %v", n, err)
		}
	}
	stalled.waitClosed(t, pump.ErrWriteTimeout)
}

// TestTLSClientGone: a TLS client that closes (close_notify, then FIN)
// ends its stream with ErrClientGone; one that sends records (here
// application data the hub does not read) past MaxClientBytes too.
func TestTLSClientGone(t *testing.T) {
	p := newPump(t, pump.Options{MaxClientBytes: 4096})
	c := openTLS(t, p, &pump.Config{Chunked: true}, tls.VersionTLS13)
	c.client.Close()
	c.waitClosed(t, pump.ErrClientGone)

	chatty := openTLS(t, p, &pump.Config{Chunked: true}, tls.VersionTLS13)
	go func() {
		for range 10 {
			if _, err := chatty.client.Write(make([]byte, 1024)); err != nil {
				return
			}
		}
	}()
	chatty.waitClosed(t, pump.ErrClientGone)
	if p.Len() != 0 {
		t.Fatalf("Len = %d", p.Len())
	}
}

// TestTLSPumpClose: shutdown gives every TLS stream its last chunk.
func TestTLSPumpClose(t *testing.T) {
	p, err := pump.New(pump.Options{})
	if err != nil {
		t.Fatal(err)
	}
	cs := []*conn{openTLS(t, p, &pump.Config{Chunked: true}, tls.VersionTLS12), openTLS(t, p, &pump.Config{Chunked: true}, tls.VersionTLS13)}
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	for _, c := range cs {
		if err := <-c.closed; !errors.Is(err, pump.ErrShutdown) {
			t.Fatalf("onClose(%v)", err)
		}
		if b, err := io.ReadAll(c.body); err != nil || len(b) != 0 {
			t.Fatalf("after Close: %q %v (want the last chunk)", b, err)
		}
	}
}

// TestTLSNotFromListener: a *tls.Conn the pump cannot take over (not from
// TLSListener) is refused and left working.
func TestTLSNotFromListener(t *testing.T) {
	p := newPump(t, pump.Options{})
	tcp, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ln := tls.NewListener(tcp, serverTLS(t, tls.VersionTLS13))
	defer ln.Close()
	raw, err := net.Dial("tcp", tcp.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	cli := tls.Client(raw, &tls.Config{InsecureSkipVerify: true})
	defer cli.Close()
	go func() { _ = cli.Handshake() }()
	srv, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	if err := srv.(*tls.Conn).Handshake(); err != nil {
		t.Fatal(err)
	}
	if _, err := p.Add(srv, &source{}, &pump.Config{}, func(error) {}); err == nil {
		t.Fatal("Add took a TLS connection it cannot poll")
	}
	if _, err := srv.Write([]byte("still works")); err != nil {
		t.Fatal(err)
	}
	got := make([]byte, 11)
	if _, err := io.ReadFull(cli, got); err != nil || string(got) != "still works" {
		t.Fatalf("got %q, %v", got, err)
	}
}
