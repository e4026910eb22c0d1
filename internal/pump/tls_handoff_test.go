//go:build linux

package pump_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ssehub/ssehub/internal/pump"
)

// recordTap is a client's TCP connection that notes the length of every
// TLS record the server sends.
type recordTap struct {
	net.Conn
	mu      sync.Mutex
	hdr     []byte
	left    int
	lengths []int // each record's length field
	held    []byte
	holding bool
}

// Write passes b on, or keeps it while the tap holds writes.
func (r *recordTap) Write(b []byte) (int, error) {
	r.mu.Lock()
	if r.holding {
		r.held = append(r.held, b...)
		r.mu.Unlock()
		return len(b), nil
	}
	r.mu.Unlock()
	return r.Conn.Write(b)
}

// hold keeps the writes that follow until release sends them in one
// write, so that the records they carry reach the peer's socket together.
func (r *recordTap) hold() {
	r.mu.Lock()
	r.holding = true
	r.mu.Unlock()
}

func (r *recordTap) release() error {
	r.mu.Lock()
	b := r.held
	r.held, r.holding = nil, false
	r.mu.Unlock()
	_, err := r.Conn.Write(b)
	return err
}

func (r *recordTap) Read(b []byte) (int, error) {
	n, err := r.Conn.Read(b)
	r.mu.Lock()
	defer r.mu.Unlock()
	for p := b[:n]; len(p) > 0; {
		if r.left > 0 {
			k := min(r.left, len(p))
			r.left, p = r.left-k, p[k:]
			continue
		}
		k := min(5-len(r.hdr), len(p))
		r.hdr, p = append(r.hdr, p[:k]...), p[k:]
		if len(r.hdr) == 5 {
			r.left = int(binary.BigEndian.Uint16(r.hdr[3:]))
			r.lengths = append(r.lengths, r.left)
			r.hdr = r.hdr[:0]
		}
	}
	return n, err
}

func (r *recordTap) records() []int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]int(nil), r.lengths...)
}

const streamHeaders = "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n"

// handOffOpts say how openHandOff sets a stream up.
type handOffOpts struct {
	maxVersion uint16
	noPrepare  bool                              // no pump.PrepareTLS: crypto/tls keeps the records
	beforeAdd  func(cli *tls.Conn)               // runs once the client read the headers, before Add
	client     func(*tls.Config)                 // adjusts the client's config
	counters   *pump.Counters                    // the pump's; checked by the caller
	onNext     func(s *pump.Stream)              // called from the worker on each Next
	cfg        *pump.Config                      // default: chunked
	pump       *pump.Pump                        // required
	serverConf func(*tls.Config)                 // adjusts the server's config
	sendExtra  func(raw net.Conn, cli *tls.Conn) // after the request, before the server reads it
	// together sends the request and what sendExtra writes through cli
	// in one write, so that the server's first read after its handshake
	// takes them both into the tls.Conn.
	together bool
	prior    int // records the server writes before the headers, as on a kept-alive connection
}

// ownConn is a stream served as a detached handler serves one: the
// request read and the headers written through crypto/tls, after
// pump.PrepareTLS, then the connection handed to the pump.
type ownConn struct {
	*conn
	tap  *recordTap
	tls  *tls.Conn
	resp *http.Response
}

