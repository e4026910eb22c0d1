package tlsrec

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"strings"
	"testing"
)

func unhex(t *testing.T, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(strings.ReplaceAll(s, " ", ""))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestExpandLabelRFC8448 derives the key and IV of RFC 8448 section 3
// (the server's handshake traffic secret, TLS_AES_128_GCM_SHA256).
func TestExpandLabelRFC8448(t *testing.T) {
	secret := unhex(t, "b6 7b 7d 69 0c c1 6c 4e 75 e5 42 13 cb 2d 37 b4 e9 c9 12 bc de d9 10 5d 42 be fd 59 d3 91 ad 38")
	key, err := expandLabel(sha256.New, secret, "key", 16)
	if err != nil {
		t.Fatal(err)
	}
	iv, err := expandLabel(sha256.New, secret, "iv", 12)
	if err != nil {
		t.Fatal(err)
	}
	if want := unhex(t, "3f ce 51 60 09 c2 17 27 d0 f2 e4 e8 6e e4 03 bc"); !bytes.Equal(key, want) {
		t.Errorf("key % x, want % x", key, want)
	}
	if want := unhex(t, "5d 31 3e b2 67 12 76 ee 13 00 0b 30"); !bytes.Equal(iv, want) {
		t.Errorf("iv % x, want % x", iv, want)
	}
}

// TestNonce: the sequence number is XORed into the IV's last 8 bytes,
// big-endian.
func TestNonce(t *testing.T) {
	s := &Sealer{}
	copy(s.iv[:], unhex(t, "00112233445566778899aabb"))
	if got, want := s.nonce(0x0102030405060708), unhex(t, "00112233455765738d9fadb3"); !bytes.Equal(got[:], want) {
		t.Fatalf("nonce % x, want % x", got, want)
	}
}
