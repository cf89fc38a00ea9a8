package loadtest

import (
	"encoding/json"
	"testing"
	"time"
)

func TestLatencies(t *testing.T) {
	l := newLatencies(1000)
	for i := 1000; i >= 1; i-- { // in reverse, so the summary must sort
		l.add(time.Duration(i) * time.Millisecond)
	}
	s := l.summary("x")
	want := Latency{Name: "x", Count: 1000, P50: Milliseconds(500 * time.Millisecond),
		P90: Milliseconds(900 * time.Millisecond), P99: Milliseconds(990 * time.Millisecond), Max: Milliseconds(time.Second)}
	if s != want {
		t.Errorf("summary = %+v, want %+v", s, want)
	}
	over := newLatencies(2)
	for range 5 {
		over.add(time.Millisecond)
	}
	if s := over.summary("y"); s.Count != 5 || s.Max != Milliseconds(time.Millisecond) {
		t.Errorf("overflowing recorder: %+v", s)
	}
	if s := newLatencies(0).summary("z"); s.Count != 0 || s.Max != 0 {
		t.Errorf("empty recorder: %+v", s)
	}
}

// TestMillisecondsJSON checks that a duration survives the trip through
// the report's JSON to the microsecond, as cmd/bench reads it back.
func TestMillisecondsJSON(t *testing.T) {
	cases := []struct {
		name string
		d    time.Duration
		json string
		back time.Duration
	}{
		{"zero", 0, "0.000", 0},
		{"microseconds", 1234567 * time.Nanosecond, "1.235", 1235 * time.Microsecond},
		{"seconds", 61*time.Second + 5*time.Microsecond, "61000.005", 61*time.Second + 5*time.Microsecond},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			b, err := json.Marshal(Milliseconds(c.d))
			if err != nil || string(b) != c.json {
				t.Fatalf("marshal %s = %s, %v; want %s", c.d, b, err, c.json)
			}
			var got Milliseconds
			if err := json.Unmarshal(b, &got); err != nil || time.Duration(got) != c.back {
				t.Fatalf("unmarshal %s = %s, %v; want %s", b, time.Duration(got), err, c.back)
			}
		})
	}
	var d Milliseconds
	if err := json.Unmarshal([]byte(`"1.5"`), &d); err == nil {
		t.Errorf("a string decoded as milliseconds: %s", time.Duration(d))
	}
}

func TestRepeatsFraction(t *testing.T) {
	r := &runner{o: Options{Messages: 1, Repeat: 0.3}}
	n := 0
	for i := range 10000 {
		n += r.repeats(i)
	}
	if n < 2800 || n > 3200 {
		t.Errorf("repeat 0.3 over 10000 single-message sessions gave %d repeats", n)
	}
	r.o = Options{Messages: 4, Repeat: 1}
	if got := r.repeats(7); got != 4 {
		t.Errorf("repeat 1: %d of 4 messages repeated", got)
	}
}
