package httpapi_test

import (
	"bufio"
	"cmp"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/ssehub/ssehub/sse"
)

// chunkReader removes HTTP/1.1 chunked framing from a connection, read
// slowly, and records the size of every chunk: what the hub wrote at once.
type chunkReader struct {
	br     *bufio.Reader
	left   int // bytes left in the current chunk
	chunks []int
	pause  func() // before each read from the connection
	done   bool
}

func (c *chunkReader) Read(p []byte) (int, error) {
	if c.done {
		return 0, io.EOF
	}
	if c.left == 0 {
		line, err := c.br.ReadString('\n')
		if err != nil {
			return 0, err
		}
		n, err := strconv.ParseUint(strings.TrimSpace(line), 16, 63)
		if err != nil {
			return 0, fmt.Errorf("bad chunk size line %q", line)
		}
		if n == 0 {
			c.done = true
			return 0, io.EOF
		}
		c.left = int(n)
		c.chunks = append(c.chunks, c.left)
	}
	if c.pause != nil {
		c.pause()
	}
	p = p[:min(len(p), c.left, 4096)]
	n, err := c.br.Read(p)
	c.left -= n
	if c.left == 0 && err == nil {
		var crlf [2]byte
		if _, err = io.ReadFull(c.br, crlf[:]); err == nil && string(crlf[:]) != "\r\n" {
			err = fmt.Errorf("chunk not followed by CRLF: %q", crlf)
		}
	}
	return n, err
}

// openSlow opens a stream on a raw connection whose reads are paced by
// pause; its socket receive buffer is small, so the hub's writes meet a
// full socket. The buffer is set before the connection is made: shrunk
// after the handshake, below the window it already advertised, it can
// leave the hub's kernel waiting (sender-side silly-window avoidance) for
// a window this buffer never opens, so nothing moves for a minute while
// megabytes wait in the hub's socket (seen under load, in both stream
// modes).
func openSlow(t *testing.T, th *testHub, path string, pause func(), hdr ...string) (*chunkReader, net.Conn) {
	t.Helper()
	u, _ := url.Parse(th.srv.URL)
	d := net.Dialer{Control: func(_, _ string, rc syscall.RawConn) error {
		var serr error
		err := rc.Control(func(fd uintptr) { serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 16<<10) })
		return cmp.Or(err, serr)
	}}
	c, err := d.Dial("tcp", u.Host)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	extra := ""
	for i := 0; i+1 < len(hdr); i += 2 {
		extra += hdr[i] + ": " + hdr[i+1] + "\r\n"
	}
	fmt.Fprintf(c, "GET %s HTTP/1.1\r\nHost: %s\r\nAuthorization: Bearer %s\r\n%s\r\n", path, u.Host, adminToken, extra)
	br := bufio.NewReaderSize(c, 4096)
	c.SetReadDeadline(time.Now().Add(60 * time.Second))
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != 200 || len(resp.TransferEncoding) == 0 || resp.TransferEncoding[0] != "chunked" {
		t.Fatalf("status %d, transfer encoding %v", resp.StatusCode, resp.TransferEncoding)
	}
	return &chunkReader{br: br, pause: pause}, c
}

// publishSized publishes events of the given data sizes to topic, in
// NDJSON batches, and returns the largest.
func (th *testHub) publishSized(topic string, sizes []int) int {
	th.t.Helper()
	var batch strings.Builder
	largest := 0
	flush := func() {
		if batch.Len() == 0 {
			return
		}
		if resp, b := th.do("POST", "/publish", "application/x-ndjson", batch.String()); resp.StatusCode != 200 {
			th.t.Fatalf("publish: %d %s", resp.StatusCode, b)
		}
		batch.Reset()
	}
	for i, n := range sizes {
		largest = max(largest, n)
		fmt.Fprintf(&batch, `{"topic":%q,"data":"%s"}`+"\n", topic, strings.Repeat(string(rune('a'+i%26)), n))
		if batch.Len() > 256<<10 {
			flush()
		}
	}
	flush()
	return largest
}

// TestWritesToSlowReadersAreBounded guards defect 5: writes to a slow
// reader were unbounded (single writes of 9 MB: everything queued for a
// live subscriber went out in one write). Every write is at most
// max(64 KiB, one event), in both stream modes: each HTTP/1.1 chunk on
// the wire (one write of the hub) is within that bound for a reader that
// takes a little at a time, in replay (from Last-Event-ID) and live after
// it stalled while 11 MiB were queued for it; it still gets every event,
// in order.
func TestWritesToSlowReadersAreBounded(t *testing.T) {
	forEachMode(t, testWritesToSlowReadersAreBounded)
}

