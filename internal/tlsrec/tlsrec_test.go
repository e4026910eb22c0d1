package tlsrec_test

import (
	"bytes"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"testing"

	"github.com/ssehub/ssehub/internal/selfsigned"
	"github.com/ssehub/ssehub/internal/tlsrec"
)

// tap is the server's connection: it keeps the last record of each write
// and counts the protected ones.
type tap struct {
	net.Conn
	last    []byte
	records uint64
}

func (c *tap) Write(b []byte) (int, error) {
	for p := b; len(p) >= 5; {
		n := 5 + (int(p[3])<<8 | int(p[4]))
		if p[0] == 23 {
			c.records++
		}
		if n >= len(p) {
			c.last = append(c.last[:0], p...)
		}
		p = p[min(n, len(p)):]
	}
	return c.Conn.Write(b)
}

// secretLog keeps SERVER_TRAFFIC_SECRET_0.
type secretLog struct{ secret []byte }

func (l *secretLog) Write(line []byte) (int, error) {
	if f := strings.Fields(string(line)); len(f) == 3 && f[0] == "SERVER_TRAFFIC_SECRET_0" {
		l.secret, _ = hex.DecodeString(f[2])
	}
	return len(line), nil
}

// pair is a TLS 1.3 connection over loopback TCP whose server wrote two
// records with crypto/tls ("hel", "lo"), which the client read.
type pair struct {
	client *tls.Conn
	server *tap
	suite  uint16
	secret []byte
}

func newPair(t testing.TB) *pair {
	t.Helper()
	cert, _, err := selfsigned.Certificate()
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	cc, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	sc, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	keys := &secretLog{}
	raw := &tap{Conn: sc}
	srv := tls.Server(raw, &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS13, KeyLogWriter: keys})
	cli := tls.Client(cc, &tls.Config{InsecureSkipVerify: true})
	t.Cleanup(func() { cli.Close(); sc.Close() })
	done := make(chan error, 1)
	go func() {
		if err := srv.Handshake(); err != nil {
			done <- err
			return
		}
		if _, err := srv.Write([]byte("hel")); err != nil {
			done <- err
			return
		}
		_, err := srv.Write([]byte("lo"))
		done <- err
	}()
	hello := make([]byte, 5)
	if _, err := io.ReadFull(cli, hello); err != nil || string(hello) != "hello" {
		t.Fatalf("%q, %v", hello, err)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	return &pair{client: cli, server: raw, suite: srv.ConnectionState().CipherSuite, secret: keys.secret}
}

// sealer continues the server's records.
func (p *pair) sealer(t testing.TB) *tlsrec.Sealer {
	t.Helper()
	s, err := tlsrec.New(p.suite, p.secret)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Resume(p.server.last, p.server.records, 64); err != nil {
		t.Fatal(err)
	}
	return s
}

// TestSealReadByCryptoTLS: crypto/tls's client reads what a Sealer seals
// after crypto/tls's own record, records of every size up to 2^14 bytes
// of plaintext and writes over it, then a close_notify (io.EOF).
func TestSealReadByCryptoTLS(t *testing.T) {
	p := newPair(t)
	s := p.sealer(t)
	var want bytes.Buffer
	var wire []byte
	for _, n := range []int{1, 2, 100, 16383, 16384, 16385, 40000, 70000} {
		plain := bytes.Repeat([]byte{byte('a' + n%26)}, n)
		want.Write(plain)
		var err error
		before := len(wire)
		if wire, err = s.Seal(wire, plain); err != nil {
			t.Fatal(err)
		}
		if got, recs := len(wire)-before, tlsrec.Records(n); got != n+recs*tlsrec.Overhead {
			t.Fatalf("%d bytes: %d on the wire, want %d records' worth", n, got, recs)
		}
	}
	wire, err := s.SealCloseNotify(wire)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	wg.Go(func() { _, _ = p.server.Conn.Write(wire) })
	got, err := io.ReadAll(p.client) // io.EOF at the close_notify
	wg.Wait()
	if err != nil || !bytes.Equal(got, want.Bytes()) {
		t.Fatalf("read %d bytes, want %d: %v", len(got), want.Len(), err)
	}
}

// TestWrongSequenceFails: a record sealed one sequence number ahead is
// refused by the client.
func TestWrongSequenceFails(t *testing.T) {
	p := newPair(t)
	s := p.sealer(t)
	s.Skip(1)
	wire, err := s.Seal(nil, []byte("x"))
	if err != nil {
		t.Fatal(err)
	}
	go func() { _, _ = p.server.Conn.Write(wire) }()
	if _, err := p.client.Read(make([]byte, 1)); err == nil || !strings.Contains(err.Error(), "bad record MAC") {
		t.Fatalf("read: %v, want bad record MAC", err)
	}
}

