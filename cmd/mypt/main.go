// Command mypt is the parent portal: `mypt serve` runs everything the configuration enables,
// `mypt demo` runs the whole product on a synthetic college with no configuration at all.
// See `mypt help` and DESIGN §4.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"runtime/debug"
	"strings"
	"syscall"

	"mypt/config"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	if err != nil {
		var ec exitCode
		if errors.As(err, &ec) {
			os.Exit(int(ec))
		}
		reportError(os.Stderr, err)
		os.Exit(1)
	}
}

// reportError writes a command's error as "mypt: …". A configuration's problems are listed one
// per line, as `mypt config check` lists them, then counted.
func reportError(w io.Writer, err error) {
	var le *config.LoadError
	if errors.As(err, &le) {
		for _, p := range le.Problems {
			fmt.Fprintln(w, p)
		}
		fmt.Fprintf(w, "mypt: %d problem(s) in the configuration\n", len(le.Problems))
		return
	}
	fmt.Fprintln(w, "mypt:", err)
}

// exitCode ends the process with the code and no further message (the command has already
// said what went wrong, e.g. `config check` listing problems).
type exitCode int

func (e exitCode) Error() string { return fmt.Sprintf("exit status %d", int(e)) }

const usage = `mypt — a read-only parent portal for a further-education college

Usage:
  mypt demo [--data DIR] [--addr A] [--admin-addr A] [--students N] [--seed S]
            [--as-of YYYY-MM-DD] [--mis push|tds] [--insecure-cookies=false]
            [--log-level L] [--batch-rows N]
  mypt serve [--config FILE]
  mypt sync --once [--entity E] [--full] [--force] [--config FILE]
  mypt push FILE --url U --token-file F
  mypt migrate [--config FILE]
  mypt config check [--config FILE] [--print]
  mypt backup FILE [--config FILE]
  mypt restore FILE [--config FILE]
  mypt staff add|list|disable|enable ... [--config FILE]
  mypt service install|uninstall|start|stop|status|run   (Windows)
  mypt version

demo --students 0 (or less) means the default, 1000. The configuration file defaults to
$MYPT_CONFIG; every key can be overridden with MYPT_<SECTION>_<KEY> (see docs/configuration.md).
`

// run is the whole program: it dispatches the subcommand in args and returns its error.
// It never exits; main does.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return exitCode(2)
	}
	cmd, rest := args[0], args[1:]
	switch cmd {
	case "demo":
		return runDemo(ctx, rest, stdout, stderr)
	case "serve":
		return runServe(ctx, rest, stdout, stderr)
	case "sync":
		return runSync(ctx, rest, stdout, stderr)
	case "push":
		return runPush(ctx, rest, stdout, stderr)
	case "migrate":
		return runMigrate(ctx, rest, stdout, stderr)
	case "config":
		if len(rest) == 0 || rest[0] != "check" {
			fmt.Fprintln(stderr, "usage: mypt config check [--config FILE] [--print]")
			return exitCode(2)
		}
		return runConfigCheck(ctx, rest[1:], stdout, stderr)
	case "backup":
		return runBackupCmd(ctx, rest, stdout, stderr)
	case "restore":
		return runRestore(ctx, rest, stdout, stderr)
	case "service":
		return runServiceCommand(ctx, rest, stdout, func(ctx context.Context) error {
			cfgFile, _ := takeFlag(rest[min(1, len(rest)):], "config")
			return serve(ctx, configPath(cfgFile), stderr)
		})
	case "staff":
		return runStaff(ctx, rest, stdout, stderr)
	case "version", "--version", "-version":
		fmt.Fprintln(stdout, versionString())
		return nil
	case "help", "-h", "-help", "--help":
		fmt.Fprint(stdout, usage)
		return nil
	}
	fmt.Fprintf(stderr, "mypt: unknown command %q\n\n%s", cmd, usage)
	return exitCode(2)
}

// newFlags returns a flag set that prints its errors to stderr and never exits.
func newFlags(name string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet("mypt "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	return fs
}

// parseFlags parses args, turning -h into a clean exit and errors into exit status 2
// (the flag package has already printed them).
func parseFlags(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitCode(0)
		}
		return exitCode(2)
	}
	return nil
}

// interleaved lets flags follow positional arguments ("backup FILE --config X"): it moves
// every flag (and its value, for flags that take one) ahead of the positional ones.
func interleaved(fs *flag.FlagSet, args []string) []string {
	var flags, pos []string
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			pos = append(pos, args[i+1:]...)
			break
		}
		if !strings.HasPrefix(a, "-") || a == "-" {
			pos = append(pos, a)
			continue
		}
		flags = append(flags, a)
		name := strings.TrimLeft(a, "-")
		if strings.Contains(name, "=") {
			continue
		}
		f := fs.Lookup(name)
		if f == nil {
			continue // the flag package reports it
		}
		if b, ok := f.Value.(interface{ IsBoolFlag() bool }); ok && b.IsBoolFlag() {
			continue
		}
		if i+1 < len(args) {
			i++
			flags = append(flags, args[i])
		}
	}
	return append(flags, append([]string{"--"}, pos...)...)
}

// versionString is the module version and VCS revision the binary was built from.
func versionString() string {
	ver, revision, modified := moduleVersion(), "", false
	goVersion := ""
	if bi, ok := debug.ReadBuildInfo(); ok {
		goVersion = bi.GoVersion
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				revision = s.Value
			case "vcs.modified":
				modified = s.Value == "true"
			}
		}
	}
	out := "mypt " + ver
	if revision != "" {
		if len(revision) > 12 {
			revision = revision[:12]
		}
		out += " (" + revision
		if modified {
			out += ", modified"
		}
		out += ")"
	}
	if goVersion != "" {
		out += " " + goVersion
	}
	return out
}

// version is set at release builds with -ldflags "-X main.version=v1.2.3" (deploy/Dockerfile).
var version string

// moduleVersion is the version label for mypt_build_info: the linker-set version, else the
// module version, else "devel".
func moduleVersion() string {
	if version != "" {
		return version
	}
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		return bi.Main.Version
	}
	return "devel"
}

// newLogger builds the process logger: text or JSON on w, at level, with snake_case keys
// (every key in mypt is written that way at the call site).
func newLogger(w io.Writer, format, level string) (*slog.Logger, error) {
	var lv slog.Level
	switch strings.ToLower(level) {
	case "debug":
		lv = slog.LevelDebug
	case "", "info":
		lv = slog.LevelInfo
	case "warn", "warning":
		lv = slog.LevelWarn
	case "error":
		lv = slog.LevelError
	default:
		return nil, fmt.Errorf("log level %q is not debug, info, warn or error", level)
	}
	opts := &slog.HandlerOptions{Level: lv}
	switch format {
	case "", "text":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	}
	return nil, fmt.Errorf("log format %q is not text or json", format)
}
