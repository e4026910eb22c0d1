//go:build !linux

package bench

import "os/exec"

// dieWithParent does nothing where the kernel cannot signal a child when
// its parent dies: a bench killed there leaves its hubs running.
func dieWithParent(*exec.Cmd) {}
