package bench

import (
	"os/exec"
	"syscall"
)

// dieWithParent makes the spawned hub get SIGTERM when the bench dies
// (SIGKILL, or SIGPIPE when its output goes to a pipe that closed), so
// that no hub outlives a bench that could not stop it.
func dieWithParent(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}
}
