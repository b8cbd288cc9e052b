package main

import (
	"bytes"
	"context"
	"os"
	"regexp"
	"strings"
	"testing"
)

// flagsOf runs a command's --help and lists its flag names.
func flagsOf(t *testing.T, run func(context.Context, []string, *bytes.Buffer, *bytes.Buffer) error) []string {
	t.Helper()
	var out, errOut bytes.Buffer
	run(context.Background(), []string{"--help"}, &out, &errOut)
	var names []string
	for _, m := range regexp.MustCompile(`(?m)^  -(\S+)`).FindAllStringSubmatch(errOut.String()+out.String(), -1) {
		names = append(names, m[1])
	}
	if len(names) == 0 {
		t.Fatalf("no flags in --help:\n%s%s", out.String(), errOut.String())
	}
	return names
}

// Every flag of demo and sync is in `mypt help`, the README and docs/cli.md.
func TestDocsListEveryFlag(t *testing.T) {
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	cli, err := os.ReadFile("../../docs/cli.md")
	if err != nil {
		t.Fatal(err)
	}
	demoFlagsLine := regexp.MustCompile(`(?m)^Flags: .*(\n\S.*)*`).FindString(string(readme))
	for cmd, run := range map[string]func(context.Context, []string, *bytes.Buffer, *bytes.Buffer) error{
		"demo": func(ctx context.Context, a []string, o, e *bytes.Buffer) error { return runDemo(ctx, a, o, e) },
		"sync": func(ctx context.Context, a []string, o, e *bytes.Buffer) error { return runSync(ctx, a, o, e) },
	} {
		helpLine := regexp.MustCompile(`(?m)^  mypt ` + cmd + ` .*(\n {6,}\[.*)*`).FindString(usage)
		cliLine := regexp.MustCompile("(?m)^\\| `mypt " + cmd + ` .*$`).FindString(string(cli))
		for _, f := range flagsOf(t, run) {
			if f == "config" {
				continue
			}
			if !strings.Contains(helpLine, "--"+f) {
				t.Errorf("mypt help's %s line lacks --%s: %q", cmd, f, helpLine)
			}
			if !strings.Contains(cliLine, "--"+f) {
				t.Errorf("docs/cli.md's %s row lacks --%s", cmd, f)
			}
			if cmd == "demo" && !strings.Contains(demoFlagsLine, "--"+f) {
				t.Errorf("README's demo Flags: line lacks --%s", f)
			}
		}
	}
}
