package main

import (
	"context"
	"errors"
	"time"
)

// serviceOutcome is how a service run ended, for the Windows SCM's exit codes.
type serviceOutcome int

const (
	serviceStoppedCleanly serviceOutcome = iota // run returned nil or context.Canceled
	serviceFailed                               // run returned an error: exit code 1, the SCM restarts it
	serviceStopTimedOut                         // run ignored the stop for the whole budget: exit code 2
)

// runServiceLoop runs run(ctx) until it returns or stop is closed; on stop it
// cancels run's context and waits at most budget for it to return. It is the
// platform-neutral core of the Windows service handler (Execute), kept here
// so it is tested on every platform.
func runServiceLoop(ctx context.Context, run func(ctx context.Context) error, stop <-chan struct{}, budget time.Duration) (serviceOutcome, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- run(ctx) }()
	classify := func(err error) (serviceOutcome, error) {
		if err != nil && !errors.Is(err, context.Canceled) {
			return serviceFailed, err
		}
		return serviceStoppedCleanly, nil
	}
	select {
	case err := <-done:
		return classify(err)
	case <-stop:
	}
	cancel()
	timer := time.NewTimer(budget)
	defer timer.Stop()
	select {
	case err := <-done:
		return classify(err)
	case <-timer.C:
		return serviceStopTimedOut, nil
	}
}
