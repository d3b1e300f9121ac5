//go:build unix && !linux

package local

import "syscall"

// instanceProcs returns pgid if a process with that id exists. Without
// /proc it cannot check that the process belongs to the instance, so on
// these systems a reused pid could be signalled; stratus targets Linux.
func instanceProcs(pgid int, id, dir string) []int {
	if pgid <= 1 {
		return nil
	}
	if err := syscall.Kill(pgid, 0); err != nil {
		return nil
	}
	return []int{pgid}
}
