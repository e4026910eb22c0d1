//go:build linux

package pump_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/ssehub/ssehub/internal/pump"
)

// The stress tests below replay long streams to many clients over loopback
// with small socket buffers, so nearly every write of the pump is partial
// or would block, and clients that read at every kind of pace. A wake-up
// the pump loses leaves a stream with pending bytes that nothing writes:
// its client keeps reading an empty socket until the write timeout (2 s
// here) cuts the stream, and the test names the stream and how far it got.
//
// They finish in a few seconds. For a longer soak set
// PUMP_STRESS_SCALE=N (N times the streams and bytes, e.g. 10), and
// PUMP_STRESS_ROUNDS=N to repeat each test N times in one run; -short
// runs a quarter of the streams.

// errReplayDone is how the test sources end: the stream must end normally,
// its last chunk after every byte.
var errReplayDone = errors.New("replay done")

// pattern is what every stream sends: stream i's byte at offset k is
// pattern[(k+i*patternStep)%len(pattern)]. Its bytes are lowercase letters,
// so the heartbeat (which has none) can be told apart from data.
var pattern = func() []byte {
	r := rand.New(rand.NewPCG(1, 2))
	b := make([]byte, 1<<20+4099)
	for i := range b {
		b[i] = 'a' + byte(r.IntN(26))
	}
	return b
}()

const patternStep = 7919

var (
	stressPing  = []byte("!ping!\n")
	stressFinal = []byte("!bye!\n") // the final bytes of a revoked stream
	errRevoked  = errors.New("revoked")
)

// appendPattern appends n bytes of stream id's pattern from offset off.
func appendPattern(dst []byte, id int, off int64, n int) []byte {
	for n > 0 {
		i := int((off + int64(id)*patternStep) % int64(len(pattern)))
		m := min(n, len(pattern)-i)
		dst = append(dst, pattern[i:i+m]...)
		off += int64(m)
		n -= m
	}
	return dst
}

// matchPattern reports whether b is stream id's pattern from offset off.
func matchPattern(b []byte, id int, off int64) bool {
	for len(b) > 0 {
		i := int((off + int64(id)*patternStep) % int64(len(pattern)))
		m := min(len(b), len(pattern)-i)
		if !bytes.Equal(b[:m], pattern[i:i+m]) {
			return false
		}
		b = b[m:]
		off += int64(m)
	}
	return true
}

// replaySource sends total bytes of its pattern, as many as have been
// released (all of them at once for a pure replay; live sources are
// released bit by bit from another goroutine, which then calls Wake), and
// ends with errReplayDone: with its last bytes when endWithLast is set
// (as a hub subscriber ends when its topic goes), else once the client has
// read every byte (so only wake-ups are tested, not the end).
type replaySource struct {
	id          int
	total       int64
	endWithLast bool
	avail       atomic.Int64 // released so far
	clientHas   atomic.Bool  // the client read every byte
	sent        int64        // Next only
	calls       atomic.Int64 // Next calls
	stream      atomic.Pointer[pump.Stream]
}

func (r *replaySource) Next(dst []byte, max int) ([]byte, error) {
	r.calls.Add(1)
	n0 := len(dst)
	end := min(r.avail.Load(), r.sent+int64(max))
	if n := int(end - r.sent); n > 0 {
		dst = appendPattern(dst, r.id, r.sent, n)
		r.sent = end
	}
	if r.sent == r.total && (r.endWithLast || len(dst) == n0 && r.clientHas.Load()) {
		return dst, errReplayDone
	}
	return dst, nil
}

// clientDone is called when the client has read every byte.
func (r *replaySource) clientDone() {
	if !r.endWithLast {
		r.clientHas.Store(true)
		r.stream.Load().Wake()
	}
}

// release makes n more bytes ready and wakes the stream.
func (r *replaySource) release(n int64) {
	r.avail.Store(min(r.total, r.avail.Load()+n))
	if s := r.stream.Load(); s != nil {
		s.Wake()
	}
}

