package api_test

import (
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"switchboard/store"
)

// GET /api/backup gives the admin a database copy that passes bbolt's check
// and holds what was stored; agents and anonymous clients get none.
func TestBackupEndpoint(t *testing.T) {
	t.Parallel()
	a := startApp(t)
	cb := &store.Callback{Firm: "pbx.test", Caller: "+15550100", TargetKind: store.TargetTeam, TargetID: "support"}
	if err := a.Store.AddCallback(cb); err != nil {
		t.Fatal(err)
	}

	anonClient(t, a.HTTPAddr).mustDo("GET", "/api/backup", nil, http.StatusUnauthorized, nil)
	agentClient(t, a.HTTPAddr, "1001", "alice-pw", "pbx.test").mustDo("GET", "/api/backup", nil, http.StatusForbidden, nil)

	r := adminClient(t, a.HTTPAddr).mustDo("GET", "/api/backup", nil, http.StatusOK, nil)
	if got := r.header.Get("Content-Length"); got != strconv.Itoa(len(r.body)) {
		t.Errorf("Content-Length %s, body %d bytes", got, len(r.body))
	}
	if ct := r.header.Get("Content-Type"); ct != "application/octet-stream" {
		t.Errorf("Content-Type %q", ct)
	}
	path := filepath.Join(t.TempDir(), "copy.db")
	if err := os.WriteFile(path, r.body, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := store.Verify(path); err != nil {
		t.Fatal(err)
	}
	cp, err := store.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer cp.Close()
	if _, err := cp.GetCallback("pbx.test", cb.ID); err != nil {
		t.Errorf("callback %s not in the copy: %v", cb.ID, err)
	}
	// The spool file is unlinked: nothing is left beside the database.
	entries, err := os.ReadDir(filepath.Dir(a.Store.Path()))
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if filepath.Ext(e.Name()) == ".db" && e.Name() != "switchboard.db" {
			t.Errorf("left in the data dir: %s", e.Name())
		}
	}
}
