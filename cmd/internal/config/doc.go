// Package config owns the server's configuration: the Config type, its
// defaults (set only in Default), loading from config.yaml, overrides from
// the environment and validation.
//
// Precedence, lowest first: Default, the YAML file, the conventional
// variables OPENAI_API_KEY, DATABASE_URL (which also selects postgres) and
// REDIS_URL (which also selects redis), then WEALTHCOACH_* variables. Every
// key a.b_c has the variable WEALTHCOACH_A_B_C, derived from the struct tags,
// so a new field needs no registration. Unknown YAML keys are errors, so a
// typo never silently leaves a default in force.
//
// Load does not validate, because some subcommands need only part of the
// configuration; callers run Validate before using it. Neither Load's
// errors, Validate's errors nor Redacted's output contain secret values.
//
// Concurrency: a Config is a plain value built once at start-up and only
// read afterwards; copies may be handed to any goroutine or actor. There is
// no reloading.
package config
