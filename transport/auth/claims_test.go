package auth

import (
	"bytes"
	"encoding/json"
	"math/big"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

func TestUserIDNumber(t *testing.T) {
	tests := []struct {
		name string
		raw  string
		want string // "" means refused
	}{
		{name: "integer", raw: "42", want: "42"},
		{name: "zero", raw: "0", want: "0"},
		{name: "negative", raw: "-42", want: "-42"},
		{name: "negative zero", raw: "-0", want: "0"},
		{name: "beyond int64", raw: "123456789012345678901234567890", want: "123456789012345678901234567890"},
		{name: "exponent", raw: "1e3", want: "1000"},
		{name: "upper-case exponent with sign", raw: "1.5E+3", want: "1500"},
		{name: "fraction", raw: "1.25", want: "1.25"},
		{name: "trailing fraction zeros", raw: "100.000", want: "100"},
		{name: "negative exponent", raw: "12e-1", want: "1.2"},
		{name: "small", raw: "5e-3", want: "0.005"},
		{name: "leading zeros in fraction", raw: "0.0500", want: "0.05"},
		{name: "zero with exponent", raw: "0e10", want: "0"},
		{name: "exact beyond float64", raw: "1234567890123456789.0e2", want: "123456789012345678900"},
		{name: "negative fraction", raw: "-0.5", want: "-0.5"},
		{name: "longest accepted", raw: "1e63", want: "1" + strings.Repeat("0", 63)},
		{name: "too long", raw: "1e64"},
		{name: "too small", raw: "1e-70"},
		{name: "huge exponent", raw: "1e99999999999999999999"},
		{name: "huge negative exponent", raw: "1e-99999999999999999999"},
		{name: "long integer", raw: strings.Repeat("9", 65)},
		{name: "leading zero", raw: "012"},
		{name: "plus sign", raw: "+1"},
		{name: "bare fraction", raw: ".5"},
		{name: "empty fraction", raw: "1."},
		{name: "empty exponent", raw: "1e"},
		{name: "hex", raw: "0x10"},
		{name: "NaN", raw: "NaN"},
		{name: "true", raw: "true"},
		{name: "null", raw: "null"},
		{name: "empty string", raw: `""`},
		{name: "string", raw: `"u-1"`, want: "u-1"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := userID([]byte(tc.raw)); got != tc.want {
				t.Fatalf("userID(%s) = %q, want %q", tc.raw, got, tc.want)
			}
		})
	}
}

func TestParseDate(t *testing.T) {
	tests := []struct {
		name    string
		raw     string
		want    int64 // Unix seconds
		absent  bool
		wantErr bool
	}{
		{name: "integer", raw: "1700000000", want: 1700000000},
		{name: "fraction truncated", raw: "1700000000.9", want: 1700000000},
		{name: "exponent", raw: "1.7e9", want: 1700000000},
		{name: "negative", raw: "-5", want: -5},
		{name: "zero", raw: "0", want: 0},
		{name: "null", raw: "null", absent: true},
		{name: "upper bound", raw: "253402300799", want: 253402300799},
		{name: "beyond upper bound", raw: "253402300800", wantErr: true},
		{name: "below lower bound", raw: "-62135596801", wantErr: true},
		{name: "long integer", raw: "1000000000000000000000", wantErr: true},
		{name: "huge float", raw: "1e300", wantErr: true},
		{name: "string", raw: `"1700000000"`, wantErr: true},
		{name: "boolean", raw: "true", wantErr: true},
		{name: "array", raw: "[1]", wantErr: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d, ok, err := parseDate([]byte(tc.raw))
			switch {
			case tc.wantErr:
				if err == nil {
					t.Fatalf("parseDate(%s) = %v, want an error", tc.raw, d)
				}
			case tc.absent:
				if ok || err != nil {
					t.Fatalf("parseDate(%s) = %v, %v, %v; want absent", tc.raw, d, ok, err)
				}
			default:
				if !ok || err != nil || d.Unix() != tc.want {
					t.Fatalf("parseDate(%s) = %v, %v, %v; want %d", tc.raw, d.Unix(), ok, err, tc.want)
				}
			}
		})
	}
}

