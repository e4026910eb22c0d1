package pump

import (
	"bytes"
	"crypto/tls"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"io"
	"os"
	"sync/atomic"
	"time"

	"github.com/ssehub/ssehub/internal/netpoll"
	"github.com/ssehub/ssehub/internal/tlsrec"
)

// Own records: what kTLS does, in user space.
//
// A detached TLS 1.3 stream does not need crypto/tls after its headers: it
// only ever writes application data, and reads nothing. So when it is
// provably safe, Add drops the tls.Conn (its record buffers, both
// directions' ciphers, its secrets: about 6.9 KB per connection) and the
// pump seals the stream's records itself with a tlsrec.Sealer (the write
// key, IV and sequence number). It needs two things crypto/tls does not
// hand out:
//
//   - The write secret. [TLSConfig] gives each connection from a TLSReady
//     listener its own tls.Config (GetConfigForClient returns a clone)
//     whose KeyLogWriter is the connection's tlsRaw: crypto/tls writes
//     SERVER_TRAFFIC_SECRET_0 to it as it derives it.
//   - The sequence number. [PrepareTLS] (before the headers) makes the
//     tlsRaw keep a copy of the last record crypto/tls writes through it;
//     Add finds the one sequence number under which that record
//     authenticates with the derived key (tlsrec.Sealer.Resume), among
//     the protected records the tlsRaw saw written. The key, the suite
//     and the number are then proven by the record itself, not read from
//     crypto/tls's internals, and a Go upgrade that changed any of them
//     makes the hand-off fall back instead of sending bad records.
//
// Add takes over only when all of this holds, and otherwise leaves the
// records to crypto/tls (tlsRaw buffering): TLS 1.3; the secret was
// captured; every write through the tlsRaw was whole records; the last
// one carried application data (the response's bytes: not a KeyUpdate,
// so the key is still the first one); nothing the client sent is
// buffered (a read with an expired deadline finds nothing, so neither
// crypto/tls's plaintext nor a whole record waits in it, and the client's
// bytes read so far end at a record boundary, so no part of one waits);
// and more than tlsRecordReserve records remain under the key. Then the
// tlsRaw is made dead (a Write or Read through it fails), so whatever
// still holds the tls.Conn cannot put a record on the wire under a nonce
// the pump uses.

// errHandedOff: the tls.Conn was cut off from its socket; the pump seals
// the stream's records.
var errHandedOff = errors.New("pump: the TLS connection was handed to the pump's own records")

// ErrTLSRecordLimit: a TLS stream whose records the pump seals itself
// came near the number of records one key may seal (there is no
// KeyUpdate); it ends, and its client reconnects.
var ErrTLSRecordLimit = errors.New("pump: TLS record limit reached")

var (
	// tlsRecordLimit is how many records a stream's key may seal; tests
	// lower it.
	tlsRecordLimit uint64 = tlsrec.MaxRecords
	// tlsRecordReserve records are kept for the tail: the stream is
	// closed when no more than these remain.
	tlsRecordReserve uint64 = 16
)

// maxResumeTries bounds the sequence numbers Add tries, down from the
// count of protected records written: the last record's number is that
// count minus one, minus the handshake's protected records (about 4; more
// with a long certificate chain). A connection whose handshake wrote more
// keeps crypto/tls.
const maxResumeTries = 64

// handOff is what a tlsRaw keeps so that the pump can seal its stream's
// records itself.
type handOff struct {
	dead    bool        // the pump seals the records: the tls.Conn may not use the socket
	capture atomic.Bool // PrepareTLS was called: keep the last record written
	odd     bool        // a write was not whole records, or failed: no hand-off
	keyLog  io.Writer   // the connection's config's own KeyLogWriter, if any
	secret  []byte      // SERVER_TRAFFIC_SECRET_0
	sealed  uint64      // protected records (outer type 23) written
	last    []byte      // the last record written, once capture is set
	inHdr   [5]byte     // a partial header of the client's next record
	inHdrN  int
	inLeft  int // bytes of the client's current record still to come
}

// TLSConfig returns a clone of config that records, for each connection
// accepted from a [TLSReady] listener, the secret the pump needs to seal
// the connection's records itself once its stream is handed over (see
// [PrepareTLS]). Its GetConfigForClient gives each such connection its own
// clone (of config, or of what config's own GetConfigForClient returns)
// whose KeyLogWriter captures that connection's server traffic secret
// and passes every line to config's KeyLogWriter, if it has one. Session
// tickets keep working: crypto/tls takes their keys from the config that
// the listener was given. [TLSListener] uses it.
func TLSConfig(config *tls.Config) *tls.Config {
	if config == nil {
		return nil
	}
	base := config.Clone()
	own := config.GetConfigForClient
	out := config.Clone()
	out.GetConfigForClient = func(hello *tls.ClientHelloInfo) (*tls.Config, error) {
		raw, ok := hello.Conn.(*tlsRaw)
		var per *tls.Config
		if own != nil {
			c, err := own(hello)
			if err != nil || !ok {
				return c, err
			}
			per = c
		} else if !ok {
			return nil, nil
		}
		if per == nil {
			per = base
		}
		per = per.Clone()
		per.GetConfigForClient = nil
		raw.keyLog, per.KeyLogWriter = per.KeyLogWriter, (*keyLogSink)(raw)
		return per, nil
	}
	return out
}