func openHandOff(t *testing.T, o handOffOpts) *ownConn {
	t.Helper()
	if o.maxVersion == 0 {
		o.maxVersion = tls.VersionTLS13
	}
	if o.cfg == nil {
		o.cfg = &pump.Config{Chunked: true}
	}
	tcp, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	scfg := serverTLS(t, o.maxVersion)
	if o.serverConf != nil {
		o.serverConf(scfg)
	}
	ln := pump.TLSListener(tcp, scfg)
	defer ln.Close()
	raw, err := net.Dial("tcp", tcp.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	tap := &recordTap{Conn: raw}
	ccfg := &tls.Config{InsecureSkipVerify: true}
	if o.client != nil {
		o.client(ccfg)
	}
	cli := tls.Client(tap, ccfg)
	t.Cleanup(func() { cli.Close() })
	sent := make(chan error, 1)
	go func() {
		if err := cli.Handshake(); err != nil {
			sent <- err
			return
		}
		if o.together {
			tap.hold()
		}
		_, err := io.WriteString(cli, "GET /events HTTP/1.1\r\nHost: x\r\n\r\n")
		if err == nil && o.sendExtra != nil {
			o.sendExtra(raw, cli)
		}
		if o.together && err == nil {
			err = tap.release()
		}
		sent <- err
	}()
	srv, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	tc := srv.(*tls.Conn)
	if err := tc.Handshake(); err != nil {
		t.Fatal(err)
	}
	if err := <-sent; err != nil {
		t.Fatal(err)
	}
	if o.sendExtra != nil {
		time.Sleep(50 * time.Millisecond) // the extra bytes reach the server's socket
	}
	// The request, read as net/http reads it (a buffered reader over the
	// tls.Conn); the client sends nothing more.
	if _, err := http.ReadRequest(bufio.NewReader(tc)); err != nil {
		t.Fatal(err)
	}
	for range o.prior {
		if _, err := tc.Write([]byte("x")); err != nil {
			t.Fatal(err)
		}
	}
	if !o.noPrepare {
		pump.PrepareTLS(pump.ConnContext(context.Background(), srv))
	}
	if _, err := io.WriteString(tc, streamHeaders); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(cli)
	if _, err := io.ReadFull(br, make([]byte, o.prior)); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	if o.beforeAdd != nil {
		o.beforeAdd(cli)
	}
	c := &conn{src: &source{}, client: cli, closed: make(chan error, 1)}
	var src pump.Source = c.src
	if o.onNext != nil {
		src = hookSource{c.src, func() {
			c.src.mu.Lock()
			s := c.src.stream
			c.src.mu.Unlock()
			if s != nil {
				o.onNext(s)
			}
		}}
	}
	c.src.mu.Lock()
	c.stream, err = o.pump.Add(srv, src, o.cfg, func(err error) { c.closed <- err })
	if err != nil {
		t.Fatal(err)
	}
	c.src.stream = c.stream
	c.src.mu.Unlock()
	c.body = resp.Body
	return &ownConn{conn: c, tap: tap, tls: cli, resp: resp}
}

// hookSource calls hook before each Next, on the worker.
type hookSource struct {
	*source
	hook func()
}

func (h hookSource) Next(dst []byte, max int) ([]byte, error) {
	h.hook()
	return h.source.Next(dst, max)
}

// closeNotifyLen is the length field of a record carrying a close_notify
// alert: 2 bytes, its inner type, the tag.
const closeNotifyLen = 2 + 1 + 16

// TestTLSOwnRecordsByteExact reads, with a real crypto/tls client, a stream
// that crossed the hand-off: the pump seals its records itself, and the
// client gets every byte exactly (a 100 KB replay, written as 64 KiB
// writes cut into full 16 KiB records, then heartbeats while idle, then
// many small live writes, then the final bytes, the last chunk and a
// close_notify).
func TestTLSOwnRecordsByteExact(t *testing.T) {
	var counters pump.Counters
	p := newPump(t, pump.Options{Counters: &counters})
	ping := []byte(": ping\n\n")
	c := openHandOff(t, handOffOpts{pump: p, cfg: &pump.Config{Chunked: true, Heartbeat: 30 * time.Millisecond, Ping: ping}})
	if own, kept := counters.TLSOwnRecords.Load(), counters.TLSCryptoTLS.Load(); own != 1 || kept != 0 {
		t.Fatalf("own records %d, crypto/tls %d: the stream was not handed over", own, kept)
	}
	var want bytes.Buffer
	replay := make([]byte, 0, 100_000)
	for i := 0; len(replay) < 100_000; i++ {
		replay = fmt.Appendf(replay, "id: %d\ndata: %s\n\n", i, strings.Repeat("r", i%300))
	}
	want.Write(replay)
	c.src.push(replay)

	got := make(chan []byte, 1)
	go func() {
		b, err := io.ReadAll(c.body)
		if err != nil {
			t.Errorf("reading the body: %v (after %d bytes)", err, len(b))
		}
		got <- b
	}()
	time.Sleep(150 * time.Millisecond) // idle: heartbeats
	for i := range 300 {
		line := fmt.Appendf(nil, "id: live-%d\ndata: %s\n\n", i, strings.Repeat("l", i%50))
		want.Write(line)
		c.src.push(line)
		if i%3 == 0 {
			time.Sleep(time.Millisecond)
		}
	}
	time.Sleep(50 * time.Millisecond)
	final := []byte("event: end\ndata: bye\n\n")
	want.Write(final)
	why := errors.New("done")
	c.stream.Close(why, final)
	b := <-got
	c.waitClosed(t, why)
	pings := bytes.Count(b, ping)
	if pings == 0 {
		t.Errorf("no heartbeat in %d bytes", len(b))
	}
	if b = bytes.ReplaceAll(b, ping, nil); !bytes.Equal(b, want.Bytes()) {
		t.Fatalf("the client read %d bytes (after removing %d pings), want %d; first difference at %d",
			len(b), pings, want.Len(), firstDiff(b, want.Bytes()))
	}
	_ = c.client.SetReadDeadline(time.Now().Add(5 * time.Second))
	if n, err := c.client.Read(make([]byte, 16)); n != 0 || err != io.EOF {
		t.Fatalf("after the end: %d bytes, %v (want io.EOF)", n, err)
	}
	recs := c.tap.records()
	full := 0
	for _, n := range recs {
		if n > 16384+1+16 {
			t.Fatalf("a record of %d bytes, over 2^14 of plaintext", n)
		}
		if n == 16384+1+16 {
			full++
		}
	}
	if full < 5 {
		t.Errorf("%d full-size records: the replay's 64 KiB writes should be sealed as 16 KiB records", full)
	}
	if last := recs[len(recs)-1]; last != closeNotifyLen {
		t.Errorf("the last record has %d bytes, not a close_notify's %d", last, closeNotifyLen)
	}
}

func firstDiff(a, b []byte) int {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return i
		}
	}
	return min(len(a), len(b))
}