// decodedClaims is what both the package's decoder and the reference
// decoder below extract from a payload.
type decodedClaims struct {
	exp, nbf, iat *int64
	iss           string
	aud           []string
	user          string
}

func decodeWithClaims(data []byte, userClaim string) (decodedClaims, error) {
	c := &claims{v: &Verifier{userClaim: userClaim, issuer: "i", audience: "a", audiences: []string{"a"}}}
	if err := json.Unmarshal(data, c); err != nil {
		return decodedClaims{}, err
	}
	out := decodedClaims{iss: c.iss, aud: c.aud, user: c.user}
	for _, d := range []struct {
		dst **int64
		t   time.Time
		ok  bool
	}{{&out.exp, c.exp.Time, c.hasExp}, {&out.nbf, c.nbf.Time, c.hasNbf}, {&out.iat, c.iat.Time, c.hasIat}} {
		if d.ok {
			sec := d.t.Unix()
			*d.dst = &sec
		}
	}
	return out, nil
}

// decodeReference decodes with encoding/json into a map (exact names, last
// duplicate wins) and applies the package's rules with independent code:
// dates by golang-jwt's NumericDate, numeric user ids through math/big.
func decodeReference(data []byte, userClaim string) (decodedClaims, bool) {
	var m map[string]any
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	if err := dec.Decode(&m); err != nil || m == nil {
		return decodedClaims{}, false
	}
	var out decodedClaims
	for name, dst := range map[string]**int64{"exp": &out.exp, "nbf": &out.nbf, "iat": &out.iat} {
		switch v := m[name].(type) {
		case nil:
		case json.Number:
			f, err := v.Float64()
			if err != nil || f < minDateSeconds || f >= maxDateSeconds+1 {
				return decodedClaims{}, false
			}
			var nd jwt.NumericDate // golang-jwt's own reading of a NumericDate
			if err := json.Unmarshal([]byte(v), &nd); err != nil {
				return decodedClaims{}, false
			}
			sec := nd.Unix()
			*dst = &sec
		default:
			return decodedClaims{}, false
		}
	}
	switch v := m["iss"].(type) {
	case nil:
	case string:
		out.iss = v
	default:
		return decodedClaims{}, false
	}
	switch v := m["aud"].(type) {
	case nil:
	case string:
		out.aud = []string{v}
	case []any:
		for _, e := range v {
			s, ok := e.(string)
			if !ok {
				return decodedClaims{}, false
			}
			out.aud = append(out.aud, s)
		}
	default:
		return decodedClaims{}, false
	}
	switch v := m[userClaim].(type) {
	case string:
		out.user = v
	case json.Number:
		out.user = referenceDecimal(string(v))
	}
	return out, true
}

// referenceDecimal writes a JSON number in plain decimal with math/big.
func referenceDecimal(s string) string {
	if i := strings.IndexAny(s, "eE"); i >= 0 {
		// An exponent far larger than the text shifts any non-zero mantissa
		// beyond maxNumericUserID; skip computing 10^exp then.
		e, err := strconv.ParseInt(strings.TrimLeft(s[i+1:], "+"), 10, 64)
		if err != nil || e > int64(len(s)+2*maxNumericUserID) || -e > int64(len(s)+2*maxNumericUserID) {
			if strings.Trim(s[:i], "-0.") == "" {
				return "0"
			}
			return ""
		}
	}
	r, ok := new(big.Rat).SetString(s)
	if !ok {
		return ""
	}
	var out string
	if r.IsInt() {
		out = r.Num().String()
	} else {
		// A decimal fraction's reduced denominator is 2^a 5^b; max(a, b)
		// digits write it exactly.
		d := new(big.Int).Set(r.Denom())
		a := int(d.TrailingZeroBits())
		d.Rsh(d, uint(a))
		b, five := 0, big.NewInt(5)
		for d.Cmp(big.NewInt(1)) > 0 {
			d.Quo(d, five)
			b++
		}
		out = r.FloatString(max(a, b))
	}
	if len(out) > maxNumericUserID {
		return ""
	}
	return out
}

