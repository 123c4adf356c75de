package main

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"switchboard/store"
)

// backup fetches a consistent copy of the running server's database
// (GET /api/backup) into a file. The server makes the copy because bbolt
// lets only one process open the database; the command only stores it
// safely: a temporary file beside the target, its length checked against
// the answer's, fsynced, verified with bbolt's consistency check, and only
// then renamed over FILE, so that FILE is never a half-written backup.
func (c *adminCLI) backup(args []string) int {
	fs := c.flags("backup FILE [-server URL] [-data DIR | -config F]")
	pos, ok := c.parse(fs, args, 1, 1)
	if !ok {
		return 2
	}
	// The other commands' 30 s bound covers the whole answer; a large
	// database may take longer to copy and send, so only the wait for the
	// server's first answer is bounded here.
	c.hc.Timeout = 0
	c.hc.Transport = &http.Transport{Proxy: http.ProxyFromEnvironment, ResponseHeaderTimeout: 10 * time.Minute}
	n, err := c.fetchBackup(pos[0])
	if err != nil {
		return c.exit(err)
	}
	fmt.Fprintf(c.stdout, "wrote %s (%d bytes, bbolt check passed)\n", pos[0], n)
	return 0
}

func (c *adminCLI) fetchBackup(file string) (n int64, err error) {
	res, err := c.request("GET", "/api/backup", nil, nil)
	if err != nil {
		return 0, err
	}
	defer res.Body.Close()
	dir, base := filepath.Split(file)
	if dir == "" {
		dir = "."
	}
	// 0600 from CreateTemp: the copy holds the admin token and every firm's data.
	f, err := os.CreateTemp(dir, "."+base+".part-*")
	if err != nil {
		return 0, fmt.Errorf("backup file: %w", err)
	}
	tmp := f.Name()
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(tmp)
		}
	}()
	n, err = io.Copy(f, res.Body)
	if err != nil {
		return n, fmt.Errorf("receive backup: %w", err)
	}
	if res.ContentLength >= 0 && n != res.ContentLength {
		return n, fmt.Errorf("receive backup: got %d of %d bytes", n, res.ContentLength)
	}
	if err = f.Sync(); err != nil {
		return n, fmt.Errorf("backup file: %w", err)
	}
	if err = f.Close(); err != nil {
		return n, fmt.Errorf("backup file: %w", err)
	}
	if err = store.Verify(tmp); err != nil {
		return n, fmt.Errorf("the copy failed its check, %s left as it was: %w", file, err)
	}
	if err = os.Rename(tmp, file); err != nil {
		return n, fmt.Errorf("backup file: %w", err)
	}
	// The rename is durable once the directory is synced.
	if d, derr := os.Open(dir); derr == nil {
		err = errors.Join(d.Sync(), d.Close())
		if err != nil {
			return n, fmt.Errorf("backup file: sync %s: %w", dir, err)
		}
	}
	return n, nil
}
