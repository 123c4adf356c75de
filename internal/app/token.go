package app

import (
	"fmt"
	"os"
	"path/filepath"
)

// tokenFileName is the file in the data dir the admin CLI reads the token from:
// the CLI cannot open the database while the server holds its lock.
const tokenFileName = "admin.token"

// writeTokenFile stores the admin token in dataDir/admin.token, readable by the
// owner only. It writes a private temp file and renames it over the old one, so
// a reader never sees a half-written token and an old file with looser
// permissions is replaced rather than reused.
func writeTokenFile(dataDir, token string) error {
	f, err := os.CreateTemp(dataDir, ".admin.token-*")
	if err != nil {
		return fmt.Errorf("admin token file: %w", err)
	}
	tmp := f.Name()
	ok := false
	defer func() {
		if !ok {
			f.Close()
			os.Remove(tmp)
		}
	}()
	// CreateTemp already uses 0600; Chmod guards against an unusual umask-free platform.
	if err := f.Chmod(0o600); err != nil {
		return fmt.Errorf("admin token file: %w", err)
	}
	if _, err := f.WriteString(token + "\n"); err != nil {
		return fmt.Errorf("admin token file: %w", err)
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("admin token file: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("admin token file: %w", err)
	}
	if err := os.Rename(tmp, filepath.Join(dataDir, tokenFileName)); err != nil {
		return fmt.Errorf("admin token file: %w", err)
	}
	ok = true
	return nil
}
