//go:build linux

package pump_test

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/http/httputil"
	"testing"
	"time"

	"github.com/ssehub/ssehub/internal/pump"
)

// oneShot is a Source whose first Next returns all of b at once (one big
// event), with err.
type oneShot struct {
	b    []byte
	err  error
	done bool
}

func (o *oneShot) Next(dst []byte, max int) ([]byte, error) {
	if o.done {
		return dst, nil
	}
	o.done = true
	return append(dst, o.b...), o.err
}

// openSmall connects a client whose socket buffers, and the server's, are
// small, and adds the server end to p with src: a write of more than a few
// KiB is short while the client does not read.
func openSmall(t *testing.T, p *pump.Pump, cfg *pump.Config, src pump.Source) (*pump.Stream, net.Conn, io.Reader, chan error) {
	t.Helper()
	lc := net.ListenConfig{Control: smallBuffers(4 << 10)}
	ln, err := lc.Listen(context.Background(), "tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	d := net.Dialer{Control: smallBuffers(4 << 10)}
	cli, err := d.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cli.Close() })
	srv, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	closed := make(chan error, 1)
	s, err := p.Add(srv, src, cfg, func(err error) { closed <- err })
	if err != nil {
		t.Fatal(err)
	}
	var body io.Reader = bufio.NewReader(cli)
	if cfg.Chunked {
		body = httputil.NewChunkedReader(body)
	}
	return s, cli, body, closed
}

func waitCause(t *testing.T, closed chan error, want error) {
	t.Helper()
	select {
	case err := <-closed:
		if !errors.Is(err, want) {
			t.Fatalf("onClose(%v), want %v", err, want)
		}
	case <-time.After(10 * time.Second):
		t.Fatalf("onClose not called within 10s (want %v)", want)
	}
}

// waitBlocked waits for the pump's first write (1 MiB into small socket
// buffers: a short one), and gives it time to end its turn.
func waitBlocked(t *testing.T, c *pump.Counters) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for c.Writes.Load() < 1 {
		if time.Now().After(deadline) {
			t.Fatal("the pump did not write within 5s")
		}
		time.Sleep(5 * time.Millisecond)
	}
	time.Sleep(50 * time.Millisecond)
}

// TestEndWaitsForPendingBytes: a Source that ends with its last bytes (as
// a subscriber whose topic is gone ends with its gone event) while the
// client's socket is full: the client still gets every byte and then the
// last chunk, once it reads. (The pump used to try the pending bytes once
// more and then close the connection mid-chunk.)
func TestEndWaitsForPendingBytes(t *testing.T) {
	var c pump.Counters
	p := newPump(t, pump.Options{Counters: &c})
	want := bytes.Repeat([]byte("0123456789abcdef"), 1<<16) // 1 MiB
	boom := errors.New("topic gone")
	_, _, body, closed := openSmall(t, p, &pump.Config{Chunked: true}, &oneShot{b: want, err: boom})
	waitBlocked(t, &c)
	got, err := io.ReadAll(body) // the chunked reader ends at the last chunk
	if err != nil || !bytes.Equal(got, want) {
		t.Fatalf("read %d of %d bytes: %v", len(got), len(want), err)
	}
	waitCause(t, closed, boom)
}

// TestCloseWaitsForPendingBytes: Close with final bytes while the client's
// socket is full: the client gets what the Source had returned, the final
// bytes and the last chunk.
func TestCloseWaitsForPendingBytes(t *testing.T) {
	var c pump.Counters
	p := newPump(t, pump.Options{Counters: &c})
	want := bytes.Repeat([]byte("0123456789abcdef"), 1<<16)
	s, _, body, closed := openSmall(t, p, &pump.Config{Chunked: true}, &oneShot{b: want})
	waitBlocked(t, &c)
	why := errors.New("revoked")
	s.Close(why, []byte("bye"))
	got, err := io.ReadAll(body)
	if err != nil || !bytes.Equal(got, append(want, "bye"...)) {
		t.Fatalf("read %d of %d bytes: %v", len(got), len(want)+3, err)
	}
	waitCause(t, closed, why)
}

// TestEndTimesOut: a stream whose last bytes its client never takes is
// closed after the write timeout, not before; onClose gets the first
// cause.
func TestEndTimesOut(t *testing.T) {
	var c pump.Counters
	p := newPump(t, pump.Options{Counters: &c, WriteTimeout: 300 * time.Millisecond})
	boom := errors.New("topic gone")
	start := time.Now()
	_, _, _, closed := openSmall(t, p, &pump.Config{Chunked: true}, &oneShot{b: make([]byte, 1<<20), err: boom})
	waitCause(t, closed, boom)
	if d := time.Since(start); d < 250*time.Millisecond {
		t.Fatalf("closed after %v, before the 300ms write timeout: its last bytes were dropped", d)
	}
	if n := p.Len(); n != 0 {
		t.Fatalf("Len = %d", n)
	}
}

// TestPumpCloseDoesNotWaitForStalledClients: Close ends streams whose
// clients read nothing at once (one try for their last bytes), not after
// the write timeout.
func TestPumpCloseDoesNotWaitForStalledClients(t *testing.T) {
	var c pump.Counters
	p, err := pump.New(pump.Options{Counters: &c, WriteTimeout: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	var closed []chan error
	for i := range 4 {
		var src pump.Source = &oneShot{b: make([]byte, 1<<20)}
		if i%2 == 1 {
			src = &oneShot{b: make([]byte, 1<<20), err: errors.New("ending")}
		}
		_, _, _, ch := openSmall(t, p, &pump.Config{Chunked: true}, src)
		closed = append(closed, ch)
	}
	waitBlocked(t, &c)
	done := make(chan struct{})
	go func() { p.Close(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Close waited more than 10s for stalled clients")
	}
	for i, ch := range closed {
		select {
		case <-ch:
		default:
			t.Fatalf("stream %d: Close returned before onClose", i)
		}
	}
}

// TestMaxClientBytes: a client may send Options.MaxClientBytes on its
// stream, which then goes on; one byte more ends it with ErrClientGone.
func TestMaxClientBytes(t *testing.T) {
	p := newPump(t, pump.Options{MaxClientBytes: 100})
	c := open(t, p, &pump.Config{Chunked: true})
	if _, err := c.client.Write(make([]byte, 100)); err != nil {
		t.Fatal(err)
	}
	time.Sleep(50 * time.Millisecond)
	c.src.push([]byte("still here"))
	b := make([]byte, 10)
	if _, err := io.ReadFull(c.body, b); err != nil || string(b) != "still here" {
		t.Fatalf("after 100 bytes: %q, %v", b, err)
	}
	if _, err := c.client.Write([]byte("x")); err != nil {
		t.Fatal(err)
	}
	c.waitClosed(t, pump.ErrClientGone)

	// The default is 64 KiB.
	d := newPump(t, pump.Options{})
	c = open(t, d, &pump.Config{Chunked: true})
	if _, err := c.client.Write(make([]byte, 32<<10)); err != nil {
		t.Fatal(err)
	}
	time.Sleep(50 * time.Millisecond)
	c.src.push([]byte("still here"))
	if _, err := io.ReadFull(c.body, b); err != nil || string(b) != "still here" {
		t.Fatalf("default, after 32 KiB: %q, %v", b, err)
	}
	select {
	case err := <-c.closed:
		t.Fatalf("default, after 32 KiB: closed with %v", err)
	default:
	}
}
