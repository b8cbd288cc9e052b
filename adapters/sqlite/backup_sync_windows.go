//go:build windows

package sqlite

// backupSyncDir is a no-op on Windows: directories cannot be opened for syncing,
// and NTFS journals the rename (MoveFileEx) itself.
func backupSyncDir(dir string) error { return nil }
