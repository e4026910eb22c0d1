//go:build linux

package netpoll_test

import (
	"io"
	"testing"
)

// BenchmarkTryWriteLoopback is the cost of one small write (one SSE event)
// to a loopback TCP connection whose reader drains it: the floor under
// every delivery the fan-out benchmarks make on one machine. On loopback
// the writer's system call also runs the receiver's TCP input and wakes
// the reader.
func BenchmarkTryWriteLoopback(b *testing.B) {
	srv, cli := pair(b)
	go io.Copy(io.Discard, cli)
	rc := rawConn(b, srv)
	msg := []byte("id: 123456\nevent: message\ndata: {\"t\":1763870000000000000,\"p\":\"abcdefghijklmnopqrstuvwxyzabcdefghijklmnopqrstuvwxyzabcdefghijkl\"}\n\n")
	b.SetBytes(int64(len(msg)))
	b.ReportAllocs()
	for b.Loop() {
		if n, err := rc.TryWrite(msg); err != nil || n != len(msg) {
			b.Fatalf("wrote %d: %v", n, err)
		}
	}
}
