package main

import (
	"context"
	"errors"
)

func (m *Main) loadtest(context.Context, []string) error { return errors.New("loadtest: not built yet") }
