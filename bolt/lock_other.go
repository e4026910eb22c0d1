//go:build !unix

package bolt

import (
	"context"
	"errors"
	"os"
	"time"
)

// ErrLocked is wrapped by the error of an Open that found the data file
// locked by another process.
var ErrLocked = errors.New("in use")

// lockFile leaves locking to bbolt on systems without flock.
func lockFile(ctx context.Context, _ *os.File, _ bool, _ time.Duration) error { return ctx.Err() }
