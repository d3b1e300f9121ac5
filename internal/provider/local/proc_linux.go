package local

import (
	"bytes"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// procInfo is what /proc tells about one process.
type procInfo struct {
	pid    int
	pgrp   int
	zombie bool
}

// readProc reads /proc/<pid>/stat. ok is false if the process does not exist.
func readProc(pid int) (procInfo, bool) {
	data, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "stat"))
	if err != nil {
		return procInfo{}, false
	}
	// "pid (comm) state ppid pgrp ...": comm may hold spaces and parentheses,
	// so parse from the last ')'.
	i := bytes.LastIndexByte(data, ')')
	if i < 0 {
		return procInfo{}, false
	}
	fields := strings.Fields(string(data[i+1:]))
	if len(fields) < 3 {
		return procInfo{}, false
	}
	pgrp, err := strconv.Atoi(fields[2])
	if err != nil {
		return procInfo{}, false
	}
	return procInfo{pid: pid, pgrp: pgrp, zombie: fields[0] == "Z" || fields[0] == "X"}, true
}

// belongsTo reports whether process pid was started for the instance id
// living in dir: its environment names the instance, or its command line
// holds the instance directory. A pid reused by some other process fails
// both tests.
func belongsTo(pid int, id, dir string) bool {
	base := filepath.Join("/proc", strconv.Itoa(pid))
	if env, err := os.ReadFile(filepath.Join(base, "environ")); err == nil {
		for _, kv := range bytes.Split(env, []byte{0}) {
			if string(kv) == envInstanceID+"="+id {
				return true
			}
		}
	}
	if cmdline, err := os.ReadFile(filepath.Join(base, "cmdline")); err == nil {
		for _, arg := range bytes.Split(cmdline, []byte{0}) {
			if string(arg) == dir || strings.HasPrefix(string(arg), dir+string(filepath.Separator)) {
				return true
			}
		}
	}
	return false
}

// instanceProcs returns the live (not zombie) processes that belong to the
// instance: the agent, and everything it started (the agent runs commands in
// process groups of their own, and a control plane killed between starting
// an agent and recording its pid leaves no pid to go by, so every process
// is looked at, not one group). pid, the recorded agent pid, is only a hint.
func instanceProcs(pid int, id, dir string) []int {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	var out []int
	for _, e := range entries {
		p, err := strconv.Atoi(e.Name())
		if err != nil || p <= 1 || p == os.Getpid() {
			continue
		}
		info, ok := readProc(p)
		if !ok || info.zombie {
			continue
		}
		if belongsTo(p, id, dir) {
			out = append(out, p)
		}
	}
	return out
}

// ownedBy reports whether pid is a live (not zombie) process of the
// instance id living in dir.
func ownedBy(pid int, id, dir string) bool {
	info, ok := readProc(pid)
	return ok && !info.zombie && belongsTo(pid, id, dir)
}