// pace is how a client reads.
type pace int

const (
	paceFast   pace = iota // large reads, no pause
	paceSlow               // small reads, often a short sleep
	paceBursty             // runs of fast reads, then a pause of 5-40 ms
	pacePauser             // fast, but now and then stops for 100-300 ms
	paces
)

func (p pace) String() string {
	return [...]string{"fast", "slow", "bursty", "pauser"}[p]
}

// pacedReader reads the client's socket at its pace.
type pacedReader struct {
	c    net.Conn
	pace pace
	r    *rand.Rand
	run  int // bytes left in this run (bursty, pauser)
}

func (p *pacedReader) Read(b []byte) (int, error) {
	switch p.pace {
	case paceSlow:
		b = b[:min(len(b), 256+p.r.IntN(2048))]
		if p.r.IntN(4) == 0 {
			time.Sleep(time.Duration(p.r.IntN(1500)) * time.Microsecond)
		}
	case paceBursty, pacePauser:
		if p.run <= 0 {
			if p.pace == paceBursty {
				time.Sleep(time.Duration(5+p.r.IntN(35)) * time.Millisecond)
				p.run = 64<<10 + p.r.IntN(256<<10)
			} else {
				if p.r.IntN(3) == 0 {
					time.Sleep(time.Duration(100+p.r.IntN(200)) * time.Millisecond)
				}
				p.run = 512<<10 + p.r.IntN(1<<20)
			}
		}
		b = b[:min(len(b), p.run)]
	}
	n, err := p.c.Read(b)
	p.run -= n
	return n, err
}

// smallBuffers sets small socket buffers on a socket before it connects or
// listens (accepted sockets inherit them), so the receive window stays
// small.
func smallBuffers(size int) func(network, address string, c syscall.RawConn) error {
	return func(_, _ string, c syscall.RawConn) error {
		var serr error
		err := c.Control(func(fd uintptr) {
			if serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_SNDBUF, size); serr != nil {
				return
			}
			serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, size)
		})
		if err != nil {
			return err
		}
		return serr
	}
}

type stressOpts struct {
	streams int
	bytes   int64 // per stream
	live    bool  // bytes are released over time while the socket is backed up
	// endWithLast: the sources end with their last bytes, not once the
	// client has everything, so the last chunk waits behind pending bytes.
	endWithLast bool
	// revoke: every fourth stream is closed at a random time with final
	// bytes, from another goroutine.
	revoke  bool
	workers int
	// tls serves every stream over TLS (a pump.TLSListener): the pending
	// bytes are ciphertext. The pump seals the records itself (the stream
	// is prepared with pump.PrepareTLS and "headers" go through crypto/tls
	// first), unless cryptoTLS.
	tls       bool
	cryptoTLS bool
}

