package config

import (
	"slices"
	"testing"
)

// config check lists the problems of the file in line order, then the others as found.
func TestProblemsInLineOrder(t *testing.T) {
	got := []string{
		"mypt.yaml:15: portal.lockout_attempts: must be at least 1",
		"environment MYPT_PUBLIC_ADDR: public.addr: bad",
		`C:\mypt\mypt.yaml:4: college.name: is required`,
		"mypt.yaml:11: unknown key",
		"mis.host: is required",
	}
	sortByLine(got)
	want := []string{
		`C:\mypt\mypt.yaml:4: college.name: is required`,
		"mypt.yaml:11: unknown key",
		"mypt.yaml:15: portal.lockout_attempts: must be at least 1",
		"environment MYPT_PUBLIC_ADDR: public.addr: bad",
		"mis.host: is required",
	}
	if !slices.Equal(got, want) {
		t.Errorf("order:\n%q\nwant\n%q", got, want)
	}
}
