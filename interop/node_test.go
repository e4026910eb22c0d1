package interop_test

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestNodeEventSource runs the npm eventsource package (node/client.mjs)
// against a real hub: live events, a hub restart that ends the stream, events
// published while the client waits to reconnect (replayed via Last-Event-ID)
// and live events after the reconnect. Every event must arrive exactly once,
// in order, with its id as lastEventId.
func TestNodeEventSource(t *testing.T) {
	node := requireTool(t, "Node.js", "node")
	dir := nodeModules(t)
	h := startHub(t)

	const perPhase = 4
	total := 3 * perPhase
	c := startNodeClient(t, node, dir,
		h.URL()+"/events?topic=interop.node.*&token="+h.token, total, "message,update")
	if err := waitFor(20*time.Second, func() bool { return c.count("open") == 1 }); err != nil {
		t.Fatalf("client did not open: %v; stderr: %q", err, c.statuses())
	}

	var want []published
	publish := func(phase string) {
		for i := range perPhase {
			typ := ""
			if i%2 == 1 {
				typ = "update"
			}
			data := fmt.Sprintf("%s %d ✓", phase, i)
			if i == 2 {
				data += "\nsecond line" // two data: lines, joined by the client
			}
			id := h.Publish(fmt.Sprintf("interop.node.t%d", i), typ, data)
			if typ == "" {
				typ = "message"
			}
			want = append(want, published{Type: typ, Data: data, LastEventID: id})
		}
		h.Publish("interop.other", "", "not subscribed") // must not reach the client
	}

	publish("live")
	if err := waitFor(15*time.Second, func() bool { return len(c.events()) >= perPhase }); err != nil {
		t.Fatalf("got %d of %d live events: %v", len(c.events()), perPhase, err)
	}

	start := time.Now()
	h.Restart()
	// The client waits its reconnect delay (3 s by default) after the stream
	// ends, so these are published before it is back: it must get them by
	// replay from Last-Event-ID.
	publish("while-away")
	if err := waitFor(30*time.Second, func() bool { return c.count("open") == 2 }); err != nil {
		t.Fatalf("client did not reconnect: %v; stderr: %q", err, c.statuses())
	}
	t.Logf("client reconnected %v after the restart began", time.Since(start).Round(time.Millisecond))
	publish("after-reconnect")

	// Events come in id order, so once the last one is in, nothing is missing:
	// compare then rather than wait out a timeout for the count.
	lastID := want[len(want)-1].LastEventID
	err := waitFor(20*time.Second, func() bool {
		ev := c.events()
		return len(ev) >= total || (len(ev) > 0 && ev[len(ev)-1].LastEventID == lastID)
	})
	if err != nil {
		t.Errorf("the last event (id %s) did not arrive: %v", lastID, err)
	}
	checkReceived(t, c.events(), want)
	if t.Failed() {
		t.FailNow()
	}
	select {
	case <-c.done:
	case <-time.After(10 * time.Second):
		t.Fatalf("client did not exit after %d events", total)
	}
	if c.err != nil {
		t.Errorf("client exited with %v; stderr: %q", c.err, c.statuses())
	}
	if !slices.ContainsFunc(c.statuses(), func(s string) bool { return strings.HasPrefix(s, "error 0") }) {
		t.Errorf("expected an error event with readyState CONNECTING (0) when the hub restarted; stderr: %q", c.statuses())
	}
}

// nodeModules returns the node/ folder with its npm packages installed,
// running `npm ci` from the committed lock file when node_modules is missing.
func nodeModules(t *testing.T) string {
	t.Helper()
	dir, err := filepath.Abs("node")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "node_modules", "eventsource", "package.json")); err == nil {
		return dir
	}
	npm := requireTool(t, "npm", "npm")
	cmd := exec.Command(npm, "ci", "--no-audit", "--no-fund")
	cmd.Dir = dir
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("npm ci in %s: %v\n%s", dir, err, out)
	}
	return dir
}

// nodeClient is a running `node client.mjs`.
type nodeClient struct {
	mu     sync.Mutex
	got    []published
	status []string
	done   chan struct{}
	err    error // exit error, valid after done
}

func startNodeClient(t *testing.T, node, dir, url string, n int, types string) *nodeClient {
	t.Helper()
	c := &nodeClient{done: make(chan struct{})}
	cmd := exec.Command(node, "client.mjs", url, fmt.Sprint(n), types)
	cmd.Dir = dir
	stdout := new(syncBuffer)
	cmd.Stdout = &lineWriter{out: stdout, line: func(s string) {
		var e published
		if err := json.Unmarshal([]byte(s), &e); err != nil {
			t.Errorf("client printed a line that is not an event: %q", s)
			return
		}
		c.mu.Lock()
		c.got = append(c.got, e)
		c.mu.Unlock()
	}}
	cmd.Stderr = &lineWriter{out: new(syncBuffer), line: func(s string) {
		c.mu.Lock()
		c.status = append(c.status, s)
		c.mu.Unlock()
	}}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start node client: %v", err)
	}
	go func() {
		c.err = cmd.Wait()
		close(c.done)
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-c.done
		if t.Failed() {
			t.Logf("node client stdout:\n%s", stdout.String())
		}
	})
	return c
}

func (c *nodeClient) events() []published {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.got)
}

func (c *nodeClient) statuses() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.status)
}

// count reports how many stderr lines equal s.
func (c *nodeClient) count(s string) int {
	n := 0
	for _, l := range c.statuses() {
		if l == s {
			n++
		}
	}
	return n
}
