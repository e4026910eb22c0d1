package httpapi

import (
	"bytes"
	"net"
	"regexp"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"

	"github.com/ssehub/ssehub/emitter"
)

// Listener wraps a net.Listener for the hub: it bounds the open TCP
// connections (every one, idle or streaming, with or without a token), and
// turns net/http's own error answers, which no handler sees (400 for a
// malformed request, 431 for headers too large, 501 for an unsupported
// transfer encoding, 505 for an unknown protocol version, an empty 417 for
// an Expect other than 100-continue), into the JSON error every other
// answer uses.
type Listener struct {
	net.Listener
	// Refusal is written to a connection refused for the bound before it
	// is closed: by default a JSON 503 with Retry-After. Set it to nil,
	// before serving, when TLS is served over the listener: a TLS client
	// would read those bytes as a broken handshake.
	Refusal []byte
	max     int
	open    atomic.Int64
	refused atomic.Uint64
}

// NewListener wraps ln; max <= 0 is no connection bound.
func NewListener(ln net.Listener, max int) *Listener {
	return &Listener{Listener: ln, max: max, Refusal: overloaded}
}

// Open returns the connections open now.
func (l *Listener) Open() int64 { return l.open.Load() }

// Refused returns how many connections were refused for the bound.
func (l *Listener) Refused() uint64 { return l.refused.Load() }

// overloaded is written to a connection refused for the bound.
var overloaded = func() []byte {
	body := []byte(`{"error":{"code":"UNAVAILABLE","message":"the hub is at its limit of connections (limits.max_connections)"}}` + "\n")
	return append([]byte("HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\nRetry-After: 5\r\nConnection: close\r\nContent-Length: "+
		strconv.Itoa(len(body))+"\r\n\r\n"), body...)
}()

// Accept implements net.Listener.
func (l *Listener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		if l.max > 0 && l.open.Load() >= int64(l.max) {
			l.refused.Add(1)
			if len(l.Refusal) > 0 {
				_, _ = c.Write(l.Refusal) // best effort: the socket buffer takes it
			}
			_ = c.Close()
			continue
		}
		l.open.Add(1)
		return &conn{Conn: c, l: l}, nil
	}
}

// conn counts itself until closed, and rewrites net/http's plain errors.
type conn struct {
	net.Conn
	l    *Listener
	once sync.Once
}

func (c *conn) Close() error {
	err := c.Conn.Close()
	c.once.Do(func() { c.l.open.Add(-1) })
	return err
}

// plainError matches the whole of one of net/http's own error answers,
// which it writes to the connection in one call before any handler runs.
var plainError = regexp.MustCompile(`^HTTP/1\.[01] ([45]\d\d) ([^\r\n]*)\r\nContent-Type: text/plain; charset=utf-8\r\nConnection: close\r\n\r\n([^\r\n]*)$`)

// expectationFailed matches the empty 417 net/http answers, before any
// handler runs, to an Expect header other than 100-continue.
var expectationFailed = regexp.MustCompile(`^HTTP/1\.1 417 Expectation Failed\r\nConnection: close\r\n(?:[^\r\n]+\r\n)*Content-Length: 0\r\n\r\n$`)

// expectationFailedJSON replaces it.
var expectationFailedJSON = func() []byte {
	body := emitter.ErrorBody(CodeBadRequest, "the request's Expect header cannot be met: only 100-continue is supported")
	return append([]byte("HTTP/1.1 417 Expectation Failed\r\nContent-Type: application/json\r\nConnection: close\r\nContent-Length: "+
		strconv.Itoa(len(body))+"\r\n\r\n"), body...)
}()

func (c *conn) Write(b []byte) (int, error) {
	if bytes.HasPrefix(b, []byte("HTTP/1.")) {
		var rewritten []byte
		switch {
		case bytes.Contains(b, []byte("Content-Type: text/plain; charset=utf-8\r\nConnection: close\r\n\r\n")):
			if m := plainError.FindSubmatch(b); m != nil {
				rewritten = jsonError(m)
			}
		case bytes.HasPrefix(b, []byte("HTTP/1.1 417 ")) && expectationFailed.Match(b):
			rewritten = expectationFailedJSON
		}
		if rewritten != nil {
			if _, err := c.Conn.Write(rewritten); err != nil {
				return 0, err
			}
			return len(b), nil
		}
	}
	return c.Conn.Write(b)
}

func jsonError(m [][]byte) []byte {
	status, _ := strconv.Atoi(string(m[1]))
	code := CodeBadRequest
	if status == 431 {
		code = CodeTooLarge
	}
	msg := string(m[3])
	if msg == "" {
		msg = string(m[2])
	}
	body := emitter.ErrorBody(code, "the request could not be read: "+msg)
	return append([]byte("HTTP/1.1 "+string(m[1])+" "+string(m[2])+"\r\nContent-Type: application/json\r\nConnection: close\r\nContent-Length: "+
		strconv.Itoa(len(body))+"\r\n\r\n"), body...)
}

// SyscallConn lets the pump poll a hijacked connection (it needs the
// socket's file descriptor).
func (c *conn) SyscallConn() (syscall.RawConn, error) {
	sc, ok := c.Conn.(syscall.Conn)
	if !ok {
		return nil, syscall.EINVAL
	}
	return sc.SyscallConn()
}

// Unwrap returns the connection underneath.
func (c *conn) Unwrap() net.Conn { return c.Conn }

// CloseWrite half-closes the connection, as net/http does before closing
// one it answered with an error.
func (c *conn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return nil
}