// TestTLSOwnRecordsWrongSequenceFails proves that the test above could
// fail: one sequence number skipped, and the client refuses the next
// record (bad_record_mac); the stream then ends.
func TestTLSOwnRecordsWrongSequenceFails(t *testing.T) {
	p := newPump(t, pump.Options{})
	var once sync.Once
	skipped := make(chan bool, 1)
	c := openHandOff(t, handOffOpts{pump: p, onNext: func(s *pump.Stream) {
		once.Do(func() { skipped <- pump.SkipTLSRecords(s, 1) })
	}})
	c.src.push([]byte("data: x\n\n"))
	if !<-skipped {
		t.Fatal("the stream does not seal its own records")
	}
	_ = c.client.SetReadDeadline(time.Now().Add(5 * time.Second))
	_, err := io.ReadAll(c.body)
	if err == nil || !strings.Contains(err.Error(), "bad record MAC") {
		t.Fatalf("the client read with a skipped sequence number: %v, want bad record MAC", err)
	}
	c.client.Close()
	c.waitClosed(t, pump.ErrClientGone)
}

// TestTLSHandOffFallsBack: where the hand-off is not proven safe, crypto/tls
// keeps sealing the stream's records, and the stream works as before.
func TestTLSHandOffFallsBack(t *testing.T) {
	for _, tc := range []struct {
		name string
		o    handOffOpts
	}{
		{"TLS1.2", handOffOpts{maxVersion: tls.VersionTLS12}},
		{"not prepared", handOffOpts{noPrepare: true}},
		// A whole record the client sent after its request waits in the
		// tls.Conn: it must not be lost unseen.
		{"client record buffered", handOffOpts{together: true, sendExtra: func(_ net.Conn, cli *tls.Conn) {
			_, _ = io.WriteString(cli, "GET /again HTTP/1.1\r\nHost: x\r\n\r\n")
		}}},
		// Part of a record: the client's bytes do not end at a record boundary.
		{"partial client record", handOffOpts{sendExtra: func(raw net.Conn, _ *tls.Conn) {
			_, _ = raw.Write([]byte{23, 3, 3})
		}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var counters pump.Counters
			tc.o.pump = newPump(t, pump.Options{Counters: &counters})
			c := openHandOff(t, tc.o)
			if own, kept := counters.TLSOwnRecords.Load(), counters.TLSCryptoTLS.Load(); own != 0 || kept != 1 {
				t.Fatalf("own records %d, crypto/tls %d: want crypto/tls", own, kept)
			}
			c.src.push([]byte("data: x\n\n"))
			x := make([]byte, 9)
			if _, err := io.ReadFull(c.body, x); err != nil || string(x) != "data: x\n\n" {
				t.Fatalf("got %q, %v", x, err)
			}
			c.stream.Close(errors.New("end"), []byte("data: y\n\n"))
			b, err := io.ReadAll(c.body)
			if err != nil || string(b) != "data: y\n\n" {
				t.Fatalf("got %q, %v", b, err)
			}
		})
	}
}