func testWritesToSlowReadersAreBounded(t *testing.T, mode hubOption) {
	th := newMemoryHub(t, mode, withQueue(4096))
	var sizes []int
	for i := 0; i < 2000; i++ {
		n := 2 << 10
		if i >= 800 {
			n = 8 << 10
		}
		if i%150 == 7 {
			n = 200 << 10 // one event past 64 KiB
		}
		sizes = append(sizes, n)
	}
	const half = 800
	largest := 0
	for _, n := range sizes {
		largest = max(largest, n)
	}
	th.publishSized("slow.x", sizes[:half]) // history for the replay
	slow := func() func() {                 // a pause every 4 reads of at most 4 KiB
		n := 0
		return func() {
			if n++; n%4 == 0 {
				time.Sleep(50 * time.Microsecond)
			}
		}
	}
	// A live stream starts at what the hub has dispatched, which may lag
	// the publishes just acknowledged: wait for the history to be
	// dispatched, so the live stream starts exactly after it.
	for deadline := time.Now().Add(10 * time.Second); th.hub.Head() < half && time.Now().Before(deadline); {
		time.Sleep(time.Millisecond)
	}
	replay, _ := openSlow(t, th, "/events?topic=slow.x", slow(), "Last-Event-ID", "0")
	live, _ := openSlow(t, th, "/events?topic=slow.x", slow())
	var wg sync.WaitGroup
	check := func(name string, cr *chunkReader, from, want int) {
		defer wg.Done()
		dec := sse.NewDecoder(cr)
		for i := from; i < from+want; {
			ev, err := dec.Next()
			if err != nil {
				t.Errorf("%s: after %d events: %v; the hub's head is %d, its subscriptions %+v", name, i-from, err, th.hub.Head(), th.hub.Connections())
				return
			}
			if ev.ID == "" {
				continue // hello
			}
			if ev.ID != strconv.Itoa(i+1) || len(ev.Data) != sizes[i] {
				t.Errorf("%s: event %d has id %s and %d bytes, want id %d and %d", name, i-from, ev.ID, len(ev.Data), i+1, sizes[i])
				return
			}
			i++
		}
		// The bound: 64 KiB, or one event (its data and its id and data
		// lines), and a little for a hello or heartbeat in the same write.
		bound := max(64<<10, largest+64) + 512
		big := 0
		for _, n := range cr.chunks {
			if n > bound {
				t.Errorf("%s: a write of %d bytes, past max(64 KiB, one event) = %d", name, n, bound)
			}
			if n > 32<<10 {
				big++
			}
		}
		t.Logf("%s: %d events in %d writes, %d of them over 32 KiB", name, want, len(cr.chunks), big)
	}
	wg.Add(1)
	go check("replay", replay, 0, len(sizes))
	// The live reader reads nothing while the rest is published: the
	// kernel's buffers take some, the subscriber's queue holds the rest.
	th.publishSized("slow.x", sizes[half:])
	time.Sleep(200 * time.Millisecond)
	wg.Add(1)
	go check("live", live, half, len(sizes)-half)
	wg.Wait()
}

// TestSlowReadersKeepMemoryBounded guards defect 5's memory: 10 slow
// readers took the hub from 13 to 276 MiB, each one's backlog copied into
// one write. 10 readers take 4 KiB every 2 ms while 20 MiB of events (2,560
// of 8 KiB) are published, far faster than they read; then the live heap
// (after a collection) has grown by at most a generous 3 × 20 MiB (the
// store's copy, the hot tier's encoded copy, slack) + 16 MiB, plus, for
// each reader, two writes' worth (max(64 KiB, one event) pending and one
// being made). A backlog copied per reader is up to 20 MiB each.
func TestSlowReadersKeepMemoryBounded(t *testing.T) { forEachMode(t, testSlowReadersKeepMemoryBounded) }

func testSlowReadersKeepMemoryBounded(t *testing.T, mode hubOption) {
	const readers, events, size = 10, 2560, 8 << 10
	th := newMemoryHub(t, mode, withQueue(events+64))
	runtime.GC()
	var before runtime.MemStats
	runtime.ReadMemStats(&before)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for i := 0; i < readers; i++ {
		cr, c := openSlow(t, th, "/events?topic=stall.x", func() { time.Sleep(2 * time.Millisecond) })
		wg.Add(1)
		go func() {
			defer wg.Done()
			buf := make([]byte, 4096)
			for {
				select {
				case <-stop:
					return
				default:
				}
				if _, err := cr.Read(buf); err != nil {
					return
				}
			}
		}()
		t.Cleanup(func() { c.Close() })
	}
	sizes := make([]int, events)
	for i := range sizes {
		sizes[i] = size
	}
	th.publishSized("stall.x", sizes)
	time.Sleep(500 * time.Millisecond) // the hub writes what the readers take
	runtime.GC()
	var after runtime.MemStats
	runtime.ReadMemStats(&after)
	close(stop)
	grew := int64(after.HeapInuse) - int64(before.HeapInuse)
	bound := int64(3*events*size + 16<<20 + readers*2*(size+64<<10))
	t.Logf("heap in use grew by %d MiB with %d slow readers of %d MiB (bound %d MiB)", grew>>20, readers, events*size>>20, bound>>20)
	if grew > bound {
		t.Errorf("heap in use grew by %d MiB with %d slow readers of %d MiB of events, past %d MiB", grew>>20, readers, events*size>>20, bound>>20)
	}
	th.api.Shutdown() // end the streams before the readers' connections
	wg.Wait()
}
