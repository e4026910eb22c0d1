//go:build unix

package bolt

import (
	"context"
	"errors"
	"fmt"
	"os"
	"syscall"
	"time"
)

// ErrLocked is wrapped by the error of an Open that found the data file
// locked by another process (or another open Log in this one).
var ErrLocked = errors.New("in use")

// lockFile takes the file's flock (exclusive for writing, shared for
// reading), retrying every 50 ms until timeout (negative: no limit) or
// until ctx ends. bbolt then takes the same lock again on the same file
// description, which succeeds at once.
func lockFile(ctx context.Context, f *os.File, exclusive bool, timeout time.Duration) error {
	how := syscall.LOCK_SH
	if exclusive {
		how = syscall.LOCK_EX
	}
	start := time.Now()
	var t *time.Timer
	for {
		err := syscall.Flock(int(f.Fd()), how|syscall.LOCK_NB)
		if err == nil {
			return nil
		}
		if !errors.Is(err, syscall.EWOULDBLOCK) {
			return fmt.Errorf("lock %s: %w", f.Name(), err)
		}
		holder := lockHolder(f)
		if timeout >= 0 && time.Since(start) >= timeout {
			return fmt.Errorf("%w by %s: gave up after %s (is a hub running on it? stop it, or use --server)", ErrLocked, holder, timeout)
		}
		if t == nil {
			t = time.NewTimer(50 * time.Millisecond)
			defer t.Stop()
		} else {
			t.Reset(50 * time.Millisecond)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("waiting for the lock held by %s: %w", holder, ctx.Err())
		case <-t.C:
		}
	}
}