// TestTLSOwnRecordsLimit: a stream near its key's record limit ends with
// ErrTLSRecordLimit, every byte sealed before it and its tail delivered,
// without sealing past the limit.
func TestTLSOwnRecordsLimit(t *testing.T) {
	const limit = 80
	restore := pump.SetTLSRecordLimit(limit)
	var counters pump.Counters
	p := newPump(t, pump.Options{Counters: &counters})
	c := openHandOff(t, handOffOpts{pump: p})
	restore()
	if counters.TLSOwnRecords.Load() != 1 {
		t.Fatal("not handed over")
	}
	before := len(c.tap.records())
	got := make(chan []byte, 1)
	go func() {
		b, _ := io.ReadAll(c.body)
		got <- b
	}()
	var sent bytes.Buffer
	for i := 0; ; i++ {
		select {
		case err := <-c.closed:
			if !errors.Is(err, pump.ErrTLSRecordLimit) {
				t.Fatalf("ended with %v, want ErrTLSRecordLimit", err)
			}
			b := <-got
			if !bytes.HasPrefix(sent.Bytes(), b) || len(b) < 40 {
				t.Fatalf("the client read %d bytes, not a prefix of the %d sent", len(b), sent.Len())
			}
			time.Sleep(20 * time.Millisecond)
			if n := len(c.tap.records()) - before; n > limit {
				t.Fatalf("%d records after the hand-off, over the limit of %d", n, limit)
			}
			return
		default:
		}
		line := fmt.Appendf(nil, "data: %d\n\n", i)
		sent.Write(line)
		c.src.push(line)
		time.Sleep(200 * time.Microsecond)
		if i > 10_000 {
			t.Fatal("the stream did not end")
		}
	}
}

// TestTLSOwnRecordsClientBytesEnd: on own records, anything the client
// sends ends the stream at once (the pump cannot read or answer a record):
// a close_notify without the TCP FIN, or application data.
func TestTLSOwnRecordsClientBytesEnd(t *testing.T) {
	for _, tc := range []struct {
		name string
		send func(*tls.Conn) error
	}{
		{"close_notify", func(c *tls.Conn) error { return c.CloseWrite() }},
		{"data", func(c *tls.Conn) error { _, err := c.Write([]byte("x")); return err }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var counters pump.Counters
			p := newPump(t, pump.Options{Counters: &counters})
			c := openHandOff(t, handOffOpts{pump: p})
			if counters.TLSOwnRecords.Load() != 1 {
				t.Fatal("not handed over")
			}
			c.src.push([]byte("data: a\n\n"))
			a := make([]byte, 9)
			if _, err := io.ReadFull(c.body, a); err != nil {
				t.Fatal(err)
			}
			if err := tc.send(c.tls); err != nil {
				t.Fatal(err)
			}
			c.waitClosed(t, pump.ErrClientGone)
		})
	}
}

// TestTLSOwnRecordsAfterManyRecords: a connection that wrote many records
// before its stream (responses on a kept-alive connection) is handed over
// too: the sequence number is searched down from the count of records.
func TestTLSOwnRecordsAfterManyRecords(t *testing.T) {
	var counters pump.Counters
	p := newPump(t, pump.Options{Counters: &counters})
	c := openHandOff(t, handOffOpts{pump: p, prior: 300})
	if counters.TLSOwnRecords.Load() != 1 {
		t.Fatal("not handed over")
	}
	c.src.push([]byte("data: a\n\n"))
	a := make([]byte, 9)
	if _, err := io.ReadFull(c.body, a); err != nil || string(a) != "data: a\n\n" {
		t.Fatalf("%q, %v", a, err)
	}
}

