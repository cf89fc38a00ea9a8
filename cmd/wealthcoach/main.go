// Command wealthcoach is the Wealth Coach session server and its tools.
//
//	wealthcoach serve      run the server
//	wealthcoach migrate    apply or list database migrations
//	wealthcoach token      mint an access token for a user
//	wealthcoach users      add or seed users
//	wealthcoach audit      verify or export the audit trail
//	wealthcoach chat       interactive terminal client
//	wealthcoach fakellm    OpenAI-compatible fake model server
//	wealthcoach loadtest   drive many sessions against a server
//	wealthcoach health     check an admin endpoint
//
// Every subcommand takes --config PATH.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	m := NewMain()
	if err := m.Run(ctx, os.Args[1:]); err != nil {
		// Usage errors have already printed their usage.
		if !errors.Is(err, flag.ErrHelp) && !errors.Is(err, errUsage) {
			fmt.Fprintln(os.Stderr, "wealthcoach:", err)
		}
		os.Exit(exitCode(err))
	}
}

func exitCode(err error) int {
	if errors.Is(err, flag.ErrHelp) || errors.Is(err, errUsage) {
		return 2
	}
	return 1
}

// Main is the whole program, runnable from tests.
type Main struct {
	Stdin  io.Reader
	Stdout io.Writer
	Stderr io.Writer
	// Getenv looks up environment variables; os.LookupEnv by default.
	Getenv func(string) (string, bool)
	// Environ lists the environment, for refusing unknown WEALTHCOACH_*
	// variables; os.Environ by default, nil skips that check.
	Environ func() []string

	hooks hooks // set only by tests
}

// NewMain returns a Main wired to the process's standard streams.
func NewMain() *Main {
	return &Main{Stdin: os.Stdin, Stdout: os.Stdout, Stderr: os.Stderr, Getenv: os.LookupEnv, Environ: os.Environ}
}

var errUsage = errors.New("usage")

const usage = `usage: wealthcoach <command> [flags]

commands:
  serve     run the chat server (public WebSocket + admin listener)
  migrate   apply pending database migrations (migrate up | migrate status)
  token     mint an access token for a user
  users     manage users (users add ID [--name NAME] | users seed --count N --prefix P |
            users disable ID | users enable ID)
  audit     audit trail (audit verify [--user U] | audit export --user U [--since T] [--until T])
  chat      interactive terminal client
  fakellm   OpenAI-compatible fake model server, for tests and load
  loadtest  drive many sessions against a server
  health    check an admin endpoint (for container health checks)

Every command takes --config PATH (default: config.yaml when present, else
built-in defaults). Run "wealthcoach <command> -h" for its flags.
`

// Run executes the subcommand named by args[0].
func (m *Main) Run(ctx context.Context, args []string) error {
	if len(args) == 0 {
		fmt.Fprint(m.Stderr, usage)
		return errUsage
	}
	cmds := map[string]func(context.Context, []string) error{
		"serve":    m.serve,
		"migrate":  m.migrate,
		"token":    m.token,
		"users":    m.users,
		"audit":    m.audit,
		"chat":     m.chat,
		"fakellm":  m.fakellm,
		"loadtest": m.loadtest,
		"health":   m.health,
	}
	cmd, ok := cmds[args[0]]
	if !ok {
		if args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
			fmt.Fprint(m.Stdout, usage)
			return nil
		}
		fmt.Fprintf(m.Stderr, "unknown command %q\n\n%s", args[0], usage)
		return errUsage
	}
	return cmd(ctx, args[1:])
}

// parseInterleaved parses flags that may stand before, between or after
// positional arguments, which the flag package alone does not allow.
func parseInterleaved(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		args = fs.Args()
		if len(args) == 0 {
			return pos, nil
		}
		pos = append(pos, args[0])
		args = args[1:]
	}
}
