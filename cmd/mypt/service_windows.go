//go:build windows

package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"golang.org/x/sys/windows"
	"golang.org/x/sys/windows/registry"
	"golang.org/x/sys/windows/svc"
	"golang.org/x/sys/windows/svc/eventlog"
	"golang.org/x/sys/windows/svc/mgr"
)

// serviceNameEnv is set in the installed service's environment (registry
// value Environment), so the running service knows the name it was installed
// under (its event log source) even when --name was not the default.
const serviceNameEnv = "MYPT_SERVICE_NAME"

// serviceStopBudget bounds how long the SCM is told to wait, and how long
// `mypt service stop` waits, for mypt to shut down.
const serviceStopBudget = 60 * time.Second

// isWindowsService reports whether the Windows Service Control Manager
// started this process. `mypt serve` calls it: when true, it hands its run
// function to runServiceCommand(ctx, []string{"run"}, …) instead of running
// it directly, so Stop and Shutdown from the SCM cancel its context.
func isWindowsService() bool {
	ok, err := svc.IsWindowsService()
	return err == nil && ok
}

// runServiceCommand implements `mypt service install|uninstall|start|stop|status|run`:
//
//	install [--name mypt] [--config FILE] [--account "NT SERVICE\mypt"]
//	        registers the service (automatic, delayed start, restart on failure)
//	        to run `mypt.exe serve --config FILE`, and the event log source
//	uninstall [--name mypt]   stops (if running) and removes both
//	start|stop|status [--name mypt]
//	run        runs run(ctx) under the SCM (what `serve` does when
//	           isWindowsService() is true); outside the SCM it just calls run
//
// Managing services needs an elevated (administrator) prompt. Messages go to
// stdout; errors are returned for main to print.
func runServiceCommand(ctx context.Context, args []string, stdout io.Writer, run func(ctx context.Context) error) error {
	if len(args) == 0 {
		return errors.New("service: want install, uninstall, start, stop, status or run")
	}
	cmd := args[0]
	fs := flag.NewFlagSet("service "+cmd, flag.ContinueOnError)
	fs.SetOutput(stdout)
	name := fs.String("name", serviceName(), "Windows service name (also the event log source)")
	var config, account *string
	if cmd == "install" {
		config = fs.String("config", `C:\ProgramData\mypt\mypt.yaml`, "configuration file the service runs with")
		account = fs.String("account", "", `account to run as (default the virtual account "NT SERVICE\<name>"; "LocalSystem" is not recommended)`)
	}
	if err := fs.Parse(args[1:]); err != nil {
		return fmt.Errorf("service %s: %w", cmd, err)
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("service %s: unexpected arguments %q", cmd, fs.Args())
	}
	switch cmd {
	case "install":
		return installService(stdout, *name, *config, *account)
	case "uninstall":
		return uninstallService(ctx, stdout, *name)
	case "start":
		return startService(ctx, stdout, *name)
	case "stop":
		return stopService(ctx, stdout, *name)
	case "status":
		return serviceStatus(stdout, *name)
	case "run":
		if run == nil {
			return errors.New("service run: nothing to run")
		}
		if !isWindowsService() {
			return run(ctx) // started from a console: run in the foreground
		}
		return runAsService(ctx, *name, run)
	}
	return fmt.Errorf("service: unknown command %q: want install, uninstall, start, stop, status or run", cmd)
}

// serviceName is the name this process was installed under, or "mypt".
func serviceName() string {
	if n := os.Getenv(serviceNameEnv); n != "" {
		return n
	}
	return "mypt"
}

func connectSCM(op string) (*mgr.Mgr, error) {
	m, err := mgr.Connect()
	if err != nil {
		if errors.Is(err, windows.ERROR_ACCESS_DENIED) {
			return nil, fmt.Errorf("service %s: %w (run from an elevated, administrator prompt)", op, err)
		}
		return nil, fmt.Errorf("service %s: connect to the service manager: %w", op, err)
	}
	return m, nil
}

