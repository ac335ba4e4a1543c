package replay

import (
	"bytes"
	"encoding/hex"
	"encoding/json"

	"github.com/quorumgate/quorumgate/activation"
)

// The output lines of DESIGN.md "Scenario files"; field order follows the spec.

type transitionLine struct {
	Type           string  `json:"type"`
	View           uint64  `json:"view"`
	Height         uint64  `json:"height"`
	Epoch          uint64  `json:"epoch"`
	Deployment     string  `json:"deployment"`
	From           string  `json:"from"`
	To             string  `json:"to"`
	ActivationView *uint64 `json:"activation_view,omitempty"`
}

type rejectedLine struct {
	Type       string `json:"type"`
	View       uint64 `json:"view"`
	Kind       string `json:"kind"`
	Deployment string `json:"deployment"`
	Node       string `json:"node,omitempty"`
	Reason     string `json:"reason"`
}

type summaryDeployment struct {
	Name           string  `json:"name"`
	State          string  `json:"state"`
	SinceView      uint64  `json:"since_view"`
	ActivationView *uint64 `json:"activation_view,omitempty"`
}

type summaryVersion struct {
	Version        string `json:"version"`
	ActivationView uint64 `json:"activation_view"`
	FirstView      uint64 `json:"first_view"`
}

type summaryLine struct {
	Type        string                      `json:"type"`
	View        uint64                      `json:"view"`
	Deployments []summaryDeployment         `json:"deployments"`
	Versions    map[string][]summaryVersion `json:"versions"`
	// Only on a chain that declares parameters (docs/replay.md,
	// "Parameters"): without any, the line is DESIGN.md's.
	Params map[string][]activation.ParamRecord `json:"params,omitempty"`
}

// EventLine renders an event as one JSON line (without the newline).
func EventLine(e activation.Event) []byte {
	var v any
	switch e := e.(type) {
	case activation.Transition:
		l := transitionLine{Type: "transition", View: e.View, Height: e.Height, Epoch: e.Epoch,
			Deployment: e.Deployment, From: e.From.String(), To: e.To.String()}
		if e.To == activation.LockedIn {
			av := e.ActivationView
			l.ActivationView = &av
		}
		v = l
	case activation.Rejection:
		v = rejectedLine{Type: "rejected", View: e.View, Kind: string(e.Kind), Deployment: e.Deployment,
			Node: e.Node, Reason: string(e.Reason)}
	}
	return mustJSON(v)
}

type stateLine struct {
	Type    string `json:"type"`
	View    uint64 `json:"view"`
	Height  uint64 `json:"height"`
	StateID string `json:"state_id"`
}

// StateLine renders the "state" line of --state-ids: the head of s and its
// state ID in lowercase hex, as a node's /state-id reports it.
func StateLine(s *activation.State) []byte {
	height, view, _ := s.Head()
	id := s.ID()
	return mustJSON(stateLine{Type: "state", View: view, Height: height, StateID: hex.EncodeToString(id[:])})
}

// SummaryLine renders the closing summary of a run's final state.
func SummaryLine(s *activation.State) []byte {
	_, view, _ := s.Head()
	l := summaryLine{Type: "summary", View: view, Deployments: []summaryDeployment{},
		Versions: map[string][]summaryVersion{}}
	for _, d := range s.Deployments() {
		sd := summaryDeployment{Name: d.Name, State: d.Status.String(), SinceView: d.Since}
		if d.HasActivation {
			av := d.ActivatesAt
			sd.ActivationView = &av
		}
		l.Deployments = append(l.Deployments, sd)
	}
	for _, c := range s.Components() {
		for _, r := range s.History(c) {
			l.Versions[c] = append(l.Versions[c], summaryVersion(r))
		}
	}
	if names := s.ParamNames(); len(names) > 0 {
		l.Params = make(map[string][]activation.ParamRecord, len(names))
		for _, name := range names {
			l.Params[name] = s.ParamHistory(name)
		}
	}
	return mustJSON(l)
}

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err) // fixed structs of strings and integers always marshal
	}
	return b
}

// Output runs the scenario and returns its whole output, as `node-plugin
// replay` prints it: one line per event in block order, then the summary
// line, each ending in a newline. On error it returns nothing, so that a run
// that fails part-way never yields half an output.
func (sc *Scenario) Output(opts RunOptions) ([]byte, error) {
	var out bytes.Buffer
	res, err := sc.Run(opts, func(e activation.Event) {
		out.Write(EventLine(e))
		out.WriteByte('\n')
	})
	if err != nil {
		return nil, err
	}
	if opts.StateID {
		out.Write(StateLine(res.Final))
		out.WriteByte('\n')
	}
	out.Write(SummaryLine(res.Final))
	out.WriteByte('\n')
	return out.Bytes(), nil
}
