//go:build !windows

package sqlite

import "os"

// backupSyncDir makes a rename in dir durable.
func backupSyncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
