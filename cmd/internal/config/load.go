package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"reflect"
	"strings"

	"gopkg.in/yaml.v3"
)

// DefaultPath is the file read when no --config flag is given.
const DefaultPath = "config.yaml"

// SourceDefaults describes a configuration that came from no file.
const SourceDefaults = "built-in defaults"

// Env is the environment Load reads. The zero Env is the process's own.
type Env struct {
	// Lookup returns one variable; os.LookupEnv when nil.
	Lookup func(string) (string, bool)
	// Environ lists every variable as "NAME=value", as os.Environ does, so
	// that Load can refuse WEALTHCOACH_* variables that name no key. When
	// nil it is os.Environ if Lookup is nil too; otherwise that check is
	// skipped, since a lookup alone cannot say what it holds.
	Environ func() []string
}

// Load builds the configuration: Default, then the YAML file at path, then
// the environment. When explicit is false a missing file is not an error
// and the defaults are used; when true (the user named the file) it is.
// A WEALTHCOACH_* variable that is neither a key nor in OtherEnvVars is an
// error, as a misspelt one would otherwise leave its default in force. The
// second result says where the configuration came from: path, or
// SourceDefaults. Load does not validate: call Validate.
func Load(path string, explicit bool, env Env) (Config, string, error) {
	if env.Lookup == nil {
		env.Lookup = os.LookupEnv
		if env.Environ == nil {
			env.Environ = os.Environ
		}
	}
	cfg := Default()
	source := SourceDefaults
	data, err := os.ReadFile(path)
	switch {
	case err == nil:
		source = path
		if err := decodeYAML(data, &cfg); err != nil {
			return Config{}, source, fmt.Errorf("config %s: %w", path, err)
		}
	case explicit || !errors.Is(err, fs.ErrNotExist):
		return Config{}, source, fmt.Errorf("read config: %w", err)
	}
	var unknown error
	if env.Environ != nil {
		unknown = checkEnvNames(env.Environ())
	}
	if err := errors.Join(unknown, applyEnv(&cfg, env.Lookup)); err != nil {
		return Config{}, source, err
	}
	// An empty variable counts as unset, so the environment turns the
	// notice off with a word; the file takes it too, where a bare off would
	// otherwise be shown to every user as the notice.
	if strings.EqualFold(strings.TrimSpace(cfg.Coach.Notice), NoticeOff) {
		cfg.Coach.Notice = ""
	}
	return cfg, source, nil
}

// NoticeOff is the coach.notice value that turns the notice off, as "" does.
const NoticeOff = "off"

// decodeYAML overlays the document in data onto cfg; keys it does not
// mention keep their value. An empty document changes nothing.
func decodeYAML(data []byte, cfg *Config) error {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return nil
		}
		return err
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		return errors.New("more than one YAML document")
	}
	root := &doc
	if root.Kind == yaml.DocumentNode && len(root.Content) == 1 {
		root = root.Content[0]
	}
	if isNull(root) {
		return nil
	}
	if err := checkNode(root, reflect.TypeFor[Config](), ""); err != nil {
		return err
	}
	return root.Decode(cfg)
}

// checkNode rejects keys that do not exist and values of the wrong type,
// naming them by their full dotted path (yaml.v3's KnownFields names only
// the field and its Go type). It also rewrites a bare duration "0" to "0s",
// which yaml.v3 would otherwise refuse as an integer.
func checkNode(n *yaml.Node, t reflect.Type, prefix string) error {
	for n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	if isNull(n) {
		return nil // an empty value: yaml.v3 keeps scalars and empties lists
	}
	if t == durationType {
		if n.Kind != yaml.ScalarNode {
			return fmt.Errorf("line %d: %s: expected a duration such as \"30s\"", n.Line, prefix)
		}
		if _, err := parseDuration(n.Value); err != nil {
			return fmt.Errorf("line %d: %s: %q is not a duration such as \"30s\"", n.Line, prefix, n.Value)
		}
		if n.Value == "0" {
			n.Tag, n.Value = "!!str", "0s"
		}
		return nil
	}
	if t.Kind() != reflect.Struct {
		if err := n.Decode(reflect.New(t).Interface()); err != nil {
			return fmt.Errorf("line %d: %s: %s", n.Line, prefix, describeMismatch(n, t, prefix))
		}
		return nil
	}
	if n.Kind != yaml.MappingNode {
		return fmt.Errorf("line %d: %s: expected a mapping of keys", n.Line, orRoot(prefix))
	}
	var errs []error
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		key := k.Value
		if prefix != "" {
			key = prefix + "." + k.Value
		}
		f, ok := fieldByYAML(t, k.Value)
		if !ok {
			errs = append(errs, fmt.Errorf("line %d: unknown key %q", k.Line, key))
			continue
		}
		if err := checkNode(v, f.Type, key); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

func isNull(n *yaml.Node) bool {
	return n.Kind == yaml.ScalarNode && n.Tag == "!!null"
}

func orRoot(prefix string) string {
	if prefix == "" {
		return "top level"
	}
	return prefix
}

// describeMismatch says what a key expects, quoting the value found only
// when it is a scalar of a key that cannot hold a secret.
func describeMismatch(n *yaml.Node, t reflect.Type, key string) string {
	want := "a string"
	switch t.Kind() {
	case reflect.Bool:
		want = "true or false"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		want = "an integer"
	case reflect.Float32, reflect.Float64:
		want = "a number"
	case reflect.Slice:
		want = "a list"
	}
	if n.Kind == yaml.ScalarNode && classify(key) == public {
		return fmt.Sprintf("%q is not %s", n.Value, want)
	}
	return "expected " + want
}
