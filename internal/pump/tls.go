package pump

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"syscall"

	"github.com/ssehub/ssehub/internal/netpoll"
	"github.com/ssehub/ssehub/internal/tlsrec"
)

// TLS streams.
//
// A *tls.Conn cannot be polled: its Write encrypts and then blocks in the
// socket's Write. The pump takes a TLS stream over through the connection
// under the tls.Conn instead: TLSListener puts a tlsRaw between the socket
// and tls.Server, which passes every read and write through until the pump
// switches it to buffering. From then on tls.Conn.Write only encrypts:
// crypto/tls seals each record in a scratch buffer from its own pool
// (outBufPool in crypto/tls/conn.go; the conn keeps none) and hands it to
// tlsRaw.Write, which appends it to the buffer the worker gave it and
// returns at once. The worker then writes that ciphertext with the same
// non-blocking TryWrite as a cleartext stream's bytes, on the socket's
// descriptor, and what the socket does not take stays pending as
// ciphertext. So a TLS stream is scheduled, armed, timed out and ended like
// any other: only the bytes differ.
//
// Reading stops at the hand-over, as for cleartext streams: the poller
// reads the socket and drops what comes (records included), so the
// tls.Conn never sees them. A close_notify the client sends is dropped
// with them; the FIN that follows it ends the stream. A TLS 1.3 KeyUpdate
// is dropped too: the client's sending keys change (that costs us nothing,
// we decrypt nothing more), and if it asked for an update of ours we never
// send one, so it keeps decrypting with the keys it has (RFC 8446 4.6.3
// asks the receiver to update; clients do not enforce it, and browsers do
// not send KeyUpdate). Renegotiation (TLS 1.2) is refused by crypto/tls's
// server anyway.
//
// As the stream ends, the tls.Conn is closed: it seals a close_notify,
// which gets one try if everything before it was written, and is dropped
// on an aborted stream (its record would follow a cut one).
//
// That is the fallback. A TLS 1.3 stream prepared with PrepareTLS whose
// hand-off is proven safe drops its tls.Conn at Add instead, and the pump
// seals its records itself (tls_handoff.go).

// TLSListener returns a listener that serves TLS over inner, with each
// connection built so that the pump can take it over: inner's connections
// must be syscall.Conns (a *net.TCPConn, or a wrapper with SyscallConn).
// Serve it with [ConnContext] as the http.Server's ConnContext, so that
// handlers can tell with [Detachable] which TLS streams a pump can write.
func TLSListener(inner net.Listener, config *tls.Config) net.Listener {
	return tls.NewListener(TLSReady(inner), TLSConfig(config))
}

// TLSReady wraps inner's connections so that a TLS server over them (a
// tls.NewListener over what it returns, or httptest's StartTLS) makes
// connections a pump can take over. [TLSListener] is both in one.
func TLSReady(inner net.Listener) net.Listener { return rawListener{inner} }

type rawListener struct{ net.Listener }

func (l rawListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &tlsRaw{Conn: c}, nil
}

// tlsRaw is the connection under a tls.Conn that a pump takes over. Until
// then it passes everything through; after, only the stream's serving
// worker (and finish) uses it. When the pump seals the stream's records
// itself (tls_handoff.go), it is dead: the tls.Conn can neither write nor
// read through it any more.
type tlsRaw struct {
	net.Conn
	buffering bool          // set by Add: Write appends to out
	out       []byte        // the records sealed by the current Write
	nc        *netpoll.Conn // for the close_notify's one try
	clean     bool          // the stream ended with everything written: try the close_notify

	handOff // what the pump needs to seal the stream's records itself
}

// Write passes b through, or, once the pump has the stream, appends it to
// out: b is one sealed record.
func (c *tlsRaw) Write(b []byte) (int, error) {
	if c.dead {
		return 0, errHandedOff
	}
	if !c.buffering {
		n, err := c.Conn.Write(b)
		c.wrote(b[:n], err)
		return n, err
	}
	c.out = append(c.out, b...)
	return len(b), nil
}

// Read passes through, noting where the client's records end.
func (c *tlsRaw) Read(b []byte) (int, error) {
	if c.dead {
		return 0, errHandedOff
	}
	n, err := c.Conn.Read(b)
	c.read(b[:n])
	return n, err
}

// Close closes the socket, after one try at what tls.Conn.Close sealed
// (its close_notify) when the stream ended cleanly.
func (c *tlsRaw) Close() error {
	if c.dead {
		return errHandedOff
	}
	if c.buffering && c.clean && len(c.out) > 0 {
		_, _ = c.nc.TryWrite(c.out)
	}
	c.out = nil
	return c.Conn.Close()
}

// SyscallConn returns the socket's.
func (c *tlsRaw) SyscallConn() (syscall.RawConn, error) {
	sc, ok := c.Conn.(syscall.Conn)
	if !ok {
		return nil, fmt.Errorf("pump: %T under TLS cannot be polled", c.Conn)
	}
	return sc.SyscallConn()
}

// Unwrap returns the connection underneath.
func (c *tlsRaw) Unwrap() net.Conn { return c.Conn }

type detachableKey struct{}

// ConnContext is an http.Server ConnContext: it marks the context of a
// TLS connection accepted from a [TLSListener], which a pump can take over.
func ConnContext(ctx context.Context, c net.Conn) context.Context {
	if tc, ok := c.(*tls.Conn); ok {
		if raw, ok := tc.NetConn().(*tlsRaw); ok {
			return context.WithValue(ctx, detachableKey{}, raw)
		}
	}
	return ctx
}

