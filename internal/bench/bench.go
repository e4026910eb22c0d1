package bench

import (
	"bufio"
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
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
	Hold        time.Duration // idle: keep the streams open this long after measuring (to profile the hub)
	H2C         bool          // subscribe over cleartext HTTP/2 (the hub needs --h2c)
	PerConn     int           // with H2C or H2: streams per HTTP/2 connection (default 1)
	// H2 subscribes over HTTP/2 over TLS (an https Server), as H2C does
	// over cleartext; without it an https hub is subscribed over HTTP/1.1.
	H2 bool
	// Insecure skips the verification of an https hub's certificate (a
	// spawned hub's is self-signed).
	Insecure bool
	PID      int      // the hub's pid, for memory readings (0: read /metrics)
	PIDs     []int    // every spawned hub's pid (nats: both nodes), for their CPU
	Spawned  []string // every spawned hub's URL, in the order of PIDs
	// AcceptEncoding, when set, is the idle streams' Accept-Encoding (the
	// hub compresses them if its server.compression allows).
	AcceptEncoding string
	// SubscribeServers, when set, are the hubs subscribers connect to, in
	// turn (the nodes of one cluster); publishes still go to Server.
	SubscribeServers []string
	Progress         io.Writer // progress lines (stderr)

	// The scenarios of the core and feature issues (zero: the scenario's
	// default, given with each scenario).
	Topics       int      // topics: how many topics
	TopicsPerSub int      // topics: topics each subscriber subscribes to
	SparseEvery  int      // sparse: one event in N is on the rare topic
	Rounds       int      // sparse, arrow-ingest: rounds, alternating what is compared
	Rows         int      // arrow-ingest, arrow-fanout: rows per batch
	Bodies       []string // arrow-ingest: the body kinds compared, "ipc" and "json"
	PullName     string   // pull: the pull endpoint's name (/NAME/extract)
	Consumers    int      // pull: concurrent extract/confirm loops

	// Protocol is what fanout speaks: ProtocolSSEHub (also when empty) or
	// ProtocolMercure, with the HS256 keys of the Mercure JWTs (the
	// subscribers' defaults to the publishers').
	Protocol             string
	MercurePublisherKey  []byte
	MercureSubscriberKey []byte
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
		v := r.Figures[k]
		if f, ok := v.(float64); ok {
			// Plain decimals (%v would write 2.25e+06); the JSON line
			// keeps every digit.
			if math.Abs(f) >= 100 {
				v = strconv.FormatFloat(f, 'f', 1, 64)
			} else {
				v = strconv.FormatFloat(f, 'f', 3, 64)
			}
		}
		fmt.Fprintf(w, "%-26s %v\n", k, v)
	}
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// newClient returns a client for the hub with conns connections, over
// HTTP/2 when h2 (h2c for an http hub, h2 over TLS for an https one).
func newClient(cfg *Config, conns int, h2 bool) *http.Client {
	tr := &http.Transport{
		Proxy:               nil,
		DialContext:         (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConns:        conns + 16,
		MaxIdleConnsPerHost: conns + 16,
		DisableCompression:  true,
		WriteBufferSize:     16 << 10,
		ReadBufferSize:      4 << 10,
	}
	if cfg.isTLS() {
		// A TLSClientConfig of our own keeps the transport on HTTP/1.1
		// unless HTTP/2 is forced.
		tr.TLSClientConfig = &tls.Config{InsecureSkipVerify: cfg.Insecure}
		tr.ForceAttemptHTTP2 = h2
	} else if h2 {
		tr.Protocols = new(http.Protocols)
		tr.Protocols.SetUnencryptedHTTP2(true)
	}
	return &http.Client{Transport: tr}
}

// isTLS reports whether the hub is served over TLS.
func (c *Config) isTLS() bool { return strings.HasPrefix(c.Server, "https:") }

// http2 reports whether subscribers use HTTP/2.
func (c *Config) http2() bool { return c.H2C || c.H2 }

// connections is how many connections n streams take: one each over
// HTTP/1.1, PerConn each over HTTP/2.
func connections(cfg *Config, n int) int {
	if !cfg.http2() || cfg.PerConn <= 1 {
		return n
	}
	return (n + cfg.PerConn - 1) / cfg.PerConn
}

// subClients returns the clients n subscribers use: one over HTTP/1.1
// (its pool opens a connection per stream), or one per HTTP/2 connection.
func subClients(cfg *Config, n int) []*http.Client {
	if !cfg.http2() {
		return []*http.Client{newClient(cfg, n, false)}
	}
	clients := make([]*http.Client, connections(cfg, n))
	for i := range clients {
		clients[i] = newClient(cfg, 1, true)
	}
	return clients
}

func protocol(cfg *Config) string {
	if cfg.http2() && cfg.isTLS() {
		return "h2"
	}
	if cfg.isTLS() {
		return "http/1.1+tls"
	}
	if cfg.H2C {
		return "h2c"
	}
	return "http/1.1"
}

// subscribeTurn spreads subscribers over Config.SubscribeServers.
var subscribeTurn atomic.Uint64

// req builds a request for path on the hub (or on the next of
// SubscribeServers for a stream); a path that is a whole http(s) URL is
// used as it is.
func (c *Config) req(ctx context.Context, method, path string, body io.Reader) *http.Request {
	base := c.Server
	if n := len(c.SubscribeServers); n > 0 && method == "GET" && strings.HasPrefix(path, "/events") {
		base = c.SubscribeServers[(subscribeTurn.Add(1)-1)%uint64(n)]
	}
	target := strings.TrimRight(base, "/") + path
	if strings.HasPrefix(path, "http://") || strings.HasPrefix(path, "https://") {
		target = path
	}
	req, _ := http.NewRequestWithContext(ctx, method, target, body)
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

// SpawnOptions say how SpawnHub starts a hub.
type SpawnOptions struct {
	Exe    string    // the ssehub binary
	Store  string    // serve --store, when set
	H2C    bool      // serve --h2c
	Stderr io.Writer // the hub's stderr (nil: discarded)
	Args   []string  // more arguments for serve, e.g. --config FILE
	// Token is the admin token to give the hub (the nodes of one cluster
	// share theirs); empty: a random one.
	Token string
	// Dir is the data dir's parent; empty: a new temporary dir, removed
	// when the hub stops.
	Dir string
	// Env is more of the hub's environment (NAME=value), e.g. its
	// Mercure keys.
	Env []string
}

// NewToken returns a random 64-hex-digit token.
func NewToken() string {
	var b [32]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// SpawnHub starts `Exe serve` on a free loopback port and returns its URL,
// admin token, pid and a stop function (SIGTERM, then SIGKILL after 15 s).
func SpawnHub(ctx context.Context, o SpawnOptions) (url, token string, pid int, stop func(), err error) {
	dir := o.Dir
	if dir == "" {
		if dir, err = os.MkdirTemp("", "ssehub-bench-"); err != nil {
			return "", "", 0, nil, err
		}
	}
	token = o.Token
	if token == "" {
		token = NewToken()
	}
	args := []string{"serve", "--addr", "127.0.0.1:0", "--data", filepath.Join(dir, "data")}
	if o.Store != "" {
		args = append(args, "--store", o.Store)
	}
	if o.H2C {
		args = append(args, "--h2c")
	}
	args = append(args, o.Args...)
	cmd := exec.Command(o.Exe, args...)
	cmd.Env = append(append(os.Environ(), "SSEHUB_ADMIN_TOKEN="+token), o.Env...)
	dieWithParent(cmd)
	tail := &tailBuffer{max: 4096}
	cmd.Stderr = tail
	if o.Stderr != nil {
		cmd.Stderr = io.MultiWriter(o.Stderr, tail)
	}
	out, err := cmd.StdoutPipe()
	if err == nil {
		err = cmd.Start()
	}
	if err != nil {
		if o.Dir == "" {
			_ = os.RemoveAll(dir)
		}
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
		if o.Dir == "" {
			_ = os.RemoveAll(dir)
		}
	}
	re := regexp.MustCompile(`listening on (https?://\S+)`)
	found := make(chan string, 1)
	exited := make(chan struct{})
	go func() {
		defer close(exited)
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if m := re.FindStringSubmatch(sc.Text()); m != nil {
				select {
				case found <- m[1]:
				default:
				}
			}
		}
	}()
	select {
	case url = <-found:
		return url, token, cmd.Process.Pid, stop, nil
	case <-exited:
	case <-time.After(60 * time.Second):
	case <-ctx.Done():
	}
	stop()
	return "", "", 0, nil, fmt.Errorf("the spawned hub did not start listening: %s", strings.TrimSpace(tail.String()))
}

// tailBuffer keeps the last max bytes written to it.
type tailBuffer struct {
	mu  sync.Mutex
	max int
	b   []byte
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.b = append(t.b, p...)
	if len(t.b) > t.max {
		t.b = append(t.b[:0], t.b[len(t.b)-t.max:]...)
	}
	return len(p), nil
}

func (t *tailBuffer) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return string(t.b)
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
	client := http.DefaultClient
	if c.isTLS() {
		client = newClient(c, 1, false)
		defer client.CloseIdleConnections()
	}
	resp, err := client.Do(c.req(ctx, "GET", "/metrics", nil))
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
