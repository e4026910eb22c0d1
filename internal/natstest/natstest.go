// Package natstest starts NATS servers with JetStream inside a test
// process, on loopback and free ports: one server, or a cluster whose
// members can be killed and restarted with their data, as a failure test
// needs. Every server stops with the test.
package natstest

import (
	"fmt"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	ssenats "github.com/ssehub/ssehub/nats"
)

// Cluster is a set of in-process NATS servers routed to each other.
type Cluster struct {
	t       testing.TB
	mu      sync.Mutex
	conf    []ssenats.EmbeddedSettings
	servers []*ssenats.Server
}

// Quiet is a logger that drops the servers' logs.
var Quiet = slog.New(slog.DiscardHandler)

// freePort returns a loopback port nobody listens on right now.
func freePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// Start starts n servers (n = 1: a single server without routes). The
// servers of a cluster list every member's route address.
func Start(t testing.TB, n int) *Cluster {
	t.Helper()
	c := &Cluster{t: t}
	var routes []string
	clusterPorts := make([]int, n)
	if n > 1 {
		for i := range clusterPorts {
			clusterPorts[i] = freePort(t)
			routes = append(routes, fmt.Sprintf("nats://127.0.0.1:%d", clusterPorts[i]))
		}
	}
	for i := 0; i < n; i++ {
		e := ssenats.EmbeddedSettings{Name: fmt.Sprintf("n%d", i+1), Listen: fmt.Sprintf("127.0.0.1:%d", freePort(t)),
			StoreDir: t.TempDir(), ClusterName: "test"}
		if n > 1 {
			e.ClusterListen, e.Routes = fmt.Sprintf("127.0.0.1:%d", clusterPorts[i]), routes
		}
		c.conf = append(c.conf, e)
		c.servers = append(c.servers, nil)
	}
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range c.conf {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			c.servers[i], errs[i] = ssenats.StartServer(c.conf[i], "", "", "", Quiet)
		}(i)
	}
	wg.Wait()
	t.Cleanup(c.Shutdown)
	for _, err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	return c
}

// URL returns every running server's client URL, comma-separated.
func (c *Cluster) URL() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	var urls []string
	for i, s := range c.servers {
		if s != nil {
			urls = append(urls, "nats://"+c.conf[i].Listen)
		}
	}
	return strings.Join(urls, ",")
}

// ServerURL returns server i's client URL.
func (c *Cluster) ServerURL(i int) string { return "nats://" + c.conf[i].Listen }

// Len returns the number of members.
func (c *Cluster) Len() int { return len(c.conf) }

// Kill stops server i, as a crash would (its data stays).
func (c *Cluster) Kill(i int) {
	c.mu.Lock()
	s := c.servers[i]
	c.servers[i] = nil
	c.mu.Unlock()
	if s != nil {
		s.Shutdown()
	}
}

// Restart starts server i again on its ports and data.
func (c *Cluster) Restart(i int) {
	c.t.Helper()
	var err error
	var s *ssenats.Server
	for try := 0; try < 20; try++ { // the ports may linger a moment
		if s, err = ssenats.StartServer(c.conf[i], "", "", "", Quiet); err == nil {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err != nil {
		c.t.Fatal(err)
	}
	c.mu.Lock()
	c.servers[i] = s
	c.mu.Unlock()
}

// Shutdown stops every server.
func (c *Cluster) Shutdown() {
	for i := range c.conf {
		c.Kill(i)
	}
}
