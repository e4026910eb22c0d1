package bench

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"
)

// Config is one bench run.
type Config struct {
	Server      string        // hub base URL
	Token       string        // token that may publish and subscribe
	Subscribers int           // fanout: subscribers
	Publishers  int           // fanout, publish, replay: concurrent publishers
	PayloadSize int           // bytes of padding in each payload
	Rate        float64       // fanout: total publishes/s cap; 0 = as fast as possible
	Duration    time.Duration // fanout, publish: how long to publish
	Batch       int           // publish: events per request (NDJSON) when > 1
	Events      int           // replay: how many events behind the client starts
	Conns       int           // idle: connections to open
	H2C         bool          // subscribe over cleartext HTTP/2 (the hub needs --h2c)
	PerConn     int           // with H2C: streams per HTTP/2 connection (default 1)
	PID         int           // the hub's pid, for memory readings (0: read /metrics)
	// AcceptEncoding, when set, is the idle streams' Accept-Encoding (the
	// hub compresses them if its server.compression allows).
	AcceptEncoding string
	// SubscribeServers, when set, are the hubs subscribers connect to, in
	// turn (the nodes of one cluster); publishes still go to Server.
	SubscribeServers []string
	Progress         io.Writer // progress lines (stderr)
}

// Result is a run's figures, printed as a table and one JSON line.
type Result struct {
	Scenario string         `json:"scenario"`
	Figures  map[string]any `json:"figures"`
	keys     []string
}

func (r *Result) set(k string, v any) {
	if r.Figures == nil {
		r.Figures = map[string]any{}
	}
	if _, ok := r.Figures[k]; !ok {
		r.keys = append(r.keys, k)
	}
	r.Figures[k] = v
}

