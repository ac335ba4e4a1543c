package strictjson

import (
	"errors"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

type inner struct {
	Name string  `json:"name" strict:"required,nonempty"`
	Note *string `json:"note"`
}

type outer struct {
	Count uint64   `json:"count" strict:"required"`
	Tags  []string `json:"tags"`
	Items []inner  `json:"items"`
	Limit *uint64  `json:"limit"`
	Upper upperish `json:"upper"`
}

// upperish decodes itself: a string that must be upper case.
type upperish string

func (u *upperish) UnmarshalStrict(v any, path string) error {
	s, err := String(v, path)
	if err != nil {
		return err
	}
	for _, r := range s {
		if r < 'A' || r > 'Z' {
			return Errorf(path, "must be upper case, got %q", s)
		}
	}
	*u = upperish(s)
	return nil
}

func TestUnmarshalFillsTypedValues(t *testing.T) {
	var got outer
	require.NoError(t, Unmarshal([]byte(`{"count":18446744073709551615,"tags":["a","b"],
		"items":[{"name":"x"},{"name":"y","note":""}],"upper":"OK"}`), &got))
	note := ""
	assert.Equal(t, outer{Count: 1<<64 - 1, Tags: []string{"a", "b"},
		Items: []inner{{Name: "x"}, {Name: "y", Note: &note}}, Upper: "OK"}, got)
	assert.Nil(t, got.Limit, "an absent optional member stays nil")
}

func TestUnmarshalErrorsNameThePath(t *testing.T) {
	for _, tc := range []struct{ name, input, where, what string }{
		{"bad JSON", `{"count": }`, "line 1, column 11", "bad JSON"},
		{"not an object", `[1]`, "", "expected an object, got an array"},
		{"missing", `{}`, "", `missing required field "count"`},
		{"unknown first, then missing", `{"zzz":1}`, "zzz", "unknown field (allowed here: count, tags, items, limit, upper)"},
		{"wrong type", `{"count":"3"}`, "count", `expected a whole number, got the string "3"`},
		{"negative", `{"count":-1}`, "count", "whole number from 0"},
		{"not an array", `{"count":1,"tags":"a"}`, "tags", "expected an array"},
		{"element type", `{"count":1,"tags":["a",2]}`, "tags[1]", "expected a string, got the number 2"},
		{"nested missing", `{"count":1,"items":[{"name":"a"},{}]}`, "items[1]", `missing required field "name"`},
		{"nested empty", `{"count":1,"items":[{"name":""}]}`, "items[0].name", "must not be empty"},
		{"nested unknown", `{"count":1,"items":[{"name":"a","x":1}]}`, "items[0].x", "unknown field (allowed here: name, note)"},
		{"optional wrong type", `{"count":1,"limit":null}`, "limit", "expected a whole number, got null"},
		{"own decoder", `{"count":1,"upper":"no"}`, "upper", `must be upper case, got "no"`},
		{"first in field order", `{"count":"x","tags":3}`, "count", "expected a whole number"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var v outer
			err := Unmarshal([]byte(tc.input), &v)
			var ie *InputError
			require.True(t, errors.As(err, &ie), "got %v, want an *InputError", err)
			assert.Equal(t, tc.where, ie.Where)
			assert.Contains(t, ie.What, tc.what)
		})
	}
}

func TestUnmarshalRejectsUntaggedFields(t *testing.T) {
	var v struct {
		Untagged string
	}
	assert.Panics(t, func() { _ = Unmarshal([]byte(`{}`), &v) })
}

// extended embeds inner: inner's members come first, in inner's order, and
// its tags still apply.
type extended struct {
	inner
	Size uint64 `json:"size" strict:"required"`
}

func TestUnmarshalEmbeddedStructAddsItsMembers(t *testing.T) {
	var got []extended
	require.NoError(t, Unmarshal([]byte(`[{"name":"a","note":"n","size":3},{"size":4,"name":"b"}]`), &got))
	note := "n"
	assert.Equal(t, []extended{{inner{Name: "a", Note: &note}, 3}, {inner{Name: "b"}, 4}}, got)

	for _, tc := range []struct{ name, input, where, what string }{
		{"unknown", `[{"name":"a","size":1,"x":1}]`, "[0].x", "unknown field (allowed here: name, note, size)"},
		{"embedded member missing", `[{"size":1}]`, "[0]", `missing required field "name"`},
		{"own member missing", `[{"name":"a"}]`, "[0]", `missing required field "size"`},
		{"embedded tag applies", `[{"name":"","size":1}]`, "[0].name", "must not be empty"},
		{"embedded members first", `[{"name":3,"size":"x"}]`, "[0].name", "expected a string"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var v []extended
			var ie *InputError
			require.ErrorAs(t, Unmarshal([]byte(tc.input), &v), &ie)
			assert.Equal(t, tc.where, ie.Where)
			assert.Contains(t, ie.What, tc.what)
		})
	}
}

func TestUnmarshalRejectsAmbiguousEmbedding(t *testing.T) {
	var twice struct {
		inner
		Name string `json:"name"`
	}
	assert.PanicsWithValue(t, `strictjson: field struct { strictjson.inner; Name string "json:\"name\"" }.Name: member "name" is named twice`,
		func() { _ = Unmarshal([]byte(`{}`), &twice) })
}

// Whatever the bytes, Unmarshal returns a value or an *InputError that says
// what is wrong; it never panics.
func FuzzUnmarshal(f *testing.F) {
	f.Add([]byte(`{"count":18446744073709551615,"tags":["a"],"items":[{"name":"x","note":"y"}],"limit":3,"upper":"OK"}`))
	f.Add([]byte(`{"count":1,"items":[{"name":""}]}`))
	f.Add([]byte(`{"count": }`))
	f.Fuzz(func(t *testing.T, data []byte) {
		var v outer
		err := Unmarshal(data, &v)
		if err == nil {
			return
		}
		var ie *InputError
		require.ErrorAs(t, err, &ie)
		require.NotEmpty(t, ie.What)
	})
}

// Into decodes a value already decoded, naming errors from the path given.
func TestIntoNamesErrorsFromItsPath(t *testing.T) {
	v, err := decode([]byte(`[{"name": "a"}, {"name": ""}]`))
	require.NoError(t, err)
	var items []inner
	err = Into(v, &items, "outer.items")
	var ie *InputError
	require.True(t, errors.As(err, &ie), "got %v", err)
	assert.Equal(t, "outer.items[1].name", ie.Where)

	v, err = decode([]byte(`[{"name": "a"}]`))
	require.NoError(t, err)
	require.NoError(t, Into(v, &items, "outer.items"))
	assert.Equal(t, []inner{{Name: "a"}}, items)
}