// keyLogSink is a tlsRaw as its connection's KeyLogWriter.
type keyLogSink tlsRaw

// Write takes one NSS key log line ("LABEL client_random secret\n") and
// keeps the server's application traffic secret.
func (k *keyLogSink) Write(line []byte) (int, error) {
	if k.keyLog != nil {
		if _, err := k.keyLog.Write(line); err != nil {
			return 0, err
		}
	}
	f := bytes.Fields(line)
	if len(f) == 3 && string(f[0]) == "SERVER_TRAFFIC_SECRET_0" {
		secret := make([]byte, hex.DecodedLen(len(f[2])))
		if _, err := hex.Decode(secret, f[2]); err == nil {
			k.secret = secret
		}
	}
	return len(line), nil
}

// wrote notes what went through to the socket: b must be whole records
// (crypto/tls writes one record, or a flight of them, per Write).
func (h *handOff) wrote(b []byte, err error) {
	if err != nil {
		h.odd = true
	}
	for len(b) > 0 {
		if len(b) < 5 {
			h.odd = true
			return
		}
		n := 5 + int(binary.BigEndian.Uint16(b[3:5]))
		if n > len(b) {
			h.odd = true
			return
		}
		if b[0] == 23 {
			h.sealed++
		}
		if n == len(b) && h.capture.Load() {
			h.last = append(h.last[:0], b...)
		}
		b = b[n:]
	}
}

// read follows the framing of what the client sent.
func (h *handOff) read(b []byte) {
	for len(b) > 0 {
		if h.inLeft > 0 {
			k := min(h.inLeft, len(b))
			h.inLeft -= k
			b = b[k:]
			continue
		}
		k := copy(h.inHdr[h.inHdrN:], b)
		h.inHdrN += k
		b = b[k:]
		if h.inHdrN == len(h.inHdr) {
			h.inLeft = int(binary.BigEndian.Uint16(h.inHdr[3:5]))
			h.inHdrN = 0
		}
	}
}

// takeOver returns a Sealer that continues tc's records, or nil when tc
// must keep sealing them (see the comment at the top of this file). It
// leaves tc working either way; the caller makes raw dead if it uses the
// Sealer.
func takeOver(tc *tls.Conn, raw *tlsRaw) *tlsrec.Sealer {
	secret := raw.secret
	raw.secret = nil
	defer clear(secret)
	st := tc.ConnectionState()
	ok := st.Version == tls.VersionTLS13 && secret != nil && raw.capture.Load() && drained(tc)
	// Read after drained, which may have let crypto/tls answer a record
	// the client had sent (a KeyUpdate): that answer is then the last.
	last := raw.last
	raw.last = nil
	raw.capture.Store(false)
	if !ok || last == nil || raw.odd || raw.inHdrN != 0 || raw.inLeft != 0 {
		return nil
	}
	rec, err := tlsrec.New(st.CipherSuite, secret)
	if err != nil {
		return nil
	}
	rec.SetLimit(tlsRecordLimit)
	if err := rec.Resume(last, raw.sealed, maxResumeTries); err != nil || rec.Remaining() <= tlsRecordReserve {
		return nil
	}
	return rec
}

// drained reports whether tc holds nothing the client sent: a read with
// an expired deadline returns at once with a timeout only when crypto/tls
// has no plaintext and no whole record buffered (it processes those
// first), and it does not touch the socket.
func drained(tc *tls.Conn) bool {
	if err := tc.SetReadDeadline(time.Unix(1, 0)); err != nil {
		return false
	}
	var one [1]byte
	n, err := tc.Read(one[:])
	if tc.SetReadDeadline(time.Time{}) != nil {
		return false
	}
	return n == 0 && errors.Is(err, os.ErrDeadlineExceeded)
}

// pollerFor returns the poller that watches a stream. One whose records
// the pump seals itself is watched by the strict poller, which ends it on
// anything its client sends (more than one byte, so any TLS record: a
// close_notify, a KeyUpdate, pipelined data): the pump cannot answer a
// KeyUpdate, and there is no tls.Conn left to read the rest.
func (p *Pump) pollerFor(tl *tlsLayer) (*netpoll.Poller, error) {
	if tl == nil || tl.rec == nil {
		return p.poller, nil
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.strict == nil {
		if p.closed {
			return nil, ErrShutdown
		}
		strict, err := netpoll.NewWithOptions(netpoll.Options{MaxDiscard: 1})
		if err != nil {
			return nil, err
		}
		p.strict = strict
	}
	return p.strict, nil
}
