//go:build !unix

package keytest

import "os/exec"

// ownGroup does nothing where there are no process groups (and no
// dbus-run-session).
func ownGroup(*exec.Cmd) {}