func TestClaimsMatchReference(t *testing.T) {
	payloads := []string{
		`{}`,
		`{"sub":"alice","exp":1700000000,"iat":1699990000,"nbf":1699990000,"iss":"i","aud":"a"}`,
		`{"sub":"a","sub":"b"}`,
		`{"Sub":"a","SUB":"b"}`,
		`{"s\u0075b":"x","\u0065xp":5}`,
		`{"sub":"\ud83d\ude00 \"q\" \\ \/ \b\f\n\r\t"}`,
		`{"sub":1.5e2,"aud":["a","b"],"exp":-1.5}`,
		`{"sub":-0.0,"aud":[],"nbf":null}`,
		`{"sub":"a","aud":["a",null]}`,
		`{"sub":"a","iss":null,"aud":null}`,
		` { "x" : [ { "sub" : "no" } , "}" ] , "sub" : "yes" } `,
		"{\"sub\":\"\xff\xfe\"}",
		"{\"\xffsub\":\"x\"}",
		`{"exp":"1"}`,
		`{"exp":1e400}`,
		`{"sub":true,"exp":1}`,
		`{"sub":0.00e-99999999999999999999}`,
		`{"sub":-0e99999}`,
		`{"sub":1e-99999}`,
		`{"sub":0.0000000000000000000000000000000000000000000000000000000000000000000000000001e70}`,
	}
	for _, p := range payloads {
		t.Run(p, func(t *testing.T) { compareWithReference(t, []byte(p), "sub") })
	}
}

func compareWithReference(t *testing.T, data []byte, userClaim string) {
	t.Helper()
	ref, refOK := decodeReference(data, userClaim)
	got, err := decodeWithClaims(data, userClaim)
	if (err == nil) != refOK {
		t.Fatalf("decode error = %v, reference ok = %v", err, refOK)
	}
	if err != nil {
		return
	}
	if !sameDate(got.exp, ref.exp) || !sameDate(got.nbf, ref.nbf) || !sameDate(got.iat, ref.iat) ||
		got.iss != ref.iss || !slices.Equal(got.aud, ref.aud) || got.user != ref.user {
		t.Fatalf("decoded %s\n got %+v\nwant %+v", data, show(got), show(ref))
	}
}

func sameDate(a, b *int64) bool {
	return (a == nil) == (b == nil) && (a == nil || *a == *b)
}

func show(d decodedClaims) map[string]any {
	m := map[string]any{"iss": d.iss, "aud": d.aud, "user": d.user}
	for name, p := range map[string]*int64{"exp": d.exp, "nbf": d.nbf, "iat": d.iat} {
		if p != nil {
			m[name] = *p
		}
	}
	return m
}

// FuzzClaimsDecode checks the hand-written claims decoder against
// encoding/json on arbitrary JSON, and that it never panics on anything else.
func FuzzClaimsDecode(f *testing.F) {
	for _, s := range []string{
		`{"sub":"alice","exp":1700000000,"aud":["a","b"],"iss":"i"}`,
		`{"sub":12e-1,"nbf":1.5,"iat":-3}`,
		`{"x":{"y":[1,"]",{"z":null}]},"sub":"\u00e9"}`,
		`{"uid":"x","sub":"y"}`,
		`[1,2]`, `"s"`, `null`, `{`, `{"a":}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		c := &claims{v: &Verifier{userClaim: "sub", issuer: "i", audience: "a", audiences: []string{"a"}}}
		_ = c.UnmarshalJSON(data) // must not panic on any input
		if !json.Valid(data) {
			return
		}
		compareWithReference(t, data, "sub")
		compareWithReference(t, data, "uid")
	})
}
