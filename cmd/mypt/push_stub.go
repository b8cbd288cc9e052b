package main

import (
	"context"
	"errors"
	"io"
)

// runPush is the ingest area's `mypt push FILE --url U --token-file F` (cmd/mypt/push.go on
// branch ingest). This stub is deleted when that lands.
func runPush(_ context.Context, _ []string, _, _ io.Writer) error {
	return errors.New("push: not built yet (comes with the ingest branch)")
}
