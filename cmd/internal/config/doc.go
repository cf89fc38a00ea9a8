// Package config owns the server's configuration: the Config type, its
// defaults (set only in Default, which takes those the runtime packages
// apply from actors.DefaultOptions and transport.DefaultOptions), loading
// from config.yaml, overrides from the environment and validation. Tests
// hold config.yaml and the README's key table to Default.
//
// Precedence, lowest first: Default, the YAML file, the conventional
// variables OPENAI_API_KEY, DATABASE_URL (which also selects postgres) and
// REDIS_URL (which also selects redis), then WEALTHCOACH_* variables. Every
// key a.b_c has the variable WEALTHCOACH_A_B_C, derived from the struct tags,
// so a new field needs no registration. Unknown YAML keys are errors, and so
// are WEALTHCOACH_* variables that name no key (OtherEnvVars lists the few
// that serve another purpose), so a typo never silently leaves a default in
// force.
//
// Validate checks every number and duration against one table of ranges
// (bounds.go), so that no value reaches a library or a hot path that it
// cannot handle; a new numeric key without a range fails the tests.
//
// Load does not validate, because some subcommands need only part of the
// configuration; callers run Validate before using it. Neither Load's
// errors, Validate's errors nor Redacted's output contain secret values.
//
// Concurrency: a Config is a plain value built once at start-up and only
// read afterwards; copies may be handed to any goroutine or actor. There is
// no reloading.
package config
