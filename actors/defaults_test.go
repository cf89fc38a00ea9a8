package actors

import (
	"reflect"
	"testing"
)

// TestSetDefaults checks that NewNode's defaults are DefaultOptions: every
// zero field takes its value from there, and every field already set is
// kept, Chat's included.
func TestSetDefaults(t *testing.T) {
	var zero Options
	zero.setDefaults()
	for _, f := range differingFields(reflect.ValueOf(zero), reflect.ValueOf(DefaultOptions()), "") {
		t.Errorf("zero %s is %v after setDefaults, DefaultOptions has %v", f.name, f.got, f.want)
	}

	set := DefaultOptions()
	bumpNumbers(reflect.ValueOf(&set).Elem())
	got := set
	got.setDefaults()
	for _, f := range differingFields(reflect.ValueOf(got), reflect.ValueOf(set), "") {
		t.Errorf("setDefaults changed %s from %v to %v", f.name, f.want, f.got)
	}
}

// bumpNumbers adds one to every number and duration under v, so that each
// differs from its default, zero or not.
func bumpNumbers(v reflect.Value) {
	switch {
	case v.Kind() == reflect.Struct:
		for i := range v.NumField() {
			if v.Type().Field(i).IsExported() {
				bumpNumbers(v.Field(i))
			}
		}
	case v.CanInt():
		v.SetInt(v.Int() + 1)
	case v.CanFloat():
		v.SetFloat(v.Float() + 1)
	}
}

type fieldDiff struct {
	name      string
	got, want any
}

// differingFields lists the exported fields of two structs of one type
// that differ, nested structs field by field.
func differingFields(got, want reflect.Value, prefix string) []fieldDiff {
	var out []fieldDiff
	for i := range got.NumField() {
		f := got.Type().Field(i)
		if !f.IsExported() {
			continue
		}
		g, w := got.Field(i), want.Field(i)
		switch {
		case f.Type.Kind() == reflect.Struct:
			out = append(out, differingFields(g, w, prefix+f.Name+".")...)
		case !reflect.DeepEqual(g.Interface(), w.Interface()):
			out = append(out, fieldDiff{prefix + f.Name, g.Interface(), w.Interface()})
		}
	}
	return out
}
