package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"strings"

	"github.com/wealthwarriors/wealthcoach/cmd/internal/config"
	"github.com/wealthwarriors/wealthcoach/store"
	"github.com/wealthwarriors/wealthcoach/store/postgres"
	"github.com/wealthwarriors/wealthcoach/store/sqlite"
	"github.com/wealthwarriors/wealthcoach/transport/auth"
)

// commonFlags are the flags every subcommand shares.
type commonFlags struct {
	config string
	dev    bool
}

// flagSet returns a subcommand's flag set, writing to Stderr, with the
// common flags registered.
func (m *Main) flagSet(name string) (*flag.FlagSet, *commonFlags) {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(m.Stderr)
	c := new(commonFlags)
	c.register(fs)
	return fs, c
}

func (c *commonFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&c.config, "config", "", "configuration file (default: config.yaml when present, else built-in defaults)")
	fs.BoolVar(&c.dev, "dev", false, "dev mode: generated secret, all origins, text logs (same as dev: true)")
}

// loadConfig reads the configuration the flags name, applies --dev and the
// dev secret, and validates it.
func (m *Main) loadConfig(c commonFlags) (config.Config, string, error) {
	return m.loadConfigFor(c, (*config.Config).Validate)
}

// loadConfigFor is loadConfig with the validation a command needs.
func (m *Main) loadConfigFor(c commonFlags, validate func(*config.Config) error) (config.Config, string, error) {
	path, explicit := c.config, c.config != ""
	if !explicit {
		path = "config.yaml"
	}
	cfg, source, err := config.Load(path, explicit, config.Env{Lookup: m.Getenv, Environ: m.Environ})
	if err != nil {
		return cfg, source, err
	}
	if c.dev {
		cfg.Dev = true
	}
	if cfg.Dev && cfg.Auth.JWTSecret == "" && cfg.Auth.PublicKeyFile == "" {
		secret, err := devSecret()
		if err != nil {
			return cfg, source, err
		}
		cfg.Auth.JWTSecret = secret
	}
	if err := validate(&cfg); err != nil {
		return cfg, source, fmt.Errorf("invalid configuration (%s):\n%w", source, err)
	}
	return cfg, source, nil
}

// devSecretFile keeps the secret dev mode generates, so that the server and
// the token and chat commands started beside it agree on it.
const devSecretFile = ".wealthcoach-dev-secret"

func devSecret() (string, error) {
	b, err := os.ReadFile(devSecretFile)
	if err == nil && len(strings.TrimSpace(string(b))) >= 32 {
		return strings.TrimSpace(string(b)), nil
	}
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return "", fmt.Errorf("read dev secret: %w", err)
	}
	var raw [32]byte
	_, _ = rand.Read(raw[:])
	secret := hex.EncodeToString(raw[:])
	if err := os.WriteFile(devSecretFile, []byte(secret+"\n"), 0o600); err != nil {
		return "", fmt.Errorf("write dev secret: %w", err)
	}
	return secret, nil
}

func newLogger(cfg config.Config, w io.Writer) *slog.Logger {
	opts := &slog.HandlerOptions{Level: cfg.LogLevel()}
	if cfg.LogFormat() == "text" {
		return slog.New(slog.NewTextHandler(w, opts))
	}
	return slog.New(slog.NewJSONHandler(w, opts))
}

func verifierOptions(cfg config.Config) (auth.Options, error) {
	o := auth.Options{
		Algorithms: cfg.Auth.Algorithms,
		Issuer:     cfg.Auth.Issuer,
		Audience:   cfg.Auth.Audience,
		UserClaim:  cfg.Auth.UserClaim,
		Leeway:     cfg.Auth.Leeway,
	}
	if cfg.Auth.JWTSecret != "" && usesHMAC(cfg.Auth.Algorithms) {
		o.Secret = []byte(cfg.Auth.JWTSecret)
	}
	if cfg.Auth.PublicKeyFile != "" {
		pem, err := os.ReadFile(cfg.Auth.PublicKeyFile)
		if err != nil {
			return o, fmt.Errorf("auth.public_key_file: %w", err)
		}
		o.PublicKeyPEM = pem
	}
	return o, nil
}

func usesHMAC(algs []string) bool {
	for _, a := range algs {
		if strings.HasPrefix(a, "HS") {
			return true
		}
	}
	return false
}

// appStore is what the commands need from the store: users and profiles,
// and the conversations.
type appStore interface {
	store.Accounts
	store.Journal
	store.AuditLog
	// SetHistoryMessages makes LoadAccount return the current conversation
	// with its last n messages; 0 loads none.
	SetHistoryMessages(n int)
}

var (
	_ appStore = (*sqlite.Store)(nil)
	_ appStore = (*postgres.Store)(nil)
)

// openStore opens the configured store and, when store.migrate_on_start
// is set (or migrate is true), applies pending migrations.
func openStore(ctx context.Context, cfg config.Config, migrate bool) (appStore, error) {
	var st appStore
	switch cfg.Store.Driver {
	case "sqlite":
		s, err := sqlite.Open(ctx, cfg.Store.DSN)
		if err != nil {
			return nil, err
		}
		st = s
	case "postgres":
		s, err := postgres.Open(ctx, cfg.Store.DSN)
		if err != nil {
			return nil, err
		}
		st = s
	default:
		return nil, fmt.Errorf("store.driver %q is not supported", cfg.Store.Driver)
	}
	if migrate || cfg.Store.MigrateOnStart {
		if err := st.Migrate(ctx); err != nil {
			st.Close()
			return nil, err
		}
	}
	if err := st.SetProfileQuery(cfg.Store.ProfileQuery); err != nil {
		st.Close()
		return nil, fmt.Errorf("store.profile_query: %w", err)
	}
	if cfg.History.Persist {
		st.SetHistoryMessages(cfg.History.MaxMessages)
	}
	return st, nil
}
