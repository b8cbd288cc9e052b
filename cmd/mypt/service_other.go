//go:build !windows

package main

import (
	"context"
	"errors"
	"io"
)

// errNoWindowsService is what `mypt service …` answers on other systems.
var errNoWindowsService = errors.New("service: Windows services exist only on Windows; " +
	"on Linux install deploy/systemd/mypt.service (see docs/operations.md)")

// isWindowsService reports whether the Windows Service Control Manager
// started this process; never, outside Windows.
func isWindowsService() bool { return false }

// runServiceCommand implements `mypt service install|uninstall|start|stop|status|run`
// on Windows (service_windows.go). Elsewhere "run" just calls run(ctx), and
// every other command fails, pointing at the systemd unit.
func runServiceCommand(ctx context.Context, args []string, stdout io.Writer, run func(ctx context.Context) error) error {
	if len(args) > 0 && args[0] == "run" && run != nil {
		return run(ctx)
	}
	return errNoWindowsService
}

// serviceLogWriter is the event log writer of a Windows service; elsewhere
// logs go to stderr (journald under systemd), so it always fails.
func serviceLogWriter() (io.WriteCloser, error) { return nil, errNoWindowsService }
