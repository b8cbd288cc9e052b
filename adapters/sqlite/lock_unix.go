//go:build unix

package sqlite

import (
	"errors"
	"os"

	"golang.org/x/sys/unix"
)

// lockFileTry takes an exclusive flock without blocking; it reports false if
// someone else holds it. flock locks belong to the open file, so a second
// AcquireLock in the same process is refused too.
func lockFileTry(f *os.File) (bool, error) {
	for {
		err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB)
		switch {
		case err == nil:
			return true, nil
		case errors.Is(err, unix.EINTR):
			continue
		case errors.Is(err, unix.EWOULDBLOCK):
			return false, nil
		default:
			return false, err
		}
	}
}

func lockFileRelease(f *os.File) error { return unix.Flock(int(f.Fd()), unix.LOCK_UN) }
