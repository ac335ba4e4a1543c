package activation

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Protocol parameters (docs/replay.md, "Parameters"): keys of the protocol
// state that governance changes with no new software, each declared once at
// genesis with its type, bounds and the least lead time a change needs. A
// parameter change is a deployment like a version upgrade, carrying Param
// and Value instead of Component and Version, judged by the same rules plus
// the parameter's own; the protocol state keeps each key's full history.

// ParamType is a parameter's type.
type ParamType uint8

// The parameter types.
const (
	ParamUint ParamType = iota + 1
	ParamBool
	ParamString
)

func (t ParamType) String() string {
	switch t {
	case ParamUint:
		return "uint"
	case ParamBool:
		return "bool"
	case ParamString:
		return "string"
	}
	return fmt.Sprintf("ParamType(%d)", uint8(t))
}

// ParseParamType reads "uint", "bool" or "string".
func ParseParamType(s string) (ParamType, bool) {
	for _, t := range []ParamType{ParamUint, ParamBool, ParamString} {
		if t.String() == s {
			return t, true
		}
	}
	return 0, false
}

// MaxParamStringLen bounds a string parameter's value, in bytes: values
// live in every state and in every node's params.json.
const MaxParamStringLen = 1024

// ParamDecl declares a protocol parameter at genesis.
type ParamDecl struct {
	Name string    `cbor:"1,keyasint"`
	Type ParamType `cbor:"2,keyasint"`
	// Min and Max bound a uint parameter's value (inclusive), when set.
	Min *uint64 `cbor:"3,keyasint,omitempty"`
	Max *uint64 `cbor:"4,keyasint,omitempty"`
	// Value is the value at genesis, in canonical text (CheckValue).
	Value string `cbor:"5,keyasint"`
	// MinLeadViews (at least 1) is the safety lead of a change, as the
	// issue that introduced parameters states it for each mode: governance
	// accepts a change at view v only if activation_view > v + max(Δ,
	// MinLeadViews); stake activates it at the first epoch boundary the
	// rules allow that is at least Lead (max(MinLeadViews, Δ+1)) views after
	// the lock-in block. Either way a change is at least Δ + 1 views ahead.
	MinLeadViews uint64 `cbor:"6,keyasint"`
}

// ParamDeclError is what is wrong with a declaration: Field is the member
// of a file's declaration it is about (name, type, min, max, value,
// min_lead_views).
type ParamDeclError struct{ Field, Problem string }

func (e *ParamDeclError) Error() string { return e.Problem }

// Check reports what is wrong with a declaration, if anything (a
// *ParamDeclError).
func (d ParamDecl) Check() error {
	bad := func(field, format string, args ...any) error {
		return &ParamDeclError{Field: field, Problem: fmt.Sprintf("parameter %s: ", d.Name) + fmt.Sprintf(format, args...)}
	}
	switch {
	case !ValidName(d.Name):
		return bad("name", "the name must be 1 to %d ASCII letters, digits, '.', '_' or '-', starting with a letter or digit", MaxNameLen)
	case d.Type != ParamUint && d.Type != ParamBool && d.Type != ParamString:
		return bad("type", "the type must be uint, bool or string")
	case d.Type != ParamUint && d.Min != nil:
		return bad("min", "min applies only to uint parameters, and this one is %v", d.Type)
	case d.Type != ParamUint && d.Max != nil:
		return bad("max", "max applies only to uint parameters, and this one is %v", d.Type)
	case d.Min != nil && d.Max != nil && *d.Min > *d.Max:
		return bad("min", "min %d is greater than max %d", *d.Min, *d.Max)
	case d.MinLeadViews == 0:
		return bad("min_lead_views", "min_lead_views must be at least 1")
	}
	switch d.CheckValue(d.Value) {
	case BadValue:
		return bad("value", "value %q is not a %v%s", d.Value, d.Type, d.Type.form())
	case OutOfBounds:
		return bad("value", "value %s is out of its bounds %s", d.Value, d.bounds())
	}
	return nil
}

func (t ParamType) form() string {
	switch t {
	case ParamUint:
		return " (a whole number from 0 to 18446744073709551615, in decimal without leading zeros)"
	case ParamBool:
		return ` ("true" or "false")`
	}
	return fmt.Sprintf(" (valid UTF-8 with no control characters, at most %d bytes)", MaxParamStringLen)
}

func (d ParamDecl) bounds() string {
	lo, hi := "0", "18446744073709551615"
	if d.Min != nil {
		lo = strconv.FormatUint(*d.Min, 10)
	}
	if d.Max != nil {
		hi = strconv.FormatUint(*d.Max, 10)
	}
	return "[" + lo + ", " + hi + "]"
}

