//go:build !linux

package node

import "syscall"

// Outside Linux there is no Pdeathsig and no /proc to tell a process group
// from a later one with the same ID: a hook outlives a killed node, and no
// hook.lock is written (see README, "Running a node").
func hookSysProcAttr() *syscall.SysProcAttr { return &syscall.SysProcAttr{Setpgid: true} }

func procIdentity(int) (procID, error) { return procID{}, errNoProcIdentity }

func bootID() (string, error) { return "", errNoProcIdentity }

func groupMembers(int) ([]procStat, error) { return nil, errNoProcIdentity }

type procStat struct {
	pid   int
	start uint64
}
