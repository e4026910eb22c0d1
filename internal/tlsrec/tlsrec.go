// Package tlsrec writes TLS 1.3 application-data records (RFC 8446
// section 5.2) for one direction of a connection whose handshake another
// implementation (crypto/tls) did: what the kernel's TLS (kTLS) does once
// it is given the traffic secret and the record sequence number, in user
// space. It only seals; it never reads the peer's records.
//
// A Sealer is built from the connection's cipher suite and its
// server_application_traffic_secret_0, and must then learn the next
// sequence number with [Sealer.Resume], from the last record the other
// implementation wrote: that record authenticates under the derived key
// and exactly one nonce, so the sequence number is proven, not assumed.
// There is no KeyUpdate: a Sealer refuses to seal past its limit (2^24
// records by default), and its user ends the connection before.
package tlsrec

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/tls"
	"encoding/binary"
	"errors"
	"fmt"
	"hash"

	"golang.org/x/crypto/chacha20poly1305"
)

// MaxPlaintext is the most plaintext one record carries (2^14).
const MaxPlaintext = 1 << 14

// MaxRecords is a Sealer's default limit: how many records may be sealed
// under one key, sequence numbers 0 to MaxRecords-1. RFC 8446 section 5.5
// allows 2^24.5 full-size records for AES-GCM.
const MaxRecords = 1 << 24

const (
	headerLen        = 5
	tagLen           = 16
	typeAlert        = 21
	typeHandshake    = 22
	typeAppData      = 23
	alertCloseNotify = 0
	alertWarning     = 1
)

// Overhead is how many bytes a record adds to its plaintext: the header,
// the inner content type and the AEAD tag.
const Overhead = headerLen + 1 + tagLen

var (
	// ErrLimit: sealing would pass the Sealer's record limit.
	ErrLimit = errors.New("tlsrec: record limit reached")
	// ErrSuite: the cipher suite is not a TLS 1.3 one.
	ErrSuite = errors.New("tlsrec: not a TLS 1.3 cipher suite")
	// ErrNotFound: Resume's record does not authenticate under any
	// sequence number it was allowed to try.
	ErrNotFound = errors.New("tlsrec: record does not authenticate")
)

// A Sealer seals records under one traffic key. It is not safe for
// concurrent use.
type Sealer struct {
	aead    cipher.AEAD
	iv      [12]byte
	nb      [12]byte // the current nonce: a field, so that it does not escape per record
	seq     uint64
	limit   uint64
	resumed bool
}

// New derives the write key and IV from secret (a traffic secret of a TLS
// 1.3 connection using suite, RFC 8446 section 7.3) and returns a Sealer
// for them. It must be given its sequence number with Resume before it
// seals.
func New(suite uint16, secret []byte) (*Sealer, error) {
	var h func() hash.Hash
	var keyLen int
	switch suite {
	case tls.TLS_AES_128_GCM_SHA256:
		h, keyLen = sha256.New, 16
	case tls.TLS_AES_256_GCM_SHA384:
		h, keyLen = sha512.New384, 32
	case tls.TLS_CHACHA20_POLY1305_SHA256:
		h, keyLen = sha256.New, chacha20poly1305.KeySize
	default:
		return nil, fmt.Errorf("%w: %#04x", ErrSuite, suite)
	}
	if len(secret) != h().Size() {
		return nil, fmt.Errorf("tlsrec: secret of %d bytes for suite %#04x", len(secret), suite)
	}
	key, err := expandLabel(h, secret, "key", keyLen)
	if err != nil {
		return nil, err
	}
	iv, err := expandLabel(h, secret, "iv", 12)
	if err != nil {
		return nil, err
	}
	s := &Sealer{limit: MaxRecords}
	copy(s.iv[:], iv)
	if suite == tls.TLS_CHACHA20_POLY1305_SHA256 {
		s.aead, err = chacha20poly1305.New(key)
	} else {
		var b cipher.Block
		if b, err = aes.NewCipher(key); err == nil {
			s.aead, err = cipher.NewGCM(b)
		}
	}
	clear(key)
	if err != nil {
		return nil, fmt.Errorf("tlsrec: %w", err)
	}
	return s, nil
}

// expandLabel is HKDF-Expand-Label (RFC 8446 section 7.1) with an empty
// context.
func expandLabel(h func() hash.Hash, secret []byte, label string, n int) ([]byte, error) {
	full := "tls13 " + label
	info := make([]byte, 0, 4+len(full))
	info = binary.BigEndian.AppendUint16(info, uint16(n))
	info = append(info, byte(len(full)))
	info = append(info, full...)
	info = append(info, 0) // no context
	out, err := hkdf.Expand(h, secret, string(info), n)
	if err != nil {
		return nil, fmt.Errorf("tlsrec: %w", err)
	}
	return out, nil
}

// SetLimit lowers (or raises) how many records may be sealed under the
// key: Seal refuses to use sequence number n or above. Tests use it.
func (s *Sealer) SetLimit(n uint64) { s.limit = n }