// CheckValue judges a value for this parameter: "" if it is one, BadValue
// if it is not of the type in canonical text (a uint in decimal without
// leading zeros or sign, a bool "true" or "false", a string valid UTF-8 of
// at most MaxParamStringLen bytes with no control character),
// OutOfBounds if a uint is outside [Min, Max].
//
// A string value reaches the node's hook (QUORUMGATE_VALUE), params.json
// and the logs, so it carries no control character (C0, DEL, C1:
// unicode.IsControl, newline and tab included), which would forge a log
// line or a line of a hook's output.
func (d ParamDecl) CheckValue(v string) Reason {
	switch d.Type {
	case ParamUint:
		n, err := strconv.ParseUint(v, 10, 64)
		if err != nil || strconv.FormatUint(n, 10) != v {
			return BadValue
		}
		if (d.Min != nil && n < *d.Min) || (d.Max != nil && n > *d.Max) {
			return OutOfBounds
		}
	case ParamBool:
		if v != "true" && v != "false" {
			return BadValue
		}
	case ParamString:
		if len(v) > MaxParamStringLen || !utf8.ValidString(v) || strings.ContainsFunc(v, unicode.IsControl) {
			return BadValue
		}
	default:
		return BadValue
	}
	return ""
}

// Lead is the least number of views a change of this parameter needs
// between the block that accepts (governance) or locks it in (stake) and
// its activation: MinLeadViews, and never less than Δ + 1.
func (d ParamDecl) Lead(safetyViews uint64) uint64 {
	return max(d.MinLeadViews, satAdd(safetyViews, 1))
}

// ParamRecord is one step of a parameter's history: Value governs blocks
// from ActivationView on; FirstView is the first block that ran it.
type ParamRecord struct {
	Value          string `cbor:"1,keyasint" json:"value"`
	ActivationView uint64 `cbor:"2,keyasint" json:"activation_view"`
	FirstView      uint64 `cbor:"3,keyasint" json:"first_view"`
}

// checkParams checks the declarations: each valid, names unique and in
// order (NewParamDecls sorts them).
func checkParams(decls []ParamDecl) error {
	for i, d := range decls {
		if err := d.Check(); err != nil {
			return err
		}
		if i > 0 && decls[i-1].Name >= d.Name {
			if decls[i-1].Name == d.Name {
				return fmt.Errorf("parameter %s is declared twice", d.Name)
			}
			return errors.New("parameter declarations are not in name order")
		}
	}
	return nil
}

// SortParamDecls puts declarations in name order, the order Params holds
// them in (a copy).
func SortParamDecls(decls []ParamDecl) []ParamDecl {
	out := slices.Clone(decls)
	slices.SortStableFunc(out, func(a, b ParamDecl) int { return strings.Compare(a.Name, b.Name) })
	return out
}

// Param returns the declaration of parameter name.
func (p *Params) Param(name string) (ParamDecl, bool) {
	i, ok := slices.BinarySearchFunc(p.Declared, name, func(d ParamDecl, n string) int { return strings.Compare(d.Name, n) })
	if !ok {
		return ParamDecl{}, false
	}
	return p.Declared[i], true
}

// ParamNames are the declared parameters, in name order.
func (s *State) ParamNames() []string {
	names := make([]string, len(s.params.Declared))
	for i, d := range s.params.Declared {
		names[i] = d.Name
	}
	return names
}

// ParamHistory returns a parameter's history, oldest first (nil for an
// undeclared one).
func (s *State) ParamHistory(name string) []ParamRecord { return s.paramValues[name] }

// ActiveParam returns the record of a parameter's active value.
func (s *State) ActiveParam(name string) (ParamRecord, bool) {
	h := s.paramValues[name]
	if len(h) == 0 {
		return ParamRecord{}, false
	}
	return h[len(h)-1], true
}

// ParamRecordAt returns the record that governed view v: the last one whose
// activation view is at or before v.
func (s *State) ParamRecordAt(name string, v uint64) (ParamRecord, bool) {
	h := s.paramValues[name]
	for i := len(h) - 1; i >= 0; i-- {
		if h[i].ActivationView <= v {
			return h[i], true
		}
	}
	return ParamRecord{}, false
}

// ParamValue returns a parameter's active value.
func (s *State) ParamValue(name string) (string, bool) {
	r, ok := s.ActiveParam(name)
	return r.Value, ok
}

// ParamAt returns the value that governed view v.
func (s *State) ParamAt(name string, v uint64) (string, bool) {
	r, ok := s.ParamRecordAt(name, v)
	return r.Value, ok
}
