package pebble

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/ssehub/ssehub"
)

// Settings are the driver's own options, the storage.pebble section of the
// configuration:
//
//	storage:
//	  driver: pebble
//	  path: ./data
//	  pebble:
//	    open_timeout: 3s    # wait for a data directory another process holds
//	    max_batch: 10000    # events per Append and per commit
//	    cache_size: 67108864 # pebble's block cache, bytes
//	    memtable_size: 33554432
//	    no_sync: false      # skip fsync: tests and benchmarks only
type Settings struct {
	OpenTimeout  time.Duration `yaml:"open_timeout"`
	MaxBatch     int           `yaml:"max_batch"`
	CacheSize    int64         `yaml:"cache_size"`
	MemTableSize int64         `yaml:"memtable_size"`
	NoSync       bool          `yaml:"no_sync"`
}

// settings decodes cfg's storage.pebble section and checks it.
func settings(cfg ssehub.StoreConfig) (Settings, error) {
	var s Settings
	if cfg.Settings != nil {
		if err := cfg.Settings(&s); err != nil {
			return s, fmt.Errorf("storage.pebble: %w", err)
		}
	}
	switch {
	case s.OpenTimeout < 0:
		return s, errors.New("storage.pebble.open_timeout: must not be negative")
	case s.MaxBatch < 0:
		return s, errors.New("storage.pebble.max_batch: must not be negative")
	case s.CacheSize < 0:
		return s, errors.New("storage.pebble.cache_size: must not be negative")
	case s.MemTableSize < 0 || s.MemTableSize >= 4<<30:
		return s, errors.New("storage.pebble.memtable_size: must be between 0 and 4 GiB")
	}
	return s, nil
}

func validate(cfg ssehub.StoreConfig) error {
	if cfg.Path == "" {
		return errors.New("storage.path: the pebble store needs a data directory")
	}
	_, err := settings(cfg)
	return err
}

// boltFile is the bolt store's file (bolt.FileName; not imported, so a
// build with pebble alone does not link bbolt).
const boltFile = "ssehub.db"

// notBolt refuses a data directory that holds a bolt store and no pebble
// one: opening it would start an empty log beside the history (and the
// tokens) an operator expects to find, e.g. after changing the driver.
func notBolt(dir string) error {
	if _, err := os.Stat(filepath.Join(dir, boltFile)); err != nil {
		return nil
	}
	if _, err := os.Stat(filepath.Join(dir, DirName)); err == nil {
		return nil
	}
	return fmt.Errorf("data directory %s holds a bolt store (%s), not a pebble one: start with --store bolt, or point --data at another directory", dir, boltFile)
}

func init() {
	ssehub.RegisterDriver(ssehub.Driver{
		Name:    "pebble",
		Summary: "embedded, durable: a pebble LSM in the data directory, one WAL sync per group commit",
		Open: func(ctx context.Context, cfg ssehub.StoreConfig) (ssehub.Store, error) {
			if err := validate(cfg); err != nil {
				return nil, err
			}
			s, _ := settings(cfg)
			if err := notBolt(cfg.Path); err != nil {
				return nil, err
			}
			return OpenContext(ctx, cfg.Path, Options{Retention: cfg.Retention, DedupeWindow: cfg.DedupeWindow,
				MaxBatch: s.MaxBatch, NoSync: s.NoSync, OpenTimeout: s.OpenTimeout, CacheSize: s.CacheSize,
				MemTableSize: uint64(s.MemTableSize), Logger: cfg.Logger})
		},
		Validate: validate,
		Describe: func(cfg ssehub.StoreConfig) string { return "pebble at " + filepath.Join(cfg.Path, DirName) },
	})
}
