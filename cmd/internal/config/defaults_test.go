package config

import (
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/wealthwarriors/wealthcoach/actors"
	"github.com/wealthwarriors/wealthcoach/transport"
)

// The tests below keep what users read about defaults (the values written
// in config.yaml, its "Default X." comments, the README's key table and the
// fields' doc comments) equal to Default(), which takes the runtime
// packages' defaults from their DefaultOptions. A default changed in the
// code alone fails each of them.

// TestRepoConfigEqualsDefault decodes config.yaml onto an empty Config, so
// that a key the file leaves out shows up too, and compares it with
// Default() key by key.
func TestRepoConfigEqualsDefault(t *testing.T) {
	data, err := os.ReadFile(repoConfig)
	if err != nil {
		t.Fatal(err)
	}
	var got Config
	if err := decodeYAML(data, &got); err != nil {
		t.Fatalf("decode %s: %v", repoConfig, err)
	}
	want := Default()
	wantLeaves := leaves(reflect.ValueOf(&want).Elem(), "")
	for i, g := range leaves(reflect.ValueOf(&got).Elem(), "") {
		w := wantLeaves[i]
		if !sameValue(g.value, w.value) {
			t.Errorf("%s: config.yaml sets %s, Default() is %s", g.key, show(g.value), show(w.value))
		}
	}
	// The server reads it through Load.
	if _, source, err := Load(repoConfig, true, envMap(nil)); err != nil || source != repoConfig {
		t.Errorf("Load(%s) = source %q, error %v", repoConfig, source, err)
	}
}

// TestDocumentedDefaults reads the default each key's comment in config.yaml,
// its row in the README's key table and its field's doc comment state, and
// compares it with Default(). The text is decoded as config.yaml would be,
// so "10s", "" (none) and [] mean what they mean there.
func TestDocumentedDefaults(t *testing.T) {
	yamlText, err := os.ReadFile(repoConfig)
	if err != nil {
		t.Fatal(err)
	}
	readme, err := os.ReadFile(repoReadme)
	if err != nil {
		t.Fatal(err)
	}
	docs := fieldDocs(t)
	c := Default()
	for _, l := range leaves(reflect.ValueOf(&c).Elem(), "") {
		t.Run(l.key, func(t *testing.T) {
			for _, src := range []struct{ where, text string }{
				{"config.yaml's comment", yamlComment(string(yamlText), l.key)},
				{"config.go's doc comment", docs[l.key]},
			} {
				i := strings.LastIndex(src.text, "Default ")
				if i < 0 {
					t.Errorf("%s on %s states no default: %q", src.where, l.key, src.text)
					continue
				}
				checkDocumented(t, src.where, l, src.text[i+len("Default "):])
			}
			cells := strings.SplitN(readmeRow(string(readme), l.key), "|", 4)
			if len(cells) < 4 {
				t.Errorf("README's key table has no row for %s", l.key)
				return
			}
			checkDocumented(t, "the README", l, cells[2])
		})
	}
}

// checkDocumented fails unless text starts with the value of l, and a size
// in KiB or MiB that follows it in parentheses is the same size.
func checkDocumented(t *testing.T, where string, l leaf, text string) {
	t.Helper()
	value, rest, err := defaultToken(strings.TrimSpace(text))
	if err != nil {
		t.Errorf("%s on %s: %v", where, l.key, err)
		return
	}
	got, err := decodeKey(l.key, value)
	if err != nil {
		t.Errorf("%s on %s: default %s: %v", where, l.key, value, err)
		return
	}
	if !sameValue(got, l.value) {
		t.Errorf("%s: %s says default %s, Default() is %s", l.key, where, value, show(l.value))
		return
	}
	if m := sizeNote.FindStringSubmatch(rest); m != nil {
		n, _ := strconv.ParseInt(m[1], 10, 64)
		unit := map[string]int64{"KiB": kib, "MiB": mib}[m[2]]
		if !l.value.CanInt() || n*unit != l.value.Int() {
			t.Errorf("%s: %s says (%s %s), Default() is %s", l.key, where, m[1], m[2], show(l.value))
		}
	}
}

// sizeNote is a size written after a byte count, as in "32768 (32 KiB)".
var sizeNote = regexp.MustCompile(`^\((\d+) (KiB|MiB)\)`)