// stressScale reads PUMP_STRESS_SCALE (default 1).
func stressScale(t *testing.T) int {
	v := os.Getenv("PUMP_STRESS_SCALE")
	if v == "" {
		return 1
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 {
		t.Fatalf("PUMP_STRESS_SCALE=%q: want a positive integer", v)
	}
	return n
}

func stressRounds(t *testing.T) int {
	v := os.Getenv("PUMP_STRESS_ROUNDS")
	if v == "" {
		return 1
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 {
		t.Fatalf("PUMP_STRESS_ROUNDS=%q: want a positive integer", v)
	}
	return n
}

// streamResult is what one client saw.
type streamResult struct {
	got   int64 // data bytes received in order
	pings int
	final bool  // the final bytes came, then the last chunk
	err   error // nil when the stream ended with its last chunk, after every byte or the final bytes
}

// readStream reads one chunked stream to its end, checking every data byte
// against stream id's pattern; chunks that are the ping are counted.
// allRead is called once every byte came.
func readStream(c net.Conn, id int, total int64, p pace, seed uint64, allRead func()) streamResult {
	var res streamResult
	br := bufio.NewReaderSize(&pacedReader{c: c, pace: p, r: rand.New(rand.NewPCG(seed, uint64(id)))}, 4096)
	buf := make([]byte, 32<<10)
	for {
		line, err := br.ReadSlice('\n')
		if err != nil {
			res.err = fmt.Errorf("reading a chunk size: %w", err)
			return res
		}
		size, err := strconv.ParseUint(string(bytes.TrimRight(line, "\r\n")), 16, 32)
		if err != nil {
			res.err = fmt.Errorf("bad chunk size line %q", line)
			return res
		}
		if size == 0 {
			if _, err := io.ReadFull(br, buf[:2]); err != nil || string(buf[:2]) != "\r\n" {
				res.err = fmt.Errorf("last chunk not terminated: %q, %v", buf[:2], err)
				return res
			}
			if res.got != total && !res.final {
				res.err = fmt.Errorf("last chunk after %d of %d bytes", res.got, total)
			}
			return res
		}
		if res.final {
			res.err = fmt.Errorf("a %d-byte chunk after the final bytes", size)
			return res
		}
		// A chunk is the ping or the final bytes when it is exactly them:
		// data has no '!'.
		short := size <= uint64(len(stressPing))
		first := true
		for left := int(size); left > 0; {
			n := min(left, len(buf))
			if _, err := io.ReadFull(br, buf[:n]); err != nil {
				res.err = fmt.Errorf("reading a chunk: %w", err)
				return res
			}
			switch {
			case first && short && bytes.Equal(buf[:n], stressPing):
				res.pings++
			case first && short && bytes.Equal(buf[:n], stressFinal):
				res.final = true
			default:
				if !matchPattern(buf[:n], id, res.got) {
					res.err = fmt.Errorf("wrong bytes at offset %d", res.got)
					return res
				}
				if res.got += int64(n); res.got > total {
					res.err = fmt.Errorf("%d bytes, more than the %d sent", res.got, total)
					return res
				}
				if res.got == total {
					allRead()
				}
			}
			first = false
			left -= n
		}
		if _, err := io.ReadFull(br, buf[:2]); err != nil || string(buf[:2]) != "\r\n" {
			res.err = fmt.Errorf("chunk not terminated: %q, %v", buf[:2], err)
			return res
		}
	}
}

func runStress(t *testing.T, o stressOpts) {
	base := runtime.NumGoroutine()
	const writeTimeout = 2 * time.Second
	var counters pump.Counters
	p, err := pump.New(pump.Options{Workers: o.workers, WriteTimeout: writeTimeout, Counters: &counters})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	cfg := &pump.Config{Chunked: true}
	if o.live {
		cfg.Heartbeat, cfg.Ping = 20*time.Millisecond, stressPing
	}

	const sockBuf = 4 << 10 // the kernel doubles it, and keeps a floor
	lc := net.ListenConfig{Control: smallBuffers(sockBuf)}
	ln, err := lc.Listen(context.Background(), "tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	if o.tls {
		ln = pump.TLSListener(ln, serverTLS(t, tls.VersionTLS13))
	}
	dialer := net.Dialer{Control: smallBuffers(sockBuf)}

	seed := uint64(time.Now().UnixNano())
	t.Logf("%d streams of %d KiB, live=%v, seed %d", o.streams, o.bytes>>10, o.live, seed)
	srcs := make([]*replaySource, o.streams)
	clients := make([]net.Conn, o.streams)
	closed := make([]chan error, o.streams)
	for i := range o.streams {
		cli, err := dialer.Dial("tcp", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		defer cli.Close()
		srv, err := ln.Accept()
		if err != nil {
			t.Fatal(err)
		}
		if o.tls {
			tc := tls.Client(cli, &tls.Config{InsecureSkipVerify: true})
			hs := make(chan error, 1)
			go func() { hs <- tc.Handshake() }()
			if err := srv.(*tls.Conn).Handshake(); err != nil {
				t.Fatal(err)
			}
			if err := <-hs; err != nil {
				t.Fatal(err)
			}
			if !o.cryptoTLS {
				// What a detached stream's handler does: prepare, then
				// its headers, through crypto/tls.
				pump.PrepareTLS(pump.ConnContext(context.Background(), srv))
				wrote := make(chan error, 1)
				go func() { _, err := srv.Write(stressHead); wrote <- err }()
				head := make([]byte, len(stressHead))
				if _, err := io.ReadFull(tc, head); err != nil || !bytes.Equal(head, stressHead) {
					t.Fatalf("headers: %q, %v", head, err)
				}
				if err := <-wrote; err != nil {
					t.Fatal(err)
				}
			}
			cli = tc
		}
		src := &replaySource{id: i, total: o.bytes, endWithLast: o.endWithLast}
		if o.live {
			src.avail.Store(o.bytes / 4) // a replay first, then live bytes
		} else {
			src.avail.Store(o.bytes)
		}
		srcs[i], clients[i], closed[i] = src, cli, make(chan error, 1)
		ch := closed[i]
		s, err := p.Add(srv, src, cfg, func(err error) { ch <- err })
		if err != nil {
			t.Fatal(err)
		}
		src.stream.Store(s)
		s.Wake() // what was released before the stream was known
	}

	stopLive := make(chan struct{})
	var liveWG sync.WaitGroup
	if o.revoke {
		for i := 3; i < o.streams; i += 4 {
			liveWG.Add(1)
			go func() {
				defer liveWG.Done()
				r := rand.New(rand.NewPCG(seed, uint64(2000+i)))
				select {
				case <-time.After(time.Duration(r.IntN(1500)) * time.Millisecond):
					srcs[i].stream.Load().Close(errRevoked, stressFinal)
				case <-stopLive:
				}
			}()
		}
	}
	if o.live {
		// A few publishers release bytes to random streams at random times
		// and wake them, most often while their sockets are backed up; some
		// wakes bring nothing.
		for g := range 4 {
			liveWG.Add(1)
			go func() {
				defer liveWG.Done()
				r := rand.New(rand.NewPCG(seed, uint64(1000+g)))
				for {
					select {
					case <-stopLive:
						return
					default:
					}
					src := srcs[r.IntN(len(srcs))]
					if r.IntN(8) == 0 {
						src.release(0)
					} else {
						src.release(int64(1 + r.IntN(16<<10)))
					}
					if r.IntN(2) == 0 {
						time.Sleep(time.Duration(r.IntN(1000)) * time.Microsecond)
					} else {
						runtime.Gosched()
					}
				}
			}()
		}
	}

	results := make([]streamResult, o.streams)
	var wg sync.WaitGroup
	for i := range o.streams {
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i] = readStream(clients[i], i, o.bytes, pace(i%int(paces)), seed, srcs[i].clientDone)
		}()
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(60 * time.Second):
		// Not expected even with a lost wake-up (the write timeout ends
		// the stream): the pump itself is stuck.
		for _, c := range clients {
			c.Close()
		}
		<-done
		t.Errorf("the clients were not done within 60 s")
	}
	close(stopLive)
	liveWG.Wait()

	failed := 0
	for i, res := range results {
		var cause error
		select {
		case cause = <-closed[i]:
		case <-time.After(5 * time.Second):
			cause = errors.New("onClose not called within 5 s")
		}
		switch {
		case res.err == nil && !res.final && errors.Is(cause, errReplayDone):
			continue // every byte, then the last chunk
		case res.err == nil && res.final && errors.Is(cause, errRevoked):
			continue // some bytes, the final ones, then the last chunk
		case res.err == nil:
			res.err = fmt.Errorf("final bytes %v", res.final)
		}
		if failed++; failed > 10 {
			continue
		}
		msg := fmt.Sprintf("stream %d (%v client): %v after %d of %d bytes; onClose(%v); Next called %d times",
			i, pace(i%int(paces)), res.err, res.got, o.bytes, cause, srcs[i].calls.Load())
		if errors.Is(cause, pump.ErrWriteTimeout) {
			msg += " -- timed out while its client was reading: a lost wake-up"
		}
		t.Error(msg)
	}
	if failed > 0 {
		t.Fatalf("%d of %d streams did not get every byte and a normal end", failed, o.streams)
	}
	if n := p.Len(); n != 0 {
		t.Fatalf("Len = %d after every stream ended", n)
	}
	if own, kept := counters.TLSOwnRecords.Load(), counters.TLSCryptoTLS.Load(); o.tls && !o.cryptoTLS && (own != uint64(o.streams) || kept != 0) {
		t.Fatalf("%d streams on the pump's own records, %d on crypto/tls's; want all %d on own records", own, kept, o.streams)
	} else if o.cryptoTLS && own != 0 {
		t.Fatalf("%d streams on own records without PrepareTLS", own)
	}
	pings, finals := 0, 0
	for _, res := range results {
		pings += res.pings
		if res.final {
			finals++
		}
	}
	if o.live || o.revoke {
		t.Logf("%d heartbeats in between; %d streams revoked before their end", pings, finals)
	}
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	for _, c := range clients {
		c.Close()
	}
	waitGoroutines(t, base)
}

// waitGoroutines fails when the goroutines do not fall back to base.
func waitGoroutines(t *testing.T, base int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > base {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<20)
			t.Fatalf("%d goroutines, %d before:\n%s", runtime.NumGoroutine(), base, buf[:runtime.Stack(buf, true)])
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func stressSize(t *testing.T, streams int, bytes int64) (int, int64) {
	s := stressScale(t)
	if testing.Short() {
		streams /= 4
	}
	return streams * s, bytes * int64(s)
}

// TestStressReplay: many streams replay several MiB each to clients of
// every pace through small socket buffers; every client gets every byte
// in order and then the last chunk, and no stream times out. Nothing but
// the poller's Writable wakes a stream whose socket is full, so a lost
// edge stalls it until the write timeout.
func TestStressReplay(t *testing.T) {
	streams, n := stressSize(t, 64, 3<<20)
	for range stressRounds(t) {
		runStress(t, stressOpts{streams: streams, bytes: n, workers: 3})
	}
}

// TestStressLive: as TestStressReplay, but after a first replay the bytes
// come bit by bit from other goroutines, which wake the streams at random
// times, mostly while their sockets are backed up; heartbeats are due all
// the while; the sources end with their last bytes, so the last chunk
// waits behind bytes pending; and every fourth stream is closed, with
// final bytes, at a random time from another goroutine.
func TestStressLive(t *testing.T) {
	streams, n := stressSize(t, 48, 2<<20)
	for range stressRounds(t) {
		runStress(t, stressOpts{streams: streams, bytes: n, live: true, endWithLast: true, revoke: true, workers: 3})
	}
}

// TestStressTLS: TestStressLive over TLS, so that what stays pending
// through the small socket buffers is ciphertext, sealed per write and
// written in pieces; the tail (final bytes, last chunk) is sealed behind it.
// The pump seals the records itself, after "headers" crypto/tls sealed.
func TestStressTLS(t *testing.T) {
	streams, n := stressSize(t, 24, 1<<20)
	for range stressRounds(t) {
		runStress(t, stressOpts{streams: streams, bytes: n, live: true, endWithLast: true, revoke: true, workers: 3, tls: true})
	}
}

// TestStressTLSCryptoTLS: TestStressTLS with crypto/tls sealing the
// records (the fallback path: no PrepareTLS).
func TestStressTLSCryptoTLS(t *testing.T) {
	streams, n := stressSize(t, 12, 1<<19)
	runStress(t, stressOpts{streams: streams, bytes: n, live: true, endWithLast: true, revoke: true, workers: 3, tls: true, cryptoTLS: true})
}

var stressHead = []byte("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
