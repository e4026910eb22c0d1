//go:build !linux

package bolt

import "os"

// lockHolder cannot name the holder outside Linux.
func lockHolder(*os.File) string { return "another process" }
