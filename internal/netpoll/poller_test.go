//go:build linux

package netpoll_test

import (
	"bytes"
	"io"
	"net"
	"runtime"
	"syscall"
	"testing"
	"time"

	"github.com/ssehub/ssehub/internal/netpoll"
)

// pair returns both ends of a loopback TCP connection.
func pair(t testing.TB) (server, client *net.TCPConn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	s, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close(); s.Close() })
	return s.(*net.TCPConn), c.(*net.TCPConn)
}

func newPoller(t *testing.T) *netpoll.Poller {
	t.Helper()
	p, err := netpoll.New()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

// events collects a watch's callbacks on a channel.
func events() (func(netpoll.Event), chan netpoll.Event) {
	ch := make(chan netpoll.Event, 1024)
	return func(ev netpoll.Event) { ch <- ev }, ch
}

func waitFor(t *testing.T, ch chan netpoll.Event, want netpoll.Event) {
	t.Helper()
	deadline := time.After(5 * time.Second)
	for {
		select {
		case ev := <-ch:
			if ev&want != 0 {
				return
			}
		case <-deadline:
			t.Fatalf("no event %d within 5s", want)
		}
	}
}

func rawConn(t testing.TB, c syscall.Conn) *netpoll.Conn {
	rc, err := c.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	return netpoll.NewConn(rc)
}

func TestClosedWhenPeerCloses(t *testing.T) {
	p := newPoller(t)
	srv, cli := pair(t)
	fn, ch := events()
	w, err := p.Watch(srv, fn)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	if p.Len() != 1 {
		t.Fatalf("Len = %d", p.Len())
	}
	cli.Close()
	waitFor(t, ch, netpoll.Closed)
}

func TestClosedAfterHalfClose(t *testing.T) {
	p := newPoller(t)
	srv, cli := pair(t)
	fn, ch := events()
	w, _ := p.Watch(srv, fn)
	defer w.Stop()
	cli.CloseWrite() // a FIN: the client will send nothing more
	waitFor(t, ch, netpoll.Closed)
}

// TestTryWriteFillsThenWritable fills the socket until a write would
// block, then reads on the client: the poller reports Writable and the
// rest goes out; every byte arrives in order.
func TestTryWriteFillsThenWritable(t *testing.T) {
	p := newPoller(t)
	srv, cli := pair(t)
	fn, ch := events()
	w, _ := p.Watch(srv, fn)
	defer w.Stop()
	rc := rawConn(t, srv)
	srv.SetWriteBuffer(32 << 10)
	cli.SetReadBuffer(32 << 10)

	payload := bytes.Repeat([]byte("0123456789abcdef"), 1<<16) // 1 MiB: more than loopback buffers hold
	sent := 0
	for sent < len(payload) {
		n, err := rc.TryWrite(payload[sent:])
		if err != nil {
			t.Fatal(err)
		}
		sent += n
		if n == 0 || sent < len(payload) {
			break
		}
	}
	if sent == len(payload) {
		t.Fatal("the socket took 1 MiB without blocking; the test proves nothing")
	}
	got := make(chan []byte)
	go func() {
		b, _ := io.ReadAll(io.LimitReader(cli, int64(len(payload))))
		got <- b
	}()
	for sent < len(payload) {
		waitFor(t, ch, netpoll.Writable)
		n, err := rc.TryWrite(payload[sent:])
		if err != nil {
			t.Fatal(err)
		}
		sent += n
	}
	if b := <-got; !bytes.Equal(b, payload) {
		t.Fatalf("received %d bytes, not the payload", len(b))
	}
}

func TestInputIsDiscardedUpToALimit(t *testing.T) {
	p := newPoller(t)
	srv, cli := pair(t)
	fn, ch := events()
	w, _ := p.Watch(srv, fn)
	defer w.Stop()
	if _, err := cli.Write([]byte("GET /next HTTP/1.1\r\n\r\n")); err != nil {
		t.Fatal(err)
	}
	time.Sleep(50 * time.Millisecond)
	select {
	case ev := <-ch:
		if ev&netpoll.Closed != 0 {
			t.Fatal("a few bytes closed the connection")
		}
	default:
	}
	if _, err := cli.Write(make([]byte, netpoll.MaxDiscard+1)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, ch, netpoll.Closed)
}

func TestTryWriteAfterPeerReset(t *testing.T) {
	srv, cli := pair(t)
	cli.SetLinger(0)
	cli.Close() // RST
	rc := rawConn(t, srv)
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		if _, err := rc.TryWrite([]byte("data")); err != nil {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatal("writes to a reset connection kept succeeding")
}

// TestStopAndReuse stops a watch, closes its connection and opens new
// ones (whose fds may reuse the number): the old callback is never called.
func TestStopAndReuse(t *testing.T) {
	p := newPoller(t)
	srv, cli := pair(t)
	oldFn, oldCh := events()
	w, _ := p.Watch(srv, oldFn)
	w.Stop()
	w.Stop() // idempotent
	srv.Close()
	cli.Close()
	for range 10 {
		s2, c2 := pair(t)
		fn, ch := events()
		w2, err := p.Watch(s2, fn)
		if err != nil {
			t.Fatal(err)
		}
		c2.Close()
		waitFor(t, ch, netpoll.Closed)
		w2.Stop()
	}
	select {
	case ev := <-oldCh:
		if ev&netpoll.Closed != 0 {
			t.Fatal("a stopped watch was called")
		}
	default:
	}
	if p.Len() != 0 {
		t.Fatalf("Len = %d after every Stop", p.Len())
	}
}

func TestCloseEndsTheGoroutine(t *testing.T) {
	before := runtime.NumGoroutine()
	p, err := netpoll.New()
	if err != nil {
		t.Fatal(err)
	}
	srv, _ := pair(t)
	if _, err := p.Watch(srv, func(netpoll.Event) {}); err != nil {
		t.Fatal(err)
	}
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	p.Close()
	if _, err := p.Watch(srv, func(netpoll.Event) {}); err == nil {
		t.Fatal("Watch after Close succeeded")
	}
	for range 100 {
		if runtime.NumGoroutine() <= before {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("goroutines: %d before, %d after Close", before, runtime.NumGoroutine())
}

// TestWatchRead reads everything a peer sends, in pieces, from the
// poller's callback, then the end of stream.
func TestWatchRead(t *testing.T) {
	p := newPoller(t)
	srv, cli := pair(t)
	rc := rawConn(t, srv)
	var got bytes.Buffer
	eof := make(chan struct{})
	buf := make([]byte, 1000)
	w, err := p.WatchRead(srv, func(ev netpoll.Event) {
		if ev != netpoll.Readable {
			t.Errorf("event %d", ev)
		}
		for {
			n, err := rc.TryRead(buf)
			got.Write(buf[:n])
			if err == io.EOF {
				close(eof)
				return
			}
			if err != nil {
				t.Error(err)
				return
			}
			if n == 0 {
				return
			}
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	want := bytes.Repeat([]byte("0123456789"), 10000)
	for i := 0; i < len(want); i += 7777 {
		cli.Write(want[i:min(i+7777, len(want))])
		time.Sleep(time.Millisecond)
	}
	cli.Close()
	select {
	case <-eof:
	case <-time.After(5 * time.Second):
		t.Fatal("no end of stream")
	}
	if !bytes.Equal(got.Bytes(), want) {
		t.Fatalf("read %d bytes, want %d", got.Len(), len(want))
	}
}