func installService(stdout io.Writer, name, config, account string) error {
	exe, err := os.Executable()
	if err != nil {
		return fmt.Errorf("service install: find mypt.exe: %w", err)
	}
	if exe, err = filepath.Abs(exe); err != nil {
		return fmt.Errorf("service install: %w", err)
	}
	if config, err = filepath.Abs(config); err != nil {
		return fmt.Errorf("service install: %w", err)
	}
	if _, err := os.Stat(config); err != nil {
		return fmt.Errorf("service install: configuration file: %w", err)
	}
	if account == "" {
		account = `NT SERVICE\` + name
	}
	m, err := connectSCM("install")
	if err != nil {
		return err
	}
	defer m.Disconnect()
	if s, err := m.OpenService(name); err == nil {
		s.Close()
		return fmt.Errorf("service install: service %q already exists (uninstall it first, or use --name)", name)
	}
	s, err := m.CreateService(name, exe, mgr.Config{
		DisplayName:      "mypt parents' portal (" + name + ")",
		Description:      "Mirrors the college MIS into a local cache, watches the support mailbox and serves the parents' portal.",
		StartType:        mgr.StartAutomatic,
		DelayedAutoStart: true, // after the network and SQL Server on the same host
		ServiceStartName: account,
		ErrorControl:     mgr.ErrorNormal,
	}, "serve", "--config", config)
	if err != nil {
		return fmt.Errorf("service install: create service: %w", err)
	}
	defer s.Close()
	restart := mgr.RecoveryAction{Type: mgr.ServiceRestart, Delay: 10 * time.Second}
	if err := s.SetRecoveryActions([]mgr.RecoveryAction{restart, restart, restart}, uint32((24 * time.Hour).Seconds())); err != nil {
		return fmt.Errorf("service install: set restart on failure: %w", err)
	}
	if err := setServiceEnvironment(name, []string{serviceNameEnv + "=" + name}); err != nil {
		return fmt.Errorf("service install: %w", err)
	}
	if err := eventlog.InstallAsEventCreate(name, eventlog.Error|eventlog.Warning|eventlog.Info); err != nil &&
		!strings.Contains(err.Error(), "exists") {
		return fmt.Errorf("service install: register event log source: %w", err)
	}
	fmt.Fprintf(stdout, "installed service %q running %q serve --config %q as %s\n", name, exe, config, account)
	fmt.Fprintf(stdout, "grant it the data directory, then start it:\n  icacls <data_dir> /grant \"%s:(OI)(CI)M\"\n  icacls %q /grant \"%s:R\"\n  mypt service start --name %s\n",
		account, config, account, name)
	return nil
}

// setServiceEnvironment writes the service's Environment registry value,
// which the SCM adds to the process environment.
func setServiceEnvironment(name string, env []string) error {
	k, err := registry.OpenKey(registry.LOCAL_MACHINE, `SYSTEM\CurrentControlSet\Services\`+name, registry.SET_VALUE)
	if err != nil {
		return fmt.Errorf("open service registry key: %w", err)
	}
	defer k.Close()
	if err := k.SetStringsValue("Environment", env); err != nil {
		return fmt.Errorf("set service environment: %w", err)
	}
	return nil
}

func uninstallService(ctx context.Context, stdout io.Writer, name string) error {
	m, err := connectSCM("uninstall")
	if err != nil {
		return err
	}
	defer m.Disconnect()
	s, err := m.OpenService(name)
	if err != nil {
		return fmt.Errorf("service uninstall: service %q: %w", name, err)
	}
	defer s.Close()
	if st, err := s.Query(); err == nil && st.State != svc.Stopped {
		if err := controlAndWait(ctx, s, svc.Stop, svc.Stopped); err != nil {
			return fmt.Errorf("service uninstall: stop %q: %w", name, err)
		}
	}
	if err := s.Delete(); err != nil {
		return fmt.Errorf("service uninstall: delete %q: %w", name, err)
	}
	if err := eventlog.Remove(name); err != nil {
		fmt.Fprintf(stdout, "note: event log source %q not removed: %v\n", name, err)
	}
	fmt.Fprintf(stdout, "uninstalled service %q (configuration and data directory left in place)\n", name)
	return nil
}

func startService(ctx context.Context, stdout io.Writer, name string) error {
	m, err := connectSCM("start")
	if err != nil {
		return err
	}
	defer m.Disconnect()
	s, err := m.OpenService(name)
	if err != nil {
		return fmt.Errorf("service start: service %q: %w", name, err)
	}
	defer s.Close()
	if err := s.Start(); err != nil {
		return fmt.Errorf("service start: %q: %w", name, err)
	}
	if err := waitForState(ctx, s, svc.Running); err != nil {
		return fmt.Errorf("service start: %q: %w (see the Application event log, source %q)", name, err, name)
	}
	fmt.Fprintf(stdout, "service %q running\n", name)
	return nil
}

func stopService(ctx context.Context, stdout io.Writer, name string) error {
	m, err := connectSCM("stop")
	if err != nil {
		return err
	}
	defer m.Disconnect()
	s, err := m.OpenService(name)
	if err != nil {
		return fmt.Errorf("service stop: service %q: %w", name, err)
	}
	defer s.Close()
	if err := controlAndWait(ctx, s, svc.Stop, svc.Stopped); err != nil {
		return fmt.Errorf("service stop: %q: %w", name, err)
	}
	fmt.Fprintf(stdout, "service %q stopped\n", name)
	return nil
}

func serviceStatus(stdout io.Writer, name string) error {
	m, err := connectSCM("status")
	if err != nil {
		return err
	}
	defer m.Disconnect()
	s, err := m.OpenService(name)
	if err != nil {
		return fmt.Errorf("service status: service %q: %w", name, err)
	}
	defer s.Close()
	st, err := s.Query()
	if err != nil {
		return fmt.Errorf("service status: %q: %w", name, err)
	}
	fmt.Fprintf(stdout, "service %q: %s (pid %d)\n", name, stateName(st.State), st.ProcessId)
	return nil
}

func controlAndWait(ctx context.Context, s *mgr.Service, c svc.Cmd, want svc.State) error {
	if _, err := s.Control(c); err != nil {
		if st, qerr := s.Query(); qerr == nil && st.State == want {
			return nil
		}
		return err
	}
	return waitForState(ctx, s, want)
}

// waitForState polls the service until it reaches want, at most
// serviceStopBudget.
func waitForState(ctx context.Context, s *mgr.Service, want svc.State) error {
	deadline := time.Now().Add(serviceStopBudget)
	tick := time.NewTicker(300 * time.Millisecond)
	defer tick.Stop()
	for {
		st, err := s.Query()
		if err != nil {
			return err
		}
		if st.State == want {
			return nil
		}
		if st.State == svc.Stopped && want != svc.Stopped {
			return fmt.Errorf("service stopped (exit code %d, service-specific %d)", st.Win32ExitCode, st.ServiceSpecificExitCode)
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("still %s after %s", stateName(st.State), serviceStopBudget)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
		}
	}
}

func stateName(s svc.State) string {
	switch s {
	case svc.Stopped:
		return "stopped"
	case svc.StartPending:
		return "starting"
	case svc.StopPending:
		return "stopping"
	case svc.Running:
		return "running"
	case svc.ContinuePending, svc.PausePending, svc.Paused:
		return "paused"
	}
	return fmt.Sprintf("state %d", s)
}

// runAsService runs run under the SCM until it returns or the SCM asks the
// service to stop, recording start, stop and failure in the event log.
func runAsService(ctx context.Context, name string, run func(ctx context.Context) error) error {
	elog, err := eventlog.Open(name)
	if err != nil {
		elog = nil // not installed as a source: carry on without it
	}
	h := &serviceHandler{ctx: ctx, run: run, elog: elog}
	// h.err is written by Execute's goroutine before svc.Run returns.
	if err := svc.Run(name, h); err != nil {
		h.logf(eventlog.Error, "mypt service %s: %v", name, err)
		return fmt.Errorf("service run: %w", err)
	}
	if elog != nil {
		elog.Close()
	}
	return h.err
}

type serviceHandler struct {
	ctx  context.Context
	run  func(ctx context.Context) error
	elog *eventlog.Log
	err  error
}

func (h *serviceHandler) logf(level uint32, format string, args ...any) {
	if h.elog == nil {
		return
	}
	msg := fmt.Sprintf(format, args...)
	switch level {
	case eventlog.Error:
		_ = h.elog.Error(1, msg)
	case eventlog.Warning:
		_ = h.elog.Warning(1, msg)
	default:
		_ = h.elog.Info(1, msg)
	}
}

// Execute is called by svc.Run on the service's goroutine. Stop and
// Shutdown cancel run's context; runServiceLoop waits for it within
// serviceStopBudget.
func (h *serviceHandler) Execute(args []string, requests <-chan svc.ChangeRequest, status chan<- svc.Status) (bool, uint32) {
	status <- svc.Status{State: svc.StartPending}
	stop := make(chan struct{})
	outcome := make(chan serviceOutcome, 1)
	go func() {
		o, err := runServiceLoop(h.ctx, h.run, stop, serviceStopBudget)
		h.err = err
		outcome <- o
	}()
	status <- svc.Status{State: svc.Running, Accepts: svc.AcceptStop | svc.AcceptShutdown}
	h.logf(eventlog.Info, "mypt started")
	stopping := false
	for {
		select {
		case o := <-outcome:
			switch o {
			case serviceFailed:
				h.logf(eventlog.Error, "mypt stopped with an error: %v", h.err)
				return true, 1 // service-specific exit code 1: the recovery actions restart it
			case serviceStopTimedOut:
				h.logf(eventlog.Warning, "mypt did not stop within %s; exiting", serviceStopBudget)
				return true, 2
			}
			h.logf(eventlog.Info, "mypt stopped")
			return false, 0
		case req := <-requests:
			switch req.Cmd {
			case svc.Interrogate:
				status <- req.CurrentStatus
			case svc.Stop, svc.Shutdown:
				if !stopping {
					stopping = true
					status <- svc.Status{State: svc.StopPending, WaitHint: uint32(serviceStopBudget / time.Millisecond)}
					close(stop)
				}
			}
		}
	}
}

// serviceLogWriter returns a writer for slog when running as a service:
// each write (one log record) becomes an Application event log entry from the
// service's source, as an error, warning or information entry according to
// its level. Use it when isWindowsService() is true, since a service has no
// console.
func serviceLogWriter() (io.WriteCloser, error) {
	elog, err := eventlog.Open(serviceName())
	if err != nil {
		return nil, fmt.Errorf("mypt: open event log source %q: %w", serviceName(), err)
	}
	return eventLogWriter{elog}, nil
}

type eventLogWriter struct{ l *eventlog.Log }

func (w eventLogWriter) Write(p []byte) (int, error) {
	msg := strings.TrimRight(string(p), "\r\n")
	var err error
	switch {
	case strings.Contains(msg, "level=ERROR"), strings.Contains(msg, `"level":"ERROR"`):
		err = w.l.Error(1, msg)
	case strings.Contains(msg, "level=WARN"), strings.Contains(msg, `"level":"WARN"`):
		err = w.l.Warning(1, msg)
	default:
		err = w.l.Info(1, msg)
	}
	if err != nil {
		return 0, err
	}
	return len(p), nil
}

func (w eventLogWriter) Close() error { return w.l.Close() }
