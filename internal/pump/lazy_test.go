//go:build linux

package pump_test

import (
	"bufio"
	"errors"
	"io"
	"net"
	"testing"
	"time"

	"github.com/ssehub/ssehub/internal/pump"
)

// TestLazy: the pump starts at the first Acquire and is shared; Close waits
// for every Acquire to be released, and nothing is acquired after Close or
// Disable.
func TestLazy(t *testing.T) {
	l := pump.NewLazy(pump.Options{WriteTimeout: time.Second}, func(err error) { t.Errorf("no pump: %v", err) })
	p := l.Acquire()
	if p == nil || l.Acquire() != p {
		t.Fatal("two acquisitions do not share one started pump")
	}
	l.Release()
	closed := make(chan struct{})
	go func() { l.Close(); close(closed) }()
	select {
	case <-closed:
		t.Fatal("Close returned while an acquisition was held")
	case <-time.After(100 * time.Millisecond):
	}
	l.Release()
	select {
	case <-closed:
	case <-time.After(5 * time.Second):
		t.Fatal("Close did not return once the acquisitions were released")
	}
	if l.Acquire() != nil {
		t.Fatal("a pump acquired after Close")
	}
	d := pump.NewLazy(pump.Options{WriteTimeout: time.Second}, nil)
	d.Disable()
	if d.Acquire() != nil {
		t.Fatal("a pump acquired after Disable")
	}
	d.Close()
}

// TestLazyHandOverFailures: a failed hijack, or a connection the pump
// cannot take, keeps later streams on their goroutines, and the taken
// connection is closed after the last chunk.
func TestLazyHandOverFailures(t *testing.T) {
	l := pump.NewLazy(pump.Options{WriteTimeout: time.Second}, nil)
	p := l.Acquire()
	if _, err := l.HandOver(p, func() (net.Conn, *bufio.ReadWriter, error) { return nil, nil, errors.New("no") },
		nil, &pump.Config{}, nil); err == nil {
		t.Fatal("a failed hijack handed over")
	}
	l.Release()
	if l.Acquire() != nil {
		t.Fatal("a pump acquired after a failed hijack")
	}
	l.Close()

	l = pump.NewLazy(pump.Options{WriteTimeout: time.Second}, nil)
	p = l.Acquire()
	srv, cli := net.Pipe() // not a socket: the pump cannot poll it
	got := make(chan []byte, 1)
	go func() { b, _ := io.ReadAll(cli); got <- b }()
	if _, err := l.HandOver(p, func() (net.Conn, *bufio.ReadWriter, error) { return srv, nil, nil },
		nil, &pump.Config{}, nil); err == nil {
		t.Fatal("a pipe was handed over")
	}
	if b := <-got; string(b) != "0\r\n\r\n" {
		t.Fatalf("the refused connection got %q, want the last chunk and its close", b)
	}
	l.Release()
	if l.Acquire() != nil {
		t.Fatal("a pump acquired after a connection it could not take")
	}
	l.Close()
}
