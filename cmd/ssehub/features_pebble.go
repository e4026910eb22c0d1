//go:build pebble

package main

// The pebble store (package pebble) is linked only into a binary built
// with -tags pebble: it adds about 12 MB to the binary and half again to
// its cold build, for a store that is not the default (docs/storage.md
// says when to choose it).
import (
	"context"
	"fmt"
	"path/filepath"

	"github.com/ssehub/ssehub/pebble"
)

func init() {
	storeCheckers = append(storeCheckers, storeChecker{
		name:   "pebble",
		detect: func(dir string) bool { return fileExists(filepath.Join(dir, pebble.DirName)) },
		check: func(ctx context.Context, dir string) (checkResult, error) {
			rep, err := pebble.Check(ctx, dir)
			return checkResult{ok: rep.OK, problems: rep.Problems,
				summary: fmt.Sprintf("%d events (ids %d to %d), %d topics, %d bytes, epoch %s", rep.Events, rep.First, rep.Head, rep.Topics, rep.Bytes, rep.Epoch),
				recover: "pebble has no salvage: restore the data directory from a backup (docs/storage.md)"}, err
		},
	})
}
