package bench

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/ssehub/ssehub/internal/netpoll"
)

// subscribers are the fan-out's open streams, being read.
type subscribers struct {
	recv      []*Receiver
	seen      []atomic.Uint64 // each stream's last id
	count     []atomic.Uint64 // each stream's events
	delivered atomic.Uint64
	close     func() // stops reading and closes every stream
}

// record tallies what stream i got since its last call.
func (s *subscribers) record(i int, before uint64) {
	s.delivered.Add(s.recv[i].Events - before)
	s.seen[i].Store(s.recv[i].LastID)
	s.count[i].Store(s.recv[i].Events)
}

// openSubscribers opens n streams at path and starts reading them: over
// HTTP/1.1 with a few epoll readers (cheap for the load generator, which
// shares the machine with the hub), else (HTTP/2, TLS) with a goroutine
// per stream.
func openSubscribers(ctx context.Context, cfg *Config, path string, n int) (*subscribers, error) {
	return openSubscribersAt(ctx, cfg, func(int) string { return path }, n, nil)
}

// openSubscribersAt is openSubscribers with stream i at pathOf(i) (a path
// or a whole URL); init, when set, prepares each Receiver first.
func openSubscribersAt(ctx context.Context, cfg *Config, pathOf func(i int) string, n int, init func(*Receiver)) (*subscribers, error) {
	n = max(n, 0)
	s := &subscribers{recv: make([]*Receiver, n), seen: make([]atomic.Uint64, n), count: make([]atomic.Uint64, n)}
	for i := range s.recv {
		s.recv[i] = &Receiver{}
		if init != nil {
			init(s.recv[i])
		}
	}
	if !cfg.http2() && !cfg.isTLS() {
		err := s.openPolled(ctx, cfg, pathOf)
		if !errors.Is(err, errors.ErrUnsupported) {
			if err != nil {
				return nil, err
			}
			return s, nil
		}
	}
	resps, err := subscribeAt(ctx, cfg, subClients(cfg, n), pathOf, n)
	if err != nil {
		return nil, err
	}
	var wg sync.WaitGroup
	for i, resp := range resps {
		wg.Add(1)
		go func() {
			defer wg.Done()
			buf := make([]byte, 64<<10)
			var before uint64
			_ = s.recv[i].Consume(resp.Body, buf, func(rc *Receiver) bool {
				s.record(i, before)
				before = rc.Events
				return false
			})
		}()
	}
	s.close = func() {
		for _, r := range resps {
			r.Body.Close()
		}
		wg.Wait()
	}
	return s, nil
}

// openPolled opens the streams on raw connections read by one epoll
// poller per processor. It fails with errors.ErrUnsupported without epoll.
func (s *subscribers) openPolled(ctx context.Context, cfg *Config, pathOf func(int) string) error {
	pollers := make([]*netpoll.Poller, runtime.GOMAXPROCS(0))
	for i := range pollers {
		p, err := netpoll.New()
		if err != nil {
			for _, p := range pollers[:i] {
				p.Close()
			}
			return err
		}
		pollers[i] = p
	}
	conns := make([]net.Conn, len(s.recv))
	s.close = func() {
		for _, p := range pollers {
			p.Close() // waits for the poller's goroutine: no read is under way after
		}
		for _, c := range conns {
			if c != nil {
				c.Close()
			}
		}
	}
	bufs := make([][]byte, len(pollers))
	for i := range bufs {
		bufs[i] = make([]byte, 256<<10)
	}
	errs := make(chan error, len(conns))
	sem := make(chan struct{}, 64)
	var wg sync.WaitGroup
	for i := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			c, body, err := dialStream(ctx, cfg, pathOf(i))
			if err != nil {
				errs <- err
				return
			}
			conns[i] = c
			s.recv[i].FeedChunked(body, time.Now().UnixNano())
			s.record(i, 0)
			rc, err := c.(syscall.Conn).SyscallConn()
			if err != nil {
				errs <- err
				return
			}
			nc := netpoll.NewConn(rc)
			buf := bufs[i%len(pollers)]
			if _, err := pollers[i%len(pollers)].WatchRead(c.(syscall.Conn), func(netpoll.Event) { s.drain(i, nc, buf) }); err != nil {
				errs <- err
			}
		}()
	}
	wg.Wait()
	select {
	case err := <-errs:
		s.close()
		return err
	default:
	}
	return nil
}

// drain reads what stream i has, from its poller's goroutine.
func (s *subscribers) drain(i int, nc *netpoll.Conn, buf []byte) {
	for {
		n, err := nc.TryRead(buf)
		if n > 0 {
			before := s.recv[i].Events
			more := s.recv[i].FeedChunked(buf[:n], time.Now().UnixNano())
			s.record(i, before)
			if !more {
				return
			}
		}
		if err != nil || n < len(buf) {
			return // a short read emptied the socket: the next byte is a new edge
		}
	}
}

// dialStream opens one stream on a raw connection: it sends the request,
// checks the response head, and returns the body bytes read with it.
func dialStream(ctx context.Context, cfg *Config, path string) (net.Conn, []byte, error) {
	req := cfg.req(ctx, "GET", path, nil)
	var d net.Dialer
	c, err := d.DialContext(ctx, "tcp", req.URL.Host)
	if err != nil {
		return nil, nil, err
	}
	var head strings.Builder
	fmt.Fprintf(&head, "GET %s HTTP/1.1\r\nHost: %s\r\nAccept: text/event-stream\r\n", req.URL.RequestURI(), req.URL.Host)
	if cfg.Token != "" {
		fmt.Fprintf(&head, "Authorization: Bearer %s\r\n", cfg.Token)
	}
	head.WriteString("\r\n")
	_ = c.SetDeadline(time.Now().Add(30 * time.Second))
	br := bufio.NewReaderSize(c, 4096)
	resp, err := func() (*http.Response, error) {
		if _, err := c.Write([]byte(head.String())); err != nil {
			return nil, err
		}
		return http.ReadResponse(br, nil)
	}()
	if err == nil && resp.StatusCode != 200 {
		_ = c.SetDeadline(time.Now().Add(2 * time.Second))
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		err = fmt.Errorf("subscribe: %s: %s", resp.Status, bytes.TrimSpace(b))
	} else if err == nil && (len(resp.TransferEncoding) == 0 || resp.TransferEncoding[0] != "chunked") {
		err = fmt.Errorf("subscribe: %s (transfer encoding %v, want chunked)", resp.Status, resp.TransferEncoding)
	}
	if err != nil {
		c.Close()
		return nil, nil, err
	}
	_ = c.SetDeadline(time.Time{})
	body, _ := br.Peek(br.Buffered())
	return c, append([]byte(nil), body...), nil
}
