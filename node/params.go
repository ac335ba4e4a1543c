package node

import (
	"encoding/json"
	"fmt"
	"net/http"
	"path/filepath"
	"strconv"

	"github.com/quorumgate/quorumgate/activation"
)

// Protocol parameters as the node shows and hands them on: the params
// section of the status, GET /params, and HOME/params.json, which the node
// software reads the values from. A parameter change needs no new
// software: at its activation the node rewrites params.json and runs the
// hook (upgrade.go), and never halts.

// ParamsFileName is the file in the home that holds every parameter's
// active value (ParamsFile), on a chain that declares parameters.
const ParamsFileName = "params.json"

// ParamStatus is a declared parameter: its type, active value and history,
// and the changes of it pending.
type ParamStatus struct {
	Name    string                   `json:"name"`
	Type    string                   `json:"type"`
	Active  string                   `json:"active"`
	History []activation.ParamRecord `json:"history"`
	// Pending are its changes still DEFINED, STARTED or LOCKED_IN (the
	// chain accepts one at a time per parameter).
	Pending []PendingParamChange `json:"pending"`
}

// PendingParamChange is a parameter change not yet active.
type PendingParamChange struct {
	Deployment string `json:"deployment"`
	Value      string `json:"value"`
	Mode       string `json:"mode"`
	State      string `json:"state"`
	// ActivationView and ViewsToActivation are set once the activation view
	// is known (LOCKED_IN).
	ActivationView    *uint64 `json:"activation_view,omitempty"`
	ViewsToActivation *uint64 `json:"views_to_activation,omitempty"`
}

// paramStatuses are the state's parameters, in name order, with their
// pending changes as of view.
func paramStatuses(s *activation.State, view uint64) []ParamStatus {
	out := []ParamStatus{}
	for _, decl := range s.Params().Declared {
		active, _ := s.ParamValue(decl.Name)
		ps := ParamStatus{Name: decl.Name, Type: decl.Type.String(), Active: active, History: s.ParamHistory(decl.Name),
			Pending: []PendingParamChange{}}
		for _, d := range s.Deployments() {
			if d.Param != decl.Name || !d.Status.Pending() {
				continue
			}
			pc := PendingParamChange{Deployment: d.Name, Value: d.Value, Mode: d.Mode.String(), State: d.Status.String()}
			if d.HasActivation {
				av, left := d.ActivatesAt, uint64(0)
				if av > view {
					left = av - view
				}
				pc.ActivationView, pc.ViewsToActivation = &av, &left
			}
			ps.Pending = append(ps.Pending, pc)
		}
		out = append(out, ps)
	}
	return out
}

// ParamValue is one parameter's value, as params.json and /params?at=
// give it.
type ParamValue struct {
	Type  string `json:"type"`
	Value string `json:"value"`
	// ActivationView is the view the value governs from (0: the genesis value).
	ActivationView uint64 `json:"activation_view"`
}

// paramValues are the values of every declared parameter that pick
// chooses (State.ActiveParam, or State.ParamRecordAt at a view).
func paramValues(s *activation.State, pick func(name string) (activation.ParamRecord, bool)) map[string]ParamValue {
	out := map[string]ParamValue{}
	for _, decl := range s.Params().Declared {
		if r, ok := pick(decl.Name); ok {
			out[decl.Name] = ParamValue{Type: decl.Type.String(), Value: r.Value, ActivationView: r.ActivationView}
		}
	}
	return out
}

// ParamsFile is HOME/params.json: every parameter's active value in the
// state after block Height (at View), keyed by name. Values are text in
// the parameter type's canonical form ("1000", "true", any string).
//
//	{"height": 42, "view": 120, "params": {"timeout": {"type": "uint", "value": "1500", "activation_view": 120}}}
type ParamsFile struct {
	Height uint64                `json:"height"`
	View   uint64                `json:"view"`
	Params map[string]ParamValue `json:"params"`
}

// ParamsFileOf is the params.json of a state.
func ParamsFileOf(s *activation.State) ParamsFile {
	h, v, _ := s.Head()
	return ParamsFile{Height: h, View: v, Params: paramValues(s, s.ActiveParam)}
}

// writeParams rewrites HOME/params.json (atomically) from the chain's head,
// on a chain that declares parameters. The head is read under the lock, so
// of two writers the last writes the newer head.
func (n *Node) writeParams() error {
	n.paramsMu.Lock()
	defer n.paramsMu.Unlock()
	head := n.chain.Head()
	if len(head.Params().Declared) == 0 {
		return nil
	}
	data, err := json.MarshalIndent(ParamsFileOf(head), "", "  ")
	if err != nil {
		return err
	}
	path := filepath.Join(n.cfg.Home, ParamsFileName)
	if err := WriteFileAtomic(path, append(data, '\n'), 0o644); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

// ParamsAt is GET /params?at=VIEW: the value of every parameter that
// governed the view.
type ParamsAt struct {
	View   uint64                `json:"view"`
	Params map[string]ParamValue `json:"params"`
}

// serveParams answers GET /params: every parameter with its type, active
// value, history and pending changes; with ?at=VIEW, the values that
// governed that view (one at or before the head's).
func (n *Node) serveParams(w http.ResponseWriter, r *http.Request) {
	view, given, ok := atView(w, r)
	if !ok {
		return
	}
	if !given {
		writeJSON(w, n.Status().Params)
		return
	}
	head := n.chain.Head()
	if _, hv, _ := head.Head(); view > hv {
		http.Error(w, fmt.Sprintf("at=%d is after the head (view %d): which values govern it is not known yet", view, hv), http.StatusNotFound)
		return
	}
	writeJSON(w, ParamsAt{View: view, Params: paramValues(head, func(name string) (activation.ParamRecord, bool) { return head.ParamRecordAt(name, view) })})
}

// atView reads ?at=VIEW. given is false when there is none; ok is false
// when it is not a view, which it has answered (400).
func atView(w http.ResponseWriter, r *http.Request) (view uint64, given, ok bool) {
	at := r.URL.Query().Get("at")
	if at == "" {
		return 0, false, true
	}
	view, err := strconv.ParseUint(at, 10, 64)
	if err != nil {
		http.Error(w, fmt.Sprintf("at=%s is not a view (a whole number)", quoteValue(at)), http.StatusBadRequest)
		return 0, true, false
	}
	return view, true, true
}
