package ssehub

import (
	"context"
	"fmt"
	"log/slog"
	"sort"
	"strings"
	"sync"
	"time"
)

// A Driver opens one kind of store. Each store package registers its driver
// from an init function; a program links a store in with a blank import,
// and the configuration and `ssehub serve` find it here by name.
type Driver struct {
	// Name is the storage.driver value, e.g. "bolt"; a --store URL with
	// this scheme (e.g. "nats://host:4222") selects it too.
	Name string
	// Summary is a one-line description for help texts.
	Summary string
	// Open opens the store.
	Open func(ctx context.Context, cfg StoreConfig) (Store, error)
	// Validate, when set, checks cfg without opening anything, so that a
	// configuration error is reported before the hub starts. Each line of
	// its error names the configuration key, e.g.
	// "storage.nats.url: required".
	Validate func(cfg StoreConfig) error
	// Describe, when set, returns how the store is shown in the startup
	// banner, e.g. "bolt at ./data".
	Describe func(cfg StoreConfig) string
}

// StoreConfig is what a driver gets to open a store.
type StoreConfig struct {
	// Path is the data directory, for stores that keep files.
	Path string
	// URL is the store's address when it was given as one
	// (--store nats://host:4222), else empty.
	URL string
	// Retention bounds the history kept.
	Retention Retention
	// DedupeWindow is how long an idempotency key is remembered.
	DedupeWindow time.Duration
	// Logger receives the store's logs.
	Logger *slog.Logger
	// Settings decodes the driver's own configuration section
	// (storage.<driver name>) into v, rejecting unknown keys. It is nil when
	// there is no such section; then v keeps its defaults.
	Settings func(v any) error
}

var (
	driversMu   sync.RWMutex
	drivers     = map[string]Driver{}
	driverHints = map[string]string{}
)

// HintDriver says how to get a driver that this build does not link (for
// example "build ssehub with -tags pebble"): asking for name then fails
// with that hint. A registered driver of that name makes it moot.
func HintDriver(name, hint string) {
	driversMu.Lock()
	defer driversMu.Unlock()
	driverHints[name] = hint
}

// RegisterDriver makes a store available by name. It panics on a duplicate
// name or a driver without Name or Open, as those are programming errors.
func RegisterDriver(d Driver) {
	if d.Name == "" || d.Open == nil {
		panic("ssehub: RegisterDriver needs a Name and Open")
	}
	driversMu.Lock()
	defer driversMu.Unlock()
	if _, dup := drivers[d.Name]; dup {
		panic("ssehub: driver " + d.Name + " registered twice")
	}
	drivers[d.Name] = d
}

// LookupDriver returns the driver registered under name.
func LookupDriver(name string) (Driver, bool) {
	driversMu.RLock()
	defer driversMu.RUnlock()
	d, ok := drivers[name]
	return d, ok
}

// DriverNames returns the registered drivers' names, sorted.
func DriverNames() []string {
	driversMu.RLock()
	defer driversMu.RUnlock()
	out := make([]string, 0, len(drivers))
	for n := range drivers {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// ParseStoreName splits a --store value: a driver name ("memory") or a URL
// whose scheme names the driver ("nats://host:4222").
func ParseStoreName(s string) (driver, url string) {
	if i := strings.Index(s, "://"); i > 0 {
		return s[:i], s
	}
	return s, ""
}

// OpenStore opens the store of the named driver.
func OpenStore(ctx context.Context, driver string, cfg StoreConfig) (Store, error) {
	d, ok := LookupDriver(driver)
	if !ok {
		return nil, UnknownDriverError(driver)
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	s, err := d.Open(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", driver, err)
	}
	return s, nil
}

// UnknownDriverError is the error for a driver name nobody registered.
func UnknownDriverError(name string) error {
	driversMu.RLock()
	hint := driverHints[name]
	driversMu.RUnlock()
	if hint != "" {
		hint = "; " + hint
	}
	return fmt.Errorf("storage driver %q is not available in this build (available: %s)%s", name, strings.Join(DriverNames(), ", "), hint)
}
