package scenario

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

func inputErr(where, format string, args ...any) error {
	return &InputError{Where: where, What: fmt.Sprintf(format, args...)}
}

// decodeJSON parses one JSON value (numbers kept exact) and rejects trailing data.
func decodeJSON(data []byte) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, jsonSyntaxErr(data, err)
	}
	if _, err := dec.Token(); err != io.EOF {
		off := dec.InputOffset()
		line, col := lineCol(data, off)
		return nil, inputErr(fmt.Sprintf("line %d, column %d", line, col), "unexpected data after the scenario object")
	}
	return v, nil
}

func jsonSyntaxErr(data []byte, err error) error {
	var syn *json.SyntaxError
	if errors.As(err, &syn) {
		line, col := lineCol(data, syn.Offset)
		return inputErr(fmt.Sprintf("line %d, column %d", line, col), "bad JSON: %v", syn)
	}
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return inputErr("", "bad JSON: the file ends before the scenario object does")
	}
	return inputErr("", "bad JSON: %v", err)
}

func lineCol(data []byte, off int64) (int, int) {
	off = min(max(off, 0), int64(len(data)))
	before := data[:off]
	line := bytes.Count(before, []byte{'\n'}) + 1
	col := int(off) - (bytes.LastIndexByte(before, '\n') + 1)
	return line, col
}

func describe(v any) string {
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
		return nil, inputErr(path, "expected an object, got %s", describe(v))
	}
	var unknown []string
	for k := range m {
		if !slices.Contains(allowed, k) {
			unknown = append(unknown, k)
		}
	}
	if len(unknown) > 0 {
		slices.Sort(unknown)
		return nil, inputErr(join(path, unknown[0]), "unknown field (allowed here: %s)", strings.Join(allowed, ", "))
	}
	for _, k := range required {
		if _, ok := m[k]; !ok {
			return nil, inputErr(path, "missing required field %q", k)
		}
	}
	return m, nil
}

func array(v any, path string) ([]any, error) {
	a, ok := v.([]any)
	if !ok {
		return nil, inputErr(path, "expected an array, got %s", describe(v))
	}
	return a, nil
}

func str(v any, path string) (string, error) {
	s, ok := v.(string)
	if !ok {
		return "", inputErr(path, "expected a string, got %s", describe(v))
	}
	return s, nil
}

func nonEmptyStr(v any, path string) (string, error) {
	s, err := str(v, path)
	if err == nil && s == "" {
		err = inputErr(path, "must not be empty")
	}
	return s, err
}

func uint64Of(v any, path string) (uint64, error) {
	n, ok := v.(json.Number)
	if !ok {
		return 0, inputErr(path, "expected a whole number, got %s", describe(v))
	}
	u, err := strconv.ParseUint(n.String(), 10, 64)
	if err != nil {
		return 0, inputErr(path, "expected a whole number from 0 to 18446744073709551615, got %s", n)
	}
	return u, nil
}

func strings_(v any, path string) ([]string, error) {
	a, err := array(v, path)
	if err != nil {
		return nil, err
	}
	out := make([]string, len(a))
	for i, x := range a {
		if out[i], err = str(x, index(path, i)); err != nil {
			return nil, err
		}
	}
	return out, nil
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

func index(path string, i int) string { return fmt.Sprintf("%s[%d]", path, i) }
