package ui_test

import (
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/ssehub/ssehub/auth"
	"github.com/ssehub/ssehub/httpapi"
	"github.com/ssehub/ssehub/httpapi/ui"
	"github.com/ssehub/ssehub/internal/hubtest"
	"github.com/ssehub/ssehub/memory"
)

type connectionsReply struct {
	Head        string `json:"head"`
	Total       int    `json:"total"`
	Truncated   bool   `json:"truncated"`
	Connections []struct {
		Stream   string    `json:"stream"`
		Client   string    `json:"client"`
		Topics   []string  `json:"topics"`
		Format   string    `json:"format"`
		TokenID  string    `json:"token_id"`
		Since    time.Time `json:"since"`
		State    string    `json:"state"`
		Queued   int       `json:"queued"`
		Position string    `json:"position"`
		Lag      *uint64   `json:"lag"`
	} `json:"connections"`
}

func (e *env) connections(t *testing.T, token, query string) connectionsReply {
	t.Helper()
	r := e.do("GET", "/ui/api/connections"+query, token, "")
	if r.Status != 200 {
		t.Fatalf("connections: %d %s", r.Status, r.Body)
	}
	wantConsoleHeaders(t, "connections", r.Header)
	var out connectionsReply
	r.JSON(t, &out)
	return out
}

// TestConnections opens streams on the hub's endpoints and finds them in
// GET /ui/api/connections with the labels the HTTP layer gave them, both
// on the shared writers (plain HTTP/1.1) and with a goroutine per stream.
func TestConnections(t *testing.T) {
	for _, perStream := range []bool{false, true} {
		name := "pump"
		if perStream {
			name = "goroutine-per-stream"
		}
		t.Run(name, func(t *testing.T) {
			e := newEnv(t, ui.Options{Enabled: true}, func(c *hubtest.Config) { c.Stream.GoroutinePerStream = perStream })
			stream, streamID := e.token(auth.PurposeStream, 0, "dash", "orders.*")
			scoped, _ := e.token(auth.PurposeAdmin, 0, "desk", "orders.*")
			e.publish("orders.created", `{"n":1}`)
			before := time.Now()

			wantError(t, "no token", e.do("GET", "/ui/api/connections", "", ""), 401, httpapi.CodeUnauthorized)
			wantError(t, "stream token", e.do("GET", "/ui/api/connections", stream, ""), 403, httpapi.CodeForbidden)
			wantError(t, "bad limit", e.do("GET", "/ui/api/connections?limit=0", admin, ""), 400, httpapi.CodeBadRequest)
			if got := e.connections(t, admin, ""); got.Total != 0 || len(got.Connections) != 0 {
				t.Fatalf("before any stream: %+v", got)
			}

			e.openStream("/events?topic=orders.*", stream)
			e.openStream("/events?topic=secret.*&format=envelope", admin)
			e.openStream("/stream/"+stream, "")

			var got connectionsReply
			deadline := time.Now().Add(10 * time.Second)
			for {
				if got = e.connections(t, admin, ""); got.Total == 3 || time.Now().After(deadline) {
					break
				}
				time.Sleep(50 * time.Millisecond)
			}
			if got.Total != 3 || len(got.Connections) != 3 {
				t.Fatalf("3 streams open, the console lists %+v", got)
			}
			byStream := map[string]int{}
			for i, c := range got.Connections {
				byStream[c.Stream+" "+c.Topics[0]] = i
				if c.Client != "127.0.0.1" || c.Since.Before(before.Add(-time.Second)) || c.Since.After(time.Now()) {
					t.Errorf("connection %d: client %q since %v", i, c.Client, c.Since)
				}
				if c.State != "live" || c.Lag == nil || *c.Lag != 0 || c.Position != got.Head {
					t.Errorf("an idle live stream: state %q position %q lag %v, head %s", c.State, c.Position, c.Lag, got.Head)
				}
			}
			ev, ok := byStream["events orders.*"]
			if !ok {
				t.Fatalf("no /events orders.* stream in %+v", got.Connections)
			}
			if c := got.Connections[ev]; c.TokenID != streamID || c.Format != "raw" {
				t.Errorf("/events orders.*: token %q format %q, want %q raw", c.TokenID, c.Format, streamID)
			}
			if c, ok := byStream["events secret.*"]; !ok || got.Connections[c].TokenID != "" || got.Connections[c].Format != "envelope" {
				t.Errorf("/events secret.* with the admin token: %+v", got.Connections)
			}
			if _, ok := byStream["stream orders.*"]; !ok {
				t.Errorf("no /stream/{token} stream in %+v", got.Connections)
			}
			for i := 1; i < len(got.Connections); i++ {
				if got.Connections[i].Since.Before(got.Connections[i-1].Since) {
					t.Errorf("connections not oldest first: %+v", got.Connections)
				}
			}

			// A scoped admin sees the streams within its scope only.
			if sc := e.connections(t, scoped, ""); sc.Total != 2 {
				t.Errorf("an admin scoped to orders.* sees %d streams, want the 2 of orders.*: %+v", sc.Total, sc.Connections)
			}
			if lim := e.connections(t, admin, "?limit=1"); len(lim.Connections) != 1 || !lim.Truncated || lim.Total != 3 {
				t.Errorf("limit=1: %+v", lim)
			}
		})
	}
}

// TestConnectionLag holds a subscriber behind: a stream whose client reads
// nothing while events pile up is not live-and-caught-up, and the console
// says how far behind it is once the hub can tell.
func TestConnectionLag(t *testing.T) {
	store := memory.New(memory.Options{})
	th := hubtest.New(t, store, func(c *hubtest.Config) {
		c.Stream.GoroutinePerStream = true
		c.Hub.QueueSize = 4
		c.Extra = append(c.Extra, ui.New(ui.Options{Enabled: true}))
	})
	e := &env{t: t, th: th, url: th.Srv.URL}
	// A client that asks for a stream and never reads it.
	conn, err := net.Dial("tcp", th.Srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	_ = conn.(*net.TCPConn).SetReadBuffer(4096)
	fmt.Fprintf(conn, "GET /events?topic=big HTTP/1.1\r\nHost: hub\r\nAuthorization: Bearer %s\r\n\r\n", admin)
	deadline := time.Now().Add(10 * time.Second)
	for e.connections(t, admin, "").Total != 1 {
		if time.Now().After(deadline) {
			t.Fatal("the stream did not open")
		}
		time.Sleep(20 * time.Millisecond)
	}
	big := strings.Repeat("x", 256<<10)
	for range 64 {
		if r := e.do("POST", "/publish/big", admin, big); r.Status != 200 {
			t.Fatalf("publish: %d %s", r.Status, r.Body)
		}
	}
	got := e.connections(t, admin, "")
	if got.Total != 1 {
		t.Fatalf("connections: %+v", got)
	}
	c := got.Connections[0]
	if c.State == "live" && c.Queued == 0 && c.Lag != nil && *c.Lag == 0 {
		t.Errorf("a stream 64 large events behind shows as live and caught up: %+v", c)
	}
	t.Logf("a stalled stream: state %s, queued %d, position %q, lag %v", c.State, c.Queued, c.Position, c.Lag)
}
