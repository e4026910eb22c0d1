package bolt

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/ssehub/ssehub"
)

// Settings are the driver's own options, the storage.bolt section of the
// configuration:
//
//	storage:
//	  driver: bolt
//	  path: ./data
//	  bolt:
//	    open_timeout: 3s   # wait for a data directory another process holds
//	    max_batch: 10000   # events per Append and per commit
//	    no_sync: false     # skip fsync: tests and benchmarks only
type Settings struct {
	OpenTimeout time.Duration `yaml:"open_timeout"`
	MaxBatch    int           `yaml:"max_batch"`
	NoSync      bool          `yaml:"no_sync"`
}

// settings decodes cfg's storage.bolt section and checks it.
func settings(cfg ssehub.StoreConfig) (Settings, error) {
	var s Settings
	if cfg.Settings != nil {
		if err := cfg.Settings(&s); err != nil {
			return s, fmt.Errorf("storage.bolt: %w", err)
		}
	}
	switch {
	case s.OpenTimeout < 0:
		return s, errors.New("storage.bolt.open_timeout: must not be negative")
	case s.MaxBatch < 0:
		return s, errors.New("storage.bolt.max_batch: must not be negative")
	}
	return s, nil
}

func validate(cfg ssehub.StoreConfig) error {
	if cfg.Path == "" {
		return errors.New("storage.path: the bolt store needs a data directory")
	}
	_, err := settings(cfg)
	return err
}

func init() {
	ssehub.RegisterDriver(ssehub.Driver{
		Name:    "bolt",
		Summary: "embedded, durable: one bbolt file in the data directory (default)",
		Open: func(ctx context.Context, cfg ssehub.StoreConfig) (ssehub.Store, error) {
			if err := validate(cfg); err != nil {
				return nil, err
			}
			s, _ := settings(cfg)
			return OpenContext(ctx, cfg.Path, Options{Retention: cfg.Retention, DedupeWindow: cfg.DedupeWindow,
				MaxBatch: s.MaxBatch, NoSync: s.NoSync, OpenTimeout: s.OpenTimeout, Logger: cfg.Logger})
		},
		Validate: validate,
		Describe: func(cfg ssehub.StoreConfig) string { return "bolt at " + cfg.Path },
	})
}
