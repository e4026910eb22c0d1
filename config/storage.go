package config

import (
	"bytes"
	"fmt"
	"log/slog"
	"sort"
	"strings"
	"time"

	"github.com/ssehub/ssehub"
	"gopkg.in/yaml.v3"
)

// validate checks the storage section against the registered drivers: the
// driver exists, every storage.<name> section is a driver's, and the
// driver accepts its settings.
func (s *Storage) validate() []error {
	var errs []error
	add := func(format string, args ...any) { errs = append(errs, fmt.Errorf("config: "+format, args...)) }
	if name, url := ssehub.ParseStoreName(s.Driver); url != "" {
		s.Driver, s.URL = name, url
	}
	names := make([]string, 0, len(s.Drivers))
	for name := range s.Drivers {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		if _, ok := ssehub.LookupDriver(name); !ok {
			add("storage.%s: unknown key (storage drivers in this build: %s)", name, strings.Join(ssehub.DriverNames(), ", "))
		}
	}
	d, ok := ssehub.LookupDriver(s.Driver)
	if !ok {
		add("storage.driver: %v", ssehub.UnknownDriverError(s.Driver))
		return errs
	}
	if d.Validate != nil {
		if err := d.Validate(s.StoreConfig(nil)); err != nil {
			for _, e := range strings.Split(err.Error(), "\n") {
				add("%s", e)
			}
		}
	}
	return errs
}

// StoreConfig returns what the configured driver needs to open its store.
func (s *Storage) StoreConfig(logger *slog.Logger) ssehub.StoreConfig {
	sc := ssehub.StoreConfig{Path: s.Path, URL: s.URL, DedupeWindow: time.Duration(s.DedupeWindow), Logger: logger,
		Retention: ssehub.Retention{MaxEvents: s.Retention.MaxEvents, MaxBytes: s.Retention.MaxBytes, MaxAge: time.Duration(s.Retention.MaxAge)}}
	if section, ok := s.Drivers[s.Driver]; ok {
		sc.Settings = func(v any) error { return decodeStrict(section, v) }
	}
	return sc
}

// decodeStrict decodes a section as loaded into v, rejecting keys v does
// not have.
func decodeStrict(section, v any) error {
	b, err := yaml.Marshal(section)
	if err != nil {
		return err
	}
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(v); err != nil && err.Error() != "EOF" {
		return err
	}
	return nil
}