// Skip advances the sequence number by n without sealing. Forward only,
// so no nonce repeats; the peer then fails to authenticate the next
// record (bad_record_mac). Tests use it to prove that a wrong sequence
// number is caught.
func (s *Sealer) Skip(n uint64) { s.seq += n }

// Seq returns the sequence number the next record gets.
func (s *Sealer) Seq() uint64 { return s.seq }

// Remaining returns how many more records may be sealed.
func (s *Sealer) Remaining() uint64 {
	if s.seq >= s.limit {
		return 0
	}
	return s.limit - s.seq
}

// Records returns how many records Seal makes of n bytes of plaintext.
func Records(n int) int { return (n + MaxPlaintext - 1) / MaxPlaintext }

// Seal appends plain to dst as application-data records of at most
// MaxPlaintext bytes each, and returns it. It seals nothing, and returns
// ErrLimit, when the records would pass the limit; and an error before
// Resume.
func (s *Sealer) Seal(dst, plain []byte) ([]byte, error) {
	if !s.resumed {
		return dst, errors.New("tlsrec: Seal before Resume")
	}
	if uint64(Records(len(plain))) > s.Remaining() {
		return dst, ErrLimit
	}
	if free := cap(dst) - len(dst); free < len(plain)+Records(len(plain))*Overhead {
		grown := make([]byte, len(dst), len(dst)+len(plain)+Records(len(plain))*Overhead)
		copy(grown, dst)
		dst = grown
	}
	for len(plain) > 0 {
		n := min(len(plain), MaxPlaintext)
		dst = s.seal(dst, plain[:n], typeAppData)
		plain = plain[n:]
	}
	return dst, nil
}

// SealCloseNotify appends a close_notify alert record to dst.
func (s *Sealer) SealCloseNotify(dst []byte) ([]byte, error) {
	if !s.resumed {
		return dst, errors.New("tlsrec: Seal before Resume")
	}
	if s.Remaining() == 0 {
		return dst, ErrLimit
	}
	return s.seal(dst, []byte{alertWarning, alertCloseNotify}, typeAlert), nil
}

// seal appends one record of content, whose inner type is typ.
func (s *Sealer) seal(dst, content []byte, typ byte) []byte {
	n := len(content) + 1 + tagLen
	off := len(dst)
	dst = append(dst, typeAppData, 3, 3, byte(n>>8), byte(n))
	dst = append(dst, content...)
	dst = append(dst, typ)
	s.nb = s.nonce(s.seq)
	// In place: the ciphertext overwrites the inner plaintext; the
	// header, before it, is the additional data.
	dst = s.aead.Seal(dst[:off+headerLen], s.nb[:], dst[off+headerLen:], dst[off:off+headerLen])
	s.seq++
	return dst
}

// nonce is the per-record nonce of RFC 8446 section 5.3: the IV XORed
// with the sequence number, left-padded to the IV's length.
func (s *Sealer) nonce(seq uint64) [12]byte {
	n := s.iv
	for i := range 8 {
		n[4+i] ^= byte(seq >> (56 - 8*i))
	}
	return n
}

// Resume sets the sequence number from record, the last record the
// connection's other writer sealed under this key, given that the writer
// sealed fewer than max records under it (a count of the protected
// records it wrote will do): it tries the sequence numbers below max,
// highest first, at most tries of them, for the one under which record
// authenticates, checks that the record carried application data, and
// continues after it. Only one sequence number can authenticate a record
// (but for the AEAD's forgery bound, 2^-128 per try), so when Resume
// succeeds every number the other writer used is below the next one, and
// no nonce repeats as long as that writer seals nothing more.
func (s *Sealer) Resume(record []byte, max uint64, tries int) error {
	if len(record) < headerLen+1+tagLen || record[0] != typeAppData ||
		int(binary.BigEndian.Uint16(record[3:5])) != len(record)-headerLen {
		return errors.New("tlsrec: not a whole protected record")
	}
	plain := make([]byte, 0, len(record)-headerLen)
	for seq := min(max, s.limit); seq > 0 && tries > 0; tries-- {
		seq--
		s.nb = s.nonce(seq)
		p, err := s.aead.Open(plain[:0], s.nb[:], record[headerLen:], record[:headerLen])
		if err != nil {
			continue
		}
		if typ := innerType(p); typ != typeAppData {
			return fmt.Errorf("tlsrec: the last record has inner content type %d, not application data", typ)
		}
		s.seq, s.resumed = seq+1, true
		return nil
	}
	return ErrNotFound
}

// innerType returns a decrypted record's content type: its last nonzero
// byte (RFC 8446 section 5.4); 0 when it has none.
func innerType(p []byte) byte {
	for i := len(p) - 1; i >= 0; i-- {
		if p[i] != 0 {
			return p[i]
		}
	}
	return 0
}
