// Command mypt. PLACEHOLDER main (branch mssql) so the package builds and `mypt sync` can be
// tried before the lead's main.go lands; on merge, keep the lead's main.go and dispatch
// "sync" to runSync (see docs/mssql.md, "Wiring").
package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"mypt/config"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if len(os.Args) < 2 || os.Args[1] != "sync" {
		fmt.Fprintln(os.Stderr, "usage: mypt sync --once [--entity E] [--full] [--force]")
		os.Exit(2)
	}
	env := syncEnv{MIS: config.DefaultMIS(), CachePath: defaultCachePath(os.Getenv("MYPT_DATA_DIR")),
		Logger: slog.New(slog.NewTextHandler(os.Stderr, nil)), Stdout: os.Stdout, DSN: os.Getenv("MYPT_MIS_DSN")}
	if err := runSync(ctx, os.Args[2:], env); err != nil {
		fmt.Fprintln(os.Stderr, "mypt:", err)
		os.Exit(1)
	}
}
