package main

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/wealthwarriors/wealthcoach/cmd/internal/config"
	"github.com/wealthwarriors/wealthcoach/store"
	"github.com/wealthwarriors/wealthcoach/transport/auth"
)

func (m *Main) token(_ context.Context, args []string) error {
	fs, common := m.flagSet("token")
	ttl := fs.Duration("ttl", time.Hour, "token lifetime")
	keyFile := fs.String("key", "", "PEM private key, for RS/ES/EdDSA configurations")
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), "usage: wealthcoach token [flags] [USER_ID]   (default user: demo)")
		fs.PrintDefaults()
	}
	pos, err := parseInterleaved(fs, args)
	if err != nil {
		return err
	}
	if len(pos) > 1 {
		fs.Usage()
		return errUsage
	}
	user := store.DemoUserID
	if len(pos) == 1 {
		user = pos[0]
	}
	cfg, _, err := m.loadConfig(*common)
	if err != nil {
		return err
	}
	tok, err := mintToken(cfg, user, *ttl, *keyFile)
	if err != nil {
		return err
	}
	fmt.Fprintln(m.Stdout, tok)
	return nil
}

// mintToken signs a token for user with the configured secret or, for
// asymmetric configurations, the private key in keyFile.
func mintToken(cfg config.Config, user string, ttl time.Duration, keyFile string) (string, error) {
	o := auth.MintOptions{
		Algorithm: cfg.Auth.Algorithms[0],
		UserID:    user,
		UserClaim: cfg.Auth.UserClaim,
		Issuer:    cfg.Auth.Issuer,
		Audience:  cfg.Auth.Audience,
		TTL:       ttl,
	}
	switch {
	case usesHMAC(cfg.Auth.Algorithms):
		o.Secret = []byte(cfg.Auth.JWTSecret)
	case keyFile == "":
		return "", fmt.Errorf("auth.algorithms %v needs a private key: pass --key FILE", cfg.Auth.Algorithms)
	default:
		pem, err := os.ReadFile(keyFile)
		if err != nil {
			return "", fmt.Errorf("read key: %w", err)
		}
		o.PrivateKeyPEM = pem
	}
	tok, err := auth.Mint(o)
	if err != nil {
		return "", fmt.Errorf("mint token: %w", err)
	}
	return tok, nil
}
