package e2e

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"switchboard/internal/sipptest"
	"switchboard/store"
)

// logRecord is one line of `serve -log-format json`.
type logRecord struct {
	Time  time.Time `json:"time"`
	Level string    `json:"level"`
	Msg   string    `json:"msg"`
	ID    string    `json:"id"`
}

// jsonLog parses every stderr line of p as a JSON log record: with
// -log-format json nothing else may appear there.
func jsonLog(t *testing.T, p *proc) []logRecord {
	t.Helper()
	var recs []logRecord
	for _, l := range p.log() {
		var r logRecord
		if err := json.Unmarshal([]byte(l), &r); err != nil {
			t.Fatalf("log line is not JSON: %v: %q", err, l)
		}
		if r.Time.IsZero() || r.Level == "" || r.Msg == "" {
			t.Fatalf("log line lacks time, level or msg: %q", l)
		}
		recs = append(recs, r)
	}
	return recs
}

// queuedCallbacks returns the ids of the "callback queued" records: the
// server logs one after the entry is committed (fsync) and before the caller
// hears "we will call you back", so each is a callback acknowledged by then.
func queuedCallbacks(t *testing.T, p *proc) []string {
	t.Helper()
	var ids []string
	for _, r := range jsonLog(t, p) {
		if r.Msg == "callback queued" {
			if r.ID == "" {
				t.Fatalf("callback queued without id")
			}
			ids = append(ids, r.ID)
		}
	}
	return ids
}

// `switchboard backup` while SIPp calls keep ending in callbacks (each one a
// callback entry and a call log record written): the copy passes bbolt's
// consistency check, and a fresh serve on it lists every callback that was
// acknowledged before the backup began. Both servers log JSON, parsed line by
// line, and neither logs the admin token.
func TestBackupUnderLoad(t *testing.T) {
	t.Parallel()
	sipptest.Require(t)
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	config := filepath.Join(dir, "switchboard.yaml")
	yaml := fmt.Sprintf(baseConfig, rtpRange()) + fmt.Sprintf(`
sounds_dir: %s
agents:
  - {id: alice, extension: "1001", password: alice-pw}
  - {id: bob, extension: "1002", password: bob-pw, status: away, away: callback}
`, shortPrompts(t))
	if err := os.WriteFile(config, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	p := startProc(t, config, data, "-log-format", "json")

	const calls = 80
	load := sipptest.Run{
		Scenario: sippDir + "uac-answered-by-pbx-auth.xml", Remote: p.sip, CSV: callCSV("1001", "alice-pw", "1002"),
		Args:    []string{"-m", fmt.Sprint(calls), "-r", "20", "-l", "20"},
		Timeout: 60 * time.Second,
	}.Start(t)

	// Well into the load, but with most calls still to come.
	deadline := time.After(30 * time.Second)
	for len(queuedCallbacks(t, p)) < 10 {
		select {
		case <-p.newLines:
		case <-deadline:
			t.Fatalf("fewer than 10 callbacks queued:\n%s", strings.Join(p.log(), "\n"))
		}
	}
	acked := queuedCallbacks(t, p)
	copyFile := filepath.Join(dir, "backup", "switchboard.db")
	if err := os.MkdirAll(filepath.Dir(copyFile), 0o700); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(binary(t), "backup", copyFile, "-server", "http://"+p.http, "-data", data)
	cmd.Env = append(os.Environ(), "SWITCHBOARD_TOKEN=")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("switchboard backup: %v\n%s", err, out)
	}
	queuedByThen := len(queuedCallbacks(t, p))

	res, err := load.Wait()
	if err != nil || res.Successful != calls || res.Failed != 0 {
		t.Fatalf("SIPp: %v: %d successful, %d failed, want %d/0\n%s", err, res.Successful, res.Failed, calls, res.Errors)
	}
	p.cmd.Process.Signal(syscall.SIGTERM)
	if err := p.cmd.Wait(); err != nil {
		t.Fatalf("serve after SIGTERM: %v\n%s", err, strings.Join(p.log(), "\n"))
	}
	total := len(queuedCallbacks(t, p))

	if err := store.Verify(copyFile); err != nil {
		t.Fatalf("bbolt check of the backup: %v", err)
	}

	data2 := filepath.Join(dir, "restored")
	if err := os.MkdirAll(data2, 0o750); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(copyFile, filepath.Join(data2, "switchboard.db")); err != nil {
		t.Fatal(err)
	}
	p2 := startProc(t, config, data2, "-log-format", "json")
	var restored []struct{ ID, State string }
	apiGet(t, p2.http, data2, "/api/callbacks", &restored)
	have := map[string]bool{}
	for _, c := range restored {
		have[c.ID] = true
	}
	for _, id := range acked {
		if !have[id] {
			t.Errorf("callback %s, acknowledged before the backup began, is not in the restored database", id)
		}
	}
	t.Logf("callbacks: %d acknowledged before the backup, %d by its end, %d in the copy, %d in all", len(acked), queuedByThen, len(restored), total)
	if len(restored) >= total {
		t.Errorf("the copy holds all %d callbacks: the backup did not run while calls were still being written", total)
	}

	// The restored server took the admin token from the copy; neither server
	// logged it.
	token, err := os.ReadFile(filepath.Join(data2, "admin.token"))
	if err != nil {
		t.Fatal(err)
	}
	jsonLog(t, p2)
	for _, l := range append(p.log(), p2.log()...) {
		if strings.Contains(l, strings.TrimSpace(string(token))) {
			t.Fatalf("a log line shows the admin token: %s", l)
		}
	}
}
