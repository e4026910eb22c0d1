package hubsuite

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ssehub/ssehub"
	"github.com/ssehub/ssehub/internal/hubtest"
	"github.com/ssehub/ssehub/sse"
)

// Node is one running hub (a store, the hub, its HTTP API on loopback)
// with the requests a test makes of it. Several nodes over stores that
// share one log form a cluster.
type Node struct {
	*hubtest.Hub
	t testing.TB
}

// NewNode starts a hub over store; the test's cleanup stops it and closes
// the store.
func NewNode(t testing.TB, store ssehub.Store, opts ...hubtest.Option) *Node {
	t.Helper()
	return &Node{Hub: hubtest.New(t, store, opts...), t: t}
}

// URL is the node's base URL.
func (n *Node) URL() string { return n.Srv.URL }

// Do sends a request with the admin token and returns the status and body.
func (n *Node) Do(method, path, contentType, body string, hdr ...string) (int, []byte) {
	n.t.Helper()
	req, err := http.NewRequest(method, n.Srv.URL+path, strings.NewReader(body))
	if err != nil {
		n.t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+hubtest.AdminToken)
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		n.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

// TryPublish posts data to topic (with an idempotency key when key is not
// empty) and returns the id, or the status and body of a refusal.
func (n *Node) TryPublish(topic, data, key string) (uint64, int, []byte) {
	n.t.Helper()
	var hdr []string
	if key != "" {
		hdr = []string{"Idempotency-Key", key}
	}
	status, b := n.Do("POST", "/publish/"+topic, "", data, hdr...)
	if status != 200 {
		return 0, status, b
	}
	var r struct{ ID string }
	if err := json.Unmarshal(b, &r); err != nil {
		n.t.Fatalf("publish answer %s: %v", b, err)
	}
	id, _ := strconv.ParseUint(r.ID, 10, 64)
	return id, status, b
}

// Publish posts data to topic and returns its id; any refusal fails the
// test.
func (n *Node) Publish(topic, data string) uint64 {
	n.t.Helper()
	id, status, b := n.TryPublish(topic, data, "")
	if status != 200 {
		n.t.Fatalf("publish to %s: %d %s", n.Srv.URL, status, b)
	}
	return id
}

// CreateToken makes a token through the API and returns its secret and id.
func (n *Node) CreateToken(body string) (secret, id string) {
	n.t.Helper()
	status, b := n.Do("POST", "/api/tokens", "application/json", body)
	if status != 201 {
		n.t.Fatalf("create token: %d %s", status, b)
	}
	var out struct{ ID, Token string }
	if err := json.Unmarshal(b, &out); err != nil {
		n.t.Fatal(err)
	}
	return out.Token, out.ID
}

// Stream is an open SSE response.
type Stream struct {
	Resp *http.Response
	dec  *sse.Decoder
}

// Subscribe opens path with the admin token and headers given as pairs;
// a status other than 200 fails the test.
func (n *Node) Subscribe(path string, hdr ...string) *Stream {
	n.t.Helper()
	s, status, b := n.TrySubscribe(path, hubtest.AdminToken, hdr...)
	if status != 200 {
		n.t.Fatalf("subscribe %s: %d %s", path, status, b)
	}
	return s
}

// TrySubscribe opens path with token (none when empty); on a status other
// than 200 it returns that status and the body.
func (n *Node) TrySubscribe(path, token string, hdr ...string) (*Stream, int, []byte) {
	n.t.Helper()
	req, _ := http.NewRequest("GET", n.Srv.URL+path, nil)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		n.t.Fatal(err)
	}
	if resp.StatusCode != 200 {
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		return nil, resp.StatusCode, b
	}
	n.t.Cleanup(func() { resp.Body.Close() })
	return &Stream{Resp: resp, dec: sse.NewDecoder(bufio.NewReaderSize(resp.Body, 64<<10))}, 200, nil
}

// Raw returns the next event, hellos and heartbeats included.
func (s *Stream) Raw() (sse.Event, error) { return s.dec.Next() }

// Next returns the next event that is not a hello or a heartbeat.
func (s *Stream) Next(t testing.TB) sse.Event {
	t.Helper()
	for {
		ev, err := s.dec.Next()
		if err != nil {
			t.Fatalf("stream: %v", err)
		}
		if ev.Type == "info" || ev.Type == "heartbeat" {
			continue
		}
		return ev
	}
}

// IDs reads events until it has n of them (hellos and heartbeats
// skipped) or timeout passes, and returns their ids.
func (s *Stream) IDs(t testing.TB, n int, timeout time.Duration) []uint64 {
	t.Helper()
	timer := time.AfterFunc(timeout, func() { s.Resp.Body.Close() })
	defer timer.Stop()
	var ids []uint64
	for len(ids) < n {
		ev, err := s.dec.Next()
		if err != nil {
			t.Fatalf("after %d of %d events: %v", len(ids), n, err)
		}
		if ev.Type == "info" || ev.Type == "heartbeat" {
			continue
		}
		id, err := strconv.ParseUint(ev.ID, 10, 64)
		if err != nil {
			t.Fatalf("event %+v has no numeric id", ev)
		}
		ids = append(ids, id)
	}
	return ids
}

// Close ends the stream.
func (s *Stream) Close() { s.Resp.Body.Close() }

// WaitReady waits until the node's live feed runs.
func (n *Node) WaitReady() {
	n.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !n.Hub.Hub.Ready() {
		if time.Now().After(deadline) {
			n.t.Fatal("the live feed did not start")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// WaitHead waits until the node's live feed has dispatched id.
func (n *Node) WaitHead(id uint64, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for n.Hub.Hub.Head() < id {
		if time.Now().After(deadline) {
			return fmt.Errorf("node %s: live feed at %d, want %d", n.Srv.URL, n.Hub.Hub.Head(), id)
		}
		time.Sleep(2 * time.Millisecond)
	}
	return nil
}

// Bounds returns the node's log position, waiting up to 20 s while the
// store is unavailable.
func (n *Node) Bounds() ssehub.Position {
	n.t.Helper()
	// A cluster that just lost a server may answer "unavailable" for a
	// while (an election, on a loaded machine seconds): wait it out.
	deadline := time.Now().Add(20 * time.Second)
	for {
		p, err := n.Store.Bounds(context.Background())
		if err == nil {
			return p
		}
		if !errors.Is(err, ssehub.ErrUnavailable) || time.Now().After(deadline) {
			n.t.Fatal(err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
