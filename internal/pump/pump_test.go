//go:build linux

package pump_test

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http/httputil"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ssehub/ssehub/internal/pump"
)

// source is a Source fed by the test.
type source struct {
	mu     sync.Mutex
	buf    []byte
	err    error
	stream *pump.Stream
}

func (s *source) push(b []byte) {
	s.mu.Lock()
	s.buf = append(s.buf, b...)
	st := s.stream
	s.mu.Unlock()
	if st != nil {
		st.Wake()
	}
}

func (s *source) fail(final []byte, err error) {
	s.mu.Lock()
	s.buf, s.err = append(s.buf, final...), err
	st := s.stream
	s.mu.Unlock()
	st.Wake()
}

func (s *source) Next(dst []byte, max int) ([]byte, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := min(len(s.buf), max)
	dst = append(dst, s.buf[:n]...)
	s.buf = s.buf[n:]
	if len(s.buf) == 0 {
		return dst, s.err
	}
	return dst, nil
}

// conn is one stream under test: the server end handed to the pump, the
// client end the test reads, and what onClose got.
type conn struct {
	src    *source
	stream *pump.Stream
	client net.Conn
	body   io.Reader
	closed chan error
}

func newPump(t *testing.T, opts pump.Options) *pump.Pump {
	t.Helper()
	p, err := pump.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

// open connects a client over loopback and adds the server end to p.
func open(t *testing.T, p *pump.Pump, cfg *pump.Config) *conn {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	cli, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	srv, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cli.Close() })
	c := &conn{src: &source{}, client: cli, closed: make(chan error, 1)}
	c.src.mu.Lock() // the stream must be known before the first Wake
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

func (c *conn) waitClosed(t *testing.T, want error) {
	t.Helper()
	select {
	case err := <-c.closed:
		if !errors.Is(err, want) {
			t.Fatalf("onClose(%v), want %v", err, want)
		}
	case <-time.After(5 * time.Second):
		t.Fatalf("onClose not called within 5s (want %v)", want)
	}
}