// defaultToken splits the value off the start of a documented default: a
// quoted string, a [list], or a word, less the punctuation ending a clause.
func defaultToken(s string) (token, rest string, err error) {
	switch {
	case strings.HasPrefix(s, `"`):
		token, err = strconv.QuotedPrefix(s)
		if err != nil {
			return "", "", fmt.Errorf("unterminated quoted default in %q", s)
		}
	case strings.HasPrefix(s, "["):
		end := strings.Index(s, "]")
		if end < 0 {
			return "", "", fmt.Errorf("unterminated list default in %q", s)
		}
		token = s[:end+1]
	default:
		token, _, _ = strings.Cut(s, " ")
		token = strings.TrimRight(token, ".,;:")
	}
	if token == "" {
		return "", "", fmt.Errorf("no default value in %q", s)
	}
	return token, strings.TrimLeft(s[len(token):], ".,;: "), nil
}

// fieldDocs returns the doc comment of each key's field in config.go, on
// one line, by key.
func fieldDocs(t *testing.T) map[string]string {
	t.Helper()
	f, err := parser.ParseFile(token.NewFileSet(), "config.go", nil, parser.ParseComments)
	if err != nil {
		t.Fatal(err)
	}
	structs := map[string]*ast.StructType{}
	ast.Inspect(f, func(n ast.Node) bool {
		if ts, ok := n.(*ast.TypeSpec); ok {
			if st, ok := ts.Type.(*ast.StructType); ok {
				structs[ts.Name.Name] = st
			}
		}
		return true
	})
	docs := map[string]string{}
	var walk func(typeName, prefix string)
	walk = func(typeName, prefix string) {
		for _, field := range structs[typeName].Fields.List {
			if field.Tag == nil {
				continue
			}
			name, _, _ := strings.Cut(reflect.StructTag(strings.Trim(field.Tag.Value, "`")).Get("yaml"), ",")
			key := name
			if prefix != "" {
				key = prefix + "." + name
			}
			if id, ok := field.Type.(*ast.Ident); ok && structs[id.Name] != nil {
				walk(id.Name, key)
				continue
			}
			docs[key] = strings.Join(strings.Fields(field.Doc.Text()), " ")
		}
	}
	walk("Config", "")
	return docs
}

// decodeKey decodes value as the YAML of key alone, through the loader's own
// checks, and returns the field it set.
func decodeKey(key, value string) (reflect.Value, error) {
	var doc strings.Builder
	parts := strings.Split(key, ".")
	for depth, name := range parts {
		doc.WriteString(strings.Repeat("  ", depth) + name + ":")
		if depth < len(parts)-1 {
			doc.WriteString("\n")
		}
	}
	doc.WriteString(" " + value + "\n")
	c := new(Config)
	if err := decodeYAML([]byte(doc.String()), c); err != nil {
		return reflect.Value{}, err
	}
	for _, l := range leaves(reflect.ValueOf(c).Elem(), "") {
		if l.key == key {
			return l.value, nil
		}
	}
	return reflect.Value{}, fmt.Errorf("no key %s", key)
}

// sameValue compares two values of a key as a user sees them: an empty
// list is [] whether or not it is nil.
func sameValue(a, b reflect.Value) bool {
	if a.Kind() == reflect.Slice && a.Len() == 0 && b.Len() == 0 {
		return true
	}
	return reflect.DeepEqual(a.Interface(), b.Interface())
}

// show writes a value as config.yaml would.
func show(v reflect.Value) string {
	switch x := v.Interface().(type) {
	case time.Duration:
		return x.String()
	case string:
		return strconv.Quote(x)
	case []string:
		return fmt.Sprintf("%q", x)
	}
	return fmt.Sprint(v.Interface())
}

// TestRuntimeDefaultsConvertExactly guards the conversions in Default: a
// runtime default that an integer key cannot hold would be documented and
// applied as a different number than the runtime package's own.
func TestRuntimeDefaultsConvertExactly(t *testing.T) {
	c := Default()
	ws := transport.DefaultOptions()
	chat := actors.DefaultChatOptions()
	tests := []struct {
		key           string
		config, owner float64
	}{
		{"limits.frames_per_second", float64(c.Limits.FramesPerSecond), ws.FramesPerSecond},
		{"limits.max_pending_bytes", float64(c.Limits.MaxPendingBytes), float64(ws.MaxPendingBytes)},
		{"llm.rate_limit.per_minute", float64(c.LLM.RateLimit.PerMinute), chat.RatePerMinute},
	}
	for _, tt := range tests {
		if tt.config != tt.owner {
			t.Errorf("%s: Default() has %g, the runtime default is %g", tt.key, tt.config, tt.owner)
		}
	}
}