// TestTLSOwnRecordsHandshakes: handshakes of other shapes are handed over
// too: a HelloRetryRequest (two flights), a requested client certificate
// (the ticket after the client's Finished), a resumed session.
func TestTLSOwnRecordsHandshakes(t *testing.T) {
	var ticketKey [32]byte
	copy(ticketKey[:], "a fixed session ticket key, test")
	cache := tls.NewLRUClientSessionCache(4)
	for _, tc := range []struct {
		name   string
		o      handOffOpts
		resume bool
	}{
		{"HelloRetryRequest", handOffOpts{
			serverConf: func(c *tls.Config) { c.CurvePreferences = []tls.CurveID{tls.CurveP384} },
			client:     func(c *tls.Config) { c.CurvePreferences = []tls.CurveID{tls.CurveP256, tls.CurveP384} },
		}, false},
		{"client certificate requested", handOffOpts{
			serverConf: func(c *tls.Config) { c.ClientAuth = tls.RequestClientCert },
		}, false},
		{"first", handOffOpts{
			serverConf: func(c *tls.Config) { c.SetSessionTicketKeys([][32]byte{ticketKey}) },
			// The cache is keyed by server name: the same for both listeners.
			client: func(c *tls.Config) { c.ClientSessionCache, c.ServerName = cache, "hub.test" },
		}, false},
		{"resumed", handOffOpts{
			serverConf: func(c *tls.Config) { c.SetSessionTicketKeys([][32]byte{ticketKey}) },
			client:     func(c *tls.Config) { c.ClientSessionCache, c.ServerName = cache, "hub.test" },
		}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var counters pump.Counters
			tc.o.pump = newPump(t, pump.Options{Counters: &counters})
			c := openHandOff(t, tc.o)
			if counters.TLSOwnRecords.Load() != 1 {
				t.Fatal("not handed over")
			}
			if got := c.tls.ConnectionState().DidResume; got != tc.resume {
				t.Fatalf("resumed: %v, want %v", got, tc.resume)
			}
			if got, want := c.tls.ConnectionState().HelloRetryRequest, tc.name == "HelloRetryRequest"; got != want {
				t.Fatalf("HelloRetryRequest: %v, want %v", got, want)
			}
			big := bytes.Repeat([]byte("0123456789"), 5000)
			c.src.push(big)
			got := make([]byte, len(big))
			if _, err := io.ReadFull(c.body, got); err != nil || !bytes.Equal(got, big) {
				t.Fatalf("read: %v", err)
			}
			c.stream.Close(errors.New("end"), nil)
			if rest, err := io.ReadAll(c.body); err != nil || len(rest) != 0 {
				t.Fatalf("after the end: %q, %v", rest, err)
			}
		})
	}
}

// TestTLSConfigKeepsResumption: the connections of one TLSListener, each
// with its own config clone, share the listener's automatic session ticket
// keys, so a client resumes.
func TestTLSConfigKeepsResumption(t *testing.T) {
	tcp, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ln := pump.TLSListener(tcp, serverTLS(t, tls.VersionTLS13))
	defer ln.Close()
	cache := tls.NewLRUClientSessionCache(4)
	for i, want := range []bool{false, true} {
		raw, err := net.Dial("tcp", tcp.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		cli := tls.Client(raw, &tls.Config{InsecureSkipVerify: true, ClientSessionCache: cache, ServerName: "hub.test"})
		done := make(chan error, 1)
		go func() {
			c, err := ln.Accept()
			if err == nil {
				_, err = c.Write([]byte("x")) // the handshake, then a record, after the ticket
				c.Close()
			}
			done <- err
		}()
		if _, err := io.ReadFull(cli, make([]byte, 1)); err != nil {
			t.Fatal(err)
		}
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		if got := cli.ConnectionState().DidResume; got != want {
			t.Fatalf("connection %d resumed: %v, want %v", i, got, want)
		}
		cli.Close()
	}
}
