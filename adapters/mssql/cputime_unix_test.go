//go:build unix

package mssql_test

import (
	"syscall"
	"time"
)

// cpuTime is the process's user+system CPU time so far: unlike wall time, it is not inflated
// when other work shares the machine, so ratios of it are comparable between runs.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
