package bustest

import (
	"encoding/hex"
	"go/token"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/balcony-dev/balcony/pkg/bus"
)

// Untagged lists, as Type.Field, every exported field reachable from the
// types of values (through pointers, slices, arrays and maps) that has no
// msgpack tag. Without a tag msgpack names a field after its Go name, so
// renaming the field would silently stop decoding what is stored: every
// field of a stored record names itself.
func Untagged(values ...any) []string {
	var out []string
	seen := map[reflect.Type]bool{}
	var walk func(t reflect.Type)
	walk = func(t reflect.Type) {
		switch t.Kind() {
		case reflect.Pointer, reflect.Slice, reflect.Array:
			walk(t.Elem())
			return
		case reflect.Map:
			walk(t.Key())
			walk(t.Elem())
			return
		case reflect.Struct:
		default:
			return
		}
		if seen[t] || t == reflect.TypeFor[time.Time]() {
			return
		}
		seen[t] = true
		for i := range t.NumField() {
			f := t.Field(i)
			if !f.IsExported() && !f.Anonymous {
				continue // msgpack skips it
			}
			if _, ok := f.Tag.Lookup("msgpack"); !ok {
				out = append(out, t.String()+"."+f.Name)
			}
			walk(f.Type)
		}
	}
	for _, v := range values {
		walk(reflect.TypeOf(v))
	}
	return out
}

// Unset lists, as paths, the exported fields of v that hold their zero
// value, looking into the first element of every slice and the values of
// every map. A golden sample with no unset field shows every field's name
// on the wire: adding a field to a record makes its golden test fail until
// the sample sets it.
func Unset(v any) []string {
	var out []string
	var walk func(path string, v reflect.Value)
	walk = func(path string, v reflect.Value) {
		if v.IsZero() {
			out = append(out, path)
			return
		}
		switch v.Kind() {
		case reflect.Pointer:
			walk(path, v.Elem())
		case reflect.Slice, reflect.Array:
			walk(path+"[0]", v.Index(0))
		case reflect.Map:
			iter := v.MapRange()
			for iter.Next() {
				walk(path+"["+iter.Key().String()+"]", iter.Value())
			}
		case reflect.Struct:
			if v.Type() == reflect.TypeFor[time.Time]() {
				return
			}
			for i := range v.NumField() {
				if f := v.Type().Field(i); f.IsExported() {
					walk(path+"."+f.Name, v.Field(i))
				}
			}
		}
	}
	walk(reflect.TypeOf(v).String(), reflect.ValueOf(v))
	return out
}

// Golden compares bus.Marshal(sample) with the hex dump in file (written
// instead when update is set), then decodes the golden bytes with
// bus.Unmarshal into a new value of sample's type and compares it with
// sample. The first check fails when the wire format changes, the second
// when stored records of today would no longer decode. sample must be a
// pointer; maps in it should hold one entry each, since msgpack writes map
// entries in no fixed order.
func Golden(t *testing.T, file string, update bool, sample any) {
	t.Helper()
	data, err := bus.Marshal(sample)
	if err != nil {
		t.Fatal(err)
	}
	got := hexLines(data)
	if update {
		if err := os.MkdirAll(filepath.Dir(file), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(file, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(file)
	if err != nil {
		t.Fatalf("%v (run the test with -update to write it)", err)
	}
	golden, err := hex.DecodeString(strings.ReplaceAll(string(want), "\n", ""))
	if err != nil {
		t.Fatalf("%s: %v", file, err)
	}
	decoded := reflect.New(reflect.TypeOf(sample).Elem()).Interface()
	if err := bus.Unmarshal(golden, decoded); err != nil {
		t.Fatalf("decode %s: %v", file, err)
	}
	if d := cmp.Diff(sample, decoded, ignoreUnexported); d != "" {
		t.Errorf("%s decodes to another value (-sample +decoded):\n%s", file, d)
	}
	if got != string(want) {
		t.Errorf("%T encodes differently from %s: a stored record's wire format changed (rerun with -update only if old records still decode)\ngot:\n%s", sample, file, got)
	}
}

// ignoreUnexported skips unexported fields, which msgpack does not encode
// (such as caches rebuilt on use).
var ignoreUnexported = cmp.FilterPath(func(p cmp.Path) bool {
	sf, ok := p.Last().(cmp.StructField)
	return ok && !token.IsExported(sf.Name())
}, cmp.Ignore())

// hexLines is data in hex, 64 digits a line.
func hexLines(data []byte) string {
	h := hex.EncodeToString(data)
	var b strings.Builder
	for len(h) > 64 {
		b.WriteString(h[:64] + "\n")
		h = h[64:]
	}
	b.WriteString(h + "\n")
	return b.String()
}
