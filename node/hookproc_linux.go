package node

import (
	"bytes"
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
)

// hookSysProcAttr puts the hook in a process group of its own and has the
// kernel SIGKILL it when the thread that started it ends: with the node,
// however the node dies (kill -9 included). Pdeathsig follows the creating
// thread, not the process (go.dev/issue/27505), so runHook starts and waits
// for the hook from a goroutine locked to its OS thread: that thread lives
// as long as the hook. Pdeathsig reaches the hook only, not its children;
// hook.lock is for them (reclaimHook).
func hookSysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}

// procIdentity tells one process from a later one with the same PID: its
// start time (clock ticks after boot, /proc/PID/stat field 22) and the boot.
func procIdentity(pid int) (procID, error) {
	st, err := readProcStat(pid)
	if err != nil {
		return procID{}, err
	}
	boot, err := bootID()
	if err != nil {
		return procID{}, err
	}
	return procID{Start: st.start, Boot: boot}, nil
}

// bootID names this boot of the machine.
func bootID() (string, error) {
	boot, err := os.ReadFile("/proc/sys/kernel/random/boot_id")
	return strings.TrimSpace(string(boot)), err
}

// groupMembers lists the live (not zombie) processes in process group pgid,
// with their start times.
func groupMembers(pgid int) ([]procStat, error) {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil, err
	}
	var members []procStat
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		st, err := readProcStat(pid)
		if err != nil {
			continue // gone since the listing
		}
		if st.pgrp == pgid && st.state != 'Z' && st.state != 'X' {
			members = append(members, st)
		}
	}
	return members, nil
}

type procStat struct {
	pid, pgrp int
	state     byte
	start     uint64
}

// readProcStat parses /proc/PID/stat: "pid (comm) state ppid pgrp ...",
// the command holding anything, so fields are counted after the last ')'.
func readProcStat(pid int) (procStat, error) {
	data, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return procStat{}, err
	}
	i := bytes.LastIndexByte(data, ')')
	if i < 0 {
		return procStat{}, fmt.Errorf("/proc/%d/stat: no command", pid)
	}
	// After ") ": state (field 3), ppid, pgrp (5), ... starttime (22).
	f := strings.Fields(string(data[i+1:]))
	if len(f) < 20 {
		return procStat{}, fmt.Errorf("/proc/%d/stat: %d fields", pid, len(f)+2)
	}
	pgrp, err := strconv.Atoi(f[2])
	if err != nil {
		return procStat{}, fmt.Errorf("/proc/%d/stat: pgrp: %w", pid, err)
	}
	start, err := strconv.ParseUint(f[19], 10, 64)
	if err != nil {
		return procStat{}, fmt.Errorf("/proc/%d/stat: starttime: %w", pid, err)
	}
	return procStat{pid: pid, pgrp: pgrp, state: f[0][0], start: start}, nil
}
