//go:build !windows

package main

import (
	"context"
	"errors"
	"io"
	"strings"
	"testing"
)

func TestServiceCommandOutsideWindows(t *testing.T) {
	t.Parallel()
	if isWindowsService() {
		t.Fatal("isWindowsService() = true outside Windows")
	}
	for _, args := range [][]string{{"install"}, {"uninstall"}, {"start"}, {"stop"}, {}} {
		err := runServiceCommand(context.Background(), args, io.Discard, nil)
		if !errors.Is(err, errNoWindowsService) || !strings.Contains(err.Error(), "systemd") {
			t.Errorf("service %v: %v, want the pointer to the systemd unit", args, err)
		}
	}
	ran := false
	err := runServiceCommand(context.Background(), []string{"run"}, io.Discard, func(context.Context) error { ran = true; return nil })
	if err != nil || !ran {
		t.Fatalf("service run: ran=%v err=%v", ran, err)
	}
}
