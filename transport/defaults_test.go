package transport

import (
	"reflect"
	"testing"
)

// TestSetDefaults checks that NewServer's defaults are DefaultOptions: every
// zero field takes its value from there, and every field already set is kept.
func TestSetDefaults(t *testing.T) {
	var zero Options
	zero.setDefaults()
	want := DefaultOptions()
	for _, name := range differingFields(zero, want) {
		t.Errorf("zero %s is %v after setDefaults, DefaultOptions has %v", name, optionField(zero, name), optionField(want, name))
	}

	// Every number and duration differs from its default, zero or not.
	set := DefaultOptions()
	for i := range reflect.TypeFor[Options]().NumField() {
		switch f := reflect.ValueOf(&set).Elem().Field(i); {
		case f.CanInt():
			f.SetInt(f.Int() + 1)
		case f.CanFloat():
			f.SetFloat(f.Float() + 1)
		}
	}
	got := set
	got.setDefaults()
	for _, name := range differingFields(got, set) {
		t.Errorf("setDefaults changed %s from %v to %v", name, optionField(set, name), optionField(got, name))
	}
}

func optionField(o Options, name string) any {
	return reflect.ValueOf(o).FieldByName(name).Interface()
}

// differingFields names the fields of a and b that differ.
func differingFields(a, b Options) []string {
	va, vb := reflect.ValueOf(a), reflect.ValueOf(b)
	var names []string
	for i := range va.NumField() {
		if !reflect.DeepEqual(va.Field(i).Interface(), vb.Field(i).Interface()) {
			names = append(names, va.Type().Field(i).Name)
		}
	}
	return names
}
