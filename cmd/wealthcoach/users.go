package main

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/wealthwarriors/wealthcoach/cluster"
	"github.com/wealthwarriors/wealthcoach/cmd/internal/config"
	"github.com/wealthwarriors/wealthcoach/store"
)

func (m *Main) users(ctx context.Context, args []string) error {
	if len(args) == 0 {
		fmt.Fprintln(m.Stderr, "usage: wealthcoach users add ID [--name NAME] | users seed --count N --prefix P | users disable ID | users enable ID")
		return errUsage
	}
	switch args[0] {
	case "add":
		return m.usersAdd(ctx, args[1:])
	case "seed":
		return m.usersSeed(ctx, args[1:])
	case "disable":
		return m.usersSetDisabled(ctx, args[1:], true)
	case "enable":
		return m.usersSetDisabled(ctx, args[1:], false)
	default:
		fmt.Fprintf(m.Stderr, "unknown users command %q: want add, seed, disable or enable\n", args[0])
		return errUsage
	}
}

func (m *Main) usersAdd(ctx context.Context, args []string) error {
	fs, common := m.flagSet("users add")
	name := fs.String("name", "", "display name")
	pos, err := parseInterleaved(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		fmt.Fprintln(m.Stderr, "usage: wealthcoach users add ID [--name NAME]")
		return errUsage
	}
	st, err := m.openConfiguredStore(ctx, *common)
	if err != nil {
		return err
	}
	defer st.Close()
	err = st.AddUser(ctx, store.User{ID: pos[0], Name: *name})
	if errors.Is(err, store.ErrExists) {
		return fmt.Errorf("user %q already exists", pos[0])
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(m.Stdout, "added user %s\n", pos[0])
	return nil
}

// usersSetDisabled disables or enables a user. A disabled user can no
// longer authenticate; with cluster.enabled their open sessions on every
// node are closed too (1008 "Session revoked"). Without the fleet, open
// sessions go on until they reconnect: POST /users/{id}/disconnect on each
// node's admin listener ends them.
func (m *Main) usersSetDisabled(ctx context.Context, args []string, disabled bool) error {
	verb := map[bool]string{true: "disable", false: "enable"}[disabled]
	fs, common := m.flagSet("users " + verb)
	pos, err := parseInterleaved(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		fmt.Fprintf(m.Stderr, "usage: wealthcoach users %s ID\n", verb)
		return errUsage
	}
	id := pos[0]
	cfg, _, err := m.loadConfigFor(*common, (*config.Config).ValidateStore)
	if err != nil {
		return err
	}
	st, err := openStore(ctx, cfg, true)
	if err != nil {
		return err
	}
	defer st.Close()
	if err := st.SetDisabled(ctx, id, disabled); errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("no user %q", id)
	} else if err != nil {
		return err
	}
	fmt.Fprintf(m.Stdout, "%sd user %s\n", verb, id)
	if !disabled {
		return nil
	}
	if !cfg.Cluster.Enabled {
		fmt.Fprintln(m.Stdout, "open sessions go on until they reconnect; POST /users/"+id+"/disconnect on each node ends them")
		return nil
	}
	rdb, err := fleetRedis(cfg, newLogger(cfg, m.Stderr))
	if err != nil {
		return err
	}
	defer rdb.Close()
	pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	nodes, err := cluster.PublishRevoke(pctx, rdb, cfg.Cache.Prefix, id)
	if err != nil {
		return fmt.Errorf("user disabled, but the fleet could not be told to close the open sessions: %w", err)
	}
	fmt.Fprintf(m.Stdout, "told %d nodes to close the user's open sessions\n", nodes)
	return nil
}

func (m *Main) usersSeed(ctx context.Context, args []string) error {
	fs, common := m.flagSet("users seed")
	count := fs.Int("count", 0, "number of users to create")
	prefix := fs.String("prefix", "user", "user id prefix: users are PREFIX0 … PREFIX{N-1}")
	if _, err := parseInterleaved(fs, args); err != nil {
		return err
	}
	if *count <= 0 {
		fmt.Fprintln(m.Stderr, "usage: wealthcoach users seed --count N --prefix P  (N > 0)")
		return errUsage
	}
	st, err := m.openConfiguredStore(ctx, *common)
	if err != nil {
		return err
	}
	defer st.Close()
	start := time.Now()
	created, err := st.SeedUsers(ctx, *prefix, *count)
	if err != nil {
		return err
	}
	fmt.Fprintf(m.Stdout, "seeded %d users %s0 … %s%d (%d new) in %s\n",
		*count, *prefix, *prefix, *count-1, created, time.Since(start).Round(time.Millisecond))
	return nil
}

func (m *Main) openConfiguredStore(ctx context.Context, common commonFlags) (appStore, error) {
	cfg, _, err := m.loadConfigFor(common, (*config.Config).ValidateStore)
	if err != nil {
		return nil, err
	}
	return openStore(ctx, cfg, true)
}

func (m *Main) migrate(ctx context.Context, args []string) error {
	fs, common := m.flagSet("migrate")
	pos, err := parseInterleaved(fs, args)
	if err != nil {
		return err
	}
	action := "up"
	if len(pos) > 0 {
		action = pos[0]
	}
	cfg, _, err := m.loadConfigFor(*common, (*config.Config).ValidateStore)
	if err != nil {
		return err
	}
	st, err := openStore(ctx, cfg, action == "up")
	if err != nil {
		return err
	}
	defer st.Close()
	switch action {
	case "up":
	case "status":
	default:
		fmt.Fprintln(m.Stderr, "usage: wealthcoach migrate [up|status]")
		return errUsage
	}
	states, err := st.MigrationStatus(ctx)
	if err != nil {
		return err
	}
	for _, s := range states {
		status := "pending"
		if s.Applied {
			status = "applied " + s.AppliedAt.UTC().Format(time.RFC3339)
		}
		fmt.Fprintf(m.Stdout, "%04d %-30s %s\n", s.Version, s.Name, status)
	}
	return nil
}