// TestResumeRefuses: a record that is not the last application data under
// the key is not resumed from.
func TestResumeRefuses(t *testing.T) {
	p := newPair(t)
	s, err := tlsrec.New(p.suite, p.secret)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Seal(nil, []byte("x")); err == nil {
		t.Fatal("sealed before Resume")
	}
	forged := bytes.Clone(p.server.last)
	forged[len(forged)-1] ^= 1
	if err := s.Resume(forged, p.server.records, 64); !errors.Is(err, tlsrec.ErrNotFound) {
		t.Fatalf("a forged record: %v", err)
	}
	// Not allowed to try the record's own sequence number (1 or more).
	if err := s.Resume(p.server.last, 1, 64); !errors.Is(err, tlsrec.ErrNotFound) {
		t.Fatalf("below its sequence number: %v", err)
	}
	// Nor to try down to it: the protected records written before include
	// the handshake's (at least the Finished).
	if err := s.Resume(p.server.last, p.server.records, 1); !errors.Is(err, tlsrec.ErrNotFound) {
		t.Fatalf("with one try: %v", err)
	}
	if err := s.Resume(p.server.last[:10], p.server.records, 64); err == nil {
		t.Fatal("a cut record")
	}
	other := newPair(t)
	if err := s.Resume(other.server.last, other.server.records, 64); !errors.Is(err, tlsrec.ErrNotFound) {
		t.Fatalf("another connection's record: %v", err)
	}
	if _, err := tlsrec.New(0x1301, p.secret[:16]); err == nil {
		t.Fatal("a short secret")
	}
	if _, err := tlsrec.New(tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256, p.secret); !errors.Is(err, tlsrec.ErrSuite) {
		t.Fatalf("a TLS 1.2 suite: %v", err)
	}
}

// TestLimit: Seal refuses, sealing nothing, once the records would pass
// the limit.
func TestLimit(t *testing.T) {
	p := newPair(t)
	s := p.sealer(t)
	s.SetLimit(s.Seq() + 3)
	out, err := s.Seal(nil, make([]byte, 2*tlsrec.MaxPlaintext))
	if err != nil || s.Remaining() != 1 {
		t.Fatalf("%v, %d remaining", err, s.Remaining())
	}
	if again, err := s.Seal(out, make([]byte, tlsrec.MaxPlaintext+1)); !errors.Is(err, tlsrec.ErrLimit) || len(again) != len(out) {
		t.Fatalf("past the limit: %v, %d bytes added", err, len(again)-len(out))
	}
	if out, err = s.SealCloseNotify(out); err != nil {
		t.Fatal(err)
	}
	if _, err := s.SealCloseNotify(out); !errors.Is(err, tlsrec.ErrLimit) {
		t.Fatalf("close_notify past the limit: %v", err)
	}
}

// BenchmarkSeal seals one small event and a 64 KiB write.
func BenchmarkSeal(b *testing.B) {
	p := newPair(b)
	s := p.sealer(b)
	for _, n := range []int{300, 64 << 10} {
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			plain := make([]byte, n)
			dst := make([]byte, 0, n+tlsrec.Records(n)*tlsrec.Overhead)
			b.SetBytes(int64(n))
			b.ReportAllocs()
			for b.Loop() {
				s.SetLimit(s.Seq() + 8)
				if _, err := s.Seal(dst[:0], plain); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// Example continues a TLS 1.3 connection's records after crypto/tls: the
// server's traffic secret comes from its KeyLogWriter, the sequence
// number from the last record crypto/tls wrote.
func Example() {
	cert, _, _ := selfsigned.Certificate()
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	defer ln.Close()
	go func() {
		c, _ := net.Dial("tcp", ln.Addr().String())
		cli := tls.Client(c, &tls.Config{InsecureSkipVerify: true})
		b, _ := io.ReadAll(cli)
		fmt.Printf("%s\n", b)
		cli.Close()
	}()
	sc, _ := ln.Accept()
	keys, raw := &secretLog{}, &tap{Conn: sc}
	srv := tls.Server(raw, &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS13, KeyLogWriter: keys})
	_, _ = srv.Write([]byte("hello from crypto/tls, ")) // the handshake, then one record

	s, err := tlsrec.New(srv.ConnectionState().CipherSuite, keys.secret)
	if err != nil {
		fmt.Println(err)
		return
	}
	if err := s.Resume(raw.last, raw.records, 64); err != nil {
		fmt.Println(err)
		return
	}
	// From here on srv must never write again.
	wire, _ := s.Seal(nil, []byte("and from tlsrec"))
	wire, _ = s.SealCloseNotify(wire)
	_, _ = sc.Write(wire)
	buf := make([]byte, 1)
	_, _ = sc.Read(buf) // the client's close_notify, then its end
	sc.Close()
	// Output: hello from crypto/tls, and from tlsrec
}