// TestManyStreamsEveryByteInOrder feeds 24 streams from 24 goroutines in
// pieces of every size while their clients read: each client gets exactly
// what its source was given, in order, as valid HTTP/1.1 chunks.
func TestManyStreamsEveryByteInOrder(t *testing.T) {
	p := newPump(t, pump.Options{Workers: 3})
	cfg := &pump.Config{Chunked: true}
	const streams, pieces = 24, 300
	var wg sync.WaitGroup
	errs := make(chan error, streams)
	for i := range streams {
		c := open(t, p, cfg)
		var want bytes.Buffer
		for j := range pieces {
			fmt.Fprintf(&want, "%d:%d:%s\n", i, j, bytes.Repeat([]byte{'x'}, (i*131+j*977)%9000))
		}
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
	if p.Len() != streams {
		t.Fatalf("Len = %d", p.Len())
	}
}

func TestHeartbeatWhenIdle(t *testing.T) {
	p := newPump(t, pump.Options{})
	c := open(t, p, &pump.Config{Heartbeat: 60 * time.Millisecond, Ping: []byte(":hb\n\n")})
	start := time.Now()
	buf := make([]byte, 5*4)
	if _, err := io.ReadFull(c.body, buf); err != nil {
		t.Fatal(err)
	}
	if string(buf) != ":hb\n\n:hb\n\n:hb\n\n:hb\n\n" {
		t.Fatalf("got %q", buf)
	}
	if d := time.Since(start); d < 4*60*time.Millisecond || d > 2*time.Second {
		t.Fatalf("4 heartbeats took %v with a 60ms interval", d)
	}
	// Data resets the idle clock: a stream written every 20 ms for 600 ms
	// gets no ping with a 300 ms heartbeat.
	busy := open(t, p, &pump.Config{Heartbeat: 300 * time.Millisecond, Ping: []byte(":hb\n\n")})
	for range 30 {
		busy.src.push([]byte("d\n"))
		time.Sleep(20 * time.Millisecond)
	}
	got := make([]byte, 60)
	if _, err := io.ReadFull(busy.body, got); err != nil {
		t.Fatal(err)
	}
	if want := strings.Repeat("d\n", 30); string(got) != want {
		t.Fatalf("a busy stream got %q", got)
	}
}

// TestStalledClientTimesOut stops reading one client: the other streams
// get everything meanwhile, and the stalled one is closed after the write
// timeout with ErrWriteTimeout.
func TestStalledClientTimesOut(t *testing.T) {
	p := newPump(t, pump.Options{WriteTimeout: 300 * time.Millisecond})
	cfg := &pump.Config{Chunked: true}
	stalled := open(t, p, cfg)
	fast := open(t, p, cfg)
	chunk := bytes.Repeat([]byte("y"), 64<<10)
	for range 128 { // 8 MiB each: more than the socket buffers hold
		stalled.src.push(chunk)
		fast.src.push(chunk)
	}
	if n, err := io.Copy(io.Discard, io.LimitReader(fast.body, 128<<16)); err != nil || n != 128<<16 {
		t.Fatalf("fast client read %d bytes: %v", n, err)
	}
	stalled.waitClosed(t, pump.ErrWriteTimeout)
	if p.Len() != 1 {
		t.Fatalf("Len = %d after the stalled stream closed", p.Len())
	}
}

func TestClientGone(t *testing.T) {
	p := newPump(t, pump.Options{})
	c := open(t, p, &pump.Config{Chunked: true})
	c.client.Close()
	c.waitClosed(t, pump.ErrClientGone)
	if p.Len() != 0 {
		t.Fatalf("Len = %d", p.Len())
	}
}

func TestSourceErrorEndsStream(t *testing.T) {
	p := newPump(t, pump.Options{})
	c := open(t, p, &pump.Config{Chunked: true})
	c.src.push([]byte("a"))
	boom := errors.New("boom")
	c.src.fail([]byte("last"), boom)
	b, err := io.ReadAll(c.body) // the chunked reader stops at the last chunk
	if err != nil || string(b) != "alast" {
		t.Fatalf("got %q, %v", b, err)
	}
	c.waitClosed(t, boom)
}

func TestCloseWithFinal(t *testing.T) {
	p := newPump(t, pump.Options{})
	c := open(t, p, &pump.Config{Chunked: true})
	c.src.push([]byte("a"))
	a := make([]byte, 1)
	if _, err := io.ReadFull(c.body, a); err != nil {
		t.Fatal(err)
	}
	why := errors.New("revoked")
	c.stream.Close(why, []byte("bye"))
	c.stream.Close(errors.New("second"), []byte("ignored"))
	b, err := io.ReadAll(c.body)
	if err != nil || string(b) != "bye" {
		t.Fatalf("got %q, %v", b, err)
	}
	c.waitClosed(t, why)
}

func TestUnchunked(t *testing.T) {
	p := newPump(t, pump.Options{})
	c := open(t, p, &pump.Config{})
	c.src.push([]byte("raw bytes"))
	b := make([]byte, 9)
	if _, err := io.ReadFull(c.body, b); err != nil {
		t.Fatal(err)
	}
	c.stream.Close(errors.New("done"), []byte(" end"))
	rest, err := io.ReadAll(c.body)
	b = append(b, rest...)
	if err != nil || string(b) != "raw bytes end" {
		t.Fatalf("got %q, %v", b, err)
	}
}

func TestPumpClose(t *testing.T) {
	p, err := pump.New(pump.Options{})
	if err != nil {
		t.Fatal(err)
	}
	cs := []*conn{open(t, p, &pump.Config{Chunked: true}), open(t, p, &pump.Config{Chunked: true})}
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	for _, c := range cs {
		select {
		case err := <-c.closed: // Close returns after every onClose
			if !errors.Is(err, pump.ErrShutdown) {
				t.Fatalf("onClose(%v)", err)
			}
		default:
			t.Fatal("Close returned before onClose ran")
		}
		if b, err := io.ReadAll(c.body); err != nil || len(b) != 0 {
			t.Fatalf("after Close: %q %v (want the last chunk)", b, err)
		}
	}
	p.Close()
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	defer ln.Close()
	cli, _ := net.Dial("tcp", ln.Addr().String())
	defer cli.Close()
	srv, _ := ln.Accept()
	defer srv.Close()
	if _, err := p.Add(srv, &source{}, &pump.Config{}, func(error) {}); !errors.Is(err, pump.ErrShutdown) {
		t.Fatalf("Add after Close: %v", err)
	}
}
