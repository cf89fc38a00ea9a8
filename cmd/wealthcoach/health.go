package main

import (
	"context"
	"flag"
	"fmt"
	"net/http"
	"time"
)

// health checks an admin endpoint and exits non-zero unless it answers 200.
// It exists for container health checks, where no curl is installed.
func (m *Main) health(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("health", flag.ContinueOnError)
	fs.SetOutput(m.Stderr)
	url := fs.String("url", "http://127.0.0.1:9090/healthz", "endpoint to check")
	token := fs.String("token", "", "admin bearer token (default: $WEALTHCOACH_ADMIN_TOKEN)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *token == "" {
		*token, _ = m.Getenv("WEALTHCOACH_ADMIN_TOKEN")
	}
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, *url, nil)
	if err != nil {
		return err
	}
	if *token != "" {
		req.Header.Set("Authorization", "Bearer "+*token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s answered %s", *url, resp.Status)
	}
	return nil
}