// Detachable reports whether a request's connection, TLS, came from a
// [TLSListener] served with [ConnContext], so that a pump can write it.
func Detachable(ctx context.Context) bool {
	raw, _ := ctx.Value(detachableKey{}).(*tlsRaw)
	return raw != nil
}

// PrepareTLS tells the TLS connection of a request whose context
// [ConnContext] marked that its response is about to be handed to a pump
// (call it before writing the response's headers): the connection keeps
// a copy of the last record it writes, from which [Pump.Add] learns the
// record sequence number, so that the pump can seal the stream's records
// itself and drop the tls.Conn. Without it, Add leaves the records to
// crypto/tls. It does nothing for other requests.
func PrepareTLS(ctx context.Context) {
	if raw, _ := ctx.Value(detachableKey{}).(*tlsRaw); raw != nil {
		raw.capture.Store(true)
	}
}

// tlsLayer encrypts a TLS stream's bytes for the worker: with its own
// records once the tls.Conn is dropped (rec), or through crypto/tls.
type tlsLayer struct {
	conn *tls.Conn      // crypto/tls seals; nil once rec took over
	raw  *tlsRaw        // under conn; nil once rec took over
	rec  *tlsrec.Sealer // seals the records itself, when the hand-off was proven safe
	s    *Stream
}

// errNotPollable: Add was given a connection it cannot poll.
var errNotPollable = errors.New("cannot be polled")

// pollable returns what Add polls and writes for conn: conn itself when it
// is a syscall.Conn, or for a *tls.Conn from a TLSListener the socket
// under it and the layer that encrypts for it.
func pollable(conn net.Conn) (syscall.Conn, *tlsLayer, error) {
	tc, ok := conn.(*tls.Conn)
	if !ok {
		if sc, ok := conn.(syscall.Conn); ok {
			return sc, nil, nil
		}
		return nil, nil, fmt.Errorf("pump: %T %w", conn, errNotPollable)
	}
	raw, ok := tc.NetConn().(*tlsRaw)
	if !ok {
		return nil, nil, fmt.Errorf("pump: TLS over %T (not from pump.TLSListener) %w", tc.NetConn(), errNotPollable)
	}
	if !tc.ConnectionState().HandshakeComplete {
		return nil, nil, fmt.Errorf("pump: TLS handshake not complete")
	}
	return raw, &tlsLayer{conn: tc, raw: raw, rec: takeOver(tc, raw)}, nil
}

// start makes s's connection the pump's: with own records, the tls.Conn
// is cut off and dropped (s closes the socket under it); otherwise the
// connection switches to buffering, and the tls.Conn only encrypts.
func (t *tlsLayer) start(s *Stream) {
	t.s = s
	c := s.p.opts.Counters
	if t.rec != nil {
		t.raw.dead = true // whatever still holds the tls.Conn cannot write a record
		s.conn = t.raw.Conn
		t.conn, t.raw = nil, nil
		c.TLSOwnRecords.Add(1)
		return
	}
	c.TLSCryptoTLS.Add(1)
	t.raw.nc = s.nc
	t.raw.buffering = true
}

// seal appends plain, encrypted as TLS records, to dst.
func (t *tlsLayer) seal(dst, plain []byte) ([]byte, error) {
	if t.rec != nil {
		out, err := t.rec.Seal(dst, plain)
		if err != nil {
			return out, fmt.Errorf("pump: tls: %w", err)
		}
		if t.rec.Remaining() <= tlsRecordReserve {
			// End before the key is used up: the tail still gets
			// sealed, and the client reconnects.
			t.s.Close(ErrTLSRecordLimit, nil)
		}
		return out, nil
	}
	t.raw.out = dst
	_, err := t.conn.Write(plain)
	out := t.raw.out
	t.raw.out = nil
	if err != nil {
		return out, fmt.Errorf("pump: tls: %w", err)
	}
	return out, nil
}

// sealPooled encrypts b, which lies in buf, a buffer the pool gave as bp,
// into another pooled buffer, and gives buf back.
func (t *tlsLayer) sealPooled(b []byte, bp *[]byte, buf []byte) ([]byte, *[]byte, []byte, error) {
	cbp := bufPool.Get().(*[]byte)
	cbuf, err := t.seal((*cbp)[:0], b)
	putBuf(bp, buf)
	return cbuf, cbp, cbuf, err
}

// appendWire appends plain to dst as it goes on the wire: encrypted on a
// TLS stream.
func (s *Stream) appendWire(dst, plain []byte) []byte {
	if s.tls == nil {
		return append(dst, plain...)
	}
	out, err := s.tls.seal(dst, plain)
	if err != nil {
		s.abort.Store(true)
	}
	return out
}

// closeTLS tells the connection, before it is closed, whether the stream
// ended with everything written: its close_notify then gets one try.
func (s *Stream) closeTLS() {
	if s.tls == nil {
		return
	}
	clean := !s.abort.Load() && len(s.pending) == 0
	if s.tls.rec == nil {
		s.tls.raw.clean = clean
		return
	}
	if clean {
		var b [tlsrec.Overhead + 2]byte
		if cn, err := s.tls.rec.SealCloseNotify(b[:0]); err == nil {
			_, _ = s.nc.TryWrite(cn)
		}
	}
}
