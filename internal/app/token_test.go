package app

import (
	"os"
	"path/filepath"
	"testing"
)

func TestWriteTokenFile(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	path := filepath.Join(dir, tokenFileName)
	// A stale file with loose permissions must be replaced, not reused.
	if err := os.WriteFile(path, []byte("old"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := writeTokenFile(dir, "s3cr3t"); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if string(b) != "s3cr3t\n" {
		t.Errorf("content = %q", b)
	}
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Errorf("mode = %v, want 0600", st.Mode().Perm())
	}
	left, _ := filepath.Glob(filepath.Join(dir, ".admin.token-*"))
	if len(left) != 0 {
		t.Errorf("temp files left: %v", left)
	}
	if err := writeTokenFile(filepath.Join(dir, "missing"), "x"); err == nil {
		t.Error("no error for a missing directory")
	}
}
