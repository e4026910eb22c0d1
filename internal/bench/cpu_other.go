//go:build !unix

package bench

import "time"

// cpu returns 0 where getrusage does not exist: the CPU figures read 0.
func cpu() time.Duration { return 0 }
