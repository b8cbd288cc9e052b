package main

import (
	"context"
	"errors"
	"testing"
	"time"
)

func TestRunServiceLoop(t *testing.T) {
	t.Parallel()
	boom := errors.New("cache: disk full")
	cases := []struct {
		name      string
		run       func(ctx context.Context) error
		stop      bool
		want      serviceOutcome
		wantError error
	}{
		{"stop request cancels run", func(ctx context.Context) error { <-ctx.Done(); return ctx.Err() }, true, serviceStoppedCleanly, nil},
		{"stop with a nil return", func(ctx context.Context) error { <-ctx.Done(); return nil }, true, serviceStoppedCleanly, nil},
		{"run fails by itself", func(ctx context.Context) error { return boom }, false, serviceFailed, boom},
		{"run fails while stopping", func(ctx context.Context) error { <-ctx.Done(); return boom }, true, serviceFailed, boom},
		{"run ignores the stop", func(ctx context.Context) error { select {} }, true, serviceStopTimedOut, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			stop := make(chan struct{})
			if c.stop {
				close(stop)
			}
			got, err := runServiceLoop(context.Background(), c.run, stop, 50*time.Millisecond)
			if got != c.want || !errors.Is(err, c.wantError) {
				t.Fatalf("outcome %v, %v; want %v, %v", got, err, c.want, c.wantError)
			}
		})
	}
}
