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

// ownedBy reports whether process pid exists; as with instanceProcs, it
// cannot tell whether it belongs to the instance.
func ownedBy(pid int, id, dir string) bool {
	return pid > 1 && syscall.Kill(pid, 0) == nil
}
