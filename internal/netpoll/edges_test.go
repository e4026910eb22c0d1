//go:build linux

package netpoll_test

import (
	"bytes"
	"context"
	"math/rand/v2"
	"net"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/ssehub/ssehub/internal/netpoll"
)

// smallPair is pair with small socket buffers on both ends, set before
// the connection is made, so writes of a few KiB are short.
func smallPair(t testing.TB, size int) (server, client *net.TCPConn) {
	t.Helper()
	ctl := func(_, _ string, c syscall.RawConn) error {
		return c.Control(func(fd uintptr) {
			syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_SNDBUF, size)
			syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, size)
		})
	}
	lc := net.ListenConfig{Control: ctl}
	ln, err := lc.Listen(context.Background(), "tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	d := net.Dialer{Control: ctl}
	c, err := d.Dial("tcp", ln.Addr().String())
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

// flag is a callback that records events without ever blocking, as the
// pump's does: set, then looked at and cleared by the writer.
type flag struct {
	writable chan struct{}
	closed   atomic.Int32
	calls    atomic.Int64
}

func newFlag() *flag { return &flag{writable: make(chan struct{}, 1)} }

func (f *flag) fn(ev netpoll.Event) {
	f.calls.Add(1)
	if ev&netpoll.Closed != 0 {
		f.closed.Add(1)
	}
	if ev&netpoll.Writable != 0 {
		select {
		case f.writable <- struct{}{}:
		default:
		}
	}
}

// TestWritableAfterEveryShortWrite writes 8 MiB through small socket
// buffers to a reader of random pace, the way the pump does: forget the
// Writable events seen so far (arm), write, and after a short write wait
// for the next Writable. Every short write must be followed by one, even
// when the reader makes room while the write is under way: a lost edge
// shows as a wait that never ends.
func TestWritableAfterEveryShortWrite(t *testing.T) {
	p := newPoller(t)
	srv, cli := smallPair(t, 4<<10)
	f := newFlag()
	w, err := p.Watch(srv, f.fn)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	rc := rawConn(t, srv)

	payload := make([]byte, 8<<20)
	for i := range payload {
		payload[i] = byte(i*7 + i>>12)
	}
	got := make(chan []byte, 1)
	go func() {
		r := rand.New(rand.NewPCG(1, 2))
		var b bytes.Buffer
		buf := make([]byte, 64<<10)
		for b.Len() < len(payload) {
			n, err := cli.Read(buf[:1+r.IntN(len(buf))])
			b.Write(buf[:n])
			if err != nil {
				break
			}
			if r.IntN(64) == 0 {
				time.Sleep(time.Duration(r.IntN(3000)) * time.Microsecond)
			}
		}
		got <- b.Bytes()
	}()
	sent, short := 0, 0
	for sent < len(payload) {
		select { // arm: only a Writable from now on counts
		case <-f.writable:
		default:
		}
		n, err := rc.TryWrite(payload[sent:min(len(payload), sent+64<<10)])
		if err != nil {
			t.Fatal(err)
		}
		if sent += n; sent < len(payload) && n < 64<<10 {
			short++
			select {
			case <-f.writable:
			case <-time.After(10 * time.Second):
				t.Fatalf("no Writable within 10s after short write %d (%d of %d bytes sent) while the peer reads: a lost edge", short, sent, len(payload))
			}
		}
	}
	if short < 10 {
		t.Fatalf("only %d short writes: the test proves nothing", short)
	}
	if b := <-got; !bytes.Equal(b, payload) {
		t.Fatalf("received %d bytes, not the payload", len(b))
	}
}

// TestClosedBeforeWatch: a connection whose peer went away, or sent more
// than the limit, before it was watched is reported Closed all the same:
// registering the fd reports the state it is already in.
func TestClosedBeforeWatch(t *testing.T) {
	p := newPoller(t)
	for _, c := range []struct {
		name string
		do   func(cli *net.TCPConn)
	}{
		{"fin", func(cli *net.TCPConn) { cli.Close() }},
		{"rst", func(cli *net.TCPConn) { cli.SetLinger(0); cli.Close() }},
		{"half close", func(cli *net.TCPConn) { cli.CloseWrite() }},
		{"bytes then fin", func(cli *net.TCPConn) { cli.Write([]byte("GET / HTTP/1.1\r\n\r\n")); cli.Close() }},
		{"too many bytes", func(cli *net.TCPConn) { cli.Write(make([]byte, netpoll.MaxDiscard+1)) }},
	} {
		t.Run(c.name, func(t *testing.T) {
			srv, cli := pair(t)
			c.do(cli)
			time.Sleep(20 * time.Millisecond) // let it reach the server's socket
			fn, ch := events()
			w, err := p.Watch(srv, fn)
			if err != nil {
				t.Fatal(err)
			}
			defer w.Stop()
			waitFor(t, ch, netpoll.Closed)
		})
	}
}

// TestClosedAlwaysDelivered closes many watched connections every way a
// client can, some while the server's send buffer is full: each gets
// exactly one Closed.
func TestClosedAlwaysDelivered(t *testing.T) {
	p := newPoller(t)
	ways := []func(srv, cli *net.TCPConn){
		func(_, cli *net.TCPConn) { cli.Close() },
		func(_, cli *net.TCPConn) { cli.SetLinger(0); cli.Close() },
		func(_, cli *net.TCPConn) { cli.CloseWrite() },
		func(_, cli *net.TCPConn) { cli.Write([]byte("x")); time.Sleep(time.Millisecond); cli.Close() },
		func(_, cli *net.TCPConn) { cli.Write(make([]byte, netpoll.MaxDiscard+1)) },
		func(srv, cli *net.TCPConn) { // unread bytes: the close is a reset
			rc := rawConn(t, srv)
			for {
				if n, _ := rc.TryWrite(make([]byte, 64<<10)); n < 64<<10 {
					break
				}
			}
			cli.Close()
		},
	}
	const n = 60
	flags := make([]*flag, n)
	var wg sync.WaitGroup
	for i := range n {
		srv, cli := smallPair(t, 8<<10)
		flags[i] = newFlag()
		w, err := p.Watch(srv, flags[i].fn)
		if err != nil {
			t.Fatal(err)
		}
		defer w.Stop()
		wg.Add(1)
		go func() { defer wg.Done(); ways[i%len(ways)](srv, cli) }()
	}
	wg.Wait()
	deadline := time.Now().Add(10 * time.Second)
	for i, f := range flags {
		for f.closed.Load() == 0 {
			if time.Now().After(deadline) {
				t.Fatalf("connection %d (way %d): no Closed within 10s", i, i%len(ways))
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	time.Sleep(50 * time.Millisecond) // room for a second one
	for i, f := range flags {
		if c := f.closed.Load(); c != 1 {
			t.Fatalf("connection %d: Closed %d times", i, c)
		}
	}
}

// TestNoCallAfterStop: while a peer keeps the poller busy with events, a
// Stop ends the calls; once the poller has called another watch after it,
// no call of the stopped one can still be under way, and none comes.
func TestNoCallAfterStop(t *testing.T) {
	p := newPoller(t)
	for range 20 {
		srv, cli := pair(t)
		f := newFlag()
		w, err := p.Watch(srv, f.fn)
		if err != nil {
			t.Fatal(err)
		}
		stop := make(chan struct{})
		done := make(chan struct{})
		go func() { // each byte the peer sends is an event
			defer close(done)
			for {
				select {
				case <-stop:
					return
				default:
				}
				cli.Write([]byte("x"))
				time.Sleep(50 * time.Microsecond)
			}
		}()
		for f.calls.Load() < 3 {
			time.Sleep(time.Millisecond)
		}
		w.Stop()
		// A barrier: the poller calls one watch at a time, in order.
		s2, c2 := pair(t)
		fn2, ch2 := events()
		w2, err := p.Watch(s2, fn2)
		if err != nil {
			t.Fatal(err)
		}
		c2.Close()
		waitFor(t, ch2, netpoll.Closed)
		w2.Stop()
		calls := f.calls.Load()
		time.Sleep(10 * time.Millisecond) // the peer goes on sending
		close(stop)
		<-done
		if c := f.calls.Load(); c != calls {
			t.Fatalf("%d calls after Stop", c-calls)
		}
	}
}

// TestWritableWhenWatched: a connection is reported writable as soon as
// it is watched, so a first write can wait for it.
func TestWritableWhenWatched(t *testing.T) {
	p := newPoller(t)
	srv, _ := pair(t)
	fn, ch := events()
	w, err := p.Watch(srv, fn)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	waitFor(t, ch, netpoll.Writable)
}

// TestMaxDiscardOption: a poller made with Options.MaxDiscard closes a
// connection whose peer sent more than that, and not one that sent that
// much.
func TestMaxDiscardOption(t *testing.T) {
	p, err := netpoll.NewWithOptions(netpoll.Options{MaxDiscard: 100})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	srv, cli := pair(t)
	f := newFlag()
	w, err := p.Watch(srv, f.fn)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	for range 10 {
		cli.Write(make([]byte, 10))
		time.Sleep(2 * time.Millisecond)
	}
	time.Sleep(50 * time.Millisecond)
	if f.closed.Load() != 0 {
		t.Fatal("100 bytes closed a connection allowed 100")
	}
	cli.Write([]byte("x"))
	deadline := time.Now().Add(5 * time.Second)
	for f.closed.Load() == 0 {
		if time.Now().After(deadline) {
			t.Fatal("101 bytes did not close a connection allowed 100 within 5s")
		}
		time.Sleep(5 * time.Millisecond)
	}
}
