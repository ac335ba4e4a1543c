// Package strictjson reads JSON files written by people (scenarios, genesis
// files) strictly: exact numbers, no unknown fields, and every error named by
// its JSON path (blocks[2].proposals[0].start_epoch) or, for bad JSON, its
// line and column.
package strictjson

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
)

// InputError is bad input: what is wrong and where (a JSON path such as
// blocks[2].proposals[0].start_epoch, or a line and column for bad JSON).
type InputError struct {
	Where string
	What  string
}

func (e *InputError) Error() string {
	if e.Where == "" {
		return e.What
	}
	return e.Where + ": " + e.What
}

// Errorf returns an *InputError at where.
func Errorf(where, format string, args ...any) error {
	return &InputError{Where: where, What: fmt.Sprintf(format, args...)}
}

// decode parses one JSON value (numbers kept exact) and rejects trailing data.
func decode(data []byte) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, jsonSyntaxErr(data, err)
	}
	if _, err := dec.Token(); err != io.EOF {
		off := dec.InputOffset()
		line, col := lineCol(data, off)
		return nil, Errorf(fmt.Sprintf("line %d, column %d", line, col), "unexpected data after the scenario object")
	}
	return v, nil
}

func jsonSyntaxErr(data []byte, err error) error {
	var syn *json.SyntaxError
	if errors.As(err, &syn) {
		line, col := lineCol(data, syn.Offset)
		return Errorf(fmt.Sprintf("line %d, column %d", line, col), "bad JSON: %v", syn)
	}
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return Errorf("", "bad JSON: the file ends before the scenario object does")
	}
	return Errorf("", "bad JSON: %v", err)
}

func lineCol(data []byte, off int64) (int, int) {
	off = min(max(off, 0), int64(len(data)))
	before := data[:off]
	line := bytes.Count(before, []byte{'\n'}) + 1
	col := int(off) - (bytes.LastIndexByte(before, '\n') + 1)
	return line, col
}

// Describe says what a JSON value is, for error messages.
func Describe(v any) string {
	switch x := v.(type) {
	case nil:
		return "null"
	case bool:
		return strconv.FormatBool(x)
	case string:
		if len(x) > 40 {
			x = x[:40] + "..."
		}
		return "the string " + strconv.Quote(x)
	case json.Number:
		return "the number " + x.String()
	case []any:
		return "an array"
	case map[string]any:
		return "an object"
	}
	return fmt.Sprintf("%T", v)
}

// object checks that v is an object with only the allowed keys and all the required ones.
func object(v any, path string, allowed, required []string) (map[string]any, error) {
	m, ok := v.(map[string]any)
	if !ok {
		return nil, Errorf(path, "expected an object, got %s", Describe(v))
	}
	var unknown []string
	for k := range m {
		if !slices.Contains(allowed, k) {
			unknown = append(unknown, k)
		}
	}
	if len(unknown) > 0 {
		slices.Sort(unknown)
		return nil, Errorf(Join(path, unknown[0]), "unknown field (allowed here: %s)", strings.Join(allowed, ", "))
	}
	for _, k := range required {
		if _, ok := m[k]; !ok {
			return nil, Errorf(path, "missing required field %q", k)
		}
	}
	return m, nil
}

// Array checks that v is an array.
func Array(v any, path string) ([]any, error) {
	a, ok := v.([]any)
	if !ok {
		return nil, Errorf(path, "expected an array, got %s", Describe(v))
	}
	return a, nil
}

// String checks that v is a string.
func String(v any, path string) (string, error) {
	s, ok := v.(string)
	if !ok {
		return "", Errorf(path, "expected a string, got %s", Describe(v))
	}
	return s, nil
}

// NonEmptyString checks that v is a string with something in it.
func NonEmptyString(v any, path string) (string, error) {
	s, err := String(v, path)
	if err == nil && s == "" {
		err = Errorf(path, "must not be empty")
	}
	return s, err
}

// wholeNumber checks that v is a whole number that fits in 64 bits.
func wholeNumber(v any, path string) (uint64, error) {
	n, ok := v.(json.Number)
	if !ok {
		return 0, Errorf(path, "expected a whole number, got %s", Describe(v))
	}
	u, err := strconv.ParseUint(n.String(), 10, 64)
	if err != nil {
		return 0, Errorf(path, "expected a whole number from 0 to 18446744073709551615, got %s", n)
	}
	return u, nil
}

// Join appends a key to a path.
func Join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

// Index appends an array index to a path.
func Index(path string, i int) string { return fmt.Sprintf("%s[%d]", path, i) }
