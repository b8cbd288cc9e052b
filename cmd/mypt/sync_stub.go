package main

import (
	"context"
	"errors"
	"io"
)

// runSync is the mssql area's `mypt sync --once` (cmd/mypt/sync.go on branch mssql). This stub
// is deleted when that lands.
func runSync(_ context.Context, _ []string, _, _ io.Writer) error {
	return errors.New("sync: not built yet (comes with the mssql branch)")
}
