package pump_test

import (
	"bufio"
	"errors"
	"io"
	"net"
	"net/http/httputil"
	"testing"
	"time"

	"github.com/ssehub/ssehub/internal/pump"
)

// encodedSource is a Source with an encoding of its own: it brackets every
// piece it hands out, so the test sees which bytes went through it.
type encodedSource struct{ source }

func (e *encodedSource) Next(dst []byte, max int) ([]byte, error) {
	start := len(dst)
	out, err := e.source.Next(dst, max)
	if len(out) == start {
		return out, err
	}
	plain := append([]byte(nil), out[start:]...)
	return append(append(append(out[:start], '['), plain...), ']'), err
}

func (e *encodedSource) AppendPing(dst, ping []byte) []byte {
	return append(append(append(dst, "[ping:"...), ping...), ']')
}

func (e *encodedSource) AppendEnd(dst, final []byte) []byte {
	return append(append(append(dst, "[end:"...), final...), ']')
}

// TestEncodedSource: the pump asks an EncodedSource for the heartbeat's
// bytes and for the stream's end (the final bytes of Close, or none),
// after what Next returned, instead of writing them as they are.
func TestEncodedSource(t *testing.T) {
	for _, c := range []struct {
		name string
		end  func(s *pump.Stream, src *encodedSource)
		want string
		why  error
	}{
		{"close", func(s *pump.Stream, _ *encodedSource) { s.Close(errors.New("revoked"), []byte("bye")) }, "[end:bye]", nil},
		{"error", func(_ *pump.Stream, src *encodedSource) { src.fail([]byte("last"), io.ErrUnexpectedEOF) }, "[last][end:]", io.ErrUnexpectedEOF},
	} {
		t.Run(c.name, func(t *testing.T) {
			p := newPump(t, pump.Options{})
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			defer ln.Close()
			cli, err := net.Dial("tcp", ln.Addr().String())
			if err != nil {
				t.Fatal(err)
			}
			defer cli.Close()
			srv, err := ln.Accept()
			if err != nil {
				t.Fatal(err)
			}
			src := &encodedSource{}
			closed := make(chan error, 1)
			src.mu.Lock()
			s, err := p.Add(srv, src, &pump.Config{Chunked: true, Heartbeat: 40 * time.Millisecond, Ping: []byte("hb")},
				func(err error) { closed <- err })
			if err != nil {
				t.Fatal(err)
			}
			src.stream = s
			src.mu.Unlock()
			body := httputil.NewChunkedReader(bufio.NewReader(cli))
			cli.SetReadDeadline(time.Now().Add(10 * time.Second))
			src.push([]byte("a"))
			got := make([]byte, len("[a][ping:hb]"))
			if _, err := io.ReadFull(body, got); err != nil || string(got) != "[a][ping:hb]" {
				t.Fatalf("got %q, %v", got, err)
			}
			c.end(s, src)
			rest, err := io.ReadAll(body)
			if err != nil {
				t.Fatal(err)
			}
			// More pings may have come before the end.
			for len(rest) >= len("[ping:hb]") && string(rest[:len("[ping:hb]")]) == "[ping:hb]" {
				rest = rest[len("[ping:hb]"):]
			}
			if string(rest) != c.want {
				t.Fatalf("the end: got %q, want %q", rest, c.want)
			}
			select {
			case err := <-closed:
				if c.why != nil && !errors.Is(err, c.why) {
					t.Fatalf("onClose(%v), want %v", err, c.why)
				}
			case <-time.After(5 * time.Second):
				t.Fatal("onClose not called")
			}
		})
	}
}
