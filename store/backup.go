package store

import (
	"errors"
	"fmt"
	"io"
	"os"

	bolt "go.etcd.io/bbolt"
	bolterrors "go.etcd.io/bbolt/errors"
)

// Backup writes a consistent copy of the whole database to w and returns its
// size. The copy is one read transaction's view, so it is the database as of
// one instant; bbolt runs a writer beside any number of readers, so calls and
// callbacks go on being written meanwhile. size, when not nil, is told the
// copy's length before the first byte is written (an HTTP answer sets
// Content-Length from it).
//
// The read transaction stays open until w has taken every byte, and a long
// one delays the reuse of freed pages and any growth of the memory map: w
// should be fast (a local file), not a client at the other end of a network.
func (s *Store) Backup(w io.Writer, size func(int64)) (int64, error) {
	var n int64
	err := s.view(func(tx *bolt.Tx) error {
		if size != nil {
			size(tx.Size())
		}
		var err error
		n, err = tx.WriteTo(w)
		return err
	})
	if err != nil {
		return n, fmt.Errorf("backup database %s: %w", s.path, err)
	}
	return n, nil
}

// Verify checks a database file that no process has open, such as a backup:
// bbolt's own consistency check (what `bbolt check` runs: every page
// reachable once, no page both free and in use, keys in order) and the
// presence of Switchboard's buckets. It opens the file read-only and never
// changes it.
func Verify(path string) error {
	st, err := os.Stat(path)
	if err != nil {
		return fmt.Errorf("verify %s: %w", path, err)
	}
	db, err := bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true, Timeout: lockTimeout})
	if err != nil {
		if errors.Is(err, bolterrors.ErrTimeout) {
			return fmt.Errorf("verify %s: in use by another process: %w", path, ErrLocked)
		}
		return fmt.Errorf("verify %s: %w", path, err)
	}
	defer db.Close()
	err = db.View(func(tx *bolt.Tx) error {
		// A file cut short (a copy that stopped half way) has valid meta pages
		// naming pages past its end; bbolt would read them from the mapping and
		// crash the process instead of reporting it.
		if tx.Size() > st.Size() {
			return fmt.Errorf("%w: %d bytes, but its meta page says %d", ErrCorrupt, st.Size(), tx.Size())
		}
		var errs []error
		for err := range tx.Check() {
			errs = append(errs, err)
		}
		if len(errs) > 0 {
			return fmt.Errorf("%w: %w", ErrCorrupt, errors.Join(errs...))
		}
		for _, name := range allBuckets {
			if tx.Bucket(name) == nil {
				return fmt.Errorf("bucket %s missing: %w", name, ErrCorrupt)
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("verify %s: %w", path, err)
	}
	return nil
}
