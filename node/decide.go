// Package node is the runtime beside a node: it decides what to attest,
// warns about upgrades this binary cannot run, halts rather than follow one,
// and hands activations to the operator's tooling (upgrade-info.json and a
// hook). This file holds the decisions, as pure functions of the protocol
// state, so they are table-tested; the runtime loop calls them.
package node

import (
	"cmp"
	"fmt"
	"slices"
	"time"

	"github.com/quorumgate/quorumgate/activation"
)

// ExitHalted is node-plugin's exit status when it stops rather than run a
// protocol version it does not support (2 stays "bad usage or configuration").
const ExitHalted = 3

// Runs reports whether this binary can run what deployment d activates:
// every parameter change (it needs no new software: the node-plugin hands
// the new value to the node software, in params.json and to the hook), and
// a version upgrade only to a version it supports.
func (s Supported) Runs(d *activation.Deployment) bool {
	return d.IsParam() || s.Has(d.Component, d.Version)
}

// ToAttest returns the deployments this node signs readiness for: every
// STARTED parameter change, every STARTED version upgrade whose version it
// supports, and never another.
func ToAttest(state *activation.State, s Supported) []*activation.Deployment {
	var out []*activation.Deployment
	for _, d := range state.Deployments() {
		if d.Status == activation.Started && s.Runs(d) {
			out = append(out, d)
		}
	}
	return out
}

// Warning is a LOCKED_IN deployment of a version this node cannot run.
type Warning struct {
	Deployment, Component, Version string
	ActivationView                 uint64
	ViewsLeft                      uint64
	// ETA estimates the time left from the view interval.
	ETA time.Duration
}

func (w Warning) String() string {
	return fmt.Sprintf("deployment %s activates %s %s at view %d, and this node-plugin does not support it: "+
		"upgrade before view %d, about %s from now (%d views)", w.Deployment, w.Component, w.Version,
		w.ActivationView, w.ActivationView, w.ETA.Round(time.Second), w.ViewsLeft)
}

// Warnings lists what this node must upgrade for, soonest first: never a
// parameter change, which needs no upgrade.
func Warnings(state *activation.State, s Supported, view uint64, viewInterval time.Duration) []Warning {
	var out []Warning
	for _, d := range state.Deployments() {
		if d.Status != activation.LockedIn || s.Runs(d) {
			continue
		}
		left := uint64(0)
		if d.ActivatesAt > view {
			left = d.ActivatesAt - view
		}
		out = append(out, Warning{Deployment: d.Name, Component: d.Component, Version: d.Version,
			ActivationView: d.ActivatesAt, ViewsLeft: left, ETA: time.Duration(left) * viewInterval})
	}
	slices.SortFunc(out, func(a, b Warning) int { return cmp.Compare(a.ActivationView, b.ActivationView) })
	return out
}

// HaltError says what to install; the node exits with ExitHalted.
type HaltError struct {
	Deployment, Component, Version string
	ActivationView                 uint64
}

func (e *HaltError) Error() string {
	return fmt.Sprintf("halted before view %d: deployment %s makes %s %s active from view %d, and this node-plugin does not support it; "+
		"install a node-plugin that supports %s=%s and start it again (the store is consistent and resumes where it stopped)",
		e.ActivationView, e.Deployment, e.Component, e.Version, e.ActivationView, e.Component, e.Version)
}

// Guard returns the devchain guard that halts before the first block at or
// past the activation of a version this node does not support, and refuses
// to go on from a state where such a version is already active. A
// parameter change never halts the node (Runs).
func Guard(s Supported) func(head *activation.State, view uint64) error {
	return func(head *activation.State, view uint64) error {
		for _, d := range head.Deployments() {
			activating := d.Status == activation.LockedIn && view >= d.ActivatesAt
			if (activating || d.Status == activation.Active) && !s.Runs(d) {
				if d.Status == activation.Active {
					// Only the component's current version matters.
					if v, _ := head.ActiveVersion(d.Component); v != d.Version {
						continue
					}
				}
				return &HaltError{Deployment: d.Name, Component: d.Component, Version: d.Version, ActivationView: d.ActivatesAt}
			}
		}
		return nil
	}
}
