//go:build !unix && !windows

package sqlite

import (
	"errors"
	"os"
)

func lockFileTry(f *os.File) (bool, error) {
	return false, errors.New("file locking is not supported on this platform")
}

func lockFileRelease(f *os.File) error { return nil }
