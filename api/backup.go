package api

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"time"
)

// handleBackup serves GET /api/backup: a consistent copy of the database, for
// `switchboard backup FILE`. Only the server can make one while it runs,
// because bbolt lets one process at a time open the file. Admin token only:
// the copy holds every firm's data and the settings (the admin token among
// them), so an agent's session is refused.
//
// The copy is first written to an unlinked temporary file beside the
// database and then streamed from there, so that the read transaction lasts
// as long as a local disk write and not as long as a slow client: a long
// read transaction holds back page reuse and the growth of bbolt's memory
// map, which the writers of calls and callbacks would wait for.
func (s *Server) handleBackup(w http.ResponseWriter, r *http.Request, p principal) {
	if !p.admin {
		writeError(w, http.StatusForbidden, "backups need the admin token")
		return
	}
	// One backup at a time: each costs a database's worth of disk until sent.
	select {
	case s.backups <- struct{}{}:
		defer func() { <-s.backups }()
	case <-r.Context().Done():
		return
	}
	start := time.Now()
	f, size, err := s.spoolBackup()
	if err != nil {
		s.fail(w, r, err)
		return
	}
	defer f.Close()
	s.log.Info("backup taken", "bytes", size, "took", time.Since(start).Round(time.Millisecond))
	h := w.Header()
	h.Set("Content-Type", "application/octet-stream")
	h.Set("Content-Length", strconv.FormatInt(size, 10))
	h.Set("Content-Disposition", fmt.Sprintf("attachment; filename=%q", "switchboard-"+start.UTC().Format("20060102T150405Z")+".db"))
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
	if _, err := io.Copy(w, f); err != nil {
		// The status is sent: the client sees a short body against
		// Content-Length, and `switchboard backup` refuses such a copy.
		s.log.Warn("backup not delivered", "err", err)
	}
}

// spoolBackup writes the copy to an unlinked temporary file in the data
// directory and returns it positioned at its start. Unlinked at once, it
// leaves nothing behind if the server dies meanwhile; the data directory
// rather than /tmp because it is on the disk that holds the database already
// (and systemd's PrivateTmp may be small).
func (s *Server) spoolBackup() (*os.File, int64, error) {
	f, err := os.CreateTemp(filepath.Dir(s.d.Store.Path()), ".backup-*.db")
	if err != nil {
		return nil, 0, fmt.Errorf("backup: %w", err)
	}
	if err := os.Remove(f.Name()); err != nil {
		f.Close()
		return nil, 0, fmt.Errorf("backup: %w", err)
	}
	n, err := s.d.Store.Backup(f, nil)
	if err == nil {
		_, err = f.Seek(0, io.SeekStart)
	}
	if err != nil {
		f.Close()
		return nil, 0, fmt.Errorf("backup: %w", err)
	}
	return f, n, nil
}
