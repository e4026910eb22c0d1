package bolt

import (
	"bufio"
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
)

// lockHolder names the process holding a flock on f's inode, from
// /proc/locks and /proc/PID/cmdline, or says it is unknown.
func lockHolder(f *os.File) string {
	var st syscall.Stat_t
	if err := syscall.Fstat(int(f.Fd()), &st); err != nil {
		return "another process"
	}
	pid := lockPID(st.Ino)
	if pid <= 0 {
		return "another process"
	}
	who := fmt.Sprintf("pid %d", pid)
	if pid == os.Getpid() {
		who += " (this process: the directory is already open here)"
	}
	if b, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid)); err == nil && len(b) > 0 {
		who += ": " + strings.TrimSpace(strings.ReplaceAll(string(b), "\x00", " "))
	}
	return who
}

// lockPID returns the pid of a FLOCK on inode ino in /proc/locks, or 0.
// A line reads: "1: FLOCK  ADVISORY  WRITE 1234 08:01:5678 0 EOF".
func lockPID(ino uint64) int {
	fl, err := os.Open("/proc/locks")
	if err != nil {
		return 0
	}
	defer fl.Close()
	s := bufio.NewScanner(fl)
	suffix := ":" + strconv.FormatUint(ino, 10)
	for s.Scan() {
		f := strings.Fields(s.Text())
		if len(f) < 6 || f[1] != "FLOCK" || !strings.HasSuffix(f[5], suffix) {
			continue
		}
		if pid, err := strconv.Atoi(f[4]); err == nil && pid > 0 {
			return pid
		}
	}
	return 0
}
