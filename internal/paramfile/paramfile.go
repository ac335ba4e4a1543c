// Package paramfile is the "params" object that genesis files (package
// chain) and scenario files (package replay) share: the protocol
// parameters a chain declares at genesis (docs/replay.md, "Parameters").
//
//	"params": {"timeout": {"type": "uint", "value": "1000", "min": 100, "max": 5000, "min_lead_views": 30},
//	           "motd": {"type": "string", "value": "hello", "min_lead_views": 1}}
//
// Values are JSON strings in canonical text ("true"/"false" for a bool);
// min and max are whole numbers, for uint parameters only.
package paramfile

import (
	"maps"
	"slices"

	"github.com/quorumgate/quorumgate/activation"
	"github.com/quorumgate/quorumgate/internal/strictjson"
)

// Entry is one parameter's declaration as a file writes it.
type Entry struct {
	Type         string  `json:"type" strict:"required"`
	Value        string  `json:"value" strict:"required"`
	Min          *uint64 `json:"min,omitempty"`
	Max          *uint64 `json:"max,omitempty"`
	MinLeadViews uint64  `json:"min_lead_views" strict:"required"`
}

// Params is a file's "params" object, read by strictjson: the declarations,
// each checked (activation.ParamDecl.Check), in name order.
type Params []activation.ParamDecl

// UnmarshalStrict reads the object in name order, so that with several bad
// entries the first by name is reported, at the member it is about.
func (ps *Params) UnmarshalStrict(v any, path string) error {
	m, ok := v.(map[string]any)
	if !ok {
		return strictjson.Errorf(path, "expected an object of parameter names to declarations, got %s", strictjson.Describe(v))
	}
	*ps = Params{}
	for _, name := range slices.Sorted(maps.Keys(m)) {
		at := strictjson.Join(path, name)
		var e Entry
		if err := strictjson.Into(m[name], &e, at); err != nil {
			return err
		}
		t, ok := activation.ParseParamType(e.Type)
		if !ok {
			return strictjson.Errorf(at+".type", "%q is not a parameter type: allowed are uint, bool, string", e.Type)
		}
		d := activation.ParamDecl{Name: name, Type: t, Min: e.Min, Max: e.Max, Value: e.Value, MinLeadViews: e.MinLeadViews}
		if err := d.Check(); err != nil {
			where := at
			if de, ok := err.(*activation.ParamDeclError); ok && de.Field != "name" {
				where = at + "." + de.Field
			}
			return strictjson.Errorf(where, "%v", err)
		}
		*ps = append(*ps, d)
	}
	return nil
}

// Entries is the written form of declarations, by name.
func Entries(decls []activation.ParamDecl) map[string]Entry {
	out := make(map[string]Entry, len(decls))
	for _, d := range decls {
		out[d.Name] = Entry{Type: d.Type.String(), Value: d.Value, Min: d.Min, Max: d.Max, MinLeadViews: d.MinLeadViews}
	}
	return out
}
