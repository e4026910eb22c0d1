//go:build linux

package pump_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/ssehub/ssehub/internal/pump"
)

// TestTLSOwnRecordsCurl reads streams whose records the pump seals itself
// with curl (OpenSSL, another TLS implementation than the one that did the
// handshake), once with each TLS 1.3 cipher suite: the key derivation, the
// nonces and the records of each are checked by a client that is not Go's.
func TestTLSOwnRecordsCurl(t *testing.T) {
	curl, err := exec.LookPath("curl")
	if err != nil {
		if os.Getenv("CI") == "true" || os.Getenv("SSEHUB_REQUIRE_INTEROP") == "1" {
			t.Fatal("curl is required (CI or SSEHUB_REQUIRE_INTEROP=1)")
		}
		t.Skip("no curl")
	}
	for _, suite := range []uint16{tls.TLS_AES_128_GCM_SHA256, tls.TLS_AES_256_GCM_SHA384, tls.TLS_CHACHA20_POLY1305_SHA256} {
		name := tls.CipherSuiteName(suite)
		t.Run(name, func(t *testing.T) {
			var counters pump.Counters
			p := newPump(t, pump.Options{Counters: &counters})
			tcp, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			ln := pump.TLSListener(tcp, serverTLS(t, tls.VersionTLS13))
			defer ln.Close()

			var want bytes.Buffer
			for i := range 200 {
				fmt.Fprintf(&want, "id: %d\ndata: %s\n\n", i, strings.Repeat("z", i*7))
			}
			final := "event: end\ndata: bye\n\n"
			served := make(chan error, 1)
			go func() {
				served <- serveOne(ln, suite, &counters, p, want.Bytes(), []byte(final))
			}()
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			cmd := exec.CommandContext(ctx, curl, "-sS", "-k", "-N", "--http1.1", "--tlsv1.3", "--tls13-ciphers", name,
				"https://"+tcp.Addr().String()+"/events")
			var stderr bytes.Buffer
			cmd.Stderr = &stderr
			out, err := cmd.Output()
			if serr := <-served; serr != nil {
				t.Fatal(serr)
			}
			if err != nil {
				t.Fatalf("curl: %v: %s", err, stderr.String())
			}
			if own := counters.TLSOwnRecords.Load(); own != 1 {
				t.Fatalf("%d streams on own records", own)
			}
			if w := append(want.Bytes(), final...); !bytes.Equal(out, w) {
				t.Fatalf("curl read %d bytes, want %d; first difference at %d", len(out), len(w), firstDiff(out, w))
			}
		})
	}
}

// serveOne serves one stream as a detached handler would: the request,
// PrepareTLS, the headers, then the pump, which writes body and then
// final, and ends the stream.
func serveOne(ln net.Listener, suite uint16, counters *pump.Counters, p *pump.Pump, body, final []byte) error {
	c, err := ln.Accept()
	if err != nil {
		return err
	}
	tc := c.(*tls.Conn)
	if err := tc.Handshake(); err != nil {
		return err
	}
	if got := tc.ConnectionState().CipherSuite; got != suite {
		return fmt.Errorf("negotiated %s", tls.CipherSuiteName(got))
	}
	if _, err := http.ReadRequest(bufio.NewReader(tc)); err != nil {
		return err
	}
	pump.PrepareTLS(pump.ConnContext(context.Background(), c))
	if _, err := io.WriteString(tc, streamHeaders); err != nil {
		return err
	}
	src := &source{}
	closed := make(chan error, 1)
	src.mu.Lock()
	s, err := p.Add(c, src, &pump.Config{Chunked: true}, func(err error) { closed <- err })
	if err != nil {
		return err
	}
	src.stream = s
	src.mu.Unlock()
	// In pieces of every size, the first ones small, then up to 20 KB.
	for rest, n := body, 1; len(rest) > 0; n = n*2 + 1 {
		k := min(len(rest), n%20_000+1)
		src.push(rest[:k])
		rest = rest[k:]
		time.Sleep(time.Millisecond)
	}
	for src.pending() > 0 {
		time.Sleep(time.Millisecond)
	}
	why := errors.New("done")
	s.Close(why, final)
	if err := <-closed; !errors.Is(err, why) {
		return fmt.Errorf("the stream ended with %v", err)
	}
	return nil
}

// pending is how many pushed bytes the pump has not taken yet.
func (s *source) pending() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.buf)
}
