//go:build linux

package pump_test

import (
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
