package strictjson

import (
	"fmt"
	"reflect"
	"slices"
	"strings"
	"sync"
)

// Unmarshaler is a type that reads its own JSON value, for a shape the
// generic rules below cannot say (an object of names to versions, say). v is
// the JSON value as encoding/json decodes it into an any, with numbers kept
// as json.Number; path names where it is. String, NonEmptyString and Array
// check its parts with the same errors as Unmarshal's, and Into decodes a
// part by Unmarshal's rules.
type Unmarshaler interface {
	UnmarshalStrict(v any, path string) error
}

// Unmarshal decodes data into the struct dst points to, strictly, with every
// error an *InputError named by its JSON path:
//
//   - a struct is an object; its fields are named by their `json` tag, and no
//     other member is allowed. The tag `strict:"required"` makes a member
//     required; `strict:"nonempty"` makes a string member non-empty. An
//     embedded struct without a `json` tag adds its members in its place, as
//     encoding/json does (a file shape that extends a shared one). It must
//     not be an Unmarshaler: its method would be promoted to the outer
//     struct, which would then decode as that part alone.
//   - a pointer field is optional: nil when the member is absent.
//   - a slice is an array; a string is a JSON string; a uint64 is a whole
//     number from 0 to 2^64-1, written without a fraction or exponent.
//   - a type that implements Unmarshaler (on its pointer) decodes itself.
//
// Members are checked in the struct's field order, so the first problem in
// that order is the one reported. Only the shape is checked here; what the
// values mean is the caller's to check afterwards.
func Unmarshal(data []byte, dst any) error {
	root, err := decode(data)
	if err != nil {
		return err
	}
	rv := reflect.ValueOf(dst)
	if rv.Kind() != reflect.Pointer || rv.IsNil() {
		panic(fmt.Sprintf("strictjson.Unmarshal: dst must be a non-nil pointer, got %T", dst))
	}
	return decodeInto(root, rv.Elem(), "")
}

var unmarshalerType = reflect.TypeFor[Unmarshaler]()

func decodeInto(v any, dst reflect.Value, path string) error {
	if dst.CanAddr() && dst.Addr().Type().Implements(unmarshalerType) {
		return dst.Addr().Interface().(Unmarshaler).UnmarshalStrict(v, path)
	}
	switch dst.Kind() {
	case reflect.Struct:
		return decodeStruct(v, dst, path)
	case reflect.Pointer:
		elem := reflect.New(dst.Type().Elem())
		if err := decodeInto(v, elem.Elem(), path); err != nil {
			return err
		}
		dst.Set(elem)
		return nil
	case reflect.Slice:
		list, err := Array(v, path)
		if err != nil {
			return err
		}
		out := reflect.MakeSlice(dst.Type(), len(list), len(list))
		for i, x := range list {
			if err := decodeInto(x, out.Index(i), Index(path, i)); err != nil {
				return err
			}
		}
		dst.Set(out)
		return nil
	case reflect.String:
		s, err := String(v, path)
		if err != nil {
			return err
		}
		dst.SetString(s)
		return nil
	case reflect.Uint64:
		n, err := wholeNumber(v, path)
		if err != nil {
			return err
		}
		dst.SetUint(n)
		return nil
	}
	panic(fmt.Sprintf("strictjson: cannot decode into %s (at %q): only structs, pointers, slices, strings, uint64 and Unmarshalers", dst.Type(), path))
}

// field is one JSON member of a struct.
type field struct {
	name     string
	index    []int // for reflect.Value.FieldByIndex: through embedded structs
	nonEmpty bool
}

// structShape is what decodeStruct needs to know about a struct type.
type structShape struct {
	fields   []field
	allowed  []string
	required []string
}

var shapes sync.Map // reflect.Type -> *structShape

func shapeOf(t reflect.Type) *structShape {
	if s, ok := shapes.Load(t); ok {
		return s.(*structShape)
	}
	s := &structShape{}
	s.add(t, nil)
	shapes.Store(t, s)
	return s
}

// add appends the members of struct type t, whose fields are reached
// through index, to s.
func (s *structShape) add(t reflect.Type, index []int) {
	for i := range t.NumField() {
		f := t.Field(i)
		at := append(slices.Clip(index), i)
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if f.Anonymous && name == "" && f.Type.Kind() == reflect.Struct {
			s.add(f.Type, at)
			continue
		}
		if name == "" || name == "-" || !f.IsExported() {
			panic(fmt.Sprintf("strictjson: field %s.%s needs a json tag naming its member", t, f.Name))
		}
		if slices.Contains(s.allowed, name) {
			panic(fmt.Sprintf("strictjson: field %s.%s: member %q is named twice", t, f.Name, name))
		}
		fd := field{name: name, index: at}
		for opt := range strings.SplitSeq(f.Tag.Get("strict"), ",") {
			switch opt {
			case "":
			case "required":
				s.required = append(s.required, name)
			case "nonempty":
				fd.nonEmpty = true
			default:
				panic(fmt.Sprintf("strictjson: field %s.%s: unknown strict option %q", t, f.Name, opt))
			}
		}
		s.fields = append(s.fields, fd)
		s.allowed = append(s.allowed, name)
	}
}

func decodeStruct(v any, dst reflect.Value, path string) error {
	shape := shapeOf(dst.Type())
	m, err := object(v, path, shape.allowed, shape.required)
	if err != nil {
		return err
	}
	for _, f := range shape.fields {
		x, ok := m[f.name]
		if !ok {
			continue
		}
		fpath := Join(path, f.name)
		if err := decodeInto(x, dst.FieldByIndex(f.index), fpath); err != nil {
			return err
		}
		if f.nonEmpty {
			if s := reflect.Indirect(dst.FieldByIndex(f.index)); s.Kind() == reflect.String && s.Len() == 0 {
				return Errorf(fpath, "must not be empty")
			}
		}
	}
	return nil
}

// Into decodes v, a value as an Unmarshaler gets it, found at path, into what
// dst points to, by Unmarshal's rules: for an Unmarshaler that checks its
// own shape before decoding its parts.
func Into(v any, dst any, path string) error {
	rv := reflect.ValueOf(dst)
	if rv.Kind() != reflect.Pointer || rv.IsNil() {
		panic(fmt.Sprintf("strictjson.Into: dst must be a non-nil pointer, got %T", dst))
	}
	return decodeInto(v, rv.Elem(), path)
}
