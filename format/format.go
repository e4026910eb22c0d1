// Package format is the registry of output formats: how an event is
// rendered on an SSE stream. The hub encodes each event once per format in
// use and shares the bytes with every subscriber of that format; a format
// that needs per-connection state (Arrow's schema) also implements
// [SessionFormat].
//
// Two formats are built in: "raw" (the event's type as the SSE event name,
// its data as is) and "envelope" (event "message" with the JSON envelope).
// Another package adds one with [Register], without touching the hub.
package format

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"sync"

	"github.com/ssehub/ssehub"
)

// A Format renders events on an SSE stream.
type Format interface {
	// Name is the format's configuration name, e.g. "envelope".
	Name() string
	// Encode appends the complete SSE frame of ev to dst, with id as its
	// id field. It is called once per event (and id style) and the bytes are
	// shared by every subscriber using the format, so it must depend on
	// nothing but its arguments. It must not keep ev.
	Encode(dst []byte, ev *ssehub.Event, id string) []byte
}

// A SessionFormat is a Format that keeps state per connection.
type SessionFormat interface {
	Format
	// NewSession returns the state of one connection.
	NewSession(info SessionInfo) Session
}

// SessionInfo describes the connection a session serves.
type SessionInfo struct {
	// Context ends with the connection.
	Context context.Context
	// Filter is what the connection streams.
	Filter ssehub.Filter
}

// A Session is one connection's state of a SessionFormat. Its methods are
// called one at a time, never concurrently: from the goroutine that serves
// the connection, or, while that one waits for a catch-up read, from the
// hub's reader that does the read.
type Session interface {
	// Start appends what the connection sends before its first event, on
	// connect (and so again on every reconnection, which is a new
	// connection).
	Start(dst []byte) []byte
	// Before appends what must precede ev's shared bytes on this
	// connection, e.g. a schema event when ev's schema differs from the
	// last one sent.
	Before(dst []byte, ev *ssehub.Event) []byte
}

// MaxFormats bounds how many formats may be registered; the hub keeps a
// small fixed table per event.
const MaxFormats = 8

var (
	mu      sync.RWMutex
	byName  = map[string]int{}
	byIndex []Format
)

// Register adds f under f.Name() and returns its index (0 ≤ index <
// MaxFormats), which the hub uses to cache encodings. Registering the same
// Format value twice returns its index; another format under a taken name,
// or more than MaxFormats formats, is an error.
func Register(f Format) (int, error) {
	mu.Lock()
	defer mu.Unlock()
	if i, ok := byName[f.Name()]; ok {
		if byIndex[i] == f {
			return i, nil
		}
		return 0, fmt.Errorf("format: %q is registered already", f.Name())
	}
	if len(byIndex) == MaxFormats {
		return 0, fmt.Errorf("format: at most %d formats", MaxFormats)
	}
	byName[f.Name()] = len(byIndex)
	byIndex = append(byIndex, f)
	return len(byIndex) - 1, nil
}

// MustRegister is Register for formats registered at init; it panics on error.
func MustRegister(f Format) int {
	i, err := Register(f)
	if err != nil {
		panic(err)
	}
	return i
}

// Lookup returns the format registered under name and its index.
func Lookup(name string) (Format, int, bool) {
	mu.RLock()
	defer mu.RUnlock()
	i, ok := byName[name]
	if !ok {
		return nil, 0, false
	}
	return byIndex[i], i, true
}

// ByIndex returns the format with index i.
func ByIndex(i int) Format {
	mu.RLock()
	defer mu.RUnlock()
	return byIndex[i]
}

// Names returns the registered formats' names, sorted.
func Names() []string {
	mu.RLock()
	defer mu.RUnlock()
	out := make([]string, 0, len(byName))
	for n := range byName {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// Parse maps a configuration or query value to a registered format; ""
// means envelope.
func Parse(name string) (Format, error) {
	if name == "" {
		name = "envelope"
	}
	f, _, ok := Lookup(name)
	if !ok {
		return nil, fmt.Errorf("unknown format %q (want %s)", name, strings.Join(Names(), ", "))
	}
	return f, nil
}