// Table writes the figures in the order they were set.
func (r *Result) Table(w io.Writer) {
	fmt.Fprintf(w, "scenario  %s\n", r.Scenario)
	for _, k := range r.keys {
		fmt.Fprintf(w, "%-26s %v\n", k, r.Figures[k])
	}
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// cpu returns this process's user+system CPU time.
func cpu() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func newClient(conns int, h2c bool) *http.Client {
	tr := &http.Transport{
		Proxy:               nil,
		DialContext:         (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConns:        conns + 16,
		MaxIdleConnsPerHost: conns + 16,
		DisableCompression:  true,
		WriteBufferSize:     16 << 10,
		ReadBufferSize:      4 << 10,
	}
	if h2c {
		tr.Protocols = new(http.Protocols)
		tr.Protocols.SetUnencryptedHTTP2(true)
	}
	return &http.Client{Transport: tr}
}

// connections is how many connections n streams take: one each over
// HTTP/1.1, PerConn each over HTTP/2.
func connections(cfg *Config, n int) int {
	if !cfg.H2C || cfg.PerConn <= 1 {
		return n
	}
	return (n + cfg.PerConn - 1) / cfg.PerConn
}

// subClients returns the clients n subscribers use: one over HTTP/1.1
// (its pool opens a connection per stream), or one per HTTP/2 connection.
func subClients(cfg *Config, n int) []*http.Client {
	if !cfg.H2C {
		return []*http.Client{newClient(n, false)}
	}
	clients := make([]*http.Client, connections(cfg, n))
	for i := range clients {
		clients[i] = newClient(1, true)
	}
	return clients
}

func protocol(cfg *Config) string {
	if cfg.H2C {
		return "h2c"
	}
	return "http/1.1"
}

// subscribeTurn spreads subscribers over Config.SubscribeServers.
var subscribeTurn atomic.Uint64

func (c *Config) req(ctx context.Context, method, path string, body io.Reader) *http.Request {
	base := c.Server
	if n := len(c.SubscribeServers); n > 0 && method == "GET" && strings.HasPrefix(path, "/events") {
		base = c.SubscribeServers[(subscribeTurn.Add(1)-1)%uint64(n)]
	}
	req, _ := http.NewRequestWithContext(ctx, method, strings.TrimRight(base, "/")+path, body)
	if c.Token != "" {
		req.Header.Set("Authorization", "Bearer "+c.Token)
	}
	return req
}

func (c *Config) progress(format string, args ...any) {
	if c.Progress != nil {
		fmt.Fprintf(c.Progress, format+"\n", args...)
	}
}

// uniqueTopic returns a topic no earlier run used.
func uniqueTopic(scenario string) string {
	var b [4]byte
	_, _ = rand.Read(b[:])
	return "bench." + scenario + "." + hex.EncodeToString(b[:])
}

// payload returns a JSON payload carrying the send time and padding.
func payload(dst []byte, pad []byte) []byte {
	dst = append(dst[:0], `{"t":`...)
	dst = strconv.AppendInt(dst, time.Now().UnixNano(), 10)
	dst = append(dst, `,"p":"`...)
	dst = append(dst, pad...)
	return append(dst, `"}`...)
}

func padding(n int) []byte {
	p := make([]byte, n)
	for i := range p {
		p[i] = 'a' + byte(i%26)
	}
	return p
}

// Spawn starts `exe serve` on a free loopback port with a fresh data dir
// and returns its URL, admin token, pid and a stop function.
// Extra args (e.g. --config FILE) go to serve as they are.
func Spawn(ctx context.Context, exe, store string, h2c bool, stderr io.Writer, extra ...string) (url, token string, pid int, stop func(), err error) {
	dir, err := os.MkdirTemp("", "ssehub-bench-")
	if err != nil {
		return "", "", 0, nil, err
	}
	var b [32]byte
	_, _ = rand.Read(b[:])
	token = hex.EncodeToString(b[:])
	args := []string{"serve", "--addr", "127.0.0.1:0", "--data", filepath.Join(dir, "data")}
	if store != "" {
		args = append(args, "--store", store)
	}
	if h2c {
		args = append(args, "--h2c")
	}
	args = append(args, extra...)
	cmd := exec.Command(exe, args...)
	cmd.Env = append(os.Environ(), "SSEHUB_ADMIN_TOKEN="+token)
	cmd.Stderr = stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		return "", "", 0, nil, err
	}
	if err := cmd.Start(); err != nil {
		return "", "", 0, nil, err
	}
	stop = func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		done := make(chan struct{})
		go func() { _ = cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(15 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
		_ = os.RemoveAll(dir)
	}
	re := regexp.MustCompile(`listening on (https?://\S+)`)
	found := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if m := re.FindStringSubmatch(sc.Text()); m != nil {
				found <- m[1]
			}
		}
	}()
	select {
	case url = <-found:
		return url, token, cmd.Process.Pid, stop, nil
	case <-time.After(30 * time.Second):
	case <-ctx.Done():
	}
	stop()
	return "", "", 0, nil, fmt.Errorf("the spawned hub did not start listening")
}

// rss returns the resident memory of pid in bytes, from /proc.
func rss(pid int) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for _, l := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(l, "VmRSS:") {
			f := strings.Fields(l)
			if len(f) >= 2 {
				kb, err := strconv.ParseInt(f[1], 10, 64)
				return kb << 10, err
			}
		}
	}
	return 0, fmt.Errorf("no VmRSS for pid %d", pid)
}

// procCPU returns the CPU time pid has used, from /proc (0 when unknown).
func procCPU(pid int) time.Duration {
	if pid == 0 {
		return 0
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	// Fields after the command (which may hold spaces) in parentheses:
	// state is field 3, utime 14 and stime 15, in clock ticks (100/s).
	i := strings.LastIndexByte(string(b), ')')
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 13 {
		return 0
	}
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(ut+st) * 10 * time.Millisecond
}

// serverRSS reads the hub's memory from its pid, or its /metrics.
func (c *Config) serverRSS(ctx context.Context) (int64, error) {
	if c.PID > 0 {
		return rss(c.PID)
	}
	f, err := c.metric(ctx, "process_resident_memory_bytes")
	return int64(f), err
}

// metric reads one unlabelled metric from the hub's /metrics.
func (c *Config) metric(ctx context.Context, name string) (float64, error) {
	resp, err := http.DefaultClient.Do(c.req(ctx, "GET", "/metrics", nil))
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), name+" "); ok {
			return strconv.ParseFloat(strings.TrimSpace(v), 64)
		}
	}
	return 0, fmt.Errorf("no %s in /metrics", name)
}
