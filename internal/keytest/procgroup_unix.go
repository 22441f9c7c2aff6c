//go:build unix

package keytest

import (
	"os/exec"
	"syscall"
)

// ownGroup puts cmd in a process group of its own, and has its context's
// end kill the whole group: dbus-run-session's D-Bus daemon and keyring go
// with it, never left running.
func ownGroup(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
}
