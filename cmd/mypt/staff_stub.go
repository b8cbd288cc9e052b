package main

import (
	"context"
	"errors"
	"io"
)

// runStaff is the accounts area's `mypt staff add` (cmd/mypt/staff.go on branch accounts).
// This stub is deleted when that lands.
func runStaff(_ context.Context, _ []string, _, _ io.Writer) error {
	return errors.New("staff: not built yet (comes with the accounts branch)")
}
